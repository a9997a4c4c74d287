"""Seals applied through the platform to real PDFs and OFDs, checked by certlib's verifier
and by poppler's pdfsig; several seals on one document; closing an OFD."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem
from pyhanko.pdf_utils.reader import PdfFileReader

from certlib.audit import Actor
from certlib.ids import uscc_with_check
from certlib.ofd import DocumentClosed
from certlib.pdfkeyword import find_keyword
from certlib.platform import Platform
from certlib.render import render_certificate_pdf
from certlib.report import Indication, SubIndication
from certlib.seals import Placement, SealPolicy, SealRecord
from certlib.seals.verify import verify_document
from tests.ses_support import minimal_ofd
from tests.test_pdfsign import pdfsig

OWNER = uscc_with_check("11630100MB0000066")
CLERK = Actor("operator", f"{OWNER}#5")


def _seals(platform: Platform) -> tuple[SealRecord, SealRecord]:
    platform.authority.init_region("630000", "青海省政务服务平台")
    policy = SealPolicy((f"department:{OWNER}",))
    made = tuple(platform.seals.create(owner_uscc=OWNER, owner_name="西宁市示例局",
                                       region_code="630000", name=name, policy=policy)
                 for name in ("公章", "合同专用章"))
    return made  # type: ignore[return-value]


def _letter() -> bytes:
    return render_certificate_pdf(
        "公函", "Letter", [("事由", "关于开展示例工作的函"), ("落款", "西宁市示例局"),
                           ("盖章处", "（盖章）")],
        identifier="示例", issuer="西宁市示例局", qr_payload=None)


def _nss(root: bytes, directory: Path) -> str:
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.skip("certutil is not installed (Debian package libnss3-tools)")
    (directory / "root.pem").write_bytes(pem.armor("CERTIFICATE", root))
    subprocess.run([certutil, "-N", "-d", f"sql:{directory}", "--empty-password"],
                   check=True, capture_output=True)
    subprocess.run([certutil, "-A", "-n", "root", "-t", "C,C,", "-i",
                    str(directory / "root.pem"), "-d", f"sql:{directory}"],
                   check=True, capture_output=True)
    return f"sql:{directory}"


def test_two_seals_on_a_pdf(fresh_platform: Platform, tmp_path: Path) -> None:
    """The office seal on the keyword 盖章处, the contract seal at a box: both PASSED here,
    valid and trusted for pdfsig; the stamp sits on the keyword."""
    office, contract = _seals(fresh_platform)
    letter = _letter()
    first = fresh_platform.sealer.apply_pdf(office.es_id, letter, actor=CLERK, purpose="函",
                                            placement=Placement(keyword="盖章处"))
    both = fresh_platform.sealer.apply_pdf(contract.es_id, first.data, actor=CLERK,
                                           purpose="函", placement=Placement(0, 120, 30))
    result = verify_document(both.data, trust=fresh_platform.trust_material(),
                             seals=fresh_platform.seals)
    assert result.format == "pdf"
    assert [name for name, _ in result.signatures] == ["Signature1", "Signature2", "document"]
    assert result.indication is Indication.PASSED, result.to_dict()
    root = fresh_platform.authority.region("630000").root_certificate
    checked = pdfsig(both.data, _nss(root, tmp_path), tmp_path)
    assert [(s.signature, s.certificate) for s in checked] == [
        ("Signature is Valid.", "Certificate is Trusted.")] * 2
    [hit] = find_keyword(letter, "盖章处")
    reader = PdfFileReader(io.BytesIO(both.data))
    annotations = [a.get_object() for a in reader.root["/Pages"]["/Kids"][0]
                   .get_object()["/Annots"]]
    stamp = next(a for a in annotations if a.get("/T") and a["/Rect"][2] > a["/Rect"][0])
    x1, y1, x2, y2 = (float(v) for v in stamp["/Rect"])
    centre = ((hit.box[0] + hit.box[2]) / 2, (hit.box[1] + hit.box[3]) / 2)
    assert x1 < centre[0] < x2 and y1 < centre[1] < y2
    assert [u.document_kind.value for u in fresh_platform.seal_desk.usage()] == ["pdf", "pdf"]


def test_pdf_sealed_by_a_revoked_seal_is_not_passed(fresh_platform: Platform) -> None:
    """After revocation the seal's PDF certificate is on the CRL: no longer PASSED."""
    office, _ = _seals(fresh_platform)
    sealed = fresh_platform.sealer.apply_pdf(office.es_id, _letter(), actor=CLERK,
                                             purpose="函")
    fresh_platform.seals.revoke(office.es_id, "key_compromise")
    # pyHanko counts a revocation from the second after it: validate two seconds on.
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    result = verify_document(sealed.data, trust=fresh_platform.trust_material(), at=later,
                             seals=fresh_platform.seals)
    assert result.indication is not Indication.PASSED, result.to_dict()


