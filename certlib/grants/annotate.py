"""加注件: a signed PDF copy of what one use of a holder's certificates disclosed, marked
for that use only.

Many offices file a paper-like copy of what they saw. The copy made here shows, for each
presentation of a use, the certificate type and exactly the disclosed fields (read back
through the library verifier, never from the store), a use note (matter, the department
that used it, the time of use, the receipt id) and a diagonal watermark "仅供<事项>使用";
the platform's own `use` key of the certificate's region signs it as PAdES, so that any PDF
reader can check it came from the platform unchanged. PDF readers know no SM2: a region
whose keys are SM2 gets no PDF copy (PdfAlgorithmUnsupported).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from fpdf import FPDF
from fpdf.errors import FPDFException
from fpdf.fonts import TTFFont

from certlib.errors import InputError, TrustError, UnavailableError
from certlib.grants.desk import UseResult
from certlib.grants.records import Matter
from certlib.grants.showing import verify_receipt
from certlib.pdfsign import sign_pdf
from certlib.render import CjkFont, find_cjk_font
from certlib.report import ValidationReport
from certlib.types import CertificateType

if TYPE_CHECKING:
    from certlib.platform import Platform

PDF_ALGORITHMS = ("ecdsa-p256-sha256", "rsa-pss-sha256")
"""Key algorithms a PDF reader can check: the regions whose copies can be signed."""
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

_FAMILY = "cjk"
_MARGIN = 18.0
_LABEL_WIDTH = 42.0
_WATERMARK_GREY = (150, 150, 150)
_WATERMARK_OPACITY = 0.22
_WATERMARK_MAX_PT = 54.0
_WATERMARK_MIN_PT = 12.0


class PdfAlgorithmUnsupported(InputError):
    """The region signs with an algorithm PDF readers cannot check (SM2, Ed25519)."""

    code = "PDF_ALGORITHM_UNSUPPORTED"


@dataclass(frozen=True)
class _Section:
    """One presentation as the copy shows it."""

    title: str
    rows: list[tuple[str, str]]
    footer: list[tuple[str, str]]


def annotated_copy(platform: Platform, result: UseResult, *, matter: Matter, caller: str,
                   used_at: datetime | None = None) -> bytes:
    """The 加注件 of one use: a PAdES-signed PDF of the disclosed fields, with the use note
    and a "仅供<matter>使用" watermark, signed by the region's `use` key."""
    if not isinstance(result, UseResult) or not result.presentations:
        raise InputError("an annotated copy needs a use result with presentations")
    if not isinstance(matter, Matter) or not isinstance(caller, str) or not caller:
        raise InputError("an annotated copy needs the matter and the caller")
    if used_at is not None and (not isinstance(used_at, datetime) or used_at.tzinfo is None):
        raise InputError("used_at must be a timezone-aware datetime")
    first = result.presentations[0][0]
    region = platform.authority.region(
        platform.authority.issuer(platform.office.record(first).issuer_uscc).region_code)
    if region.algorithm not in PDF_ALGORITHMS:
        raise PdfAlgorithmUnsupported(
            f"region {region.code} signs with {region.algorithm}; PDF readers check only "
            f"{' and '.join(PDF_ALGORITHMS)} signatures, so it makes no annotated PDF copy")
    trust = platform.trust_material()
    statement = _receipt_statement(verify_receipt(result.receipt, trust=trust), result,
                                   matter, caller)
    moment = used_at or datetime.fromisoformat(str(statement["used_at"]))
    verifier = platform.verifier()
    sections = [_section(platform, identifier, verifier.verify(presentation))
                for identifier, presentation in result.presentations]
    note = [("用途/事项", f"{matter.name}（{matter.code}）"),
            ("用证单位", _caller_name(platform, caller)),
            ("日期", _cst(moment)),
            ("用证码", result.receipt_id)]
    if statement.get("grant_id"):
        note.append(("授权编号", str(statement["grant_id"])))
    watermark = f"仅供{matter.name}使用"
    pdf = _render(sections, note, watermark, region.name)
    signer = platform.grants.signer_for(first)
    return sign_pdf(pdf, keystore=platform.keystore, key=signer.key,
                    certificate=signer.certificate, chain=signer.chain, reason=watermark,
                    location=region.name)


