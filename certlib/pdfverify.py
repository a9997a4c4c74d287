"""Verifying signed and sealed PDFs: one report per signature and an overall answer.

pyHanko reads the document and each signature: the /ByteRange and its coverage of the file,
the CMS signature (message digest and signature value), time-stamp tokens, and the
difference analysis of every revision added after a signature. certlib then applies its own
policy to what pyHanko found (see docs/seals-pdf.md): a seal vouches for what it covers, so
after it only later signatures, document time-stamps and validation data may be added,
unless a certification signature explicitly allows form filling or annotations. Certificate
paths (signer and time-stamp authority) go through `certlib.chain.async_validate_path`.

Each verification runs in a helper process (`certlib.isolated`) with a time limit and a
memory limit, so that a document built to make a parser loop or swell answers
INDETERMINATE instead of hanging the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, x509
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.misc import PdfError, PdfStrictReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    TimestampSignatureStatus,
)
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    SignatureValidationContext,
    SignatureValidator,
)

from certlib import regions
from certlib.chain import SIGNATURE_VALIDATOR, Revocation, async_validate_path
from certlib.errors import CertlibError, InputError
from certlib.isolated import run_isolated
from certlib.report import (
    Check,
    CheckResult,
    Indication,
    ReportBuilder,
    SubIndication,
    ValidationReport,
)
from certlib.trust import TrustMaterial
from certlib.verify import signer_authorisation

TIME_LIMIT = 30.0
"""Default seconds one verification may take before it is stopped (INDETERMINATE)."""
MAX_PDF_BYTES = 64 * 1024 * 1024
PATH_TIME_LIMIT = 5.0
"""Seconds of certificate path search per certificate."""

INTEGRITY_CHECKS = frozenset({
    "signature-format", "byte-range", "message-digest", "signature-value", "algorithms",
    "modifications", "signature-timestamp",
})
"""Checks about the document and the signature itself: all PASSED means intact, unchanged."""
ACCEPTANCE_CHECKS = frozenset({
    "algorithm-strength", "key-usage", "certificate-chain", "timestamp-chain",
})
"""Checks about whether the signer and algorithms are accepted: trust material, policy."""

_REVOCATION_MODES = ("require", "if-declared", "soft-fail", "off")
_PLAIN_ECDSA = {
    # BSI TR-03111 ecdsa-plain-signatures: r || s instead of a DER SEQUENCE.
    "0.4.0.127.0.7.1.1.4.1.1": "sha1_ecdsa",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224_ecdsa",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256_ecdsa",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384_ecdsa",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512_ecdsa",
}
_PROCESSING_ERRORS = (
    PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError,
    RecursionError, OverflowError, NotImplementedError, LookupError, ArithmeticError, EOFError,
)
"""What pyHanko, asn1crypto and pyca raise on content they cannot process."""
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


@dataclass
class PdfReport:
    """The answer for a whole PDF: document checks, one report per signature, an indication."""

    indication: Indication
    sub_indication: SubIndication | None
    validation_time: datetime
    signatures: list[ValidationReport]
    """One per filled signature field (signatures and document time-stamps), by revision."""
    checks: list[Check] = field(default_factory=list)
    """Document-level checks: structure, presence of signatures, processing limits."""
    warnings: list[str] = field(default_factory=list)
    revisions: int | None = None
    """How many revisions (incremental updates) the file has, when it could be read."""

    @property
    def passed(self) -> bool:
        """True only for PASSED."""
        return self.indication is Indication.PASSED

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "indication": self.indication.value,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
            "validation_time": self.validation_time.isoformat(),
            "revisions": self.revisions,
            "checks": [check.to_dict() for check in self.checks],
            "warnings": list(self.warnings),
            "signatures": [report.to_dict(include_disclosed=False) for report in self.signatures],
        }

    def __repr__(self) -> str:
        sub = f"/{self.sub_indication.value}" if self.sub_indication else ""
        return f"PdfReport({self.indication.value}{sub}, {len(self.signatures)} signatures)"

    __str__ = __repr__


def integrity_passed(report: ValidationReport) -> bool:
    """Whether every integrity check of one signature's report passed (trust aside)."""
    names = {check.name for check in report.checks}
    return (
        {"signature-value", "message-digest", "byte-range", "modifications"} <= names
        and all(check.result is CheckResult.PASSED
                for check in report.checks if check.name in INTEGRITY_CHECKS)
    )


