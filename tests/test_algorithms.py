"""The algorithm registry and the error contract of `verify_signature`."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

import certlib
from certlib.algorithms import ALGORITHMS, get_algorithm, verify_signature
from certlib.errors import CertlibError, InvalidKey, MalformedInput, UnknownAlgorithm

P256 = ec.generate_private_key(ec.SECP256R1())
P256_SPKI = P256.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
ED25519_SPKI = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_registry_entries_are_complete() -> None:
    """Every entry names its OIDs, digest, encoding and key type."""
    assert set(ALGORITHMS) == {"ecdsa-p256-sha256", "ecdsa-p256-sha256-p1363",
                               "rsa-pkcs1-sha256", "rsa-pss-sha256", "ed25519", "sm2-sm3"}
    assert get_algorithm("sm2-sm3").signature_oid == "1.2.156.10197.1.501"
    assert get_algorithm("sm2-sm3").digest_oid == "1.2.156.10197.1.401"
    assert get_algorithm("ecdsa-p256-sha256").signature_oid == "1.2.840.10045.4.3.2"
    assert not get_algorithm("rsa-pkcs1-sha256").generates_keys
    assert certlib.DEFAULT_ALGORITHM == "ecdsa-p256-sha256"


def test_unknown_algorithm_raises_a_certlib_error() -> None:
    """An unknown name is an UnknownAlgorithm, not a KeyError."""
    with pytest.raises(UnknownAlgorithm):
        verify_signature(P256_SPKI, "ecdsa-p384-sha384", b"m", b"s")
    with pytest.raises(UnknownAlgorithm):
        get_algorithm(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [b"", b"\x30\x00", P256_SPKI[:-1], P256_SPKI + b"\x00",
                                 b"not a key at all"])
def test_malformed_keys_raise_invalid_key(key: bytes) -> None:
    """Truncated, padded or garbage SPKI is an InvalidKey."""
    with pytest.raises(InvalidKey):
        verify_signature(key, "ecdsa-p256-sha256", b"m", b"s")


def test_key_of_the_wrong_type_raises() -> None:
    """An Ed25519 key cannot check ECDSA signatures: InvalidKey, not False."""
    with pytest.raises(InvalidKey):
        verify_signature(ED25519_SPKI, "ecdsa-p256-sha256", b"m", b"s")


def test_non_bytes_arguments_raise_malformed_input() -> None:
    """Non-bytes data or signature is a MalformedInput."""
    with pytest.raises(MalformedInput):
        verify_signature(P256_SPKI, "ecdsa-p256-sha256", "text", b"s")  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        verify_signature(P256_SPKI, "ecdsa-p256-sha256", b"m", None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(algorithm=st.sampled_from(sorted(ALGORITHMS)), key=st.binary(max_size=200),
       data=st.binary(max_size=64), signature=st.binary(max_size=600))
def test_random_input_only_ever_raises_certlib_errors(
    algorithm: str, key: bytes, data: bytes, signature: bytes
) -> None:
    """Random keys and signatures: a boolean or a CertlibError, nothing else."""
    try:
        result = verify_signature(key, algorithm, data, signature)
    except CertlibError:
        return
    assert result is False


@settings(max_examples=300, deadline=None)
@given(signature=st.binary(max_size=200))
def test_random_signatures_against_a_real_key_are_false(signature: bytes) -> None:
    """Any signature bytes against a valid key: False, never an exception."""
    for algorithm in ("ecdsa-p256-sha256", "ecdsa-p256-sha256-p1363"):
        assert verify_signature(P256_SPKI, algorithm, b"message", signature) is False
