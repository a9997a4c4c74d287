"""The PKCS#11 key store on a real SoftHSM2 token."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pkcs11
import pkcs11.exceptions as p11e
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.types import WrapMixin

from certlib.algorithms import verify_signature
from certlib.config import Settings
from certlib.errors import (
    KeyExistsError,
    KeyNotFoundError,
    KeyNotUsableError,
    KeyRequestError,
    KeyStoreError,
)
from certlib.keys import CertlibKeyStore, open_keystore, token_config
from hsm import KeyState, Protection
from hsm.session import TokenSession
from hsm.wrapped import WRAPPING_KEY_LABEL, wrapping_keys

ALGORITHMS = ["ecdsa-p256-sha256", "rsa-pss-sha256", "ed25519", "sm2-sm3"]


@pytest.fixture
def token(settings: Settings) -> Iterator[TokenSession]:
    """Direct access to the test token, for looking behind the store."""
    session = TokenSession(token_config(settings))
    yield session
    session.close()


def _objects_with_label(token: TokenSession, label: str) -> list[ObjectClass | None]:
    return token.run(
        lambda session: [o.object_class for o in session.get_objects({Attribute.LABEL: label})]
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_generate_sign_verify(keystore: CertlibKeyStore, key_name: str, algorithm: str) -> None:
    """Each algorithm's key signs, and the signature verifies against the listed SPKI."""
    ref = keystore.generate(algorithm, key_name)
    assert (ref.name, ref.version, ref.algorithm, ref.state) == (
        key_name, 1, algorithm, KeyState.ACTIVE)
    signature = keystore.sign(ref, b"payload")
    assert verify_signature(ref.public_key, algorithm, b"payload", signature)
    assert not verify_signature(ref.public_key, algorithm, b"payload!", signature)
    expected = Protection.SOFTWARE if algorithm == "sm2-sm3" else Protection.HSM
    listed = [r for r in keystore.list() if r.name == key_name]
    assert [r.protection for r in listed] == [expected]
    assert keystore.get(key_name) == ref


@pytest.mark.parametrize("algorithm", ["ecdsa-p256-sha256", "rsa-pss-sha256", "ed25519"])
def test_private_keys_cannot_leave_the_token(
    keystore: CertlibKeyStore, token: TokenSession, key_name: str, algorithm: str
) -> None:
    """Token keys are sensitive and unextractable: reading or wrapping them fails."""
    ref = keystore.generate(algorithm, key_name)

    def attempt_export(session: pkcs11.Session) -> None:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=ref.label)
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        with pytest.raises(p11e.AttributeSensitive):
            private[Attribute.PRIVATE_EXPONENT if algorithm.startswith("rsa") else Attribute.VALUE]
        wrapper = session.generate_key(KeyType.AES, 256, store=False, template={
            Attribute.WRAP: True, Attribute.EXTRACTABLE: False})
        assert isinstance(wrapper, WrapMixin)
        with pytest.raises(p11e.KeyUnextractable):
            wrapper.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)

    token.run(attempt_export)


def test_software_keys_are_stored_only_wrapped(
    keystore: CertlibKeyStore, token: TokenSession, key_name: str
) -> None:
    """An SM2 key is on the token only as AES-GCM ciphertext under a non-extractable key."""
    from hsm import records

    ref = keystore.generate("sm2-sm3", key_name)
    record = token.run(lambda session: records.read(session, key_name, 1))
    assert record is not None and record.wrapped is not None
    assert record.protection is Protection.SOFTWARE

    def wrapping_key_attributes(session: pkcs11.Session) -> set[tuple[object, object]]:
        return {(key[Attribute.SENSITIVE], key[Attribute.EXTRACTABLE])
                for key in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY,
                                                Attribute.LABEL: WRAPPING_KEY_LABEL})}

    assert token.run(wrapping_key_attributes) == {(True, False)}
    # Flipping one byte of the blob makes the token refuse to unwrap it.
    from hsm.errors import HsmError
    from hsm.wrapped import unwrap

    def unwrap_tampered(session: pkcs11.Session) -> bytes:
        blob = bytearray(record.wrapped or b"")
        blob[-1] ^= 1
        return unwrap(wrapping_keys(session), bytes(blob), record.label, record.algorithm)

    with pytest.raises(HsmError):
        token.run(unwrap_tampered)
    assert keystore.sign(ref, b"still fine")


def test_secrets_survive_a_second_wrapping_key(
    keystore: CertlibKeyStore, token: TokenSession
) -> None:
    """Two processes starting on a fresh token may each create a wrapping key: a secret
    wrapped under either still unwraps, and a tampered one still does not."""
    before = keystore.wrap_secret("race-test", b"k" * 32)

    def second_wrapping_key(session: pkcs11.Session) -> int:
        session.generate_key(KeyType.AES, 256, store=True, label=WRAPPING_KEY_LABEL, template={
            Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False, Attribute.ENCRYPT: True, Attribute.DECRYPT: True})
        return len(wrapping_keys(session))

    assert token.run(second_wrapping_key) >= 2
    after = keystore.wrap_secret("race-test", b"j" * 32)
    assert keystore.unwrap_secret("race-test", before) == b"k" * 32
    assert keystore.unwrap_secret("race-test", after) == b"j" * 32
    with pytest.raises(KeyStoreError, match="failed authentication"):
        keystore.unwrap_secret("race-test", after[:-1] + bytes([after[-1] ^ 1]))


