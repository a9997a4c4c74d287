"""NIST PKITS (pkits.json, 246 cases) through certlib.chain.validate_path.

Recipe (testdata README §3): trust anchor TrustAnchorRootCertificate, CRLs = the root CRL
plus the case's, intermediates = other_certs, moment 2022-05-01, revocation "require" unless
the case says `revocation: false` ("off"), `params` as PolicyInputs. PKITS is from 2010 and
signs with SHA-1 DSA keys of 1024 bits, so the algorithm policy is the one pyhanko's own
PKITS run uses: only MD2 and MD5 are weak, DSA from 1024 bits.

Measured: 246/246 accept/reject as expected, and 246/246 with the expected failure class
(REVOKED for RevokedError, TRY_LATER for Insufficient/StaleRevinfoError, any other
sub-indication for PathValidationError). The DSA parameter-inheritance case (40105) is
valid without revocation checking, as pkits.json asks; with its CRLs, whose signatures
need inherited DSA parameters, the answer is TRY_LATER, not a crash (tested below).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from certlib.chain import ANY_POLICY, AlgorithmPolicy, PathResult, PolicyInputs, validate_path
from tests import conftest

MOMENT = datetime(2022, 5, 1, tzinfo=UTC)
PKITS_ALGORITHMS = AlgorithmPolicy(weak_digests=frozenset({"md2", "md5"}), min_dsa_bits=1024)

ERROR_CLASSES = {
    "RevokedError": "REVOKED",
    "InsufficientRevinfoError": "TRY_LATER",
    "StaleRevinfoError": "TRY_LATER",
    "PathValidationError": "PATH",
}
"""pyhanko's expected failure class -> the certlib failure class it must map to."""


def _failure_class(result: PathResult) -> str | None:
    if result.ok:
        return None
    if result.sub_indication in ("REVOKED", "TRY_LATER"):
        return result.sub_indication
    return "PATH"


def _cases() -> list[dict[str, Any]]:
    index = conftest.testdata_root() / "pkits" / "pkits.json"
    if not index.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(index.read_text())
    return cases


CASES = _cases()


@dataclass(frozen=True)
class Pkits:
    """Readers for the PKITS certificate and CRL folders."""

    root: Path

    def cert(self, name: str) -> bytes:
        """A certificate by file name."""
        return (self.root / "certs" / name).read_bytes()

    def crl(self, name: str) -> bytes:
        """A CRL by file name."""
        return (self.root / "crls" / name).read_bytes()


@pytest.fixture(scope="module")
def pkits(testdata: Path) -> Pkits:
    """The PKITS folder of the shared test data."""
    return Pkits(testdata / "pkits")


def _policy(params: dict[str, Any] | None) -> PolicyInputs | None:
    if params is None:
        return None
    oids = params.get("user_initial_policy_set", [ANY_POLICY])
    return PolicyInputs(
        user_initial_policy_set=frozenset(ANY_POLICY if o == "any_policy" else o for o in oids),
        initial_policy_mapping_inhibit=bool(params.get("initial_policy_mapping_inhibit")),
        initial_explicit_policy=bool(params.get("initial_explicit_policy")),
        initial_any_policy_inhibit=bool(params.get("initial_any_policy_inhibit")),
    )


def run_case(pkits: Pkits, case: dict[str, Any]) -> PathResult:
    """Validate one pkits.json case by the recipe."""
    return validate_path(
        pkits.cert(case["cert"]),
        trust_anchors=[pkits.cert("TrustAnchorRootCertificate.crt")],
        intermediates=[pkits.cert(name) for name in case.get("other_certs", [])],
        crls=[pkits.crl("TrustAnchorRootCRL.crl")]
        + [pkits.crl(name) for name in case.get("crls", [])],
        moment=MOMENT,
        revocation="require" if case.get("revocation", True) else "off",
        policy=_policy(case.get("params")),
        algorithms=PKITS_ALGORITHMS,
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{c['id']}-{c['name']}" for c in CASES])
def test_pkits_case(pkits: Pkits, case: dict[str, Any]) -> None:
    """Success exactly when pkits.json has no error, and the failure class matches."""
    result = run_case(pkits, case)
    error = case.get("error")
    assert result.ok is (error is None), (result.sub_indication, result.message)
    expected = ERROR_CLASSES[error["class"]] if error else None
    assert _failure_class(result) == expected, (result.sub_indication, result.message)
    if result.ok:
        assert len(result.path) == case["path_len"]
        assert result.path[-1] == pkits.cert("TrustAnchorRootCertificate.crt")
        params = case.get("params") or {}
        wanted = set(params.get("user_initial_policy_set", [])) - {"any_policy", ANY_POLICY}
        if wanted and result.policies:
            assert result.policies <= wanted


def test_pkits_index_is_complete(testdata: Path) -> None:
    """All 246 cases are here, so the parametrised run above is the whole suite."""
    assert len(CASES) == 246
    assert sum("error" not in case for case in CASES) == 110


def test_dsa_parameter_inheritance_with_crls_is_try_later(pkits: Pkits) -> None:
    """40105 with revocation on: its CRL's DSA signature needs inherited parameters."""
    case = next(c for c in CASES if c["id"] == "40105")
    result = run_case(pkits, {**case, "revocation": True})
    assert result.sub_indication == "TRY_LATER"


def test_pkits_dsa_fails_the_default_algorithm_policy(pkits: Pkits) -> None:
    """Under the default policy, PKITS' SHA-1 DSA-1024 chain is a crypto constraint failure."""
    case = next(c for c in CASES if c["id"] == "40104")
    result = validate_path(
        pkits.cert(case["cert"]),
        trust_anchors=[pkits.cert("TrustAnchorRootCertificate.crt")],
        intermediates=[pkits.cert(name) for name in case["other_certs"]],
        moment=MOMENT,
        revocation="off",
    )
    assert result.sub_indication == "CRYPTO_CONSTRAINTS_FAILURE"