# -- the public entry point -----------------------------------------------------------------


def verify_pdf(
    pdf: bytes,
    *,
    trust: TrustMaterial | None = None,
    at: datetime | None = None,
    revocation: Revocation = "require",
    time_limit: float = TIME_LIMIT,
) -> PdfReport:
    """Verify every signature of `pdf` at `at` (default now) against `trust`."""
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise InputError("the PDF must be bytes")
    if len(pdf) > MAX_PDF_BYTES:
        raise InputError(f"the PDF is larger than {MAX_PDF_BYTES} bytes")
    if trust is not None and not isinstance(trust, TrustMaterial):
        raise InputError("trust must be a TrustMaterial or None")
    if at is None:
        at = datetime.now(UTC).replace(microsecond=0)
    elif not isinstance(at, datetime) or at.utcoffset() is None:
        raise InputError("at must be a timezone-aware datetime")
    if revocation not in _REVOCATION_MODES:
        raise InputError(f"revocation must be one of: {', '.join(_REVOCATION_MODES)}")
    if isinstance(time_limit, bool) or not isinstance(time_limit, int | float) \
            or not time_limit > 0:
        raise InputError("time_limit must be a positive number of seconds")
    return _bounded(_evaluate, (bytes(pdf), trust, at, revocation), float(time_limit), at)


async def async_verify_pdf(
    pdf: bytes,
    *,
    trust: TrustMaterial | None = None,
    at: datetime | None = None,
    revocation: Revocation = "require",
    time_limit: float = TIME_LIMIT,
) -> PdfReport:
    """`verify_pdf` for callers inside an event loop (waits on a worker thread)."""
    return await asyncio.to_thread(verify_pdf, pdf, trust=trust, at=at, revocation=revocation,
                                   time_limit=time_limit)


# -- running in a child process ---------------------------------------------------------


def _bounded(
    function: Callable[..., PdfReport], arguments: tuple[Any, ...], time_limit: float,
    at: datetime,
) -> PdfReport:
    """`function(*arguments)` in a helper process, stopped after `time_limit` seconds."""
    outcome = run_isolated(function, arguments, time_limit)
    if isinstance(outcome.value, PdfReport):
        return outcome.value
    return _stopped(at, f"verification stopped: {outcome.problem}")


def _stopped(at: datetime, detail: str) -> PdfReport:
    check = Check("processing", CheckResult.INDETERMINATE, detail, SubIndication.GENERIC)
    return PdfReport(Indication.INDETERMINATE, SubIndication.GENERIC, at, [], [check])


# -- the verification itself (in the child) ------------------------------------------------


@dataclass(frozen=True)
class _Material:
    """What the certificate checks need: anchors, candidate intermediates, CRLs."""

    anchors: tuple[bytes, ...]
    intermediates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    revocation: Revocation
    moment: datetime
    anchor_regions: tuple[tuple[bytes, str], ...] = ()
    """Which region each anchor is the root of (TrustMaterial.anchor_regions)."""


def _evaluate(pdf: bytes, trust: TrustMaterial | None, at: datetime,
              revocation: Revocation) -> PdfReport:
    return asyncio.run(_async_evaluate(pdf, trust, at, revocation))


