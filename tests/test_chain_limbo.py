"""x509-limbo (regenerated, no BetterTLS) through certlib.chain.validate_path.

Recipe (testdata README §2): anchors = trusted_certs, intermediates =
untrusted_intermediates, moment = validation_time (now when null), the case's CRLs with
revocation "require" (else "off"), its key usages, extended key usages and max chain depth
(as max_intermediates). certlib has no host-name matching, so cases decided by the peer
name alone are SKIPPED. A case passes when accept/reject equals expected_result; a
MalformedInput counts as reject.

Measured (pass / allow-listed divergence / skipped, of the cases with that prefix):

    rfc5280        73 / 27 / 2   (102)
    pathlen        13 /  0 / 0   (13)
    crl             6 /  2 / 0   (8)
    pathological   11 /  0 / 0   (11)
    cve             2 /  0 / 1   (3)
    invalid         1 /  0 / 0   (1)

Every divergence is in DIVERGENT with its reason; any other mismatch fails the test, and so
does a DIVERGENT case that starts to agree with limbo (then it leaves the list).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from asn1crypto import pem

from certlib.chain import PathResult, validate_path
from certlib.errors import MalformedInput
from tests import conftest

PREFIXES = ("rfc5280", "pathlen", "crl", "pathological", "cve", "invalid")
"""rfc5280, pathlen and crl are required by the issue; the other three are reported."""

SKIPPED = {
    "cve::cve-2025-61727": "decided by wildcard peer-name matching against a name constraint",
    "rfc5280::nc::nc-forbids-dnsname-wildcard-san": (
        "decided by wildcard peer-name matching against a name constraint"
    ),
    "rfc5280::ca-as-leaf-wrong-san": "decided by the expected peer name alone",
}
"""Cases whose outcome depends only on host-name matching, which certlib does not do."""

_PROFILE = (
    "pyhanko-certvalidator is looser: an RFC 5280 §4 rule for issuing CAs, not a §6 path "
    "validation step, and certlib adds no profile linting (real SM2 certificates break "
    "several such rules)"
)
DIVERGENT = {
    # pyhanko-certvalidator accepts; limbo expects rejection.
    "crl::crlnumber-missing": f"{_PROFILE}: CRLs MUST carry cRLNumber (§5.2.3)",
    "crl::crlnumber-critical": f"{_PROFILE}: cRLNumber MUST be non-critical (§5.2.3)",
    "rfc5280::aki::critical-aki": f"{_PROFILE}: AKI MUST be non-critical (§4.2.1.1)",
    "rfc5280::aki::leaf-missing-aki": f"{_PROFILE}: AKI MUST be present (§4.2.1.1)",
    "rfc5280::aki::intermediate-missing-aki": f"{_PROFILE}: AKI MUST be present (§4.2.1.1)",
    "rfc5280::aki::cross-signed-root-missing-aki": (
        f"{_PROFILE}: AKI in a cross-signed root (limbo: pedantic-rfc5280)"
    ),
    "rfc5280::ski::root-missing-ski": f"{_PROFILE}: SKI MUST be in CA certificates (§4.2.1.2)",
    "rfc5280::ski::intermediate-missing-ski": (
        f"{_PROFILE}: SKI MUST be in CA certificates (§4.2.1.2)"
    ),
    "rfc5280::eku::ee-eku-empty": (
        f"{_PROFILE}: extKeyUsage SIZE(1..MAX); no EKU is required here, and a required "
        "one is still refused"
    ),
    "rfc5280::nc::permitted-dns-match-noncritical": (
        f"{_PROFILE}: nameConstraints MUST be critical (limbo: rfc5280-incompatible-with-webpki)"
    ),
    "rfc5280::nc::not-allowed-in-ee-noncritical": (
        f"{_PROFILE}: nameConstraints only in CA certificates (§4.2.1.10)"
    ),
    "rfc5280::nc::not-allowed-in-ee-critical": (
        f"{_PROFILE}: nameConstraints only in CA certificates (§4.2.1.10)"
    ),
    "rfc5280::pc::ica-noncritical-pc": f"{_PROFILE}: policyConstraints MUST be critical",
    "rfc5280::san::noncritical-with-empty-subject": (
        f"{_PROFILE}: SAN MUST be critical when the subject is empty (§4.2.1.6)"
    ),
    "rfc5280::san::underscore-dns": f"{_PROFILE}: dNSName preferred name syntax (§4.2.1.6)",
    "rfc5280::san::ip-in-dns": f"{_PROFILE}: an IP address written as a dNSName (§4.2.1.6)",
    "rfc5280::serial::too-long": f"{_PROFILE}: serial <= 20 octets (limbo: pedantic-serial)",
    "rfc5280::serial::zero": f"{_PROFILE}: positive serial (limbo: pedantic-serial)",
    "rfc5280::serial::negative": f"{_PROFILE}: positive serial (limbo: pedantic-serial)",
    "rfc5280::ca-empty-subject": f"{_PROFILE}: CA subjects MUST be non-empty (§4.1.2.6)",
    "rfc5280::root-non-critical-basic-constraints": (
        f"{_PROFILE}: basicConstraints MUST be critical in CA certificates (§4.2.1.9)"
    ),
    "rfc5280::leaf-ku-keycertsign": (
        f"{_PROFILE}: keyCertSign needs cA (§4.2.1.9); the leaf cannot issue anyway"
    ),
    "rfc5280::ee-critical-aia-invalid": f"{_PROFILE}: AIA MUST be non-critical (§4.2.2.1)",
    "rfc5280::root-inconsistent-ca-extensions": (
        "certlib's choice: a trust anchor's key usage is no trust-anchor constraint "
        "(RFC 5937), and real SM2 roots (ofdrw ROOT.p12) omit keyCertSign"
    ),
    "rfc5280::nc::nc-permits-invalid-dns-san": (
        "pyhanko-certvalidator is looser: a malformed dNSName under a permitted subtree "
        "passes its name-constraint match"
    ),
    "rfc5280::nc::nc-permits-invalid-email-san": (
        "pyhanko-certvalidator is looser: a malformed rfc822Name under a permitted subtree "
        "passes its name-constraint match"
    ),
    # pyhanko-certvalidator cannot process; certlib answers CERTIFICATE_CHAIN_GENERAL_FAILURE.
    "rfc5280::nc::permitted-ipv4-match": (
        "pyhanko-certvalidator 0.33 has no iPAddress name-constraint matching "
        "(NotImplementedError): INDETERMINATE instead of valid"
    ),
    "rfc5280::nc::permitted-ipv6-match": (
        "pyhanko-certvalidator 0.33 has no iPAddress name-constraint matching "
        "(NotImplementedError): INDETERMINATE instead of valid"
    ),
    "rfc5280::nc::nc-forbids-othername-noop": (
        "pyhanko-certvalidator 0.33 cannot hold an otherName constraint (TypeError, "
        "unhashable): INDETERMINATE instead of valid"
    ),
}
"""Where certlib, through pyhanko-certvalidator, knowingly answers otherwise than limbo."""

MEASURED = {
    "rfc5280": (73, 27, 2),
    "pathlen": (13, 0, 0),
    "crl": (6, 2, 0),
    "pathological": (11, 0, 0),
    "cve": (2, 0, 1),
    "invalid": (1, 0, 0),
}
"""(pass, divergent, skipped) per prefix: the figures in the module docstring."""

KEY_USAGE = {
    "digitalSignature": "digital_signature",
    "contentCommitment": "non_repudiation",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}
EXTENDED_KEY_USAGE = {
    "anyExtendedKeyUsage": "any_extended_key_usage",
    "serverAuth": "server_auth",
    "clientAuth": "client_auth",
    "codeSigning": "code_signing",
    "emailProtection": "email_protection",
    "timeStamping": "time_stamping",
    "OCSPSigning": "ocsp_signing",
}
TIME_BOUND = 2.0
"""Seconds any one case may take (the pathological ones included)."""


def _cases() -> list[dict[str, Any]]:
    path = conftest.testdata_root() / "limbo" / "limbo-regenerated-no-bettertls.json"
    if not path.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(path.read_text())["testcases"]
    return [case for case in cases if case["id"].split("::")[0] in PREFIXES]


CASES = _cases()


def _der(text: str) -> bytes:
    return bytes(pem.unarmor(text.encode())[2])


def outcome(case: dict[str, Any]) -> tuple[str, PathResult | MalformedInput]:
    """SUCCESS or FAILURE for one case by the recipe, and what certlib returned."""
    moment = case["validation_time"]
    try:
        result = validate_path(
            _der(case["peer_certificate"]),
            trust_anchors=[_der(c) for c in case["trusted_certs"]],
            intermediates=[_der(c) for c in case["untrusted_intermediates"]],
            moment=datetime.fromisoformat(moment) if moment else datetime.now(UTC),
            crls=[_der(c) for c in case["crls"]],
            revocation="require" if case["crls"] else "off",
            key_usage={KEY_USAGE[k] for k in case["key_usage"]} or None,
            extended_key_usage={EXTENDED_KEY_USAGE[k] for k in case["extended_key_usage"]}
            or None,
            max_intermediates=case["max_chain_depth"],
        )
    except MalformedInput as error:
        return "FAILURE", error
    return ("SUCCESS" if result.ok else "FAILURE"), result


def test_limbo_lists_name_real_cases(testdata: object) -> None:
    """Every allow-listed or skipped id exists, and no id is in both lists."""
    assert len(CASES) == 138
    ids = {case["id"] for case in CASES}
    assert set(SKIPPED) <= ids
    assert set(DIVERGENT) <= ids
    assert not set(SKIPPED) & set(DIVERGENT)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_limbo_case(testdata: object, case: dict[str, Any]) -> None:
    """Accept/reject as limbo expects, except the documented divergences, within the bound."""
    if case["id"] in SKIPPED:
        pytest.skip(SKIPPED[case["id"]])
    started = time.monotonic()
    got, detail = outcome(case)
    assert time.monotonic() - started < TIME_BOUND
    if case["id"] in DIVERGENT:
        assert got != case["expected_result"], (
            f"{case['id']} now agrees with limbo: take it off DIVERGENT"
        )
    else:
        assert got == case["expected_result"], detail


def test_limbo_counts_per_prefix(testdata: object) -> None:
    """The per-prefix figures in the docstring are what this run measures."""
    tally: Counter[tuple[str, str]] = Counter()
    for case in CASES:
        prefix = case["id"].split("::")[0]
        if case["id"] in SKIPPED:
            tally[prefix, "skipped"] += 1
        elif outcome(case)[0] == case["expected_result"]:
            tally[prefix, "pass"] += 1
        else:
            tally[prefix, "divergent"] += 1
    measured = {
        prefix: (tally[prefix, "pass"], tally[prefix, "divergent"], tally[prefix, "skipped"])
        for prefix in PREFIXES
    }
    assert measured == MEASURED
