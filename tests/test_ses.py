"""Seals and seal signatures (certlib.ses): third-party files, HSM round trips, openssl, fuzz.

Third-party files are ofdrw's (README of testdata/ofdrw); HSM keys are SM2 keys in the
test SoftHSM2 token. Each expected outcome names the check that decides it.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlib.algorithms import digest
from certlib.errors import InputError
from certlib.keys import CertlibKeyStore
from certlib.report import CheckResult, Indication, SubIndication, ValidationReport
from certlib.ses import (
    MalformedSeal,
    SealExtension,
    SealPicture,
    make_seal,
    parse_seal,
    parse_signature,
    sign_data,
    sign_detached,
    verify_seal,
    verify_ses_signature,
)
from certlib.ses.asn1 import ExtensionDatas
from certlib.trust import TrustMaterial
from tests.ses_support import (
    SealPki,
    elements,
    flip_byte,
    make_pki,
    ofdrw_root,
    openssl_sm2_verify,
    seal_of,
    seal_spec,
    sequence,
    when,
)

SEALS = ("UserV1.esl", "UserV4.esl", "UserV5.esl", "UserV5_ts.esl")


def results(report: ValidationReport) -> dict[str, CheckResult]:
    """Check name -> result."""
    return {check.name: check.result for check in report.checks}


@pytest.fixture(scope="module")
def pki(keystore: CertlibKeyStore) -> SealPki:
    """An SM2 seal PKI in the token."""
    return make_pki(keystore)


@pytest.fixture(scope="module")
def corpus(testdata: Path) -> Path:
    """The ofdrw folder of the shared corpus."""
    return testdata / "ofdrw"


# -- third-party seals and signatures -----------------------------------------------------


@pytest.mark.parametrize("name", SEALS)
def test_ofdrw_seals_parse_and_their_maker_signature_verifies(corpus: Path, name: str) -> None:
    """v1, v4, v5 and v5 with a time-stamp: the maker's signature over the exact bytes."""
    der = (corpus / "seal" / name).read_bytes()
    seal = parse_seal(der)
    assert seal.version == {"UserV1.esl": 1, "UserV4.esl": 4}.get(name, 5)
    assert seal.picture.kind == "png" and seal.picture.data.startswith(b"\x89PNG")
    if seal.version == 1:  # SEQUENCE{sealInfo, cert, alg}: each element as received
        assert all(part in der for part in elements(seal.signed_bytes))
    else:  # DER(SES_SealInfo), sliced from the input
        assert der.index(seal.signed_bytes) == 4
    assert (seal.time_stamp == b"\x01\x02\x03") is (name == "UserV5_ts.esl")
    moment = seal.valid_from + timedelta(days=1)
    report = verify_seal(der, at=moment)
    assert results(report)["seal-signature"] is CheckResult.PASSED
    assert results(report)["seal-validity"] is CheckResult.PASSED
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_ofdrw_seals_with_their_root(corpus: Path, testdata: Path) -> None:
    """With the OFD R&W root trusted: v1 and v4 pass; ofdrw made v5 after its maker
    certificate expired (2022), so the maker chain fails there."""
    trust = TrustMaterial(anchors=[ofdrw_root(testdata)])
    for name in ("UserV1.esl", "UserV4.esl"):
        report = verify_seal((corpus / "seal" / name).read_bytes(), trust=trust,
                             at=when(2021, 1))
        assert report.passed, report.checks
    v5 = verify_seal((corpus / "seal" / "UserV5.esl").read_bytes(), trust=trust,
                     at=when(2027, 1))
    assert v5.sub_indication is SubIndication.EXPIRED
    assert results(v5)["seal-maker-chain"] is CheckResult.FAILED
    assert results(v5)["seal-signature"] is CheckResult.PASSED
    late = verify_seal((corpus / "seal" / "UserV4.esl").read_bytes(), trust=trust)
    assert late.sub_indication is SubIndication.EXPIRED  # the seal itself ended in 2022


@pytest.mark.parametrize("name", ["SignedValueV4.dat", "SignedValueV5.dat"])
def test_ofdrw_signed_values(corpus: Path, name: str) -> None:
    """Both signatures verify; their dataHash is all zero, so Signature.xml mismatches."""
    der = (corpus / "signedvalue" / name).read_bytes()
    signature = parse_signature(der)
    assert signature.data_hash == bytes(32)
    assert signature.version == (4 if name.endswith("V4.dat") else 5)
    assert der.index(signature.tbs_bytes) == 4
    mismatch = verify_ses_signature(
        der, signed_data=(corpus / "signedvalue" / "Signature.xml").read_bytes())
    assert mismatch.sub_indication is SubIndication.HASH_FAILURE
    checks = results(mismatch)
    for passed in ("signature", "signer-in-seal", "seal-signature", "seal-validity"):
        assert checks[passed] is CheckResult.PASSED, passed
    matched = verify_ses_signature(der, data_hash=bytes(32))
    assert results(matched)["data-hash"] is CheckResult.PASSED
    assert matched.indication is Indication.INDETERMINATE


