"""加注件: the signed PDF copy of one use, checked by certlib's PDF verifier, poppler's pdfsig
against the region root in an NSS database, and pdftotext for exactly the disclosed values."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import pem

from certlib.config import Settings
from certlib.errors import InputError, TrustError
from certlib.grants import Holder, Matter, UseResult
from certlib.grants.annotate import PdfAlgorithmUnsupported, annotated_copy
from certlib.ids import uscc_with_check
from certlib.pdfverify import verify_pdf
from certlib.platform import Platform, open_platform
from certlib.present import load_certificate
from certlib.report import Indication
from tests.samples import SAMPLES, ZHANG_SAN

POLICE = uscc_with_check("11630100MB0000071")
OFFICE = uscc_with_check("11630100MB0000072")
SM2_POLICE = uscc_with_check("11650100MB0000073")
MATTER = Matter("630100-ZZ-001", "户籍迁入登记")
GRANTED = ("name", "address")


@dataclass(frozen=True)
class Issued:
    """A platform with one resident identity card of 张三."""

    platform: Platform
    holder: Holder
    identifier: str
    certificate: bytes


@pytest.fixture(scope="module")
def issued(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    """Region 630000 (ECDSA), a police department and 张三's card, on a fresh database."""
    directory = tmp_path_factory.mktemp("annotate")
    platform = open_platform(replace(settings,
                                     database_url=f"sqlite:///{directory / 'certlib.db'}"))
    platform.authority.init_region("630000", "青海省政务服务平台")
    platform.authority.add_issuer(POLICE, "西宁市公安局", "630000",
                                  [platform.types.get("resident-id-card").code])
    made = platform.office.issue(issuer_uscc=POLICE, type_id="resident-id-card",
                                 data={**SAMPLES["resident-id-card"], "id_number": ZHANG_SAN})
    yield Issued(platform, platform.holders.person(ZHANG_SAN), made.identifier, made.der)
    platform.close()


def _use(issued: Issued, fields: tuple[str, ...] = GRANTED) -> UseResult:
    grant = issued.platform.grants.create(issued.holder, audience=OFFICE,
                                          certificates=(issued.identifier,), fields=fields,
                                          matter=MATTER)
    return issued.platform.grants.use(grant.token, OFFICE)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian packages poppler-utils, libnss3-tools)")
    return path


