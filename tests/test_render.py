"""The human-readable certificate PDF: CJK text that comes back out, embedded font, QR code."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from certlib.errors import InputError, UnavailableError
from certlib.render import CjkFont, find_cjk_font, render_certificate_pdf

ROWS = [
    ("姓名", "张三丰"),
    ("性别", "男"),
    ("民族", "汉"),
    ("出生日期", "1990-01-01"),
    ("住址", "北京市东城区景山前街四号院故宫博物院东华门内一百二十三号" * 2),
    ("公民身份号码", "11010519491231002X"),
]
IDENTIFIER = "1.2.156.3005.2.11100000000013127D001.11100000000000000A.00000001.001.K"
ISSUER = "北京市公安局东城分局"
QR_PAYLOAD = "CERTLIB1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 8


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package poppler-utils)")
    return path


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One rendered certificate on disk."""
    pdf = render_certificate_pdf(
        "居民身份证", "Resident identity card", ROWS,
        identifier=IDENTIFIER, issuer=ISSUER, qr_payload=QR_PAYLOAD,
        validity=("2020-01-01", "2040-01-01"),
    )
    path = tmp_path_factory.mktemp("render") / "certificate.pdf"
    path.write_bytes(pdf)
    return path


def test_chinese_text_is_extractable(rendered: Path) -> None:
    text = _run(_tool("pdftotext"), "-enc", "UTF-8", str(rendered), "-")
    flat = "".join(text.split())
    for expected in ("居民身份证", "Residentidentitycard", ISSUER, IDENTIFIER,
                     "2020-01-01至2040-01-01", "签发机构", "证照标识", "有效期限"):
        assert expected in flat
    for label, value in ROWS:
        assert label in flat
        assert value in flat


def test_font_is_an_embedded_subset(rendered: Path) -> None:
    lines = _run(_tool("pdffonts"), str(rendered)).splitlines()[2:]
    assert lines, "no font in the PDF"
    for line in lines:
        columns = line.split()
        # name type... encoding emb sub uni object-id generation
        assert columns[-5:-2] == ["yes", "yes", "yes"], line
        assert "+" in columns[0], "a subset font name has a six-letter prefix"
    assert any("CJK" in line or "ZenHei" in line for line in lines)


def test_a4_page(rendered: Path) -> None:
    info = _run(_tool("pdfinfo"), str(rendered))
    assert "595.28 x 841.89 pts (A4)" in info
    assert "Pages:           1" in info


def test_metadata_carries_no_field_value(rendered: Path) -> None:
    info = _run(_tool("pdfinfo"), "-enc", "UTF-8", str(rendered))
    assert "Title:           居民身份证 Resident identity card" in info
    xmp = _run(_tool("pdfinfo"), "-meta", str(rendered))
    for _, value in ROWS:
        assert value not in info
        assert value not in xmp
    for other in (ISSUER, IDENTIFIER):
        assert other not in info


def test_qr_code_decodes_to_the_payload(rendered: Path, tmp_path: Path) -> None:
    zxingcpp = pytest.importorskip("zxingcpp", reason="QR decoder zxing-cpp is not installed")
    from PIL import Image

    _run(_tool("pdftoppm"), "-r", "150", "-png", "-singlefile", str(rendered),
         str(tmp_path / "page"))
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [result.text for result in found] == [QR_PAYLOAD]


def test_no_qr_when_no_payload(tmp_path: Path) -> None:
    zxingcpp = pytest.importorskip("zxingcpp", reason="QR decoder zxing-cpp is not installed")
    from PIL import Image

    pdf = render_certificate_pdf("营业执照", "Business licence", [("名称", "某某有限公司")],
                                 identifier=IDENTIFIER, issuer=ISSUER)
    (tmp_path / "c.pdf").write_bytes(pdf)
    _run(_tool("pdftoppm"), "-r", "100", "-png", "-singlefile", str(tmp_path / "c.pdf"),
         str(tmp_path / "page"))
    assert zxingcpp.read_barcodes(Image.open(tmp_path / "page.png")) == []


def test_many_rows_flow_onto_more_pages(tmp_path: Path) -> None:
    rows = [(f"字段{i}", f"值{i}" * 20) for i in range(60)]
    pdf = render_certificate_pdf("职业资格证书", "Professional qualification", rows,
                                 identifier=IDENTIFIER, issuer=ISSUER, qr_payload="x")
    (tmp_path / "long.pdf").write_bytes(pdf)
    info = _run(_tool("pdfinfo"), str(tmp_path / "long.pdf"))
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 2
    text = "".join(_run(_tool("pdftotext"), str(tmp_path / "long.pdf"), "-").split())
    assert "字段59" in text


def test_character_outside_the_font_is_refused_without_echoing_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    value = "张\U00017000"  # a Tangut character: no CJK font covers it
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InputError) as raised:
        render_certificate_pdf("居民身份证", "Resident identity card", [("姓名", value)],
                               identifier=IDENTIFIER, issuer=ISSUER)
    assert "姓名" in str(raised.value)
    assert value not in str(raised.value)
    assert "\U00017000" not in caplog.text


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([("姓名", 42)], "姓名"),
        ([("姓名", "张\x00三")], "姓名"),
        ([("姓名",)], "row 0"),
        ("姓名", "rows"),
    ],
)
def test_malformed_rows_are_input_errors(rows: object, field: str) -> None:
    with pytest.raises(InputError) as raised:
        render_certificate_pdf("居民身份证", "Resident identity card", rows,  # type: ignore[arg-type]
                               identifier=IDENTIFIER, issuer=ISSUER)
    assert field in str(raised.value)
    assert "张" not in str(raised.value)


def test_empty_title_and_bad_payload_are_input_errors() -> None:
    with pytest.raises(InputError):
        render_certificate_pdf(" ", "x", [], identifier=IDENTIFIER, issuer=ISSUER)
    with pytest.raises(InputError):
        render_certificate_pdf("证", "x", [], identifier=IDENTIFIER, issuer=ISSUER, qr_payload="")
    with pytest.raises(InputError, match="too long"):
        render_certificate_pdf("证", "x", [], identifier=IDENTIFIER, issuer=ISSUER,
                               qr_payload="中" * 3000)


def test_missing_font_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError):
        render_certificate_pdf("证", "x", [], identifier=IDENTIFIER, issuer=ISSUER,
                               font=CjkFont(tmp_path / "none.ttc"))


def test_installed_font_is_found() -> None:
    font = find_cjk_font()
    assert font.path.is_file()
