"""A human-readable A4 PDF of an e-certificate, with embedded CJK font and 亮证 QR code.

Layout is done by fpdf2, which embeds a subset of an OpenType CJK font (CFF outlines
included, as in Debian's `fonts-noto-cjk`). The QR code is drawn by segno's module matrix
as filled rectangles, so it stays sharp at any zoom. Field values never reach the PDF
metadata: the title there is the certificate type's name only.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.errors import FPDFException
from fpdf.fonts import TTFFont

from certlib.errors import InputError, UnavailableError


@dataclass(frozen=True)
class CjkFont:
    """An OpenType font file (or a member of a font collection) that covers Chinese."""

    path: Path
    collection_index: int = 0


FONT_CANDIDATES: tuple[CjkFont, ...] = (
    # Debian fonts-noto-cjk: Noto Sans CJK, member 2 of the collection is Simplified Chinese.
    CjkFont(Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
    # Debian fonts-wqy-zenhei.
    CjkFont(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
)
FONT_PACKAGE = "fonts-noto-cjk"

_FAMILY = "cjk"
_MARGIN = 18.0
_LABEL_WIDTH = 45.0
_QR_SIZE = 45.0
_QR_BORDER = 4


def find_cjk_font() -> CjkFont:
    """The first installed CJK font of `FONT_CANDIDATES`; raises UnavailableError."""
    for candidate in FONT_CANDIDATES:
        if candidate.path.is_file():
            return candidate
    raise UnavailableError(
        f"no CJK font is installed; install the Debian package {FONT_PACKAGE}"
    )


@functools.lru_cache(maxsize=8)
def _coverage(path: Path, index: int) -> frozenset[int]:
    """Code points the font has glyphs for."""
    document = FPDF()
    document.add_font(_FAMILY, fname=path, collection_font_number=index)
    font = document.fonts[_FAMILY]
    assert isinstance(font, TTFFont)
    return frozenset(font.cmap)


def render_certificate_pdf(
    title_zh: str,
    title_en: str,
    rows: Sequence[tuple[str, str]],
    *,
    identifier: str,
    issuer: str,
    qr_payload: str | None = None,
    validity: tuple[str, str] | None = None,
    font: CjkFont | None = None,
) -> bytes:
    """An A4 PDF showing a certificate's type, fields, issuer, identifier, validity and QR."""
    font = font or find_cjk_font()
    texts = _checked_texts(
        title_zh=title_zh, title_en=title_en, rows=rows,
        identifier=identifier, issuer=issuer, validity=validity,
    )
    if qr_payload is not None and (not isinstance(qr_payload, str) or not qr_payload):
        raise InputError("qr_payload must be a non-empty string or None")
    try:
        coverage = _coverage(font.path, font.collection_index)
    except (OSError, FPDFException, ValueError, KeyError) as error:
        raise UnavailableError(f"the CJK font {font.path} cannot be loaded") from error
    for label, text in texts:
        missing = {ch for ch in text if ord(ch) not in coverage and not ch.isspace()}
        if missing:
            # The characters themselves may be personal data: name the field only.
            raise InputError(f"{label} has {len(missing)} character(s) the font cannot show")

    document = FPDF(orientation="portrait", unit="mm", format="A4")
    document.set_margins(_MARGIN, _MARGIN, _MARGIN)
    document.set_auto_page_break(auto=True, margin=_MARGIN)
    # Metadata names the certificate type only, never a field value.
    document.set_title(f"{title_zh} {title_en}")
    document.set_creator("certlib")
    document.set_lang("zh-CN")
    document.add_font(_FAMILY, fname=font.path, collection_font_number=font.collection_index)
    document.add_page()

    document.set_font(_FAMILY, size=22)
    document.cell(w=0, h=11, text=title_zh, align="C", new_x="LMARGIN", new_y="NEXT")
    document.set_font(_FAMILY, size=12)
    document.cell(w=0, h=7, text=title_en, align="C", new_x="LMARGIN", new_y="NEXT")
    document.ln(6)

    document.set_font(_FAMILY, size=11)
    _table(document, rows)
    document.ln(6)
    footer: list[tuple[str, str]] = [
        ("签发机构 Issuer", issuer),
        ("证照标识 Identifier", identifier),
    ]
    if validity is not None:
        footer.append(("有效期限 Validity", f"{validity[0]} 至 {validity[1]}"))
    document.set_font(_FAMILY, size=9)
    _table(document, footer)

    if qr_payload is not None:
        _qr(document, qr_payload)
    return bytes(document.output())