def test_ofdrw_signed_values_with_their_root(corpus: Path, testdata: Path) -> None:
    """V4 was signed in 2020 with certificates valid then: PASSED. V5 claims 2026, after
    the signer's certificate expired: FAILED/EXPIRED."""
    trust = TrustMaterial(anchors=[ofdrw_root(testdata)])
    v4 = verify_ses_signature((corpus / "signedvalue" / "SignedValueV4.dat").read_bytes(),
                              data_hash=bytes(32), trust=trust)
    assert v4.passed, v4.checks
    v5 = verify_ses_signature((corpus / "signedvalue" / "SignedValueV5.dat").read_bytes(),
                              data_hash=bytes(32), trust=trust)
    assert v5.sub_indication is SubIndication.EXPIRED
    assert results(v5)["signer-chain"] is CheckResult.FAILED


# -- HSM round trips -------------------------------------------------------------------


def test_make_seal_round_trip(pki: SealPki) -> None:
    """What make_seal writes parses back field for field, and verifies with the root."""
    extensions = ExtensionDatas([{"extn_id": "1.2.156.10197.6.7.2.2.1", "critical": False,
                                  "extn_value": b"2.1"}]).dump()
    spec = seal_spec(pki, seal_type=2, vendor_id="certlib-test", ext_data=extensions)
    der = make_seal(spec, pki.maker, pki.maker_sign)
    seal = parse_seal(der)
    assert seal.extensions == (SealExtension("1.2.156.10197.6.7.2.2.1", False, b"2.1"),)
    assert (seal.version, seal.header_version, seal.cert_list_type) == (4, 4, 1)
    assert (seal.es_id, seal.seal_type, seal.name, seal.vendor_id) == (
        spec.es_id, 2, spec.name, "certlib-test")
    assert seal.signer_certificates == (pki.signer,)
    assert (seal.created, seal.valid_from, seal.valid_until) == (
        spec.created, spec.valid_from, spec.valid_until)
    assert seal.picture == spec.picture
    assert seal.maker_certificate == pki.maker
    assert seal.signature_algorithm == "1.2.156.10197.1.501"
    assert verify_seal(der, trust=pki.trust).passed
    unknown = verify_seal(der)
    assert unknown.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert verify_seal(der, trust=pki.trust, at=when(2031)).sub_indication is (
        SubIndication.EXPIRED)


def test_sign_detached_round_trip(pki: SealPki) -> None:
    """A detached SES_Signature over raw data: PASSED; other data, HASH_FAILURE."""
    seal = seal_of(pki)
    data = "申请材料 第一页".encode() * 100
    der = sign_detached(seal, pki.signer, data, pki.signer_sign, property_info="raw")
    signature = parse_signature(der)
    assert signature.seal.der == seal and seal in der
    assert signature.data_hash == digest("sm3", data)
    assert signature.property_info == "raw"
    assert verify_ses_signature(der, signed_data=data, trust=pki.trust).passed
    assert verify_ses_signature(der, data_hash=digest("sm3", data), trust=pki.trust).passed
    other = verify_ses_signature(der, signed_data=data + b".", trust=pki.trust)
    assert other.sub_indication is SubIndication.HASH_FAILURE
    missing = verify_ses_signature(der, trust=pki.trust)
    assert missing.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND


def test_tampered_signature_and_seal(pki: SealPki) -> None:
    """One bit of the signer's or the maker's signature: SIG_CRYPTO_FAILURE."""
    seal = seal_of(pki)
    der = sign_detached(seal, pki.signer, b"data", pki.signer_sign)
    assert verify_ses_signature(flip_byte(der, len(der) - 3), signed_data=b"data",
                                trust=pki.trust).sub_indication is (
        SubIndication.SIG_CRYPTO_FAILURE)
    bad_seal = flip_byte(seal, len(seal) - 3)
    report = verify_seal(bad_seal, trust=pki.trust)
    assert report.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    forged = sign_data(bad_seal, pki.signer, digest("sm3", b"data"), "", pki.signer_sign)
    report = verify_ses_signature(forged, signed_data=b"data", trust=pki.trust)
    assert results(report)["signature"] is CheckResult.PASSED
    assert results(report)["seal-signature"] is CheckResult.FAILED
    assert report.indication is Indication.FAILED


