"""The PKCS#11 key store: native keys on the token, software keys wrapped by it."""

from __future__ import annotations

import builtins
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pkcs11
from pkcs11 import Attribute, ObjectClass
from pkcs11.types import SignMixin

from hsm import records
from hsm.errors import (
    HsmError,
    InvalidKeyRequest,
    KeyExists,
    KeyNotFound,
    KeyNotUsable,
    UnsupportedAlgorithm,
)
from hsm.keystore import KeyRef, KeyState, Protection, check_key_name
from hsm.mechanisms import TOKEN_MECHANISMS, TokenMechanism
from hsm.records import KeyRecord
from hsm.session import TokenConfig, TokenSession
from hsm.wrapped import SOFTWARE_MECHANISMS, unwrap, wrap, wrapping_key, wrapping_keys


def _secret_label(purpose: str) -> str:
    if not isinstance(purpose, str) or not purpose:
        raise InvalidKeyRequest("a wrapped secret needs a purpose")
    return "secret:" + purpose


class Pkcs11KeyStore:
    """Named, versioned keys on one PKCS#11 token.

    ECDSA P-256, RSA-PSS and Ed25519 keys are generated on the token as sensitive,
    non-extractable objects. SM2 keys are software keys wrapped by the token (see
    `hsm.wrapped`) and are listed with `Protection.SOFTWARE`.
    """

    def __init__(self, config: TokenConfig, admin_lock: Path | None = None) -> None:
        self._token = TokenSession(config)
        self._admin_lock = admin_lock
        self._handles: dict[tuple[str, int], tuple[int, SignMixin]] = {}

    # -- reading -------------------------------------------------------------

    def algorithms(self) -> tuple[str, ...]:
        """Algorithms this store generates keys for."""
        return tuple(TOKEN_MECHANISMS) + tuple(SOFTWARE_MECHANISMS)

    def list(self) -> builtins.list[KeyRef]:
        """Every version of every key, sorted by name and version."""
        return [record.ref() for record in self._token.run(records.read_all)]

    def get(self, name: str, version: int | None = None) -> KeyRef:
        """One version of a key; the newest when `version` is None."""
        return self._record(name, version).ref()

    # -- signing ---------------------------------------------------------------

    def sign(self, ref: KeyRef, data: bytes) -> bytes:
        """Sign with an active key version."""
        if type(data) is not bytes:
            if not isinstance(data, bytearray | memoryview):
                raise InvalidKeyRequest("data to sign must be bytes")
            data = bytes(data)
        mechanism = TOKEN_MECHANISMS.get(ref.algorithm)
        if mechanism is None:
            software = SOFTWARE_MECHANISMS.get(ref.algorithm)
            if software is None:
                self._token_mechanism(ref.algorithm)  # raises UnsupportedAlgorithm
            assert software is not None
            return software.sign(self._unwrapped_private_key(ref), data)
        prepared = mechanism.prepare(data)
        for attempt in (1, 2):
            try:
                raw = self._token.run(
                    lambda session: mechanism.sign_on_token(self._handle(session, ref), prepared)
                )
                return mechanism.finish(raw)
            except HsmError as error:
                # A stale cached handle gets one fresh lookup; a refusal is explained.
                self._handles.pop((ref.name, ref.version), None)
                self._explain_refusal(ref, error)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handle(self, session: pkcs11.Session, ref: KeyRef) -> SignMixin:
        cached = self._handles.get((ref.name, ref.version))
        if cached is not None and cached[0] == self._token.generation:
            return cached[1]
        record = records.read(session, ref.name, ref.version)
        if record is None:
            raise KeyNotFound(f"no key {ref.label}")
        if record.algorithm != ref.algorithm:
            raise InvalidKeyRequest(f"key {ref.label} is {record.algorithm}, not {ref.algorithm}")
        if record.state is not KeyState.ACTIVE:
            raise KeyNotUsable(f"key {ref.label} is {record.state.value} and cannot sign")
        found = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: record.key_id}
            )
        )
        if not found:
            raise KeyNotFound(f"the private key of {ref.label} is missing from the token")
        key = found[0]
        assert isinstance(key, SignMixin)
        self._handles[(ref.name, ref.version)] = (self._token.generation, key)
        return key

    def _explain_refusal(self, ref: KeyRef, error: HsmError) -> None:
        """Turn a token refusal into KeyNotFound / KeyNotUsable when the record says why."""
        if isinstance(error, KeyNotFound | KeyNotUsable | InvalidKeyRequest):
            return
        try:
            record = self._token.run(lambda session: records.read(session, ref.name, ref.version))
        except HsmError:
            return
        if record is None:
            raise KeyNotFound(f"no key {ref.label}") from error
        if record.state is not KeyState.ACTIVE:
            raise KeyNotUsable(
                f"key {ref.label} is {record.state.value} and cannot sign"
            ) from error

    def _unwrapped_private_key(self, ref: KeyRef) -> bytes:
        def operation(session: pkcs11.Session) -> bytes:
            record = records.read(session, ref.name, ref.version)
            if record is None:
                raise KeyNotFound(f"no key {ref.label}")
            if record.algorithm != ref.algorithm or record.wrapped is None:
                raise InvalidKeyRequest(f"key {ref.label} is not a {ref.algorithm} software key")
            if record.state is not KeyState.ACTIVE:
                raise KeyNotUsable(f"key {ref.label} is {record.state.value} and cannot sign")
            keys = wrapping_keys(session)
            if not keys:
                raise HsmError("the token has lost its wrapping key")
            return unwrap(keys, record.wrapped, record.label, record.algorithm)

        return self._token.run(operation)

    # -- lifecycle -------------------------------------------------------------

    def generate(self, algorithm: str, name: str) -> KeyRef:
        """Create version 1 of a new key."""
        check_key_name(name)
        with self._exclusive():
            if self._versions(name):
                raise KeyExists(f"a key named {name!r} already exists; rotate it instead")
            return self._create(algorithm, name, 1).ref()

    def rotate(self, name: str) -> KeyRef:
        """Create the next version; the previous active version becomes verify-only."""
        check_key_name(name)
        with self._exclusive():
            versions = self._versions(name)
            if not versions:
                raise KeyNotFound(f"no key named {name!r}")
            newest = versions[-1]
            if newest.state is KeyState.DISABLED:
                raise KeyNotUsable(f"key {name!r} is disabled; a disabled key is not rotated")
            created = self._create(newest.algorithm, name, newest.version + 1)
            for record in versions:
                if record.state is KeyState.ACTIVE:
                    self._set_state(record, KeyState.VERIFY_ONLY)
            return created.ref()

    def disable(self, name: str) -> builtins.list[KeyRef]:
        """Stop every version of a key from signing."""
        check_key_name(name)
        with self._exclusive():
            versions = self._versions(name)
            if not versions:
                raise KeyNotFound(f"no key named {name!r}")
            return [
                self._set_state(record, KeyState.DISABLED).ref()
                for record in versions
            ]

    def destroy(self, name: str, version: int | None = None) -> builtins.list[KeyRef]:
        """Delete one version, or every version, of a key from the token."""
        check_key_name(name)
        with self._exclusive():
            versions = self._versions(name)
            if version is not None:
                versions = [record for record in versions if record.version == version]
            if not versions:
                suffix = f" version {version}" if version is not None else ""
                raise KeyNotFound(f"no key named {name!r}{suffix}")

            def operation(session: pkcs11.Session) -> None:
                for record in versions:
                    for obj in list(session.get_objects({Attribute.ID: record.key_id})):
                        if obj.object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                            obj.destroy()
                    records.delete(session, record.name, record.version)

            self._token.run(operation)
            for record in versions:
                self._handles.pop((record.name, record.version), None)
            return [record.ref() for record in versions]

    # -- secrets -------------------------------------------------------------------

    def wrap_secret(self, purpose: str, secret: bytes) -> bytes:
        """Encrypt a secret (such as a data key) on the token under its wrapping key."""
        label = _secret_label(purpose)

        def operation(session: pkcs11.Session) -> bytes:
            key = wrapping_key(session, create=True)
            assert key is not None
            return wrap(key, secret, label, "secret")

        return self._token.run(operation)

    def unwrap_secret(self, purpose: str, blob: bytes) -> bytes:
        """Decrypt a blob from `wrap_secret` with the same purpose; HsmError if tampered."""
        label = _secret_label(purpose)

        def operation(session: pkcs11.Session) -> bytes:
            keys = wrapping_keys(session)
            if not keys:
                raise HsmError("the token has no wrapping key, so it wrapped no secret")
            return unwrap(keys, blob, label, "secret")

        return self._token.run(operation)

    def close(self) -> None:
        """Close the session."""
        self._handles.clear()
        self._token.close()

    # -- internals -------------------------------------------------------------

    def _token_mechanism(self, algorithm: str) -> TokenMechanism:
        mechanism = TOKEN_MECHANISMS.get(algorithm)
        if mechanism is None:
            raise UnsupportedAlgorithm(
                f"this key store cannot use {algorithm!r} keys; "
                f"it offers {', '.join(self.algorithms())}"
            )
        return mechanism

    def _versions(self, name: str) -> builtins.list[KeyRecord]:
        return [record for record in self._token.run(records.read_all) if record.name == name]

    def _record(self, name: str, version: int | None) -> KeyRecord:
        check_key_name(name)
        if version is None:
            versions = self._versions(name)
            if not versions:
                raise KeyNotFound(f"no key named {name!r}")
            return versions[-1]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidKeyRequest("key versions are whole numbers from 1")
        record = self._token.run(lambda session: records.read(session, name, version))
        if record is None:
            raise KeyNotFound(f"no key {name}/v{version}")
        return record

    def _create(self, algorithm: str, name: str, version: int) -> KeyRecord:
        label = f"{name}/v{version}"
        key_id = os.urandom(16)
        software = SOFTWARE_MECHANISMS.get(algorithm)

        def operation(session: pkcs11.Session) -> KeyRecord:
            if software is not None:
                private_der, public_key = software.generate()
                wrapper = wrapping_key(session, create=True)
                assert wrapper is not None
                record = KeyRecord(
                    name=name, version=version, algorithm=algorithm, state=KeyState.ACTIVE,
                    protection=Protection.SOFTWARE, created=records.now(),
                    public_key=public_key, key_id=key_id,
                    wrapped=wrap(wrapper, private_der, label, algorithm),
                )
                del private_der
            else:
                mechanism = self._token_mechanism(algorithm)
                public_key = mechanism.generate(session, label, key_id)
                record = KeyRecord(
                    name=name, version=version, algorithm=algorithm, state=KeyState.ACTIVE,
                    protection=Protection.HSM, created=records.now(),
                    public_key=public_key, key_id=key_id,
                )
            records.write(session, record)
            return record

        if software is None:
            self._token_mechanism(algorithm)
        return self._token.run(operation)

    def _set_state(self, record: KeyRecord, state: KeyState) -> KeyRecord:
        if record.state is state:
            return record
        updated = record.with_state(state)

        def operation(session: pkcs11.Session) -> None:
            if record.protection is Protection.HSM:
                for key in list(session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: record.key_id}
                )):
                    key[Attribute.SIGN] = state is KeyState.ACTIVE
            records.write(session, updated)

        self._token.run(operation)
        self._handles.pop((record.name, record.version), None)
        return updated

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise lifecycle changes across processes sharing this store's home."""
        if self._admin_lock is None:
            yield
            return
        self._admin_lock.parent.mkdir(parents=True, exist_ok=True)
        with open(self._admin_lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