def _checked_texts(
    *,
    title_zh: str,
    title_en: str,
    rows: Sequence[tuple[str, str]],
    identifier: str,
    issuer: str,
    validity: tuple[str, str] | None,
) -> list[tuple[str, str]]:
    """Every text of the page with the name of its place; raises InputError when malformed."""
    named: list[tuple[str, object]] = [
        ("title_zh", title_zh), ("title_en", title_en),
        ("identifier", identifier), ("issuer", issuer),
    ]
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise InputError("rows must be a sequence of (label, value) pairs")
    for index, row in enumerate(rows):
        if not isinstance(row, tuple | list) or len(row) != 2:
            raise InputError(f"row {index} must be a (label, value) pair")
        label = row[0]
        named.append((f"label of row {index}", label))
        place = f"row {label!r}" if isinstance(label, str) and _printable(label) else f"row {index}"
        named.append((place, row[1]))
    if validity is not None:
        if not isinstance(validity, tuple | list) or len(validity) != 2:
            raise InputError("validity must be a (from, until) pair of strings")
        named += [("validity start", validity[0]), ("validity end", validity[1])]
    texts: list[tuple[str, str]] = []
    for place, value in named:
        if not isinstance(value, str):
            raise InputError(f"{place} must be a string")
        if not _printable(value):
            raise InputError(f"{place} contains control characters")
        texts.append((place, value))
    for place, value in texts[:2]:
        if not value.strip():
            raise InputError(f"{place} must not be empty")
    return texts


def _printable(text: str) -> bool:
    """True when `text` has no control or format characters other than line breaks."""
    return all(ch == "\n" or unicodedata.category(ch)[0] != "C" for ch in text)


def _table(document: FPDF, rows: Sequence[tuple[str, str]]) -> None:
    """A two-column table: labels on the left, wrapped values on the right."""
    value_width = document.epw - _LABEL_WIDTH
    with document.table(
        col_widths=(_LABEL_WIDTH, value_width),
        width=document.epw,
        first_row_as_headings=False,
        line_height=document.font_size * 1.6,
        padding=1.5,
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label)
            row.cell(value)


def _qr(document: FPDF, payload: str) -> None:
    """The QR code of `payload`, as filled squares, at the right under the tables."""
    try:
        code = segno.make(payload, micro=False, error="m", boost_error=True)
    except segno.DataOverflowError as error:
        raise InputError("qr_payload is too long for a QR code") from error
    matrix = [tuple(row) for row in code.matrix_iter(border=_QR_BORDER)]
    size = _QR_SIZE
    if document.get_y() + size + 8 > document.h - _MARGIN:
        document.add_page()
    left = document.w - _MARGIN - size
    top = document.get_y() + 4
    module = size / len(matrix)
    document.set_fill_color(0, 0, 0)
    for y, line in enumerate(matrix):
        x = 0
        while x < len(line):
            if not line[x]:
                x += 1
                continue
            start = x
            while x < len(line) and line[x]:
                x += 1
            document.rect(left + start * module, top + y * module,
                          (x - start) * module, module, style="F")
    document.set_xy(left, top + size)
    document.set_font(_FAMILY, size=8)
    document.cell(w=size, h=5, text="亮证二维码 QR", align="C")