async def _async_evaluate(pdf: bytes, trust: TrustMaterial | None, at: datetime,
                          revocation: Revocation) -> PdfReport:
    document = ReportBuilder(at)
    reader = _read(pdf, document)
    if reader is None:
        return _combine(document, [], None)
    try:
        revisions = int(reader.xrefs.total_revisions)
        filled = list(enumerate_sig_fields(reader, filled_status=True))
        signature_fields = {str(name) for name, _, _ in enumerate_sig_fields(reader)}
    except (*_PROCESSING_ERRORS, CertlibError) as error:
        document.failed("signature-fields", SubIndication.FORMAT_FAILURE,
                        f"the form fields cannot be read ({type(error).__name__})")
        return _combine(document, [], None)
    if not filled:
        document.failed("signature-fields", SubIndication.SIGNED_DATA_NOT_FOUND,
                        "the document has no signed signature field")
        return _combine(document, [], revisions)
    document.passed("signature-fields", f"{len(filled)} signed field(s)")
    material = _material(reader, trust, at, revocation, document)
    context = ValidationContext(
        trust_roots=[], allow_fetching=False, revocation_mode="soft-fail", moment=at,
        signature_validator=_SIGNATURE_VALIDATOR,
    )
    found: list[tuple[int, int, ValidationReport]] = []
    for position, (name, _, sig_field) in enumerate(filled):
        builder = ReportBuilder(at)
        builder.subject["field"] = str(name)
        builder.subject["revisions"] = revisions
        revision = await _signature(reader, str(name), sig_field, builder, context=context,
                                    material=material, signature_fields=signature_fields)
        found.append((revision if revision is not None else revisions, position,
                       builder.build()))
    found.sort(key=lambda item: (item[0], item[1]))
    return _combine(document, [report for _, _, report in found], revisions)


def _read(pdf: bytes, document: ReportBuilder) -> PdfFileReader | None:
    """A reader of the file, strict if possible; None (with a failed check) if unreadable."""
    try:
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=True)
        except PdfStrictReadError:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            document.warnings.append(
                "the file's structure deviates from the PDF standard; it was read leniently")
        if reader.xrefs.hybrid_xrefs_present:
            # Readers may disagree on what such a file shows (pyHanko refuses it when strict).
            document.failed("pdf-structure", SubIndication.FORMAT_FAILURE,
                            "the file has hybrid cross-reference sections")
            return None
        if reader.encrypted:
            result = reader.decrypt("")
            if result.status is AuthStatus.FAILED:
                document.indeterminate("pdf-structure", SubIndication.GENERIC,
                                       "the file is encrypted with a password")
                return None
        reader.root  # noqa: B018 - the catalog must be readable
    except (*_PROCESSING_ERRORS, CertlibError) as error:
        document.failed("pdf-structure", SubIndication.FORMAT_FAILURE,
                        f"not a readable PDF ({type(error).__name__})")
        return None
    document.passed("pdf-structure", "the file parses as a PDF")
    return reader


def _material(reader: PdfFileReader, trust: TrustMaterial | None, at: datetime,
              revocation: Revocation, document: ReportBuilder) -> _Material:
    """Trust material plus the certificates and CRLs the document's DSS carries."""
    certificates: list[bytes] = []
    crls: list[bytes] = []
    if "/DSS" in reader.root:
        try:
            dss = DocumentSecurityStore.read_dss(reader)
            certificates = [bytes(ref.get_object().data) for ref in dss.certs.values()]
            crls = [crl.dump() for crl in dss.crls]
        except (*_PROCESSING_ERRORS, CertlibError) as error:
            document.warnings.append(
                f"the document security store cannot be read ({type(error).__name__})")
    if trust is None:
        return _Material((), tuple(certificates), tuple(crls), revocation, at)
    return _Material(
        tuple(trust.anchors), (*trust.certificates, *certificates), (*trust.crls, *crls),
        revocation, at, tuple(trust.anchor_regions.items()),
    )


def _combine(document: ReportBuilder, signatures: list[ValidationReport],
             revisions: int | None) -> PdfReport:
    """The document's answer: its own checks first, then the worst signature."""
    own = document.build()
    indication, sub = own.indication, own.sub_indication
    if indication is not Indication.FAILED and signatures:
        for wanted in (Indication.FAILED, Indication.INDETERMINATE):
            worst = next((r for r in signatures if r.indication is wanted), None)
            if worst is not None:
                indication, sub = wanted, worst.sub_indication
                break
    return PdfReport(indication, sub, own.validation_time, signatures, own.checks,
                     own.warnings, revisions)


