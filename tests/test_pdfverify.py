"""Verifying signed PDFs: the shared PDF corpus, PDFs certlib seals itself, keyword placement.

The corpus (../shared/testdata/pdf, expectations in expectations.json) gives each file an
expected level; docs/seals-pdf.md says what each level means for a `PdfReport`, and
`_meets_level` below is that table in code.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject

from certlib import errors
from certlib.keys import CertlibKeyStore
from certlib.pdfkeyword import KeywordHit, find_keyword, stamp_box_for
from certlib.pdfsign import Appearance, Permissions, sign_pdf
from certlib.pdfverify import (
    ACCEPTANCE_CHECKS,
    INTEGRITY_CHECKS,
    PdfReport,
    async_verify_pdf,
    integrity_passed,
    verify_pdf,
)
from certlib.render import render_certificate_pdf
from certlib.report import CheckResult, Indication, SubIndication, ValidationReport
from certlib.sealpicture import round_seal
from certlib.trust import TrustMaterial
from tests import test_pdfsign as _pdfsign
from tests.conftest import testdata_root as _testdata_root
from tests.test_pdfsign import Pki, Signer, issue_certificate

# The signing tests' fixtures, shared by name: a test PKI in the key store, a rendered
# certificate to seal and a local time-stamp authority.
pki = _pdfsign.pki
certificate_pdf = _pdfsign.certificate_pdf
tsa_url = _pdfsign.tsa_url

# -- the corpus ------------------------------------------------------------------------------


def _corpus_entries() -> list[dict[str, Any]]:
    path = _testdata_root() / "pdf" / "expectations.json"
    if not path.is_file():
        return [{"file": "(corpus absent)", "expect": "ABSENT"}]
    entries: list[dict[str, Any]] = json.loads(path.read_text())["files"]
    return entries


CORPUS = _corpus_entries()
LEVELS = {"VALID", "VALID_FORM_FILLING", "MODIFIED", "COVERAGE_ANOMALY", "INVALID",
          "NO_SIGNATURE", "TERMINATES", "MIXED", "UNASSERTED"}


def _check(report: ValidationReport, name: str) -> CheckResult | None:
    found = [c.result for c in report.checks if c.name == name]
    return found[0] if found else None


def _structure_failed(report: PdfReport) -> bool:
    """The document itself, or a signature's container, could not be read."""
    return (any(c.result is CheckResult.FAILED for c in report.checks)
            or any(_check(s, "signature-format") is CheckResult.FAILED
                   for s in report.signatures))


def _meets_level(level: str, report: PdfReport) -> str | None:
    """None if `report` meets `level` as docs/seals-pdf.md defines it, else why not."""
    sigs = report.signatures
    intact = [integrity_passed(s) for s in sigs]
    if level == "VALID":
        if report.indication is Indication.FAILED or not sigs or not all(intact):
            return "every signature must pass its integrity checks"
        if any(s.subject["modification_level"] not in ("NONE", "LTA_UPDATES") for s in sigs):
            return "no modification other than validation data may follow a signature"
        if any(c.result is CheckResult.FAILED for s in sigs for c in s.checks):
            return "no check may fail"
    elif level == "VALID_FORM_FILLING":
        if report.indication is Indication.FAILED or not sigs or not all(intact):
            return "every signature must pass its integrity checks (no false tamper verdict)"
        if not any(s.subject["coverage"] == "ENTIRE_REVISION" for s in sigs):
            return "a signature followed by later revisions must be reported as such"
    elif level == "MODIFIED":
        if report.indication is not Indication.FAILED:
            return "a document changed after signing must be FAILED"
        flagged = any(_check(s, "modifications") is CheckResult.FAILED
                      or _check(s, "byte-range") is CheckResult.FAILED for s in sigs)
        if not flagged and not _structure_failed(report):
            return "the modification or coverage check must flag it"
    elif level == "COVERAGE_ANOMALY":
        if report.indication is not Indication.FAILED:
            return "a non-standard /ByteRange must be FAILED"
        if not any(_check(s, "byte-range") is CheckResult.FAILED for s in sigs):
            return "the byte-range check must flag it"
    elif level in ("INVALID", "NO_SIGNATURE"):
        if report.indication is not Indication.FAILED:
            return "must be FAILED"
        if sigs and all(intact):
            return "no signature may pass its integrity checks"
    elif level == "MIXED":
        failed = [s for s in sigs if s.indication is Indication.FAILED]
        if report.indication is not Indication.FAILED or len(sigs) != 2 \
                or sum(intact) != 1 or len(failed) != 1:
            return "exactly one of the two signatures must be intact, the other FAILED"
    return None


