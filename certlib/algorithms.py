"""The signature algorithm registry and the one public verify function.

Each `Algorithm` names its OIDs, digest, signature encoding and key type. Verification
is done by pyca/cryptography (ECDSA, RSA, Ed25519) and by GmSSL through gmssl-pyx
(SM2), never by code of our own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import gmssl_pyx
from asn1crypto import algos as asn1_algos
from asn1crypto import keys as asn1_keys
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from certlib.errors import InvalidKey, MalformedInput, UnknownAlgorithm

SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_DEFAULT_USER_ID = b"1234567812345678"
SM2_ORDER = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

asn1_keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)

KeyType = Literal["ec-p256", "rsa", "ed25519", "sm2"]
Encoding = Literal["der", "p1363", "raw"]


@dataclass(frozen=True)
class Algorithm:
    """One signature algorithm: identifiers, digest, encoding and key type."""

    name: str
    signature_oid: str
    """OID of the AlgorithmIdentifier in X.509 and CMS signatureAlgorithm."""
    digest: str | None
    """Digest name (`sha256`, `sm3`), or None where the scheme hashes internally."""
    digest_oid: str | None
    key_type: KeyType
    encoding: Encoding
    """`der` SEQUENCE{r,s}; `p1363` fixed-width r||s; `raw` octets (RSA, Ed25519)."""
    generates_keys: bool
    """False for verify-only algorithms kept for old signatures."""


_SHA256_OID = "2.16.840.1.101.3.4.2.1"
_SM3_OID = "1.2.156.10197.1.401"

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("ecdsa-p256-sha256", "1.2.840.10045.4.3.2", "sha256", _SHA256_OID,
                  "ec-p256", "der", True),
        Algorithm("ecdsa-p256-sha256-p1363", "0.4.0.127.0.7.1.1.4.1.3", "sha256", _SHA256_OID,
                  "ec-p256", "p1363", False),
        Algorithm("rsa-pkcs1-sha256", "1.2.840.113549.1.1.11", "sha256", _SHA256_OID,
                  "rsa", "raw", False),
        Algorithm("rsa-pss-sha256", "1.2.840.113549.1.1.10", "sha256", _SHA256_OID,
                  "rsa", "raw", True),
        Algorithm("ed25519", "1.3.101.112", None, None, "ed25519", "raw", True),
        Algorithm("sm2-sm3", "1.2.156.10197.1.501", "sm3", _SM3_OID, "sm2", "der", True),
    )
}
DEFAULT_ALGORITHM = "ecdsa-p256-sha256"


def get_algorithm(name: str) -> Algorithm:
    """The registry entry for `name`; raises UnknownAlgorithm."""
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        raise UnknownAlgorithm(
            f"unknown signature algorithm {name!r}; known: {', '.join(ALGORITHMS)}"
        ) from None


@dataclass(frozen=True)
class PssParameters:
    """RSASSA-PSS parameters: message digest, MGF1 digest and salt length."""

    digest: str = "sha256"
    mgf_digest: str = "sha256"
    salt_length: int = 32


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha512_224": hashes.SHA512_224,
    "sha512_256": hashes.SHA512_256,
    "sm3": hashes.SM3,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """A cryptography hash object for a digest name such as `sha256` or `sm3`."""
    try:
        return _HASHES[name.lower().replace("-", "")]()
    except KeyError:
        raise UnknownAlgorithm(f"unknown digest algorithm {name!r}") from None


def digest(name: str, data: bytes) -> bytes:
    """The digest of `data` under the named algorithm."""
    hasher = hashes.Hash(hash_algorithm(name))
    hasher.update(data)
    return hasher.finalize()


def algorithm_identifier(algorithm: str) -> asn1_algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier certificates and CRLs carry for a key-store algorithm."""
    entry = get_algorithm(algorithm)
    if entry.name == "rsa-pss-sha256":
        return asn1_algos.SignedDigestAlgorithm({
            "algorithm": "rsassa_pss",
            "parameters": asn1_algos.RSASSAPSSParams({
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
                "salt_length": 32,
                "trailer_field": "trailer_field_bc",
            }),
        })
    return asn1_algos.SignedDigestAlgorithm({"algorithm": entry.signature_oid})


# -- public keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class PublicKey:
    """A parsed SubjectPublicKeyInfo: its type and what the verifiers need."""

    key_type: KeyType
    spki: bytes
    native: object
    """A cryptography public key, or the 64-byte SM2 point (x || y)."""
    pss: PssParameters | None = None
    """Parameters fixed by an id-RSASSA-PSS SPKI."""


def load_public_key(spki: bytes) -> PublicKey:
    """Parse a SubjectPublicKeyInfo DER; raises InvalidKey when it is not one we support."""
    if not isinstance(spki, bytes | bytearray | memoryview):
        raise InvalidKey("a public key must be SubjectPublicKeyInfo DER bytes")
    return _load_public_key(bytes(spki))


@functools.lru_cache(maxsize=4096)
def _load_public_key(spki: bytes) -> PublicKey:
    try:
        info = asn1_keys.PublicKeyInfo.load(spki, strict=True)
        algorithm = info["algorithm"]["algorithm"].dotted
        parameters = info["algorithm"]["parameters"]
        if algorithm == "1.2.840.10045.2.1" and parameters.name == "named" and (
            parameters.chosen.dotted == SM2_CURVE_OID
        ):
            point = info["public_key"].native
            return PublicKey("sm2", spki, gmssl_pyx.normalize_sm2_public_key(bytes(point)))
        pss = _pss_parameters(info["algorithm"]) if algorithm == "1.2.840.113549.1.1.10" else None
    except (ValueError, TypeError, KeyError, gmssl_pyx.InvalidValueError) as error:
        raise InvalidKey(f"malformed SubjectPublicKeyInfo: {error}") from None
    try:
        key = load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise InvalidKey(f"unsupported or malformed public key: {error}") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidKey(f"unsupported elliptic curve {key.curve.name}")
        return PublicKey("ec-p256", spki, key)
    if isinstance(key, rsa.RSAPublicKey):
        return PublicKey("rsa", spki, key, pss)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return PublicKey("ed25519", spki, key)
    raise InvalidKey(f"unsupported public key type {type(key).__name__}")