# -- what the copy states -----------------------------------------------------------------


def _receipt_statement(report: ValidationReport, result: UseResult, matter: Matter,
                       caller: str) -> dict[str, object]:
    """The receipt's statement, once it verifies and agrees with the note to be printed."""
    if not report.passed:
        raise TrustError("the use receipt does not verify: the copy is not made")
    statement = report.subject
    identifiers = [identifier for identifier, _ in result.presentations]
    mismatched = [name for name, same in (
        ("receipt id", statement.get("receipt_id") == result.receipt_id),
        ("matter", (statement.get("matter_code"), statement.get("matter_name"))
         == (matter.code, matter.name)),
        ("caller", statement.get("caller") in (caller, f"department:{caller}")),
        ("certificates", statement.get("certificates") == identifiers),
    ) if not same]
    if mismatched:
        raise InputError(f"the use note disagrees with the receipt: {', '.join(mismatched)}")
    return statement


def _section(platform: Platform, identifier: str, report: ValidationReport) -> _Section:
    """The rows of one presentation, from what the verifier read out of it."""
    if not report.passed or report.subject.get("identifier") != identifier:
        raise TrustError(f"the presentation of {identifier} does not verify: the copy is not "
                         "made")
    type_id = str(report.subject.get("type"))
    certificate_type: CertificateType | None = (
        platform.types.get(type_id) if type_id in platform.types else None)
    rows: list[tuple[str, str]] = []
    names = list(report.disclosed)
    if certificate_type is not None:
        order = list(certificate_type.fields)
        names.sort(key=lambda name: order.index(name) if name in order else len(order))
    for name in names:
        value = report.disclosed[name]
        spec = certificate_type.fields.get(name) if certificate_type is not None else None
        if spec is None:
            rows.append((name, value))
        elif spec.kind == "binary":
            rows.append((spec.label_zh, "（图像或二进制数据，不在加注件中显示）"))
        else:
            rows.append((spec.label_zh, spec.display(value)))
    issuer = report.subject.get("issuer")
    issuer_name = str(issuer.get("name", "")) if isinstance(issuer, dict) else ""
    title = (f"{certificate_type.name_zh} {certificate_type.name_en}"
             if certificate_type is not None else type_id)
    footer = [("证照标识", identifier), ("签发机构", issuer_name),
              ("核验结果", f"签名与状态有效（核验于 {_cst(report.validation_time)}）")]
    return _Section(title, rows, footer)


def _caller_name(platform: Platform, caller: str) -> str:
    uscc = caller.removeprefix("department:")
    try:
        return f"{platform.authority.issuer(uscc).name}（{uscc}）"
    except InputError:
        return uscc


def _cst(moment: datetime) -> str:
    local = moment.astimezone(CHINA_STANDARD_TIME)
    return f"{local:%Y年%m月%d日 %H:%M:%S}（北京时间）"


# -- the page -------------------------------------------------------------------------------


class _Copy(FPDF):
    """A document whose every page carries the watermark over its text."""

    watermark = ""

    def footer(self) -> None:
        """The diagonal watermark, translucent, drawn when a page is done."""
        diagonal = math.hypot(self.w, self.h)
        angle = math.degrees(math.atan2(self.h, self.w))
        size = _WATERMARK_MAX_PT
        self.set_font(_FAMILY, size=size)
        width = self.get_string_width(self.watermark)
        if width > 0.8 * diagonal:
            size = max(_WATERMARK_MIN_PT, size * 0.8 * diagonal / width)
            self.set_font(_FAMILY, size=size)
            width = self.get_string_width(self.watermark)
        centre_x, centre_y = self.w / 2, self.h / 2
        with self.local_context(fill_opacity=_WATERMARK_OPACITY,
                                text_color=_WATERMARK_GREY), \
                self.rotation(angle, x=centre_x, y=centre_y):
            self.text(centre_x - width / 2, centre_y + size * 0.35 / self.k, self.watermark)