@pytest.mark.parametrize("entry", CORPUS, ids=[e["file"] for e in CORPUS])
def test_corpus_file_meets_its_expectation(testdata: Path, entry: dict[str, Any]) -> None:
    level = entry["expect"]
    assert level in LEVELS, f"unknown level {level}"
    pdf = (testdata / "pdf" / entry["file"]).read_bytes()
    started = time.monotonic()
    report = verify_pdf(pdf)
    elapsed = time.monotonic() - started
    assert isinstance(report, PdfReport)
    assert elapsed < 3.0, f"took {elapsed:.1f} s"
    # Without trust anchors nothing is PASSED: unknown is never valid.
    assert report.indication is not Indication.PASSED
    problem = _meets_level(level, report)
    assert problem is None, f"{level}: {problem}\n{json.dumps(report.to_dict(), indent=1)}"


def test_every_corpus_pdf_has_an_expectation(testdata: Path) -> None:
    folder = testdata / "pdf"
    files = {str(p.relative_to(folder)) for p in folder.rglob("*.pdf")}
    listed = {e["file"] for e in CORPUS}
    assert files and files == listed


@pytest.mark.parametrize(
    "name",
    ["pades-with-old-style-signing-cert-attr.pdf",
     "pades-with-old-style-signing-cert-attr-issser.pdf"],
)
def test_corpus_signatures_pass_with_their_trust_anchor(testdata: Path, name: str) -> None:
    folder = testdata / "pdf" / "pyhanko"
    anchors = [_der(folder / "trust" / "testing-ca-root.cert.pem")]
    others = [_der(folder / "trust" / "testing-ca-interm.cert.pem")]
    at = datetime(2020, 11, 1, tzinfo=UTC)
    trust = TrustMaterial(anchors, others)
    pdf = (folder / name).read_bytes()
    # The corpus carries no CRLs: with revocation checking the answer is "try later".
    strict = verify_pdf(pdf, trust=trust, at=at)
    assert strict.indication is Indication.INDETERMINATE
    assert strict.sub_indication is SubIndication.TRY_LATER
    report = verify_pdf(pdf, trust=trust, at=at, revocation="off")
    assert report.indication is Indication.PASSED, report.to_dict()
    # ... and not at a time when the signer's certificate had expired.
    late = verify_pdf(pdf, trust=trust, at=datetime(2040, 1, 1, tzinfo=UTC), revocation="off")
    assert late.indication is Indication.FAILED
    assert late.sub_indication is SubIndication.EXPIRED


def _der(path: Path) -> bytes:
    data = path.read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


# -- PDFs certlib seals ------------------------------------------------------------------------


def _seal(keystore: CertlibKeyStore, pki: Pki, pdf: bytes, signer: Signer | None = None,
          **options: Any) -> bytes:
    signer = signer or pki.ecdsa
    return sign_pdf(pdf, keystore=keystore, key=signer.key,
                    certificate=signer.certificate.dump(), chain=[pki.root.dump()], **options)


def _trust(pki: Pki) -> TrustMaterial:
    return TrustMaterial(anchors=[pki.root.dump()], crls=[pki.crl])


@pytest.fixture(scope="module")
def sealed(keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes) -> bytes:
    return _seal(keystore, pki, certificate_pdf, reason="签发", field_name="seal-1")