# -- one signature -------------------------------------------------------------------------


async def _signature(
    reader: PdfFileReader, name: str, sig_field: Any, builder: ReportBuilder, *,
    context: ValidationContext, material: _Material, signature_fields: set[str],
) -> int | None:
    """Fill `builder` with the checks of one signature field; return its signed revision."""
    try:
        embedded = EmbeddedPdfSignature(reader, sig_field, name)
    except (*_PROCESSING_ERRORS, CertlibError) as error:
        builder.failed("signature-format", SubIndication.FORMAT_FAILURE,
                       "the signature's /ByteRange, /Contents or CMS container cannot be read "
                       f"({type(error).__name__})")
        return None
    revision: int | None = None
    try:
        revision = int(embedded.signed_revision)
        builder.subject["signed_revision"] = revision
        await _check_signature(embedded, builder, context, material, signature_fields)
    except SignatureValidationError as error:
        _pyhanko_refusal(builder, error)
    except (*_PROCESSING_ERRORS, CertlibError) as error:
        builder.failed("signature-format", SubIndication.FORMAT_FAILURE,
                       f"the signature cannot be processed ({type(error).__name__})")
    return revision


def _pyhanko_refusal(builder: ReportBuilder, error: SignatureValidationError) -> None:
    """A check for pyHanko's refusal, with its ETSI sub-indication."""
    ades = getattr(error, "ades_subindication", None)
    sub = SubIndication.__members__.get(getattr(ades, "name", ""), SubIndication.FORMAT_FAILURE)
    detail = f"pyHanko refused the signature: {_safe(str(error))}"
    status = getattr(getattr(ades, "status", None), "name", "FAILED")
    if status == "INDETERMINATE":
        builder.indeterminate("signature-format", sub, detail)
    else:
        builder.failed("signature-format", sub, detail)


def _safe(message: str) -> str:
    """pyHanko's message without quoted parts (they may hold certificate subjects)."""
    return _QUOTED.sub("'…'", message.splitlines()[0] if message else "")[:200]


async def _check_signature(
    embedded: EmbeddedPdfSignature, builder: ReportBuilder, context: ValidationContext,
    material: _Material, signature_fields: set[str],
) -> None:
    kind = str(embedded.sig_object_type)
    sub_filter = embedded.sig_object.get("/SubFilter")
    builder.subject["kind"] = "document-timestamp" if kind == "/DocTimeStamp" else "signature"
    builder.subject["sub_filter"] = str(sub_filter) if sub_filter is not None else None
    status: PdfSignatureStatus | DocumentTimestampStatus
    if kind == "/DocTimeStamp":
        status = await async_validate_pdf_timestamp(embedded, validation_context=context)
    else:
        status = await async_validate_pdf_signature(
            embedded, signer_validation_context=context, ts_validation_context=context,
        )
    builder.passed("signature-format", f"{kind[1:]} {builder.subject['sub_filter']}")
    _describe(embedded, status, builder)
    _coverage(status, builder)
    if status.intact:
        builder.passed("message-digest", "the signed byte ranges match the signed digest")
    else:
        builder.failed("message-digest", SubIndication.HASH_FAILURE,
                       "the signed byte ranges do not match the signed digest")
    if status.valid:
        builder.passed("signature-value", f"{status.md_algorithm} signature verifies")
    else:
        builder.failed("signature-value", SubIndication.SIG_CRYPTO_FAILURE,
                       "the signature value does not verify with the signer's key")
    _algorithms(embedded, builder, material.moment)
    _modifications(embedded, status, builder, signature_fields)
    if isinstance(status, PdfSignatureStatus):
        await _signature_timestamp(status.timestamp_validity, builder, material)
        _key_usage(embedded.signer_cert, builder)
        await _chain(embedded, builder, material, "certificate-chain", frozenset())
    else:
        await _chain(embedded, builder, material, "timestamp-chain",
                     frozenset({"time_stamping"}))


