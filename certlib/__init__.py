"""certlib: government e-certificates and e-seals, with every key in an HSM.

The public API is small and stable:

- `open_platform(settings)`: the configured platform: key store, store, PKI, types,
  `platform.office` (issue, revoke, suspend, resume), `platform.verifier()`.
- `present(certificate, fields, ...)`, `to_qr_text(presentation)`: selective disclosure.
- `verify(data, trust=..., status=...)` -> `ValidationReport` (`Indication`, `SubIndication`).
- `verify_signature(public_key, algorithm, data, signature)`: check one signature.
- `get_algorithm(name)` / `ALGORITHMS`: the signature algorithm registry.
- `open_keystore(settings)` / `load_settings(home)`: the configured HSM key store.
- `CertlibError` and its subclasses in `certlib.errors`, each with a stable `code`.
"""

from certlib.algorithms import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    Algorithm,
    get_algorithm,
    verify_signature,
)
from certlib.config import Settings, load_settings
from certlib.errors import (
    CertlibError,
    InputError,
    KeyStoreError,
    TrustError,
    UnavailableError,
)
from certlib.keys import CertlibKeyStore, open_keystore
from certlib.platform import Platform, open_platform
from certlib.present import present, to_qr_text
from certlib.report import Indication, SubIndication, ValidationReport
from certlib.trust import TrustMaterial
from certlib.verify import verify
from hsm import KeyRef, KeyState, Protection

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "Algorithm",
    "CertlibError",
    "CertlibKeyStore",
    "Indication",
    "InputError",
    "KeyRef",
    "KeyState",
    "KeyStoreError",
    "Platform",
    "Protection",
    "Settings",
    "SubIndication",
    "TrustError",
    "TrustMaterial",
    "UnavailableError",
    "ValidationReport",
    "__version__",
    "get_algorithm",
    "load_settings",
    "open_keystore",
    "open_platform",
    "present",
    "to_qr_text",
    "verify",
    "verify_signature",
]