def test_expired_seal_and_unlisted_signer(pki: SealPki) -> None:
    """Signing after the seal's end, or with a certificate the seal does not list."""
    expired = seal_of(pki, valid_until=when(2025, 6))
    with pytest.raises(InputError):
        sign_detached(expired, pki.signer, b"x", pki.signer_sign)
    late = sign_data(expired, pki.signer, digest("sm3", b"x"), "", pki.signer_sign,
                     timestamp=when(2026))
    report = verify_ses_signature(late, signed_data=b"x", trust=pki.trust)
    assert report.sub_indication is SubIndication.EXPIRED
    assert results(report)["seal-validity"] is CheckResult.FAILED
    early = sign_data(seal_of(pki, valid_from=when(2026)), pki.signer, digest("sm3", b"x"),
                      "", pki.signer_sign, timestamp=when(2025, 6))
    assert verify_ses_signature(early, signed_data=b"x", trust=pki.trust).sub_indication is (
        SubIndication.NOT_YET_VALID)
    seal = seal_of(pki)
    with pytest.raises(InputError):
        sign_detached(seal, pki.outsider, b"x", pki.outsider_sign)
    outsider = sign_data(seal, pki.outsider, digest("sm3", b"x"), "", pki.outsider_sign)
    report = verify_ses_signature(outsider, signed_data=b"x", trust=pki.trust)
    assert report.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert results(report)["signer-in-seal"] is CheckResult.FAILED


def test_wrong_keys_and_bad_specs_are_refused(pki: SealPki) -> None:
    """A key that does not match the certificate, and specs outside the rules."""
    with pytest.raises(InputError):
        make_seal(seal_spec(pki), pki.maker, pki.signer_sign)
    with pytest.raises(InputError):
        sign_data(seal_of(pki), pki.signer, bytes(32), "", pki.outsider_sign)
    for changes in ({"es_id": "非ASCII"}, {"seal_type": 0}, {"name": ""},
                    {"signer_certificates": ()}, {"signer_certificates": (b"junk",)},
                    {"valid_until": when(2024)},
                    {"picture": SealPicture("tiff", b"x", 40, 40)},
                    {"picture": SealPicture("png", b"x", 0, 40)}, {"ext_data": b"\x30\x01"}):
        with pytest.raises(InputError):
            make_seal(seal_spec(pki, **changes), pki.maker, pki.maker_sign)
    with pytest.raises(InputError):
        sign_data(seal_of(pki), pki.signer, b"short", "", pki.signer_sign)


def test_future_signing_time_fails(pki: SealPki) -> None:
    """timeInfo after the validation time is refused."""
    der = sign_data(seal_of(pki), pki.signer, digest("sm3", b"x"), "", pki.signer_sign,
                    timestamp=when(2029))
    report = verify_ses_signature(der, signed_data=b"x", trust=pki.trust, at=when(2027))
    assert results(report)["signing-time"] is CheckResult.FAILED


# -- openssl -----------------------------------------------------------------------------


def test_openssl_reads_and_verifies_made_seal_and_signature(pki: SealPki, tmp_path: Path) -> None:
    """openssl asn1parse reads both; openssl dgst -sm3 verifies both SM2 signatures."""
    seal_der = seal_of(pki)
    signature_der = sign_detached(seal_der, pki.signer, b"payload", pki.signer_sign)
    for name, der in (("seal.der", seal_der), ("signature.der", signature_der)):
        (tmp_path / name).write_bytes(der)
        run = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-i", "-in",
                              str(tmp_path / name)], capture_output=True, check=False)
        assert run.returncode == 0, run.stderr
        assert b":ES" in run.stdout and b"SM2-with-SM3" in run.stdout
        assert b"GENERALIZEDTIME" in run.stdout
    seal = parse_seal(seal_der)
    signature = parse_signature(signature_der)
    assert openssl_sm2_verify(tmp_path, pki.maker, seal.signed_bytes, seal.signature)
    assert openssl_sm2_verify(tmp_path, pki.signer, signature.tbs_bytes, signature.signature)
    assert not openssl_sm2_verify(tmp_path, pki.signer, signature.tbs_bytes + b"x",
                                  signature.signature)
    assert not openssl_sm2_verify(tmp_path, pki.maker, signature.tbs_bytes,
                                  signature.signature)


# -- tolerance and strictness --------------------------------------------------------------


