"""certlib: government e-certificates and e-seals, with every key in an HSM.

The public API is small and stable:

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
from hsm import KeyRef, KeyState, Protection

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "Algorithm",
    "CertlibError",
    "CertlibKeyStore",
    "InputError",
    "KeyRef",
    "KeyState",
    "KeyStoreError",
    "Protection",
    "Settings",
    "TrustError",
    "UnavailableError",
    "__version__",
    "get_algorithm",
    "load_settings",
    "open_keystore",
    "verify_signature",
]
