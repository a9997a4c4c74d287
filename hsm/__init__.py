"""Signing keys that never leave their hardware security module.

`KeyStore` is the interface; `Pkcs11KeyStore` is the back end (any PKCS#11 module,
SoftHSM2 in development and tests). `hsm` knows nothing of certificates.
"""

from hsm.errors import (
    HsmError,
    HsmLoginFailed,
    HsmUnavailable,
    InvalidKeyRequest,
    KeyExists,
    KeyNotFound,
    KeyNotUsable,
    UnsupportedAlgorithm,
)
from hsm.keystore import KeyRef, KeyState, KeyStore, Protection
from hsm.pkcs11 import Pkcs11KeyStore
from hsm.session import TokenConfig

__all__ = [
    "HsmError",
    "HsmLoginFailed",
    "HsmUnavailable",
    "InvalidKeyRequest",
    "KeyExists",
    "KeyNotFound",
    "KeyNotUsable",
    "KeyRef",
    "KeyState",
    "KeyStore",
    "Pkcs11KeyStore",
    "Protection",
    "TokenConfig",
    "UnsupportedAlgorithm",
]