def _describe(embedded: EmbeddedPdfSignature,
              status: PdfSignatureStatus | DocumentTimestampStatus,
              builder: ReportBuilder) -> None:
    """What was signed, by whom and when (the subject name as the certificate states it)."""
    signer = embedded.signer_cert
    subject = builder.subject
    subject["signer_subject"] = signer.subject.human_friendly
    subject["signer_certificate_sha256"] = hashlib.sha256(signer.dump()).hexdigest()
    subject["digest_algorithm"] = str(embedded.md_algorithm)
    subject["signature_algorithm"] = str(
        embedded.signer_info["signature_algorithm"]["algorithm"].native)
    if isinstance(status, PdfSignatureStatus):
        claimed = status.signer_reported_dt
        subject["signing_time"] = claimed.isoformat() if claimed else None
        stamp = status.timestamp_validity
        subject["timestamp_time"] = stamp.timestamp.isoformat() if stamp else None
    else:
        subject["timestamp_time"] = status.timestamp.isoformat()
    subject["coverage"] = status.coverage.name if status.coverage else None
    level = status.modification_level
    subject["modification_level"] = level.name if level is not None else None
    diff = status.diff_result
    subject["changed_fields"] = (
        sorted(str(n) for n in diff.changed_form_fields) if isinstance(diff, DiffResult) else []
    )
    docmdp = embedded.docmdp_level
    subject["docmdp"] = docmdp.name if docmdp is not None else None


def _coverage(status: PdfSignatureStatus | DocumentTimestampStatus,
              builder: ReportBuilder) -> None:
    coverage = status.coverage
    if coverage is SignatureCoverageLevel.ENTIRE_FILE:
        builder.passed("byte-range", "the signature covers the whole file")
    elif coverage is SignatureCoverageLevel.ENTIRE_REVISION:
        builder.passed("byte-range", "the signature covers its whole revision")
    elif coverage is SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START:
        builder.failed("byte-range", SubIndication.FORMAT_FAILURE,
                       "the /ByteRange covers a block from the start that is not a complete "
                       "revision")
    else:
        builder.failed("byte-range", SubIndication.FORMAT_FAILURE,
                       "the /ByteRange is not the standard two ranges around the signature")


def _algorithms(embedded: EmbeddedPdfSignature, builder: ReportBuilder,
                moment: datetime) -> None:
    """The digest fits the signature algorithm (FAILED if not); both are strong enough."""
    policy = CMSAlgorithmUsagePolicy.lift_policy(
        DisallowWeakAlgorithmsPolicy())  # type: ignore[no-untyped-call]
    signer_info = embedded.signer_info
    signature_algorithm = signer_info["signature_algorithm"]
    digest_algorithm = signer_info["digest_algorithm"]
    dotted = signature_algorithm["algorithm"].dotted
    if dotted in _PLAIN_ECDSA:
        signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": _PLAIN_ECDSA[dotted]})
    combination = policy.digest_combination_allowed(signature_algorithm, digest_algorithm,
                                                    moment)
    if combination.allowed:
        builder.passed("algorithms", "the digest algorithm fits the signature algorithm")
    else:
        builder.failed("algorithms", SubIndication.FORMAT_FAILURE,
                       "the digest algorithm does not fit the signature algorithm")
    strong = (
        policy.signature_algorithm_allowed(signature_algorithm, moment,
                                           embedded.signer_cert.public_key).allowed
        and policy.digest_algorithm_allowed(digest_algorithm, moment).allowed
    )
    if strong:
        builder.passed("algorithm-strength", "no weak digest or short key")
    else:
        builder.indeterminate("algorithm-strength", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                              "a weak digest (MD5, SHA-1) or a short key is used")


