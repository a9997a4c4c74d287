"""Software keys for algorithms the token cannot do, wrapped by an AES key held in the HSM.

SoftHSM2 (and most general-purpose HSMs) has no SM2 mechanism. An SM2 key is therefore
generated in memory by GmSSL (through gmssl-pyx), encoded as PKCS#8, and encrypted at
once with AES-256-GCM by the token under a non-extractable wrapping key; only the
ciphertext is stored. To sign, the token decrypts it, GmSSL signs, and the clear key
is dropped. The GCM associated data binds each blob to its key's name, version and
algorithm, so blobs cannot be swapped between keys.
"""

from __future__ import annotations

import os
from typing import Protocol, cast

import gmssl_pyx
import pkcs11
from asn1crypto import keys as asn1_keys
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin

from hsm.errors import HsmError

SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_DEFAULT_USER_ID = b"1234567812345678"
WRAPPING_KEY_LABEL = "certlib-wrapping-key/v1"
_BLOB_VERSION = b"\x01"
_NONCE_BYTES = 12

asn1_keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)


class WrappingKey(Protocol):
    """The AES key that wraps software keys: it encrypts and decrypts on the token."""

    def encrypt(self, data: bytes, *, mechanism: Mechanism, mechanism_param: object) -> bytes:
        """Encrypt on the token."""
        ...

    def decrypt(self, data: bytes, *, mechanism: Mechanism, mechanism_param: object) -> bytes:
        """Decrypt on the token."""
        ...


def wrapping_keys(session: pkcs11.Session) -> list[WrappingKey]:
    """Every AES wrapping key on the token (processes that start at once on a fresh token
    may each create one; blobs wrapped by any of them stay readable)."""
    found = session.get_objects(
        {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: WRAPPING_KEY_LABEL}
    )
    keys = []
    for key in found:
        assert isinstance(key, EncryptMixin) and isinstance(key, DecryptMixin)
        keys.append(cast(WrappingKey, key))
    return keys


def wrapping_key(session: pkcs11.Session, create: bool) -> WrappingKey | None:
    """The token's AES wrapping key; created on first use when `create` is true."""
    found = wrapping_keys(session)
    if found:
        return found[0]
    if not create:
        return None
    created = session.generate_key(
        KeyType.AES,
        256,
        store=True,
        label=WRAPPING_KEY_LABEL,
        template={
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
            Attribute.WRAP: False,
            Attribute.UNWRAP: False,
        },
    )
    assert isinstance(created, EncryptMixin) and isinstance(created, DecryptMixin)
    return cast(WrappingKey, created)


def _associated_data(label: str, algorithm: str) -> bytes:
    return b"certlib-wrapped-key\x00" + label.encode() + b"\x00" + algorithm.encode()


def wrap(key: WrappingKey, plaintext: bytes, label: str, algorithm: str) -> bytes:
    """Encrypt a PKCS#8 private key on the token; returns version || nonce || ciphertext."""
    nonce = os.urandom(_NONCE_BYTES)
    params = GCMParams(nonce, _associated_data(label, algorithm), 128)
    ciphertext = key.encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params)
    return _BLOB_VERSION + nonce + bytes(ciphertext)


def unwrap(keys: list[WrappingKey], blob: bytes, label: str, algorithm: str) -> bytes:
    """Decrypt a wrapped private key on the token with whichever wrapping key made it;
    raise HsmError if none authenticates it (tampered with, or not from this token)."""
    if not keys:
        raise HsmError("the token has no wrapping key")
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _BLOB_VERSION:
        raise HsmError(f"wrapped key {label} is malformed")
    nonce, ciphertext = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    params = GCMParams(nonce, _associated_data(label, algorithm), 128)
    for key in keys:
        try:
            return bytes(
                key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=params)
            )
        except pkcs11.PKCS11Error:
            continue
    raise HsmError(f"wrapped key {label} failed authentication")


class Sm2Sm3:
    """SM2 signatures with SM3 and the GM/T 0009 default user id, by GmSSL."""

    algorithm = "sm2-sm3"

    def generate(self) -> tuple[bytes, bytes]:
        """A new key pair: (PKCS#8 private key DER, SubjectPublicKeyInfo DER)."""
        public, private = gmssl_pyx.sm2_key_generate()
        point = b"\x04" + public
        curve = asn1_keys.ECDomainParameters(name="named", value="sm2p256v1")
        private_info = asn1_keys.PrivateKeyInfo(
            {
                "version": 0,
                "private_key_algorithm": {"algorithm": "ec", "parameters": curve},
                "private_key": asn1_keys.ECPrivateKey(
                    {
                        "version": "ecPrivkeyVer1",
                        "private_key": int.from_bytes(private, "big"),
                        "public_key": point,
                    }
                ),
            }
        )
        public_info = asn1_keys.PublicKeyInfo(
            {"algorithm": {"algorithm": "ec", "parameters": curve}, "public_key": point}
        )
        return private_info.dump(), public_info.dump()

    def sign(self, private_key_der: bytes, data: bytes) -> bytes:
        """DER SEQUENCE{r, s} over SM3(Z || data) with the default user id."""
        info = asn1_keys.PrivateKeyInfo.load(private_key_der)
        ec_key = info["private_key"].parsed
        scalar = int(ec_key["private_key"].native).to_bytes(32, "big")
        point = ec_key["public_key"].native
        if not isinstance(point, bytes) or len(point) != 65:
            raise HsmError("stored SM2 key lacks its public point")
        return bytes(gmssl_pyx.sm2_sign(scalar, point[1:], data, SM2_DEFAULT_USER_ID))


SOFTWARE_MECHANISMS: dict[str, Sm2Sm3] = {Sm2Sm3.algorithm: Sm2Sm3()}