def _pss_parameters(identifier: asn1_algos.SignedDigestAlgorithm) -> PssParameters:
    """Parameters of an id-RSASSA-PSS AlgorithmIdentifier (absent means the defaults)."""
    raw = identifier["parameters"]
    if raw.native is None:
        return PssParameters("sha1", "sha1", 20)
    params = asn1_algos.RSASSAPSSParams.load(raw.dump(), strict=True)
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].native != "mgf1":
        raise ValueError("only MGF1 is supported")
    if params["trailer_field"].native != "trailer_field_bc":
        raise ValueError("unsupported PSS trailer field")
    return PssParameters(
        digest=params["hash_algorithm"]["algorithm"].native,
        mgf_digest=mgf["parameters"]["algorithm"].native,
        salt_length=int(params["salt_length"].native),
    )


# -- verification ----------------------------------------------------------------------


def verify_signature(public_key: bytes, algorithm: str, data: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid signature of `data` by `public_key` (SPKI DER)."""
    entry = get_algorithm(algorithm)
    key = load_public_key(public_key)
    _require_bytes(data, "data")
    _require_bytes(signature, "signature")
    if key.key_type != entry.key_type:
        raise InvalidKey(f"a {key.key_type} key cannot verify {entry.name} signatures")
    data, signature = bytes(data), bytes(signature)
    if entry.key_type == "sm2":
        return verify_sm2(key, data, signature)
    if entry.name == "rsa-pss-sha256":
        return verify_rsa_pss(key, data, signature, key.pss or PssParameters())
    try:
        if entry.key_type == "ec-p256":
            assert isinstance(key.native, ec.EllipticCurvePublicKey)
            if entry.encoding == "p1363":
                signature = _p1363_to_der(signature, 32)
            key.native.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif entry.key_type == "rsa":
            assert isinstance(key.native, rsa.RSAPublicKey)
            key.native.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            assert isinstance(key.native, ed25519.Ed25519PublicKey)
            key.native.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_rsa_pss(key: PublicKey, data: bytes, signature: bytes, params: PssParameters) -> bool:
    """RSASSA-PSS verification with explicit parameters."""
    if not isinstance(key.native, rsa.RSAPublicKey):
        raise InvalidKey("RSASSA-PSS needs an RSA key")
    if key.pss is not None and key.pss != params:
        return False
    try:
        key.native.verify(
            signature,
            data,
            padding.PSS(mgf=padding.MGF1(hash_algorithm(params.mgf_digest)),
                        salt_length=params.salt_length),
            hash_algorithm(params.digest),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_sm2(
    key: PublicKey, data: bytes, signature: bytes, user_id: bytes = SM2_DEFAULT_USER_ID
) -> bool:
    """SM2 verification of SM3(Z || data), Z computed with `user_id` (GM/T 0009)."""
    if key.key_type != "sm2" or not isinstance(key.native, bytes):
        raise InvalidKey("SM2 verification needs an SM2 key")
    if not _strict_sm2_signature(signature):
        return False
    try:
        verified: bool = gmssl_pyx.sm2_verify(key.native, data, signature, user_id)
        return verified
    except gmssl_pyx.GmsslInnerError:
        return False


def verify_sm2_digest(key: PublicKey, e: bytes, signature: bytes) -> bool:
    """SM2 verification of a precomputed e = SM3(Z || M) (hazardous: no Z is applied)."""
    if key.key_type != "sm2" or not isinstance(key.native, bytes):
        raise InvalidKey("SM2 verification needs an SM2 key")
    if not _strict_sm2_signature(signature):
        return False
    # GB/T 32918.2 turns e into an integer and works modulo n; longer inputs reduce first.
    reduced = (int.from_bytes(e, "big") % SM2_ORDER).to_bytes(32, "big")
    try:
        verified: bool = gmssl_pyx.sm2_verify_sm3_digest(key.native, reduced, signature)
        return verified
    except gmssl_pyx.GmsslInnerError:
        return False


def _strict_sm2_signature(signature: bytes) -> bool:
    """DER SEQUENCE{r, s} with 1 <= r, s < n, encoded canonically."""
    try:
        parsed = asn1_algos.DSASignature.load(signature, strict=True)
        r: int = parsed["r"].native
        s: int = parsed["s"].native
        canonical = asn1_algos.DSASignature({"r": r, "s": s}).dump(force=True)
    except (ValueError, TypeError):
        return False
    return canonical == signature and 0 < r < SM2_ORDER and 0 < s < SM2_ORDER


def _p1363_to_der(signature: bytes, size: int) -> bytes:
    if len(signature) != 2 * size:
        raise ValueError("wrong P1363 signature length")
    return encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )


def _require_bytes(value: object, what: str) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise MalformedInput(f"{what} must be bytes")


__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "Algorithm",
    "PssParameters",
    "PublicKey",
    "algorithm_identifier",
    "digest",
    "get_algorithm",
    "hash_algorithm",
    "load_public_key",
    "verify_rsa_pss",
    "verify_signature",
    "verify_sm2",
    "verify_sm2_digest",
]