def _modifications(embedded: EmbeddedPdfSignature,
                   status: PdfSignatureStatus | DocumentTimestampStatus,
                   builder: ReportBuilder, signature_fields: set[str]) -> None:
    """certlib's policy on what later revisions may change (docs/seals-pdf.md)."""
    coverage = status.coverage
    if coverage is SignatureCoverageLevel.ENTIRE_FILE:
        builder.passed("modifications", "nothing was added after the signature")
        return
    if coverage is not SignatureCoverageLevel.ENTIRE_REVISION:
        builder.failed("modifications", SubIndication.FORMAT_FAILURE,
                       "what follows the signed range is unaccounted for")
        return
    diff = status.diff_result
    if isinstance(diff, SuspiciousModification):
        builder.failed("modifications", SubIndication.FORMAT_FAILURE,
                       f"a later revision changes the document: {_safe(str(diff))}")
        return
    if not isinstance(diff, DiffResult):
        builder.indeterminate("modifications", SubIndication.GENERIC,
                              "later revisions could not be analysed")
        return
    if getattr(status, "docmdp_ok", True) is False:
        builder.failed("modifications", SubIndication.FORMAT_FAILURE,
                       "later revisions change more than the certification allows")
        return
    level = diff.modification_level
    docmdp = embedded.docmdp_level
    changed = {str(n) for n in diff.changed_form_fields}
    others = changed - signature_fields
    if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
        builder.passed("modifications",
                       "later revisions add only validation data or document time-stamps")
    elif level is ModificationLevel.FORM_FILLING and not others:
        builder.passed("modifications", "later revisions add only signatures")
        builder.warnings.append(f"{len(changed)} signature(s) were added after this one")
    elif level is ModificationLevel.FORM_FILLING and docmdp in (MDPPerm.FILL_FORMS,
                                                                MDPPerm.ANNOTATE):
        builder.passed("modifications", "form fields were filled in, as the certification "
                                        "allows")
        builder.warnings.append(f"{len(others)} form field(s) were filled in after signing")
    elif level is ModificationLevel.ANNOTATIONS and docmdp is MDPPerm.ANNOTATE:
        builder.passed("modifications", "annotations were added, as the certification allows")
        builder.warnings.append("annotations were added after signing")
    elif level is ModificationLevel.FORM_FILLING:
        builder.failed("modifications", SubIndication.FORMAT_FAILURE,
                       f"{len(others)} form field(s) were changed after signing")
    elif level is ModificationLevel.ANNOTATIONS:
        builder.failed("modifications", SubIndication.FORMAT_FAILURE,
                       "annotations were added or changed after signing")
    else:
        builder.failed("modifications", SubIndication.FORMAT_FAILURE,
                       "later revisions change the document")


async def _signature_timestamp(stamp: TimestampSignatureStatus | None,
                               builder: ReportBuilder, material: _Material) -> None:
    if stamp is None:
        return
    if not stamp.intact:
        builder.failed("signature-timestamp", SubIndication.HASH_FAILURE,
                       "the time-stamp token does not match the signature")
        return
    if not stamp.valid:
        builder.failed("signature-timestamp", SubIndication.SIG_CRYPTO_FAILURE,
                       "the time-stamp token's signature does not verify")
        return
    builder.passed("signature-timestamp", f"time-stamped at {stamp.timestamp.isoformat()}")
    await _path_check(stamp.signing_cert.dump(), builder, material, name="timestamp-chain",
                      extended_key_usage=frozenset({"time_stamping"}), embedded=())


def _key_usage(certificate: x509.Certificate, builder: ReportBuilder) -> None:
    usage = certificate.key_usage_value
    if usage is None:
        builder.passed("key-usage", "the certificate does not restrict its key usage")
    elif {"digital_signature", "non_repudiation"} & set(usage.native):
        builder.passed("key-usage", "the certificate allows signing")
    else:
        builder.indeterminate("key-usage", SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                              "the certificate's key usage does not allow signing")


async def _chain(embedded: EmbeddedPdfSignature, builder: ReportBuilder, material: _Material,
                 name: str, extended_key_usage: frozenset[str]) -> None:
    embedded_certs = [cert.dump() for cert in embedded.other_embedded_certs]
    await _path_check(embedded.signer_cert.dump(), builder, material, name=name,
                      extended_key_usage=extended_key_usage, embedded=embedded_certs)