def _render(sections: Sequence[_Section], note: Sequence[tuple[str, str]], watermark: str,
            signer_name: str, font: CjkFont | None = None) -> bytes:
    font = font or find_cjk_font()
    texts: list[tuple[str, str]] = [("watermark", watermark), ("signer", signer_name)]
    texts += [(f"use note {label}", value) for label, value in note]
    for section in sections:
        texts.append(("certificate type", section.title))
        texts += [(f"field {label}", value) for label, value in (*section.rows,
                                                                 *section.footer)]
    document = _Copy(orientation="portrait", unit="mm", format="A4")
    try:
        document.add_font(_FAMILY, fname=font.path,
                          collection_font_number=font.collection_index)
    except (OSError, FPDFException, ValueError, KeyError) as error:
        raise UnavailableError(f"the CJK font {font.path} cannot be loaded") from error
    _check_texts(document, texts)
    document.watermark = watermark
    document.set_margins(_MARGIN, _MARGIN, _MARGIN)
    document.set_auto_page_break(auto=True, margin=_MARGIN)
    # The metadata names the kind of document only, never a field value.
    document.set_title("电子证照加注件")
    document.set_creator("certlib")
    document.set_lang("zh-CN")
    document.add_page()

    document.set_font(_FAMILY, size=20)
    document.cell(w=0, h=10, text="电子证照加注件", align="C", new_x="LMARGIN", new_y="NEXT")
    document.set_font(_FAMILY, size=9)
    document.cell(w=0, h=6, text="Annotated copy of the certificate data disclosed for one use",
                  align="C", new_x="LMARGIN", new_y="NEXT")
    document.ln(4)
    document.set_font(_FAMILY, size=12)
    document.cell(w=0, h=8, text="用证说明", new_x="LMARGIN", new_y="NEXT")
    document.set_font(_FAMILY, size=10)
    _table(document, note)
    for section in sections:
        document.ln(5)
        document.set_font(_FAMILY, size=13)
        document.multi_cell(w=0, h=8, text=section.title, new_x="LMARGIN", new_y="NEXT")
        document.set_font(_FAMILY, size=11)
        _table(document, section.rows)
        document.ln(2)
        document.set_font(_FAMILY, size=8.5)
        _table(document, section.footer)
    document.ln(6)
    document.set_font(_FAMILY, size=9)
    document.multi_cell(
        w=0, h=5, new_x="LMARGIN", new_y="NEXT",
        text=f"本件{watermark}，挪作他用或再复制无效。本件只载明该次用证所披露的证照信息，"
             f"由{signer_name}用证服务电子签名；用证码可在平台核对用证记录。")
    return bytes(document.output())


def _check_texts(document: FPDF, texts: Sequence[tuple[str, str]]) -> None:
    """InputError naming the place (never the value) of a text the page cannot show."""
    font = document.fonts[_FAMILY]
    assert isinstance(font, TTFFont)
    coverage = font.cmap
    for place, text in texts:
        if not isinstance(text, str):
            raise InputError(f"{place} must be text")
        if any(ch != "\n" and unicodedata.category(ch)[0] == "C" for ch in text):
            raise InputError(f"{place} contains control characters")
        missing = {ch for ch in text if ord(ch) not in coverage and not ch.isspace()}
        if missing:
            raise InputError(f"{place} has {len(missing)} character(s) the font cannot show")


def _table(document: FPDF, rows: Sequence[tuple[str, str]]) -> None:
    """Labels on the left, wrapped values on the right."""
    with document.table(col_widths=(_LABEL_WIDTH, document.epw - _LABEL_WIDTH),
                        width=document.epw, first_row_as_headings=False,
                        line_height=document.font_size * 1.6, padding=1.5) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label)
            row.cell(value)


__all__ = ["CHINA_STANDARD_TIME", "PDF_ALGORITHMS", "PdfAlgorithmUnsupported",
           "annotated_copy"]