def test_sealed_pdf_passes_with_the_right_anchor(sealed: bytes, pki: Pki) -> None:
    report = verify_pdf(sealed, trust=_trust(pki))
    assert report.indication is Indication.PASSED, report.to_dict()
    assert report.revisions == 2
    [signature] = report.signatures
    assert signature.passed and integrity_passed(signature)
    names = [c.name for c in signature.checks]
    assert set(names) <= INTEGRITY_CHECKS | ACCEPTANCE_CHECKS
    assert {"certificate-chain", "key-usage", "modifications", "byte-range"} <= set(names)
    subject = signature.subject
    assert subject["field"] == "seal-1"
    assert subject["kind"] == "signature"
    assert subject["sub_filter"] == "/ETSI.CAdES.detached"
    assert "文档签名 ecdsa" in subject["signer_subject"]
    assert subject["coverage"] == "ENTIRE_FILE"
    assert subject["modification_level"] == "NONE"
    assert subject["signing_time"] is not None
    assert subject["signer_certificate_sha256"] == __import__("hashlib").sha256(
        pki.ecdsa.certificate.dump()).hexdigest()
    json.dumps(report.to_dict())


def test_sealed_pdf_without_trust_is_indeterminate(
    sealed: bytes, pki: Pki, keystore: CertlibKeyStore, key_name: str,
) -> None:
    alone = verify_pdf(sealed)
    assert alone.indication is Indication.INDETERMINATE
    assert alone.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert integrity_passed(alone.signatures[0])

    key = keystore.generate("ecdsa-p256-sha256", key_name)
    stranger = issue_certificate(
        keystore, issuer_key=key, issuer=pki.root.subject, subject=pki.root.subject,
        public_key=key.public_key, ca=True)  # the root's name, another key
    other = verify_pdf(sealed, trust=TrustMaterial(anchors=[stranger.dump()]))
    assert other.indication is Indication.INDETERMINATE
    assert other.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND

    no_crl = verify_pdf(sealed, trust=TrustMaterial(anchors=[pki.root.dump()]))
    assert no_crl.indication is Indication.INDETERMINATE
    assert no_crl.sub_indication is SubIndication.TRY_LATER


def _flip(pdf: bytes, offset: int) -> bytes:
    changed = bytearray(pdf)
    changed[offset] ^= 0x01
    return bytes(changed)


def test_a_changed_byte_fails(sealed: bytes, pki: Pki) -> None:
    in_content = _flip(sealed, sealed.index(b"(certlib)") + 1)
    report = verify_pdf(in_content, trust=_trust(pki))
    assert report.indication is Indication.FAILED
    assert report.sub_indication is SubIndication.HASH_FAILURE

    # A byte of the signature value itself, inside /Contents.
    signature = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
    value = signature.signer_info["signature"].native
    offset = sealed.index(value.hex().encode()) if value.hex().encode() in sealed \
        else sealed.upper().index(value.hex().upper().encode())
    broken = sealed[:offset + 20] + (b"0" if sealed[offset + 20:offset + 21] != b"0"
                                     else b"1") + sealed[offset + 21:]
    report = verify_pdf(broken, trust=_trust(pki))
    assert report.indication is Indication.FAILED
    assert report.sub_indication in (SubIndication.SIG_CRYPTO_FAILURE,
                                     SubIndication.FORMAT_FAILURE)