async def _path_check(leaf: bytes, builder: ReportBuilder, material: _Material, *, name: str,
                      extended_key_usage: frozenset[str], embedded: Sequence[bytes]) -> None:
    """The certificate's path to the anchors through certlib.chain."""
    if not material.anchors:
        builder.indeterminate(name, SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                              "no trust anchors were given")
        return
    intermediates = [der for der in (*material.intermediates, *embedded) if _parses(der)]
    try:
        result = await async_validate_path(
            leaf, trust_anchors=material.anchors, intermediates=intermediates,
            moment=material.moment, crls=[der for der in material.crls if _parses_crl(der)],
            revocation=material.revocation, retroactive_crls=True,
            extended_key_usage=extended_key_usage or None, time_limit=PATH_TIME_LIMIT,
        )
    except CertlibError as error:
        builder.indeterminate(name, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                              error.message)
        return
    if result.ok:
        mismatch = _region_mismatch(leaf, result.path[-1], material) \
            if name != "timestamp-chain" else None
        if mismatch is not None:
            builder.failed(name, SubIndication.NOT_AUTHORISED, mismatch)
            return
        builder.passed(name, f"{len(result.path)} certificates to a trust anchor")
        return
    sub = SubIndication(result.sub_indication or "CERTIFICATE_CHAIN_GENERAL_FAILURE")
    if result.indication == "FAILED":
        builder.failed(name, sub, result.message)
    else:
        builder.indeterminate(name, sub, result.message)


def _region_mismatch(leaf: bytes, anchor: bytes, material: _Material) -> str | None:
    """Why the signer may not speak for the region it claims, when roots are told apart by
    region: a department names its region (issuer authorisation), an organisation its
    USCC, whose division must lie in the root's region; None when it may."""
    if not material.anchor_regions:
        return None
    rooted_in = dict(material.anchor_regions).get(anchor)
    if rooted_in is None:
        return "the signer's certificate chains to a root of no known region"
    authorisation = signer_authorisation(leaf)
    if authorisation is not None:
        claimed = str(authorisation["region"])
        return None if claimed == rooted_in else (
            f"the signer names region {claimed} but chains to region {rooted_in}'s root")
    subject = x509.Certificate.load(leaf).subject.native
    uscc = str(subject.get("organization_identifier", ""))
    division = uscc[2:8]
    if len(uscc) != 18 or not regions.is_well_formed(division):
        return None  # no claim to a region
    if regions.is_within(division, rooted_in):
        return None
    return f"the signer's organisation lies outside region {rooted_in}, whose root it chains to"


def _parses(der: bytes) -> bool:
    try:
        x509.Certificate.load(der, strict=True).native  # noqa: B018
    except (*_PROCESSING_ERRORS,):
        return False
    return True


def _parses_crl(der: bytes) -> bool:
    from asn1crypto import crl  # noqa: PLC0415

    try:
        crl.CertificateList.load(der, strict=True).native  # noqa: B018
    except (*_PROCESSING_ERRORS,):
        return False
    return True


# -- signature values ----------------------------------------------------------------------


class _PdfSignatureValidator(SignatureValidator):
    """certlib's signature hook (SM2 included), plus BSI plain ECDSA (r || s) signatures."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: Any,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        """Return when the signature verifies; raise InvalidSignature otherwise."""
        dotted = signature_algorithm["algorithm"].dotted
        if dotted in _PLAIN_ECDSA:
            if not signature or len(signature) % 2:
                from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

                raise InvalidSignature("a plain ECDSA signature has two halves of equal size")
            half = len(signature) // 2
            signature = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                             int.from_bytes(signature[half:], "big"))
            signature_algorithm = algos.SignedDigestAlgorithm(
                {"algorithm": _PLAIN_ECDSA[dotted]})
        SIGNATURE_VALIDATOR.validate_signature(
            signature, signed_data, public_key_info, signature_algorithm, context)


_SIGNATURE_VALIDATOR = _PdfSignatureValidator()