def test_pdf_seal_must_chain_to_its_organisations_region(fresh_platform: Platform) -> None:
    """With roots told apart by region, a PDF seal whose organisation lies in 630000 but
    whose certificate chains to a root said to be 620000's is FAILED / NOT_AUTHORISED."""
    office, _ = _seals(fresh_platform)
    sealed = fresh_platform.sealer.apply_pdf(office.es_id, _letter(), actor=CLERK,
                                             purpose="函")
    trust = fresh_platform.trust_material()
    assert verify_document(sealed.data, trust=trust).indication is Indication.PASSED
    trust.anchor_regions[fresh_platform.authority.region("630000").root_certificate] = "620000"
    result = verify_document(sealed.data, trust=trust)
    assert (result.indication, result.sub_indication) == (Indication.FAILED,
                                                          SubIndication.NOT_AUTHORISED)


def test_ofd_sealed_twice_then_closed(fresh_platform: Platform) -> None:
    """Two seals on an OFD, the second closing it: both PASSED; a third is refused and
    recorded as no use."""
    office, contract = _seals(fresh_platform)
    ofd = minimal_ofd(pages=2)
    first = fresh_platform.sealer.apply_ofd(office.es_id, ofd, actor=CLERK, purpose="函",
                                            placement=Placement(1, 100, 200))
    closed = fresh_platform.sealer.apply_ofd(contract.es_id, first.data, actor=CLERK,
                                             purpose="函", close=True)
    result = verify_document(closed.data, trust=fresh_platform.trust_material(),
                             seals=fresh_platform.seals)
    assert result.format == "ofd", result.to_dict()
    assert result.indication is Indication.PASSED, result.to_dict()
    es_ids = {report.subject.get("es_id") for _, report in result.signatures}
    assert {office.es_id, contract.es_id} <= es_ids
    with pytest.raises(DocumentClosed):
        fresh_platform.sealer.apply_ofd(office.es_id, closed.data, actor=CLERK, purpose="函")
    assert len(fresh_platform.seal_desk.usage()) == 2
    fresh_platform.seals.suspend(office.es_id)
    suspended = verify_document(closed.data, trust=fresh_platform.trust_material(),
                                seals=fresh_platform.seals)
    assert suspended.indication is Indication.INDETERMINATE


def test_esl_export_verifies_and_garbage_is_a_format_failure(fresh_platform: Platform) -> None:
    """An exported .esl verifies as a seal; bytes that are none of the formats do not."""
    office, _ = _seals(fresh_platform)
    result = verify_document(fresh_platform.seals.export(office.es_id),
                             trust=fresh_platform.trust_material(), seals=fresh_platform.seals)
    assert (result.format, result.indication) == ("esl", Indication.PASSED), result.to_dict()
    assert verify_document(b"\x00junk").indication is Indication.FAILED
    assert verify_document(b"%PDF-1.7\n%%EOF").indication is Indication.FAILED
    assert verify_document(b"PK\x03\x04garbage").indication is Indication.FAILED
    assert verify_document(b"\x30\x03\x02\x01\x01").indication is Indication.FAILED
