"""Opening the configured key store, with HSM faults raised as certlib errors."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from typing import TypeVar

import hsm
from certlib import errors
from certlib.config import Settings, load_settings
from hsm.pins import read_pin_file
from hsm.softhsm import ensure_token

T = TypeVar("T")

_TRANSLATIONS: tuple[tuple[type[hsm.HsmError], type[errors.KeyStoreError]], ...] = (
    (hsm.KeyNotFound, errors.KeyNotFoundError),
    (hsm.KeyExists, errors.KeyExistsError),
    (hsm.KeyNotUsable, errors.KeyNotUsableError),
    (hsm.InvalidKeyRequest, errors.KeyRequestError),
    (hsm.HsmUnavailable, errors.HsmUnavailableError),
    (hsm.HsmLoginFailed, errors.HsmUnavailableError),
)


def translate(error: hsm.HsmError) -> errors.KeyStoreError:
    """The certlib error for an hsm error, keeping its stable code."""
    for source, target in _TRANSLATIONS:
        if isinstance(error, source):
            return target(error.message, code=error.code)
    return errors.KeyStoreError(error.message, code=error.code)


def _guarded(call: Callable[[], T]) -> T:
    try:
        return call()
    except hsm.HsmError as error:
        raise translate(error) from error


KeyObserver = Callable[[str, float, bool], None]
"""Called after each key-store operation with (operation, seconds, succeeded)."""


class CertlibKeyStore:
    """A key store whose failures are certlib errors (see `certlib.errors`)."""

    def __init__(self, inner: hsm.KeyStore, observer: KeyObserver | None = None) -> None:
        self.inner = inner
        self.observer = observer

    def algorithms(self) -> tuple[str, ...]:
        """Algorithms the store can generate keys for."""
        return self.inner.algorithms()

    def generate(self, algorithm: str, name: str) -> hsm.KeyRef:
        """Create version 1 of a new key."""
        return _guarded(lambda: self.inner.generate(algorithm, name))

    def get(self, name: str, version: int | None = None) -> hsm.KeyRef:
        """One version of a key; the newest when `version` is None."""
        return _guarded(lambda: self.inner.get(name, version))

    def list(self) -> builtins.list[hsm.KeyRef]:
        """Every version of every key."""
        return _guarded(self.inner.list)

    def sign(self, ref: hsm.KeyRef, data: bytes) -> bytes:
        """Sign `data` with an active key version."""
        if self.observer is None:
            try:
                return self.inner.sign(ref, data)
            except hsm.HsmError as error:
                raise translate(error) from error
        start = time.perf_counter()
        try:
            signature = self.inner.sign(ref, data)
        except hsm.HsmError as error:
            self.observer("sign", time.perf_counter() - start, False)
            raise translate(error) from error
        self.observer("sign", time.perf_counter() - start, True)
        return signature

    def rotate(self, name: str) -> hsm.KeyRef:
        """Create the next version; older versions become verify-only."""
        return _guarded(lambda: self.inner.rotate(name))

    def disable(self, name: str) -> builtins.list[hsm.KeyRef]:
        """Stop every version of a key from signing."""
        return _guarded(lambda: self.inner.disable(name))

    def destroy(self, name: str, version: int | None = None) -> builtins.list[hsm.KeyRef]:
        """Delete one version, or all versions, of a key for good."""
        return _guarded(lambda: self.inner.destroy(name, version))

    def wrap_secret(self, purpose: str, secret: bytes) -> bytes:
        """Encrypt a secret under the HSM's wrapping key."""
        return _guarded(lambda: self.inner.wrap_secret(purpose, secret))

    def unwrap_secret(self, purpose: str, blob: bytes) -> bytes:
        """Decrypt what `wrap_secret` returned for the same purpose."""
        return _guarded(lambda: self.inner.unwrap_secret(purpose, blob))

    def close(self) -> None:
        """Release the HSM session."""
        self.inner.close()


def token_config(settings: Settings) -> hsm.TokenConfig:
    """How to open the configured token, creating the embedded SoftHSM2 one if needed."""
    hsm_settings = settings.hsm
    if hsm_settings.module is None:
        return _guarded(
            lambda: ensure_token(settings.softhsm_directory, hsm_settings.token_label)
        )
    if hsm_settings.pin is not None:
        pin = hsm_settings.pin
    elif hsm_settings.pin_file is not None:
        pin_file = hsm_settings.pin_file
        pin = _guarded(lambda: read_pin_file(pin_file))
    else:
        raise errors.ConfigurationError(
            "a PKCS#11 module is configured but no PIN: set CERTLIB_HSM_PIN or [hsm] pin_file"
        )
    return hsm.TokenConfig(
        module=hsm_settings.module, token_label=hsm_settings.token_label, pin=pin
    )


def open_keystore(settings: Settings | None = None,
                  observer: KeyObserver | None = None) -> CertlibKeyStore:
    """The key store of the configured state directory (see `certlib.config`)."""
    settings = settings or load_settings()
    config = token_config(settings)
    return CertlibKeyStore(hsm.Pkcs11KeyStore(config, admin_lock=settings.admin_lock),
                           observer)
