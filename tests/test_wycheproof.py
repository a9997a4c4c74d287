"""Wycheproof vectors through `certlib.verify_signature`: valid accepted, invalid rejected."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from certlib.algorithms import PssParameters, load_public_key, verify_rsa_pss, verify_signature

FILES = {
    "ecdsa_secp256r1_sha256_test.json": "ecdsa-p256-sha256",
    "ecdsa_secp256r1_sha256_p1363_test.json": "ecdsa-p256-sha256-p1363",
    "ed25519_test.json": "ed25519",
    "rsa_signature_2048_sha256_test.json": "rsa-pkcs1-sha256",
    "rsa_signature_3072_sha256_test.json": "rsa-pkcs1-sha256",
    "rsa_pss_2048_sha256_mgf1_32_test.json": "rsa-pss-sha256",
    "rsa_pss_2048_sha256_mgf1_32_params_test.json": "rsa-pss-sha256",
    "rsa_pss_misc_test.json": "rsa-pss",
}

# What certlib answers for Wycheproof's "acceptable" cases, recorded so a change shows.
ACCEPTABLE_ANSWERS = {
    # DigestInfo without the NULL parameter: OpenSSL (under cryptography) rejects it.
    ("rsa_signature_2048_sha256_test.json", "MissingNull"): False,
    ("rsa_signature_3072_sha256_test.json", "MissingNull"): False,
}


def _hash_name(wycheproof: str) -> str:
    return wycheproof.lower().replace("-", "").replace("/", "_")


def _verify(algorithm: str, group: dict[str, Any], test: dict[str, Any]) -> bool:
    key = bytes.fromhex(group["publicKeyDer"])
    message, signature = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    if algorithm == "rsa-pss":
        params = PssParameters(_hash_name(group["sha"]), _hash_name(group["mgfSha"]), group["sLen"])
        return verify_rsa_pss(load_public_key(key), message, signature, params)
    return verify_signature(key, algorithm, message, signature)


@pytest.mark.parametrize("filename", sorted(FILES))
def test_wycheproof_file(testdata: Path, filename: str) -> None:
    """Every `valid` verifies, every `invalid` is rejected without an exception."""
    document = json.loads((testdata / "wycheproof" / filename).read_text())
    algorithm = FILES[filename]
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    for group in document["testGroups"]:
        for test in group["tests"]:
            answer = _verify(algorithm, group, test)
            expected = test["result"]
            if expected == "acceptable":
                flags = tuple(test["flags"])
                recorded = [ACCEPTABLE_ANSWERS.get((filename, flag)) for flag in flags]
                assert answer in recorded, f"tcId {test['tcId']} {flags}: answered {answer}"
                outcomes["acceptable"] += 1
            elif answer != (expected == "valid"):
                wrong.append(f"tcId {test['tcId']} ({expected}, {test['comment']})")
            else:
                outcomes[expected] += 1
    assert not wrong, f"{len(wrong)} wrong answers: {wrong[:10]}"
    assert sum(outcomes.values()) == document["numberOfTests"]
