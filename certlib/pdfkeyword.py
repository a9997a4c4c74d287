"""Where a keyword (盖章处, an organisation's name) sits on the pages of a PDF.

PDFium (through pypdfium2) extracts each page's characters with their boxes; a hit is the
union of the font boxes of the keyword's characters on one line, in the page's user space
(PDF points, before the page's /Rotate), the space `certlib.pdfsign.Appearance.box` takes.
`stamp_box_for(hit, ...)` gives the box of a seal centred on a hit.

pdfminer.six, the usual pure-Python choice, reads no text at all from the PDFs
`certlib.render` writes: it looks an embedded /Encoding CMap up by name only, and fpdf2
embeds one. See docs/seals-pdf.md.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from certlib.errors import InputError, MalformedInput

MM_PER_INCH = 25.4
POINTS_PER_INCH = 72.0
MAX_PDF_BYTES = 64 * 1024 * 1024
MAX_PAGES = 1000
MAX_KEYWORD_CHARS = 64

Box = tuple[float, float, float, float]

_LINE_BREAKS = frozenset("\r\n\u2028\u2029")
_PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe: one call into it at a time in this process."""


@dataclass(frozen=True)
class KeywordHit:
    """One place a keyword is written: page (from 0), its box and the page's box, in points."""

    page: int
    box: Box
    """(x1, y1, x2, y2), lower left and upper right, in the page's user space."""
    page_box: Box
    """The page's visible area (media box clipped by crop box) in the same space."""


def _checked_keyword(keyword: str) -> str:
    if not isinstance(keyword, str):
        raise InputError("keyword must be a string")
    keyword = "".join(keyword.split())
    if not keyword:
        raise InputError("keyword is empty")
    if len(keyword) > MAX_KEYWORD_CHARS:
        raise InputError(f"keyword is longer than {MAX_KEYWORD_CHARS} characters")
    return keyword


def _lines(textpage: Any) -> Iterator[list[tuple[str, int]]]:
    """Each line of the page as (character, index) pairs, without white space."""
    line: list[tuple[str, int]] = []
    for index in range(int(textpage.count_chars())):
        point = int(pdfium_c.FPDFText_GetUnicode(textpage.raw, index))
        char = chr(point) if 0 < point < 0x110000 else "\ufffd"
        if char in _LINE_BREAKS:
            if line:
                yield line
            line = []
        elif not char.isspace():
            line.append((char, index))
    if line:
        yield line


def _page_hits(textpage: Any, keyword: str) -> Iterator[Box]:
    """The box of every occurrence of `keyword` on the page."""
    for line in _lines(textpage):
        text = "".join(char for char, _ in line)
        position = text.find(keyword)
        while position >= 0:
            boxes = [textpage.get_charbox(index, loose=True)
                     for _, index in line[position:position + len(keyword)]]
            yield (min(float(b[0]) for b in boxes), min(float(b[1]) for b in boxes),
                   max(float(b[2]) for b in boxes), max(float(b[3]) for b in boxes))
            position = text.find(keyword, position + 1)


def find_keyword(pdf: bytes, keyword: str) -> list[KeywordHit]:
    """Every place `keyword` is written in `pdf` (white space ignored), page by page."""
    keyword = _checked_keyword(keyword)
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise InputError("the PDF must be bytes")
    if len(pdf) > MAX_PDF_BYTES:
        raise InputError(f"the PDF is larger than {MAX_PDF_BYTES} bytes")
    hits: list[KeywordHit] = []
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(bytes(pdf))
        except pdfium.PdfiumError as error:
            if "password" in str(error).lower():
                raise InputError("the PDF is encrypted with a password") from error
            raise MalformedInput("not a readable PDF") from error
        try:
            if len(document) > MAX_PAGES:
                raise InputError(f"the PDF has more than {MAX_PAGES} pages")
            for number in range(len(document)):
                page = document[number]
                try:
                    left, bottom, right, top = (float(v) for v in page.get_bbox())
                    textpage = page.get_textpage()
                    try:
                        for box in _page_hits(textpage, keyword):
                            hits.append(KeywordHit(number, box, (left, bottom, right, top)))
                    finally:
                        textpage.close()
                finally:
                    page.close()
        except pdfium.PdfiumError as error:
            raise MalformedInput("the PDF's text cannot be read") from error
        finally:
            document.close()
    return hits


def stamp_box_for(
    hit: KeywordHit, width_mm: float, height_mm: float
) -> tuple[int, tuple[int, int, int, int]]:
    """(page, box in whole points) of a seal of that size centred on `hit`, kept on the page."""
    if not isinstance(hit, KeywordHit):
        raise InputError("hit must be a KeywordHit")
    sizes = []
    for name, value in (("width_mm", width_mm), ("height_mm", height_mm)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InputError(f"{name} must be a positive number")
        sizes.append(max(1, round(value / MM_PER_INCH * POINTS_PER_INCH)))
    width, height = sizes
    page_left, page_bottom = math.ceil(hit.page_box[0]), math.ceil(hit.page_box[1])
    page_right, page_top = math.floor(hit.page_box[2]), math.floor(hit.page_box[3])
    if width > page_right - page_left or height > page_top - page_bottom:
        raise InputError("the seal is larger than the page")
    x0, y0, x1, y1 = hit.box
    left = round((x0 + x1) / 2 - width / 2)
    bottom = round((y0 + y1) / 2 - height / 2)
    # Shift, never shrink, to keep the whole seal on the page.
    left = min(max(left, page_left), page_right - width)
    bottom = min(max(bottom, page_bottom), page_top - height)
    return hit.page, (left, bottom, left + width, bottom + height)
