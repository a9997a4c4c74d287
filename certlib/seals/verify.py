"""Verifying whatever sealed thing is handed in: a PDF, an OFD, a `.esl` seal or an SES
signature, with the platform's own knowledge of its seals' states added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from certlib import ses
from certlib.errors import CertlibError
from certlib.ofd import verify_ofd
from certlib.pdfverify import verify_pdf
from certlib.report import (
    Check,
    CheckResult,
    Indication,
    ReportBuilder,
    SubIndication,
    ValidationReport,
)
from certlib.seals.errors import SealNotFound
from certlib.seals.records import SealState
from certlib.seals.registry import SealRegistry
from certlib.trust import TrustMaterial

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DocumentReport:
    """The verification of every signature or seal found in one document."""

    format: str
    """`pdf`, `ofd`, `esl` or `ses`; `unknown` when the input is none of them."""
    indication: Indication
    sub_indication: SubIndication | None
    signatures: list[tuple[str, ValidationReport]]

    @property
    def passed(self) -> bool:
        """True only when every signature PASSED."""
        return self.indication is Indication.PASSED

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"format": self.format, "indication": self.indication.value,
                "sub_indication": self.sub_indication.value if self.sub_indication else None,
                "signatures": [{"name": name, **report.to_dict()}
                               for name, report in self.signatures]}


def detect(data: bytes) -> str:
    """What kind of sealed thing `data` looks like."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data[:4] == b"PK\x03\x04":
        return "ofd"
    if data[:1] == b"\x30":
        try:
            ses.parse_seal(data)
            return "esl"
        except CertlibError:
            return "ses"
    return "unknown"


def verify_document(data: bytes, *, trust: TrustMaterial | None = None,
                    at: datetime | None = None, signed_data: bytes | None = None,
                    seals: SealRegistry | None = None) -> DocumentReport:
    """Verify a sealed PDF or OFD, a `.esl` seal or an SES signature (with `signed_data`,
    the data a detached one signs); `seals` adds the states of seals made here."""
    moment = at or datetime.now(UTC).replace(microsecond=0)
    if not isinstance(data, bytes | bytearray) or not data:
        return _unknown(moment, "the document is empty or not bytes")
    if len(data) > MAX_DOCUMENT_BYTES:
        return _unknown(moment, "the document is larger than 64 MiB")
    data = bytes(data)
    kind = detect(data)
    signatures: list[tuple[str, ValidationReport]]
    if kind == "pdf":
        pdf_report = verify_pdf(data, trust=trust, at=moment)
        signatures = [(str(r.subject.get("field", "signature")), r)
                      for r in pdf_report.signatures]
        document = _document(pdf_report.checks, pdf_report.warnings, moment)
    elif kind == "ofd":
        ofd_report = verify_ofd(data, trust=trust, at=moment)
        signatures = [(str(r.subject.get("signature_id", "signature")), r)
                      for r in ofd_report.signatures]
        document = ofd_report.document
    elif kind == "esl":
        signatures, document = [("seal", ses.verify_seal(data, trust=trust, at=moment))], None
    elif kind == "ses":
        signatures, document = [("ses-signature", ses.verify_ses_signature(
            data, signed_data=signed_data, trust=trust, at=moment))], None
    else:
        return _unknown(moment, "not a PDF, OFD, seal or SES signature")
    if seals is not None:
        signatures = [(name, _with_seal_state(report, seals)) for name, report in signatures]
    if document is not None:
        signatures.append(("document", document))
    return _overall(kind, signatures)


def _document(checks: list[Check], warnings: list[str],
              moment: datetime) -> ValidationReport | None:
    """The document-level checks as a report of their own (None if there are none)."""
    if not checks:
        return None
    builder = ReportBuilder(moment)
    builder.checks = list(checks)
    builder.warnings = list(warnings)
    return builder.build()


def _overall(kind: str, signatures: list[tuple[str, ValidationReport]]) -> DocumentReport:
    if not any(name != "document" for name, _ in signatures):
        document = [report for _, report in signatures]
        if document and document[0].indication is not Indication.PASSED:
            return DocumentReport(kind, document[0].indication, document[0].sub_indication,
                                  signatures)
        return DocumentReport(kind, Indication.FAILED, SubIndication.SIGNED_DATA_NOT_FOUND,
                              signatures)
    for wanted in (Indication.FAILED, Indication.INDETERMINATE):
        for _, report in signatures:
            if report.indication is wanted:
                return DocumentReport(kind, wanted, report.sub_indication, signatures)
    return DocumentReport(kind, Indication.PASSED, None, signatures)


def _unknown(moment: datetime, detail: str) -> DocumentReport:
    builder = ReportBuilder(moment)
    builder.failed("format", SubIndication.FORMAT_FAILURE, detail)
    return DocumentReport("unknown", Indication.FAILED, SubIndication.FORMAT_FAILURE,
                          [("document", builder.build())])


def _with_seal_state(report: ValidationReport, seals: SealRegistry) -> ValidationReport:
    """Add what this platform knows of a seal it made: revoked or suspended seals."""
    es_id = report.subject.get("es_id")
    if not isinstance(es_id, str):
        return report
    try:
        record = seals.get(es_id)
    except SealNotFound:
        return report
    except CertlibError as error:
        return _rebuilt(report, Check("seal-state", CheckResult.INDETERMINATE, error.message,
                                      SubIndication.TRY_LATER))
    if record.state is SealState.ACTIVE:
        check = Check("seal-state", CheckResult.PASSED, "the seal is active")
    elif record.state is SealState.REVOKED:
        check = Check("seal-state", CheckResult.FAILED, "the seal has been revoked",
                      SubIndication.REVOKED)
    else:
        check = Check("seal-state", CheckResult.INDETERMINATE, "the seal is suspended",
                      SubIndication.SUSPENDED)
    return _rebuilt(report, check)


def _rebuilt(report: ValidationReport, extra: Check) -> ValidationReport:
    builder = ReportBuilder(report.validation_time)
    builder.checks = [*report.checks, extra]
    builder.subject = dict(report.subject)
    builder.disclosed = dict(report.disclosed)
    builder.warnings = list(report.warnings)
    return builder.build()