def _text(pdf: bytes, tmp_path: Path, *options: str) -> str:
    path = tmp_path / "copy.pdf"
    path.write_bytes(pdf)
    return subprocess.run([_tool("pdftotext"), "-enc", "UTF-8", *options, str(path), "-"],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def copy(issued: Issued) -> tuple[UseResult, bytes]:
    """One use of name and address, and its 加注件."""
    result = _use(issued)
    return result, annotated_copy(issued.platform, result, matter=MATTER, caller=OFFICE)


def test_copy_verifies_with_certlib(issued: Issued, copy: tuple[UseResult, bytes]) -> None:
    """PASSED against the platform's trust material, signed by the region's `use` key."""
    _, pdf = copy
    verdict = verify_pdf(pdf, trust=issued.platform.trust_material())
    assert verdict.passed, verdict.signatures[0].checks if verdict.signatures else verdict.checks
    [signature] = verdict.signatures
    assert "用证服务" in str(signature.subject["signer_subject"])
    altered = bytearray(pdf)
    spot = altered.index(b"/Title")  # inside the signed byte range, outside the contents
    altered[spot + 1] ^= 0x20
    assert verify_pdf(bytes(altered), trust=issued.platform.trust_material()).indication \
        is Indication.FAILED


def test_pdfsig_valid_and_trusted(issued: Issued, copy: tuple[UseResult, bytes],
                                  tmp_path: Path) -> None:
    """poppler, trusting only the region root in an NSS database, says valid and trusted."""
    certutil = _tool("certutil")
    nss = tmp_path / "nss"
    nss.mkdir()
    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE",
                               issued.platform.authority.region("630000").root_certificate))
    subprocess.run([certutil, "-N", "-d", f"sql:{nss}", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run([certutil, "-A", "-n", "root", "-t", "C,C,", "-i", str(root), "-d",
                    f"sql:{nss}"], check=True, capture_output=True)
    path = tmp_path / "copy.pdf"
    path.write_bytes(copy[1])
    output = subprocess.run([_tool("pdfsig"), "-nssdir", f"sql:{nss}", str(path)],
                            capture_output=True, text=True, check=False).stdout
    assert "Signature Validation: Signature is Valid." in output, output
    assert "Certificate Validation: Certificate is Trusted." in output, output
    assert "Total document signed" in output


def test_text_is_the_use_note_and_only_the_disclosed_values(
        issued: Issued, copy: tuple[UseResult, bytes], tmp_path: Path) -> None:
    """The use note and the granted values come out of pdftotext; no other value does."""
    result, pdf = copy
    flat = "".join(_text(pdf, tmp_path).split())
    [receipt_time] = [use.used_at for use in issued.platform.grants.history(issued.holder)
                      if use.receipt_id == result.receipt_id]
    for expected in ("电子证照加注件", "用途/事项", f"{MATTER.name}（{MATTER.code}）", "用证单位",
                     OFFICE, "日期", "用证码", result.receipt_id, "居民身份证",
                     issued.identifier, "张三", "青海省西宁市城东区示例路1号",
                     f"本件仅供{MATTER.name}使用"):
        assert expected in flat, expected
    beijing = receipt_time.astimezone(timezone(timedelta(hours=8)))
    assert f"{beijing:%Y年%m月%d日%H:%M:%S}（北京时间）" in flat
    fields = {item["name"].native: item["value"].native
              for item in load_certificate(issued.certificate)["fields"]}
    assert set(result.fields) == set(GRANTED)
    withheld = [ZHANG_SAN, ZHANG_SAN.lower(), fields["birth_date"], "1985.06.15", "19850615",
                fields["valid_from"], "20150301", fields["valid_until"], "20350301",
                "西宁市公安局城东分局", "汉族", "男"]
    for value in withheld:
        assert value not in flat, "a field that was not granted is in the copy"


def test_chinese_font_embedded_and_metadata_clean(copy: tuple[UseResult, bytes],
                                                  tmp_path: Path) -> None:
    """One embedded, subset, Unicode-mapped CJK font; the title names the document only."""
    path = tmp_path / "copy.pdf"
    path.write_bytes(copy[1])
    lines = subprocess.run([_tool("pdffonts"), str(path)], check=True, capture_output=True,
                           text=True).stdout.splitlines()[2:]
    assert lines
    for line in lines:
        assert line.split()[-5:-2] == ["yes", "yes", "yes"], line
    assert any("CJK" in line or "ZenHei" in line for line in lines)
    info = subprocess.run([_tool("pdfinfo"), str(path)], check=True, capture_output=True,
                          text=True).stdout
    assert re.search(r"^Title:\s+电子证照加注件$", info, re.MULTILINE), info
    assert "张三" not in info


def test_watermark_runs_diagonally(copy: tuple[UseResult, bytes], tmp_path: Path) -> None:
    """"仅供<matter>使用" in large letters, each further right and higher up the page."""
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="[\d.]+" '
                       r'yMax="([\d.]+)">(.*?)</word>', _text(copy[1], tmp_path, "-bbox"))
    large = sorted((float(x), float(y), text) for x, y, bottom, text in words
                   if float(bottom) - float(y) > 30)
    assert "".join(text for _, _, text in large) == f"仅供{MATTER.name}使用"
    heights = [y for _, y, _ in large]
    assert heights == sorted(heights, reverse=True)  # PDF-down y: higher up = smaller
    assert large[-1][0] - large[0][0] > 200 and heights[0] - heights[-1] > 300


def test_used_at_overrides_the_receipt_time(issued: Issued, tmp_path: Path) -> None:
    """An explicit time of use is printed in Beijing time."""
    result = _use(issued, ("name",))
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    pdf = annotated_copy(issued.platform, result, matter=MATTER, caller=OFFICE, used_at=moment)
    flat = "".join(_text(pdf, tmp_path).split())
    assert "2026年01月02日11:04:05（北京时间）" in flat
    assert "住址" not in flat and "青海省西宁市城东区示例路1号" not in flat


def test_note_must_agree_with_the_receipt(issued: Issued) -> None:
    """Another matter, another caller or an altered receipt: no copy."""
    result = _use(issued, ("name",))
    platform = issued.platform
    with pytest.raises(InputError, match="matter"):
        annotated_copy(platform, result, matter=Matter("other-001", "其他事项"), caller=OFFICE)
    with pytest.raises(InputError, match="caller"):
        annotated_copy(platform, result, matter=MATTER,
                       caller=uscc_with_check("11630100MB0000074"))
    altered = bytearray(result.receipt)
    altered[-20] ^= 1
    with pytest.raises(TrustError, match="receipt"):
        annotated_copy(platform, replace(result, receipt=bytes(altered)), matter=MATTER,
                       caller=OFFICE)
    with pytest.raises(InputError):
        annotated_copy(platform, replace(result, presentations=()), matter=MATTER,
                       caller=OFFICE)


def test_no_copy_of_a_suspended_certificate(issued: Issued) -> None:
    """The verifier reads the presentation again: a certificate suspended since, no copy."""
    result = _use(issued, ("name",))
    issued.platform.office.suspend(issued.identifier)
    try:
        with pytest.raises(TrustError, match="does not verify"):
            annotated_copy(issued.platform, result, matter=MATTER, caller=OFFICE)
    finally:
        issued.platform.office.resume(issued.identifier)
    assert annotated_copy(issued.platform, result, matter=MATTER, caller=OFFICE)[:5] == b"%PDF-"


def test_sm2_region_makes_no_pdf_copy(issued: Issued) -> None:
    """PDF readers know no SM2: a clear refusal naming the region and the algorithm."""
    platform = issued.platform
    platform.authority.init_region("650000", "新疆维吾尔自治区政务服务平台", "sm2-sm3")
    platform.authority.add_issuer(SM2_POLICE, "乌鲁木齐市公安局", "650000",
                                  [platform.types.get("resident-id-card").code])
    made = platform.office.issue(issuer_uscc=SM2_POLICE, type_id="resident-id-card",
                                 data={**SAMPLES["resident-id-card"], "id_number": ZHANG_SAN})
    grant = platform.grants.create(issued.holder, audience=OFFICE,
                                   certificates=(made.identifier,), fields=("name",),
                                   matter=MATTER)
    result = platform.grants.use(grant.token, OFFICE)
    with pytest.raises(PdfAlgorithmUnsupported, match=r"650000 signs with sm2-sm3"):
        annotated_copy(platform, result, matter=MATTER, caller=OFFICE)


def test_granted_identity_number_is_shown_and_never_logged(
        issued: Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Granted, the identity number is on the copy (that is the point) but in no log record."""
    caplog.set_level(logging.DEBUG)
    result = _use(issued, ("name", "id_number"))
    pdf = annotated_copy(issued.platform, result, matter=MATTER, caller=OFFICE)
    assert ZHANG_SAN in "".join(_text(pdf, tmp_path).split())
    assert ZHANG_SAN not in caplog.text and ZHANG_SAN.lower() not in caplog.text
