"""GB/T 32918 SM2 vectors (with their user ids) through GmSSL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certlib.algorithms import load_public_key, verify_signature, verify_sm2, verify_sm2_digest
from certlib.errors import InvalidKey

SM2_CURVE_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def _groups(testdata: Path) -> list[dict[str, object]]:
    document = json.loads((testdata / "sm2" / "sm2_sm3_signature_test.json").read_text())
    groups: list[dict[str, object]] = document["testGroups"]
    return groups


def test_every_vector_on_sm2p256v1(testdata: Path) -> None:
    """Each vector on the recommended curve gives its expected result."""
    checked = 0
    for group in _groups(testdata):
        curve = group["curve"]
        assert isinstance(curve, dict)
        if "p" in curve:
            continue  # the GB/T 32918 test curve: see the next test
        public = group["publicKey"]
        assert isinstance(public, dict)
        spki = SM2_CURVE_SPKI_PREFIX + bytes.fromhex(public["uncompressed"])
        key = load_public_key(spki)
        tests = group["tests"]
        assert isinstance(tests, list)
        for test in tests:
            signature = bytes.fromhex(test["sigDer"])
            if "e" in test:
                answer = verify_sm2_digest(key, bytes.fromhex(test["e"]), signature)
            else:
                message = bytes.fromhex(test["msg"])
                answer = verify_sm2(key, message, signature, test["userId"].encode())
                if test["userId"] == "1234567812345678":
                    assert verify_signature(spki, "sm2-sm3", message, signature) == answer
            assert answer == (test["result"] == "valid"), f"tcId {test['tcId']} {test['flags']}"
            checked += 1
    assert checked == 15


def test_test_curve_vectors_need_arbitrary_curves(testdata: Path) -> None:
    """GmSSL works on sm2p256v1 only, so the test-curve group cannot run here."""
    groups = [g for g in _groups(testdata) if "p" in g["curve"]]  # type: ignore[operator]
    assert len(groups) == 1
    public = groups[0]["publicKey"]
    assert isinstance(public, dict)
    with pytest.raises(InvalidKey):
        load_public_key(SM2_CURVE_SPKI_PREFIX + bytes.fromhex(public["uncompressed"]))
    pytest.skip("the GB/T 32918 test-curve group needs a binding with arbitrary curve "
                "parameters; gmssl-pyx implements sm2p256v1 only")