def test_time_stamp_tagging_variants(corpus: Path) -> None:
    """[0] EXPLICIT (ofdrw), [0] IMPLICIT and a bare BIT STRING give the same time-stamp."""
    parts = elements((corpus / "seal" / "UserV5_ts.esl").read_bytes())
    assert parts[4] == bytes.fromhex("a006030400010203")
    for variant in (bytes.fromhex("800400010203"), bytes.fromhex("030400010203")):
        seal = parse_seal(sequence([*parts[:4], variant]))
        assert seal.time_stamp == b"\x01\x02\x03"
        assert results(verify_seal(seal, at=when(2027)))["seal-signature"] is (
            CheckResult.PASSED)
    for bad in (bytes.fromhex("a0030201ff"), bytes.fromhex("030401010203"),
                bytes.fromhex("040400010203")):
        with pytest.raises(MalformedSeal):
            parse_seal(sequence([*parts[:4], bad]))
    v4 = elements((corpus / "seal" / "UserV4.esl").read_bytes())
    with pytest.raises(MalformedSeal):  # a version-4 seal has no time-stamp
        parse_seal(sequence([*v4, bytes.fromhex("a006030400010203")]))


def test_strict_structure(corpus: Path) -> None:
    """Trailing data, extra elements, indefinite lengths and unused bits are refused."""
    der = (corpus / "seal" / "UserV4.esl").read_bytes()
    parts = elements(der)
    info = elements(parts[0])
    indefinite = b"\x30\x80" + b"".join(info) + b"\x00\x00"
    cases = [
        der + b"\x00",
        sequence([*parts, b"\x02\x01\x01", b"\x02\x01\x01"]),
        sequence([indefinite, *parts[1:]]),
        sequence([sequence([*info, b"\x02\x01\x01"]), *parts[1:]]),
        sequence([*parts[:3], b"\x03" + parts[3][1:2] + b"\x01" + parts[3][3:]]),
        sequence([*parts[:2], b"\x06\x03\x2a\x03\x04"]),
    ]
    for case in cases:
        with pytest.raises(MalformedSeal):
            parse_seal(case)
    signature = (corpus / "signedvalue" / "SignedValueV4.dat").read_bytes()
    with pytest.raises(MalformedSeal):
        parse_signature(signature + b"\x00")
    with pytest.raises(MalformedSeal):
        parse_seal(signature)


def test_unknown_signature_algorithm_is_not_passed(corpus: Path) -> None:
    """A seal claiming another algorithm: INDETERMINATE, never PASSED."""
    parts = elements((corpus / "seal" / "UserV4.esl").read_bytes())
    other = sequence([parts[0], parts[1], bytes(core.ObjectIdentifier("1.2.840.10045.4.3.2")
                                                 .dump()), parts[3]])
    report = verify_seal(other, at=when(2021))
    assert results(report)["seal-signature"] is CheckResult.INDETERMINATE
    assert report.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE


def test_malformed_input_gives_certlib_errors_in_bounded_time(corpus: Path) -> None:
    """Random bytes, truncations, deep nesting and oversized input: MalformedSeal, quickly."""
    der = (corpus / "seal" / "UserV4.esl").read_bytes()
    deep = b"\x30\x80" * 50_000 + b"\x00\x00" * 50_000
    nested = b"\x05\x00"
    for _ in range(3000):
        nested = sequence([nested])
    cases = [os.urandom(4096), der[:100], der[:-1], deep, nested, b"", b"\x30\x00",
             b"\x30\x84\xff\xff\xff\xff" + der, bytes(5 << 20)]
    for case in cases:
        for parse in (parse_seal, parse_signature):
            start = time.perf_counter()
            with pytest.raises(MalformedSeal):
                parse(case)
            assert time.perf_counter() - start < 2.0
        report = verify_ses_signature(case)
        assert report.indication is Indication.FAILED
        assert report.sub_indication is SubIndication.FORMAT_FAILURE


@pytest.fixture(scope="module")
def ofdrw_trust(testdata: Path) -> TrustMaterial:
    """The OFD R&W root as the trust anchor."""
    return TrustMaterial(anchors=[ofdrw_root(testdata)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_signatures_never_escape(corpus: Path, ofdrw_trust: TrustMaterial,
                                        data: st.DataObject) -> None:
    """Byte mutations of a real signature: MalformedSeal or a report that is not PASSED
    (unless the bytes did not change), never another error."""
    original = (corpus / "signedvalue" / "SignedValueV4.dat").read_bytes()
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(mutated) - 1))
        mutated[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(mutated) // 2, len(mutated)))
    try:
        signature = parse_signature(bytes(mutated[:cut]))
    except MalformedSeal:
        return
    report = verify_ses_signature(signature, data_hash=bytes(32), trust=ofdrw_trust)
    assert report.passed is (bytes(mutated[:cut]) == original)
