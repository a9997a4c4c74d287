"""The key-store interface and the key references it hands out."""

from __future__ import annotations

import builtins
import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from hsm.errors import InvalidKeyRequest

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class KeyState(enum.Enum):
    """Whether a key version may sign."""

    ACTIVE = "active"
    """The current version of its key: it signs."""
    VERIFY_ONLY = "verify-only"
    """An older version after a rotation: kept so its signatures still verify."""
    DISABLED = "disabled"
    """Switched off by an administrator: it never signs."""


class Protection(enum.Enum):
    """Where the private key lives."""

    HSM = "hsm"
    """Generated on the token, sensitive and not extractable."""
    SOFTWARE = "software"
    """A software key wrapped by an HSM key at rest, in clear only in memory while in use."""


@dataclass(frozen=True)
class KeyRef:
    """One version of a named key: what it is, where it lives and whether it signs."""

    name: str
    version: int
    algorithm: str
    public_key: bytes
    """SubjectPublicKeyInfo, DER."""
    state: KeyState
    protection: Protection
    created: datetime

    @property
    def label(self) -> str:
        """The name and version as one string, e.g. `issuer-ca/v2`."""
        return f"{self.name}/v{self.version}"

    @property
    def can_sign(self) -> bool:
        """True when this version is the active one."""
        return self.state is KeyState.ACTIVE


def check_key_name(name: str) -> str:
    """Return `name` if it is a valid key name, else raise InvalidKeyRequest."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise InvalidKeyRequest(
            "key names are 1-100 characters of letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


@runtime_checkable
class KeyStore(Protocol):
    """Named, versioned signing keys whose private halves never leave their store."""

    def algorithms(self) -> tuple[str, ...]:
        """Names of the algorithms this store can generate keys for."""
        ...

    def generate(self, algorithm: str, name: str) -> KeyRef:
        """Create version 1 of a new key."""
        ...

    def get(self, name: str, version: int | None = None) -> KeyRef:
        """Return one version of a key; the newest when `version` is None."""
        ...

    def list(self) -> builtins.list[KeyRef]:
        """Return every version of every key, ordered by name and version."""
        ...

    def sign(self, ref: KeyRef, data: bytes) -> bytes:
        """Sign `data` with an active key version, in the algorithm's standard encoding."""
        ...

    def rotate(self, name: str) -> KeyRef:
        """Create the next version of a key; older versions become verify-only."""
        ...

    def disable(self, name: str) -> builtins.list[KeyRef]:
        """Stop every version of a key from signing; their public keys stay readable."""
        ...

    def destroy(self, name: str, version: int | None = None) -> builtins.list[KeyRef]:
        """Delete one version of a key, or all of them, from the store for good."""
        ...

    def wrap_secret(self, purpose: str, secret: bytes) -> bytes:
        """Encrypt a secret (such as a data key) under the HSM's wrapping key."""
        ...

    def unwrap_secret(self, purpose: str, blob: bytes) -> bytes:
        """Decrypt what `wrap_secret` returned for the same purpose."""
        ...

    def close(self) -> None:
        """Release sessions and handles."""
        ...
