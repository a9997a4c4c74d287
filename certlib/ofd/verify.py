"""Verifying every signature of an OFD, and what the signatures leave uncovered.

Per signature (one `ValidationReport` each): the References (every digest, no missing or
repeated file), the Seal.esl copy, then the SES_Signature checks of certlib.ses (dataHash
= SM3(Signature.xml), signer signature, signer in the seal, seal validity at the signing
time, maker signature, chains), or the GB/T 35275 checks for `Type="Sign"`. Per document
(`OfdReport.document`): the package, that there is a signature, and that every file is
covered by one. See docs/seals-ses-ofd.md for the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from certlib.algorithms import digest
from certlib.errors import InputError
from certlib.ofd.cms import check_signed_value, loose_time
from certlib.ofd.package import (
    DEFAULT_LIMITS,
    Limits,
    MalformedOfd,
    OfdPackage,
    SignatureEntry,
    SignatureXml,
    documents,
    page_ids,
    read_package,
    read_signature_xml,
    signature_entries,
)
from certlib.report import Indication, ReportBuilder, SubIndication, ValidationReport
from certlib.ses.parse import MalformedSeal, parse_signature
from certlib.ses.verify import check_ses_signature
from certlib.trust import TrustMaterial

CHECK_METHODS = {"sm3": "sm3", "1.2.156.10197.1.401": "sm3",
                 "1.2.156.10197.1.401.1": "sm3", "1.2.156.10197.1.401.2": "sm3",
                 "sha256": "sha256", "sha-256": "sha256", "2.16.840.1.101.3.4.2.1": "sha256"}
"""CheckMethod values read, by OID or name; .401.2 (keyed SM3) is read as SM3 with a
warning, as the only file using it (dms360) shows."""
MAX_SIGNATURES = 256


@dataclass(frozen=True)
class OfdReport:
    """The answer for a whole OFD: the document checks and one report per signature."""

    indication: Indication
    sub_indication: SubIndication | None
    document: ValidationReport
    signatures: tuple[ValidationReport, ...]
    validation_time: datetime

    @property
    def passed(self) -> bool:
        """True only when the document and every signature PASSED."""
        return self.indication is Indication.PASSED

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "indication": self.indication.value,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
            "validation_time": self.validation_time.isoformat(),
            "document": self.document.to_dict(include_disclosed=False),
            "signatures": [r.to_dict(include_disclosed=False) for r in self.signatures],
        }


def verify_ofd(ofd: bytes, *, trust: TrustMaterial | None = None, at: datetime | None = None,
               limits: Limits = DEFAULT_LIMITS) -> OfdReport:
    """Verify every signature of every document of an OFD package."""
    moment = at or datetime.now(UTC).replace(microsecond=0)
    if moment.utcoffset() is None:
        raise InputError("`at` must be a timezone-aware datetime")
    document = ReportBuilder(moment)
    reports: list[ValidationReport] = []
    try:
        package = read_package(ofd, limits)
        entries: list[tuple[SignatureEntry, str]] = []
        covered: set[str] = set()
        for doc in documents(package):
            if doc.signatures is not None and doc.signatures in package.files:
                covered.add(doc.signatures)
                entries += [(e, doc.doc_root) for e in signature_entries(package, doc.signatures)]
    except MalformedOfd as error:
        document.failed("package", SubIndication.FORMAT_FAILURE, error.message)
        return _overall(document.build(), (), moment)
    document.passed("package", f"{len(package.files)} files")
    if not entries:
        document.failed("signatures", SubIndication.FORMAT_FAILURE, "the OFD is not signed")
        return _overall(document.build(), (), moment)
    if len(entries) > MAX_SIGNATURES:
        document.failed("signatures", SubIndication.FORMAT_FAILURE, "too many signatures")
        return _overall(document.build(), (), moment)
    document.passed("signatures", f"{len(entries)} signatures")
    digests: dict[tuple[str, str], bytes] = {}
    for entry, doc_root in entries:
        reports.append(_verify_one(package, entry, doc_root, trust=trust, moment=moment,
                                   covered=covered, digests=digests))
    uncovered = sorted(set(package.files) - covered)
    if uncovered:
        shown = ", ".join(f"/{path}" for path in uncovered[:10])
        document.failed("coverage", SubIndication.SIG_CONSTRAINTS_FAILURE,
                        f"{len(uncovered)} files are covered by no signature: {shown}")
    else:
        document.passed("coverage", "every file is covered by a signature")
    return _overall(document.build(), tuple(reports), moment)


def _verify_one(package: OfdPackage, entry: SignatureEntry, doc_root: str, *,
                trust: TrustMaterial | None, moment: datetime, covered: set[str],
                digests: dict[tuple[str, str], bytes]) -> ValidationReport:
    report = ReportBuilder(moment)
    report.subject.update({"signature_id": entry.id, "type": entry.type,
                           "signature_path": f"/{entry.path}"})
    try:
        description = read_signature_xml(package, entry.path)
        signed_value = package.read(description.signed_value_path)
    except MalformedOfd as error:
        report.failed("signature-description", SubIndication.FORMAT_FAILURE, error.message)
        return report.build()
    covered.update({entry.path, description.signed_value_path})
    covered.update(r.path for r in description.references if r.path is not None)
    _check_references(report, package, description, digests)
    _check_stamps(report, package, doc_root, description)
    if entry.type == "Seal":
        try:
            signature = parse_signature(signed_value)
        except MalformedSeal as error:
            report.failed("format", SubIndication.FORMAT_FAILURE, error.message)
            return report.build()
        if description.seal_path is not None:
            _check_seal_file(report, package, description.seal_path, signature.seal.der)
            covered.add(description.seal_path)
        if signature.property_info != f"/{entry.path}":
            report.warnings.append("propertyInfo does not name this Signature.xml")
        check_ses_signature(report, signature, expected_hash=digest("sm3", description.raw),
                            trust=trust)
    elif entry.type == "Sign":
        check_signed_value(report, signed_value, description.raw, trust=trust,
                           claimed_time=loose_time(description.date_time))
    else:
        report.failed("format", SubIndication.FORMAT_FAILURE, "unknown signature Type")
    return report.build()


def _check_references(report: ReportBuilder, package: OfdPackage, description: SignatureXml,
                      digests: dict[tuple[str, str], bytes]) -> None:
    method = CHECK_METHODS.get(description.check_method.lower() or "sm3")
    if method is None:
        report.indeterminate("references", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                             "unsupported CheckMethod")
        return
    if description.check_method.lower() not in ("sm3", "1.2.156.10197.1.401"):
        report.warnings.append(f"non-standard CheckMethod {description.check_method!r}")
    references = description.references
    paths = [r.path for r in references]
    if not references:
        report.failed("references", SubIndication.FORMAT_FAILURE, "no file is referenced")
        return
    if len(set(paths)) != len(paths):
        report.failed("references", SubIndication.FORMAT_FAILURE, "a file is referenced twice")
        return
    bad = []
    for reference in references:
        path = reference.path
        if path is None or path not in package.files or reference.check_value is None:
            bad.append(reference.file_ref)
            continue
        key = (method, path)
        if key not in digests:  # each file is hashed once, however many signatures name it
            digests[key] = digest(method, package.files[path])
        if digests[key] != reference.check_value:
            bad.append(reference.file_ref)
    if bad:
        shown = ", ".join(bad[:10])
        report.failed("references", SubIndication.HASH_FAILURE,
                      f"{len(bad)} of {len(references)} referenced files are missing or "
                      f"changed: {shown}")
    else:
        report.passed("references", f"{len(references)}/{len(references)} digests match")


def _check_seal_file(report: ReportBuilder, package: OfdPackage, path: str, seal: bytes) -> None:
    if package.files.get(path) == seal:
        report.passed("seal-file", "Seal.esl is the seal inside the signature")
    else:
        report.failed("seal-file", SubIndication.SIG_CONSTRAINTS_FAILURE,
                      "Seal.esl is missing or differs from the seal inside the signature")


def _check_stamps(report: ReportBuilder, package: OfdPackage, doc_root: str,
                  description: SignatureXml) -> None:
    if not description.stamps:
        return
    try:
        pages = set(page_ids(package, doc_root))
    except MalformedOfd:
        pages = set()
    for stamp in description.stamps:
        if stamp.page_ref not in pages:
            report.warnings.append("a stamp annotation names no page of the document")


def _overall(document: ValidationReport, signatures: tuple[ValidationReport, ...],
             moment: datetime) -> OfdReport:
    reports = (*signatures, document)
    for wanted in (Indication.FAILED, Indication.INDETERMINATE):
        for report in reports:
            if report.indication is wanted:
                return OfdReport(wanted, report.sub_indication, document, signatures, moment)
    return OfdReport(Indication.PASSED, None, document, signatures, moment)


__all__ = ["CHECK_METHODS", "OfdReport", "verify_ofd"]
