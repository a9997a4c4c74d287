"""How each signature algorithm is generated and signed on a PKCS#11 token.

A mechanism splits signing into three steps so that only the token call runs under
the module lock: `prepare` (hash, outside), `sign_on_token` (inside), `finish`
(encode, outside).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import pkcs11
from asn1crypto import core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import MGF, Attribute, KeyType, Mechanism
from pkcs11.types import SignMixin
from pkcs11.util.ec import encode_named_curve_parameters

from hsm.keystore import Protection

_P256_OID = "1.2.840.10045.3.1.7"
_ED25519_OID = "1.3.101.112"


class TokenMechanism(Protocol):
    """Generation and signing of one algorithm's keys on the token."""

    algorithm: str
    protection: Protection

    def generate(self, session: pkcs11.Session, label: str, key_id: bytes) -> bytes:
        """Generate a key pair on the token and return its SubjectPublicKeyInfo DER."""
        ...

    def prepare(self, data: bytes) -> bytes:
        """What the token signs for `data` (a digest, or the data itself)."""
        ...

    def sign_on_token(self, key: SignMixin, prepared: bytes) -> bytes:
        """The raw token signature."""
        ...

    def finish(self, raw: bytes) -> bytes:
        """The signature in the algorithm's standard encoding."""
        ...


def _private_template(label: str, key_id: bytes) -> dict[Attribute, object]:
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }


def _public_template(label: str, key_id: bytes) -> dict[Attribute, object]:
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }


def _generate_curve_key(
    session: pkcs11.Session, key_type: KeyType, curve_oid: str, label: str, key_id: bytes,
    *, point_size: int,
) -> bytes:
    """Generate an elliptic-curve key pair on the token; returns the public point."""
    public, _ = session.generate_keypair(
        key_type,
        0,
        store=True,
        public_template={
            **_public_template(label, key_id),
            Attribute.EC_PARAMS: encode_named_curve_parameters(curve_oid),
        },
        private_template=_private_template(label, key_id),
    )
    return ec_point_bytes(bytes(public[Attribute.EC_POINT]), point_size)


def ec_point_bytes(value: bytes, size: int) -> bytes:
    """The point in CKA_EC_POINT, which tokens return DER-wrapped or raw."""
    if len(value) == size:
        return value
    point = core.OctetString.load(value).native
    if not isinstance(point, bytes) or len(point) != size:
        raise ValueError("unexpected CKA_EC_POINT encoding")
    return point


class EcdsaP256:
    """ECDSA on P-256 with SHA-256: the token has only raw CKM_ECDSA, so hash first."""

    algorithm = "ecdsa-p256-sha256"
    protection = Protection.HSM

    def generate(self, session: pkcs11.Session, label: str, key_id: bytes) -> bytes:
        """Generate a P-256 key pair and return its SPKI."""
        point = _generate_curve_key(session, KeyType.EC, _P256_OID, label, key_id, point_size=65)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def prepare(self, data: bytes) -> bytes:
        """SHA-256 of the data."""
        return hashlib.sha256(data).digest()

    def sign_on_token(self, key: SignMixin, prepared: bytes) -> bytes:
        """Raw r||s from CKM_ECDSA."""
        return bytes(key.sign(prepared, mechanism=Mechanism.ECDSA))

    def finish(self, raw: bytes) -> bytes:
        """DER SEQUENCE{r, s}."""
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )


class RsaPss3072:
    """RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, on 3072-bit keys."""

    algorithm = "rsa-pss-sha256"
    protection = Protection.HSM
    bits = 3072

    def generate(self, session: pkcs11.Session, label: str, key_id: bytes) -> bytes:
        """Generate an RSA key pair and return its SPKI (rsaEncryption)."""
        public, _ = session.generate_keypair(
            KeyType.RSA,
            self.bits,
            store=True,
            public_template={
                **_public_template(label, key_id),
                Attribute.PUBLIC_EXPONENT: (65537).to_bytes(3, "big"),
            },
            private_template=_private_template(label, key_id),
        )
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(bytes(public[Attribute.PUBLIC_EXPONENT]), "big"),
            int.from_bytes(bytes(public[Attribute.MODULUS]), "big"),
        )
        return numbers.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def prepare(self, data: bytes) -> bytes:
        """The data itself: the token hashes with CKM_SHA256_RSA_PKCS_PSS."""
        return data

    def sign_on_token(self, key: SignMixin, prepared: bytes) -> bytes:
        """The PSS signature."""
        return bytes(
            key.sign(
                prepared,
                mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
                mechanism_param=(Mechanism.SHA256, MGF.SHA256, 32),
            )
        )

    def finish(self, raw: bytes) -> bytes:
        """Unchanged: RSA signatures are plain octet strings."""
        return raw


class Ed25519:
    """Ed25519 (pure EdDSA) with CKM_EDDSA."""

    algorithm = "ed25519"
    protection = Protection.HSM

    def generate(self, session: pkcs11.Session, label: str, key_id: bytes) -> bytes:
        """Generate an Ed25519 key pair and return its SPKI."""
        point = _generate_curve_key(
            session, KeyType.EC_EDWARDS, _ED25519_OID, label, key_id, point_size=32
        )
        return ed25519.Ed25519PublicKey.from_public_bytes(point).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def prepare(self, data: bytes) -> bytes:
        """The data itself: EdDSA hashes internally."""
        return data

    def sign_on_token(self, key: SignMixin, prepared: bytes) -> bytes:
        """The 64-byte signature."""
        return bytes(key.sign(prepared, mechanism=Mechanism.EDDSA))

    def finish(self, raw: bytes) -> bytes:
        """Unchanged."""
        return raw


TOKEN_MECHANISMS: dict[str, TokenMechanism] = {
    mechanism.algorithm: mechanism for mechanism in (EcdsaP256(), RsaPss3072(), Ed25519())
}
