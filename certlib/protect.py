"""Personal data at rest: AES-GCM under data keys that only the HSM can unwrap.

Each data key (AES-256) is generated in memory, wrapped at once by the HSM's wrapping key
and stored wrapped; a process unwraps a key once and keeps it while it runs (envelope
encryption). A second, separate key gives blind indexes: HMAC-SHA256 of a holder's
identity, so a holder's certificates can be found without storing the number.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from certlib.errors import TrustError
from certlib.keys import CertlibKeyStore
from certlib.store import Store
from certlib.store.schema import data_keys

_ENCRYPTION = "data-encryption"
_INDEX = "blind-index"
_NONCE = 12


class DataProtector:
    """Seal and open personal data; compute blind indexes."""

    def __init__(self, keystore: CertlibKeyStore, store: Store) -> None:
        self.keystore = keystore
        self.store = store
        self._keys: dict[int, bytes] = {}
        self._current: dict[str, int] = {}
        self._lock = threading.Lock()

    def seal(self, plaintext: bytes, context: bytes,
             connection: Connection | None = None) -> tuple[int, bytes]:
        """Encrypt `plaintext` bound to `context`; returns (data key id, nonce || ciphertext).

        Inside a transaction, pass its `connection` so a first data key joins it.
        """
        key_id = self._current_key(_ENCRYPTION, connection)
        nonce = os.urandom(_NONCE)
        cipher = AESGCM(self._key(key_id, connection))
        return key_id, nonce + cipher.encrypt(nonce, plaintext, context)

    def open(self, key_id: int, sealed: bytes, context: bytes) -> bytes:
        """Decrypt what `seal` returned for the same context; TrustError if tampered with."""
        try:
            return AESGCM(self._key(key_id)).decrypt(sealed[:_NONCE], sealed[_NONCE:], context)
        except (InvalidTag, ValueError):
            raise TrustError("stored personal data failed its integrity check") from None

    def blind_index(self, value: str, connection: Connection | None = None) -> bytes:
        """A keyed digest of `value`, equal for equal values, useless without the HSM."""
        key = self._key(self._current_key(_INDEX, connection), connection)
        return hmac.new(key, value.encode(), hashlib.sha256).digest()

    def _current_key(self, purpose: str, connection: Connection | None) -> int:
        with self._lock:
            if purpose in self._current:
                return self._current[purpose]
        with _joined(self.store, connection) as active:
            row = active.execute(
                sa.select(data_keys.c.id).where(data_keys.c.purpose == purpose)
                .order_by(data_keys.c.id).limit(1)).first()
            if row is None:
                wrapped = self.keystore.wrap_secret(purpose, os.urandom(32))
                key_id = int(active.execute(
                    sa.insert(data_keys).values(purpose=purpose, wrapped=wrapped,
                                                created_at=sa.func.now())
                    .returning(data_keys.c.id)).scalar_one())
            else:
                key_id = int(row.id)
        if connection is None:  # committed: safe to share with other threads
            with self._lock:
                self._current[purpose] = key_id
        return key_id

    def prepare(self) -> None:
        """Make sure the data keys exist (committed), so that later seals inside
        concurrent transactions all use committed keys."""
        self._current_key(_ENCRYPTION, None)
        self._current_key(_INDEX, None)

    def _key(self, key_id: int, connection: Connection | None = None) -> bytes:
        with self._lock:
            cached = self._keys.get(key_id)
        if cached is not None:
            return cached
        with _joined(self.store, connection) as active:
            row = active.execute(
                sa.select(data_keys.c.purpose, data_keys.c.wrapped)
                .where(data_keys.c.id == key_id)).first()
        if row is None:
            raise TrustError("the data key of stored personal data is missing")
        key = self.keystore.unwrap_secret(row.purpose, bytes(row.wrapped))
        with self._lock:
            # A key seen only inside an open transaction may still be rolled back.
            if connection is None or key_id in self._current.values():
                self._keys[key_id] = key
        return key


@contextmanager
def _joined(store: Store, connection: Connection | None) -> Iterator[Connection]:
    """The caller's connection if it has one, else a transaction of our own."""
    if connection is not None:
        yield connection
        return
    with store.transaction() as own:
        yield own
