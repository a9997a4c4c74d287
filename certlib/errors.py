"""The certlib error tree: one base class, stable codes, subclasses split by fault.

Messages never carry personal data (names, identity numbers): they name fields,
objects and codes, not values.
"""

from __future__ import annotations


class CertlibError(Exception):
    """Base of every error certlib raises; `code` is stable and machine-readable."""

    code = "CERTLIB_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


# -- bad input ---------------------------------------------------------------------


class InputError(CertlibError):
    """The caller's input is wrong: fix the request, retrying will not help."""

    code = "INVALID_INPUT"


class MalformedInput(InputError):
    """Bytes that do not parse as the expected structure."""

    code = "MALFORMED_INPUT"


class UnknownAlgorithm(InputError):
    """An algorithm name or identifier certlib does not know."""

    code = "UNKNOWN_ALGORITHM"


class InvalidKey(InputError):
    """A public or private key that is malformed or does not fit the algorithm."""

    code = "INVALID_KEY"


class ConfigurationError(InputError):
    """The configuration file or environment is wrong."""

    code = "INVALID_CONFIGURATION"


# -- trust ---------------------------------------------------------------------------


class TrustError(CertlibError):
    """A signature, chain or authorisation cannot be trusted."""

    code = "TRUST_ERROR"


# -- status and network ----------------------------------------------------------------


class UnavailableError(CertlibError):
    """A needed service, status source or peer is out of reach; retrying may help."""

    code = "UNAVAILABLE"


# -- keys and the HSM ------------------------------------------------------------------


class KeyStoreError(CertlibError):
    """The key store or HSM failed or refused an operation."""

    code = "HSM_ERROR"


class HsmUnavailableError(KeyStoreError):
    """The HSM module or token cannot be reached, or refused the PIN."""

    code = "HSM_UNAVAILABLE"


class KeyNotFoundError(KeyStoreError):
    """No key of that name or version."""

    code = "HSM_KEY_NOT_FOUND"


class KeyExistsError(KeyStoreError):
    """A key of that name already exists."""

    code = "HSM_KEY_EXISTS"


class KeyNotUsableError(KeyStoreError):
    """The key exists but may not sign (disabled, or verify-only after rotation)."""

    code = "HSM_KEY_NOT_USABLE"


class KeyRequestError(KeyStoreError, InputError):
    """The key request itself is wrong: bad name, version or algorithm."""

    code = "HSM_INVALID_REQUEST"