def _append_page(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    contents = writer.add_object(generic.StreamObject(stream_data=b"0 0 1 rg 10 10 50 50 re f"))
    box = (0, 0, 595, 842)
    page = PageObject(contents=contents, media_box=box)  # type: ignore[no-untyped-call]
    writer.insert_page(page)  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _draw_on_page(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    stream = writer.add_object(generic.StreamObject(stream_data=b"1 0 0 rg 100 100 200 50 re f"))
    writer.add_stream_to_page(0, stream)  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _annotate(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    annotation = writer.add_object(generic.DictionaryObject({  # type: ignore[no-untyped-call]
        pdf_name("/Type"): pdf_name("/Annot"),
        pdf_name("/Subtype"): pdf_name("/Text"),
        pdf_name("/Rect"): generic.ArrayObject(
            [generic.NumberObject(v) for v in (50, 50, 80, 80)]),  # type: ignore[no-untyped-call]
        pdf_name("/Contents"): generic.TextStringObject("note"),
    }))
    page_ref, _ = writer.find_page_for_modification(0)  # type: ignore[no-untyped-call]
    writer.register_annotation(page_ref, annotation)  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


@pytest.mark.parametrize("change", [_append_page, _draw_on_page, _annotate],
                         ids=["page-added", "content-drawn", "annotation-added"])
def test_changes_after_sealing_are_never_passed(
    sealed: bytes, pki: Pki, change: Callable[[bytes], bytes],
) -> None:
    changed = change(sealed)
    assert changed.startswith(sealed)
    report = verify_pdf(changed, trust=_trust(pki))
    assert report.indication is Indication.FAILED, report.to_dict()
    [signature] = report.signatures
    assert _check(signature, "modifications") is CheckResult.FAILED
    # The signature itself is still sound: only what follows it is refused.
    for name in ("message-digest", "signature-value", "byte-range", "certificate-chain"):
        assert _check(signature, name) is CheckResult.PASSED, name


def test_certification_governs_what_may_follow(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    certified = _seal(keystore, pki, certificate_pdf, certify=Permissions.FILL_FORMS)
    approved = _seal(keystore, pki, certified, pki.rsa)
    report = verify_pdf(approved, trust=_trust(pki))
    assert report.indication is Indication.PASSED, json.dumps(report.to_dict(), indent=1)
    assert report.signatures[0].subject["docmdp"] == "FILL_FORMS"
    locked = _seal(keystore, pki, certificate_pdf, certify=Permissions.NO_CHANGES)
    assert verify_pdf(locked, trust=_trust(pki)).indication is Indication.PASSED
    for change in (_append_page, _annotate):
        report = verify_pdf(change(locked), trust=_trust(pki))
        assert report.indication is Indication.FAILED
        assert _check(report.signatures[0], "modifications") is CheckResult.FAILED


def test_two_seals_in_sequence_both_pass(
    keystore: CertlibKeyStore, pki: Pki, sealed: bytes,
) -> None:
    second = _seal(keystore, pki, sealed, pki.rsa, field_name="seal-2")
    report = verify_pdf(second, trust=_trust(pki))
    assert report.indication is Indication.PASSED, report.to_dict()
    first, last = report.signatures
    assert (first.subject["field"], last.subject["field"]) == ("seal-1", "seal-2")
    assert first.subject["coverage"] == "ENTIRE_REVISION"
    assert first.subject["modification_level"] == "FORM_FILLING"
    assert first.warnings == ["1 signature(s) were added after this one"]
    assert last.subject["coverage"] == "ENTIRE_FILE"
    # A page added after both seals fails both.
    after = verify_pdf(_append_page(second), trust=_trust(pki))
    assert [s.indication for s in after.signatures] == [Indication.FAILED] * 2


def test_b_t_signature_time_stamp_is_checked(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, tsa_url: str,
) -> None:
    stamped = _seal(keystore, pki, certificate_pdf, timestamp_url=tsa_url)
    report = verify_pdf(stamped, trust=_trust(pki))
    assert report.indication is Indication.PASSED, report.to_dict()
    [signature] = report.signatures
    assert _check(signature, "signature-timestamp") is CheckResult.PASSED
    assert _check(signature, "timestamp-chain") is CheckResult.PASSED
    assert signature.subject["timestamp_time"] is not None


def test_async_verify_gives_the_same_answer(sealed: bytes, pki: Pki) -> None:
    report = asyncio.run(async_verify_pdf(sealed, trust=_trust(pki)))
    assert report.indication is Indication.PASSED


def test_time_limit_gives_indeterminate(sealed: bytes, pki: Pki) -> None:
    started = time.monotonic()
    report = verify_pdf(sealed, trust=_trust(pki), time_limit=0.001)
    assert time.monotonic() - started < 2
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.GENERIC
    assert [c.name for c in report.checks] == ["processing"]
    assert report.signatures == []


@pytest.mark.parametrize(
    "pdf", [b"", b"not a pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"],
    ids=["empty", "text", "hollow"],
)
def test_unreadable_pdfs_fail_with_a_format_failure(pdf: bytes) -> None:
    report = verify_pdf(pdf)
    assert report.indication is Indication.FAILED
    assert report.sub_indication is SubIndication.FORMAT_FAILURE


def test_unsigned_pdf_fails_with_signed_data_not_found(certificate_pdf: bytes) -> None:
    report = verify_pdf(certificate_pdf)
    assert report.indication is Indication.FAILED
    assert report.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND
    assert report.signatures == []


@pytest.mark.parametrize(("user_password", "indication", "sub"), [
    ("", Indication.FAILED, SubIndication.SIGNED_DATA_NOT_FOUND),
    ("secret", Indication.INDETERMINATE, SubIndication.GENERIC),
])
def test_encrypted_pdfs(user_password: str, indication: Indication, sub: SubIndication) -> None:
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text="sealed elsewhere")
    document.set_encryption(owner_password="owner", user_password=user_password)
    report = verify_pdf(bytes(document.output()))
    assert (report.indication, report.sub_indication) == (indication, sub)


def test_bad_arguments_are_input_errors(sealed: bytes) -> None:
    with pytest.raises(errors.InputError):
        verify_pdf("pdf")  # type: ignore[arg-type]
    with pytest.raises(errors.InputError, match="timezone"):
        verify_pdf(sealed, at=datetime(2024, 1, 1))
    with pytest.raises(errors.InputError, match="revocation"):
        verify_pdf(sealed, revocation="sometimes")  # type: ignore[arg-type]
    with pytest.raises(errors.InputError, match="trust"):
        verify_pdf(sealed, trust=[b"root"])  # type: ignore[arg-type]
    with pytest.raises(errors.InputError, match="time_limit"):
        verify_pdf(sealed, time_limit=0)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_pdfs_give_reports_and_never_pass_when_signed_bytes_change(
    sealed: bytes, pki: Pki, data: st.DataObject,
) -> None:
    signature = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
    start, first, second, length = signature.byte_range
    damaged = bytearray(sealed)
    positions = data.draw(st.lists(st.integers(0, len(sealed) - 1), min_size=1, max_size=6))
    for position in positions:
        damaged[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(sealed) // 2, len(sealed)))
    report = verify_pdf(bytes(damaged[:cut]), trust=_trust(pki), time_limit=10)
    assert isinstance(report, PdfReport)
    signed_changed = cut < len(sealed) or any(
        damaged[p] != sealed[p] and (start <= p < start + first or second <= p < second + length)
        for p in positions)
    if signed_changed:
        assert report.indication is not Indication.PASSED


# -- keyword placement --------------------------------------------------------------------


Words = list[tuple[str, tuple[float, ...]]]


def _pdftotext_words(pdf: bytes, tmp_path: Path) -> tuple[float, Words]:
    """Page height and (word, (xMin, yMin, xMax, yMax)) from `pdftotext -bbox`, page 1."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (Debian package poppler-utils)")
    path = tmp_path / "words.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"],
                          check=True, capture_output=True, text=True).stdout
    page = re.search(r'<page width="[\d.]+" height="([\d.]+)"', html)
    assert page is not None, html
    height = float(page.group(1))
    words = [(m.group(5), tuple(float(m.group(i)) for i in range(1, 5)))
             for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                                  r'yMax="([\d.]+)">([^<]*)</word>', html)]
    return height, words


def test_keyword_box_is_where_pdftotext_sees_the_word(certificate_pdf: bytes,
                                                      tmp_path: Path) -> None:
    height, words = _pdftotext_words(certificate_pdf, tmp_path)
    for word in ("某某科技有限公司", "北京市市场监督管理局", "Business"):
        [(x_min, y_min, x_max, y_max)] = [box for text, box in words if text == word]
        [hit] = find_keyword(certificate_pdf, word)
        assert hit.page == 0
        expected = (x_min, height - y_max, x_max, height - y_min)  # to PDF's lower-left origin
        assert hit.box == pytest.approx(expected, abs=0.5), word
        assert hit.page_box == pytest.approx((0, 0, 595.28, 841.89), abs=0.01)


def test_keyword_inside_a_word_is_located_by_its_own_characters(certificate_pdf: bytes,
                                                                tmp_path: Path) -> None:
    height, words = _pdftotext_words(certificate_pdf, tmp_path)
    [(x_min, y_min, x_max, y_max)] = [box for text, box in words if text == "某某科技有限公司"]
    advance = (x_max - x_min) / 8  # eight full-width characters
    [hit] = find_keyword(certificate_pdf, "科技有限")
    assert hit.box == pytest.approx(
        (x_min + 2 * advance, height - y_max, x_min + 6 * advance, height - y_min), abs=0.5)
    # White space in the keyword is ignored; absent keywords give nothing.
    assert find_keyword(certificate_pdf, "科技 有限") == [hit]
    assert find_keyword(certificate_pdf, "盖章处") == []
    # A keyword written several times is found each time (市 in three values).
    assert len(find_keyword(certificate_pdf, "北京市")) == 2


def test_keyword_boxes_are_in_user_space_whatever_the_page_rotation(
    certificate_pdf: bytes,
) -> None:
    [upright] = find_keyword(certificate_pdf, "统一社会信用代码")
    writer = IncrementalPdfFileWriter(io.BytesIO(certificate_pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[pdf_name("/Rotate")] = generic.NumberObject(90)  # type: ignore[no-untyped-call]
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    [turned] = find_keyword(out.getvalue(), "统一社会信用代码")
    assert turned.box == pytest.approx(upright.box, abs=0.01)


def test_stamp_box_is_centred_and_kept_on_the_page() -> None:
    hit = KeywordHit(0, (300.0, 400.0, 360.0, 416.0), (0.0, 0.0, 595.0, 842.0))
    page, (x0, y0, x1, y1) = stamp_box_for(hit, 42, 42)
    assert page == 0
    assert (x1 - x0, y1 - y0) == (119, 119)  # 42 mm in points
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((330, 408), abs=1)
    corner = KeywordHit(2, (5.0, 5.0, 20.0, 15.0), (0.0, 0.0, 595.0, 842.0))
    page, (x0, y0, x1, y1) = stamp_box_for(corner, 42, 42)
    assert page == 2 and (x0, y0) == (0, 0) and (x1, y1) == (119, 119)
    with pytest.raises(errors.InputError, match="larger than the page"):
        stamp_box_for(KeywordHit(0, (1, 1, 2, 2), (0, 0, 100, 100)), 42, 42)
    with pytest.raises(errors.InputError, match="width_mm"):
        stamp_box_for(hit, 0, 42)


def test_keyword_errors(certificate_pdf: bytes) -> None:
    with pytest.raises(errors.InputError, match="empty"):
        find_keyword(certificate_pdf, "  ")
    with pytest.raises(errors.MalformedInput):
        find_keyword(b"not a pdf", "盖章处")
    with pytest.raises(errors.InputError):
        find_keyword("pdf", "盖章处")  # type: ignore[arg-type]


def test_seal_placed_on_a_keyword_is_drawn_there_and_verifies(
    keystore: CertlibKeyStore, pki: Pki, tmp_path: Path,
) -> None:
    pdf = render_certificate_pdf(
        "营业执照", "Business licence",
        [("名称", "某某科技有限公司"), ("盖章处", "（以下为电子印章）")],
        identifier="1.2.156.3005.2.11100000000013127D002.91110000600037341L.0001.001.Q",
        issuer="北京市市场监督管理局", qr_payload=None,
    )
    [hit] = find_keyword(pdf, "北京市市场监督管理局")
    picture = round_seal("北京市市场监督管理局", "公章", "1101080012345")
    page, box = stamp_box_for(hit, 42, 42)
    signed = _seal(keystore, pki, pdf, appearance=Appearance(image=picture, page=page, box=box))
    assert verify_pdf(signed, trust=_trust(pki)).indication is Indication.PASSED

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed (Debian package poppler-utils)")
    (tmp_path / "sealed.pdf").write_bytes(signed)
    subprocess.run(["pdftoppm", "-r", "72", "-png", "-singlefile", str(tmp_path / "sealed.pdf"),
                    str(tmp_path / "page")], check=True)
    image = Image.open(tmp_path / "page.png").convert("RGB")
    top = image.height - box[3]
    centre = ((box[0] + box[2]) // 2, image.height - (box[1] + box[3]) // 2)
    red, green, blue = image.getpixel(centre)  # type: ignore[misc]
    assert red > 180 and green < 90 and blue < 90  # the star, over the keyword
    ring = (box[0] + 1, top + (box[3] - box[1]) // 2)
    red, green, blue = image.getpixel(ring)  # type: ignore[misc]
    assert red > 150 and green < 120, "the ring at the box's left edge"