@pytest.mark.parametrize("algorithm", ["ecdsa-p256-sha256", "sm2-sm3"])
def test_rotation_keeps_old_versions_verifiable(
    keystore: CertlibKeyStore, key_name: str, algorithm: str
) -> None:
    """After rotation the old version verifies but cannot sign; the new one signs."""
    first = keystore.generate(algorithm, key_name)
    old_signature = keystore.sign(first, b"before")
    second = keystore.rotate(key_name)
    assert second.version == 2 and second.public_key != first.public_key
    assert keystore.get(key_name, 1).state is KeyState.VERIFY_ONLY
    assert keystore.get(key_name).version == 2
    with pytest.raises(KeyNotUsableError):
        keystore.sign(first, b"after")
    assert verify_signature(keystore.get(key_name, 1).public_key, algorithm, b"before",
                            old_signature)
    assert verify_signature(second.public_key, algorithm, b"after",
                            keystore.sign(second, b"after"))


@pytest.mark.parametrize("algorithm", ["ecdsa-p256-sha256", "sm2-sm3"])
def test_disabled_key_cannot_sign(
    keystore: CertlibKeyStore, settings: Settings, key_name: str, algorithm: str
) -> None:
    """Disable stops every version, in this process and in any other store."""
    ref = keystore.generate(algorithm, key_name)
    keystore.sign(ref, b"warm the handle cache")
    other = open_keystore(settings)
    other.sign(other.get(key_name), b"warm the other cache too")
    states = {r.state for r in keystore.disable(key_name)}
    assert states == {KeyState.DISABLED}
    for store in (keystore, other):
        with pytest.raises(KeyNotUsableError):
            store.sign(ref, b"x")
    with pytest.raises(KeyNotUsableError):
        keystore.rotate(key_name)


def test_destroy_removes_the_key_from_the_token(
    keystore: CertlibKeyStore, token: TokenSession, key_name: str
) -> None:
    """Destroy deletes the private and public objects and the record."""
    ref = keystore.generate("ecdsa-p256-sha256", key_name)
    keystore.rotate(key_name)
    assert ObjectClass.PRIVATE_KEY in _objects_with_label(token, ref.label)
    keystore.destroy(key_name, 1)
    assert _objects_with_label(token, ref.label) == []
    assert [r.version for r in keystore.list() if r.name == key_name] == [2]
    with pytest.raises(KeyNotFoundError):
        keystore.sign(ref, b"x")
    keystore.destroy(key_name)
    with pytest.raises(KeyNotFoundError):
        keystore.get(key_name)


def test_bad_requests_change_nothing(keystore: CertlibKeyStore, key_name: str) -> None:
    """Bad names, versions, algorithms and duplicates raise typed errors."""
    before = keystore.list()
    with pytest.raises(KeyRequestError):
        keystore.generate("ecdsa-p256-sha256", "../etc/passwd")
    with pytest.raises(KeyRequestError):
        keystore.generate("rsa-pkcs1-sha256", key_name)
    with pytest.raises(KeyRequestError):
        keystore.generate("no-such-algorithm", key_name)
    with pytest.raises(KeyNotFoundError):
        keystore.rotate(key_name)
    with pytest.raises(KeyRequestError):
        keystore.get(key_name, 0)
    assert keystore.list() == before
    keystore.generate("ed25519", key_name)
    with pytest.raises(KeyExistsError):
        keystore.generate("ed25519", key_name)


def test_lost_session_is_reopened_transparently(
    keystore: CertlibKeyStore, key_name: str
) -> None:
    """The store's session logged out and closed behind its back: the next sign reopens it."""
    ref = keystore.generate("ecdsa-p256-sha256", key_name)
    keystore.sign(ref, b"before")
    token_session: TokenSession = keystore.inner._token  # type: ignore[attr-defined]
    generation = token_session.generation
    live = token_session._shared.session  # simulate the loss
    assert live is not None
    live.close()  # C_Logout + C_CloseSession
    signature = keystore.sign(ref, b"after")
    assert token_session.generation == generation + 1
    assert verify_signature(ref.public_key, ref.algorithm, b"after", signature)


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_forked_child_reinitialises_the_module(keystore: CertlibKeyStore, key_name: str) -> None:
    """A child forked after the parent used the token signs with its own session."""
    ref = keystore.generate("ecdsa-p256-sha256", key_name)
    keystore.sign(ref, b"parent")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            signature = keystore.sign(ref, b"child")
            os.write(write, signature)
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    signature = os.read(read, 256)
    assert os.waitstatus_to_exitcode(status) == 0
    assert verify_signature(ref.public_key, ref.algorithm, b"child", signature)
    assert keystore.sign(ref, b"parent again")
