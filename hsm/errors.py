"""Errors raised by the key stores, each with a stable code."""

from __future__ import annotations


class HsmError(Exception):
    """A key-store operation failed; `code` names the fault and never changes."""

    code = "HSM_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HsmUnavailable(HsmError):
    """The PKCS#11 module or token cannot be reached or used."""

    code = "HSM_UNAVAILABLE"


class HsmLoginFailed(HsmError):
    """The token refused the PIN (wrong, locked or not initialised)."""

    code = "HSM_LOGIN_FAILED"


class InvalidKeyRequest(HsmError):
    """A key name, version or algorithm in the request is not acceptable."""

    code = "HSM_INVALID_REQUEST"


class UnsupportedAlgorithm(InvalidKeyRequest):
    """The key store cannot generate or use keys of this algorithm."""

    code = "HSM_UNSUPPORTED_ALGORITHM"


class KeyNotFound(HsmError):
    """No key with this name (and version) exists in the store."""

    code = "HSM_KEY_NOT_FOUND"


class KeyExists(HsmError):
    """A key with this name already exists."""

    code = "HSM_KEY_EXISTS"


class KeyNotUsable(HsmError):
    """The key exists but may not sign: disabled, or retired to verify-only."""

    code = "HSM_KEY_NOT_USABLE"
