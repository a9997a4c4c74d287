"""Verifying e-certificates and presentations: the procedure behind every report.

Steps, each a check in the report: format; signed envelope (content type, message digest,
signature, ESS binding of the signer certificate); the signer's certificate path to a
trust anchor (with CRLs); the signer's authorisation for the type and region; the
identifier; the validity period; the status; every disclosed field's salted digest; the
holder item; the holder binding. Anything that cannot be decided is INDETERMINATE, never
PASSED.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import algos, x509

from certlib import cms as envelopes
from certlib import ecert, oids
from certlib.algorithms import get_algorithm, verify_signature
from certlib.chain import PathResult, validate_path
from certlib.errors import CertlibError, InvalidKey, MalformedInput
from certlib.ids import CertificateIdentifier
from certlib.pki import IssuerAuthorisation, issuer_authorisation
from certlib.present import (
    binding_to_be_signed,
    from_qr_text,
    load_certificate,
    load_presentation,
)
from certlib.report import Check, ReportBuilder, SubIndication, ValidationReport
from certlib.status import CertificateStatus, StatusSource, parse_list_uri
from certlib.trust import TrustMaterial
from certlib.types import TypeRegistry

_DIGESTS = {"2.16.840.1.101.3.4.2.1": "sha256", oids.SM3: "sm3"}
_CHAIN_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class BindingExpectation:
    """What a verifier demands of the holder binding."""

    audience: str
    nonce: bytes | None = None
    """The nonce the verifier issued; None accepts any nonce within the time window."""
    max_age: timedelta = timedelta(minutes=5)


class _ChainCache:
    """Recent path-validation results, so many certificates of one issuer cost one validation."""

    def __init__(self) -> None:
        self._results: dict[bytes, tuple[float, PathResult]] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes) -> PathResult | None:
        with self._lock:
            hit = self._results.get(key)
        if hit is None or clock.monotonic() - hit[0] > _CHAIN_CACHE_SECONDS:
            return None
        return hit[1]

    def put(self, key: bytes, result: PathResult) -> None:
        with self._lock:
            if len(self._results) > 4096:
                self._results.clear()
            self._results[key] = (clock.monotonic(), result)


_chain_cache = _ChainCache()
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError,
                 RecursionError)


def _load_any(data: bytes | str) -> tuple[ecert.Presentation | ecert.ElectronicCertificate, bool]:
    """(parsed value, is a full certificate) for DER bytes or QR text."""
    if isinstance(data, str):
        data = from_qr_text(data)
    try:
        return load_certificate(data), True
    except MalformedInput:
        return load_presentation(data), False


IssuerCheck = Callable[[str, str, str], Check | None]
"""(region, issuer USCC, type code) -> the trust list's word on it, or None."""


class Verifier:
    """Verifies e-certificates and presentations against trust material and a status source."""

    def __init__(self, trust: TrustMaterial, status: StatusSource | None = None,
                 types: TypeRegistry | None = None, *,
                 issuer_check: IssuerCheck | None = None) -> None:
        self.trust = trust
        self.status = status
        self.types = types
        self.issuer_check = issuer_check
        """What a trust list says of the issuer (province authorisations of cities and
        counties): a Check to add, or None when no list speaks for the issuer's region."""

    def verify(self, data: bytes | str, *, at: datetime | None = None,
               binding: BindingExpectation | None = None) -> ValidationReport:
        """Verify a DER certificate, a DER presentation or a compact QR text."""
        report = ReportBuilder(at or datetime.now(UTC).replace(microsecond=0))
        try:
            self._verify(report, data, binding)
        except CertlibError as error:
            report.failed("format", SubIndication.FORMAT_FAILURE, error.message)
        except _PARSE_ERRORS as error:
            # asn1crypto parses lazily: a malformed part surfaces when a step reads it.
            report.failed("format", SubIndication.FORMAT_FAILURE,
                          f"malformed structure ({type(error).__name__})")
        return report.build()

    # The steps -----------------------------------------------------------------------

    def _verify(self, report: ReportBuilder, data: bytes | str,
                binding: BindingExpectation | None) -> None:
        try:
            parsed, full = _load_any(data)
            envelope = envelopes.parse(parsed["signed_object"].dump())
        except MalformedInput as error:
            report.failed("format", SubIndication.FORMAT_FAILURE, error.message)
            return
        if envelope.content_type != oids.CERTIFICATE_SECURITY_OBJECT:
            report.failed("format", SubIndication.FORMAT_FAILURE,
                          "the envelope does not carry an e-certificate security object")
            return
        try:
            cso = ecert.CertificateSecurityObject.load(envelope.content, strict=True)
            if cso["version"].native != 1:
                raise MalformedInput("unsupported security object version")
        except (ValueError, TypeError, KeyError) as error:
            report.failed("format", SubIndication.FORMAT_FAILURE,
                          f"the security object is malformed ({type(error).__name__})")
            return
        except MalformedInput as error:
            report.failed("format", SubIndication.FORMAT_FAILURE, error.message)
            return
        report.passed("format", "certificate" if full else "presentation")
        report.subject.update(_subject(cso))
        signer = self.check_envelope(report, envelope)
        if signer is None:
            return
        chain = self.check_chain(report, signer, envelope)
        self._check_authorisation(report, signer, cso, chain)
        self._check_identifier(report, cso)
        self._check_validity(report, cso)
        self._check_status(report, cso)
        self._check_fields(report, cso, parsed, full)
        self._check_holder(report, cso, parsed, full)
        self._check_binding(report, cso=cso, parsed=parsed, full=full, expected=binding)

    def check_envelope(self, report: ReportBuilder,
                       envelope: envelopes.SignedEnvelope) -> bytes | None:
        """Envelope checks (attributes, digest, signature, ESS); the signer's certificate."""
        if envelope.duplicate_attributes:
            report.failed("signed-attributes", SubIndication.FORMAT_FAILURE,
                          "a signed attribute appears more than once")
            return None
        if envelope.content_type_attribute != envelope.content_type:
            report.failed("signed-attributes", SubIndication.FORMAT_FAILURE,
                          "the content-type attribute does not match the content")
            return None
        if not envelope.message_digest_matches():
            report.failed("message-digest", SubIndication.HASH_FAILURE,
                          "the signed content does not match its signed digest")
            return None
        report.passed("message-digest")
        signer = envelope.find_signer_certificate(self.trust.certificates)
        if signer is None:
            report.indeterminate("signer-certificate",
                                 SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                                 "the signer's certificate is neither embedded nor known")
            return None
        try:
            valid = envelope.signature_valid(signer)
        except (InvalidKey, ValueError):
            valid = False
        if not valid:
            report.failed("signature", SubIndication.SIG_CRYPTO_FAILURE,
                          "the issuer's signature does not verify")
            return None
        report.passed("signature", envelope.signature_algorithm["algorithm"].dotted)
        if not envelope.certificate_binding_matches(signer):
            report.failed("signing-certificate", SubIndication.SIG_CONSTRAINTS_FAILURE,
                          "ESS signing-certificate-v2 does not name the signer's certificate")
            return None
        report.passed("signing-certificate")
        return signer

    def check_chain(self, report: ReportBuilder, signer: bytes,
                    envelope: envelopes.SignedEnvelope) -> PathResult | None:
        """Path validation of the signer's certificate, with a short-lived cache; the
        result (None when the certificate could not be read)."""
        moment = report.validation_time
        intermediates = [*envelope.certificates, *self.trust.certificates]
        key = hashlib.sha256(b"".join(
            hashlib.sha256(part).digest()
            for part in (signer, *self.trust.anchors, b"|", *intermediates, b"|",
                         *self.trust.crls, moment.isoformat(timespec="minutes").encode()))
        ).digest()
        result = _chain_cache.get(key)
        if result is None:
            try:
                result = validate_path(signer, trust_anchors=self.trust.anchors,
                                       intermediates=intermediates, moment=moment,
                                       crls=self.trust.crls, revocation="require",
                                       key_usage={"digital_signature"})
            except CertlibError as error:
                report.failed("certificate-chain", SubIndication.FORMAT_FAILURE, error.message)
                return None
            _chain_cache.put(key, result)
        if result.ok:
            report.passed("certificate-chain", f"{len(result.path)} certificates to an anchor")
            return result
        sub = SubIndication(result.sub_indication or "CERTIFICATE_CHAIN_GENERAL_FAILURE")
        if sub in (SubIndication.TRY_LATER, SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                   SubIndication.OUT_OF_BOUNDS_NO_POE, SubIndication.REVOKED_NO_POE,
                   SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE):
            report.indeterminate("certificate-chain", sub, result.message)
        else:
            report.failed("certificate-chain", sub, result.message)
        return result

    def _check_authorisation(self, report: ReportBuilder, signer: bytes,
                             cso: ecert.CertificateSecurityObject,
                             chain: PathResult | None) -> None:
        allowed = signer_authorisation(signer)
        issuer = cso["issuer"].native
        if allowed is None:
            report.failed("issuer-authorisation", SubIndication.NOT_AUTHORISED,
                          "the signer's certificate does not authorise e-certificate issuing")
            return
        if allowed["uscc"] != issuer["uscc"] or allowed["region"] != issuer["region"]:
            report.failed("issuer-authorisation", SubIndication.NOT_AUTHORISED,
                          "the signer's certificate names another department or region")
            return
        if cso["type_code"].native not in allowed["certificate_types"]:
            report.failed("issuer-authorisation", SubIndication.NOT_AUTHORISED,
                          "the department may not issue this certificate type")
            return
        mismatch = self.trust.region_mismatch(chain.path, issuer["region"]) \
            if chain is not None and chain.ok else None
        if mismatch is not None:
            report.failed("issuer-authorisation", SubIndication.NOT_AUTHORISED, mismatch)
            return
        report.passed("issuer-authorisation", f"{issuer['uscc']} may issue this type")
        if self.issuer_check is not None:
            listed = self.issuer_check(issuer["region"], issuer["uscc"],
                                       cso["type_code"].native)
            if listed is not None:
                report.checks.append(listed)

    def _check_identifier(self, report: ReportBuilder,
                          cso: ecert.CertificateSecurityObject) -> None:
        try:
            parsed = CertificateIdentifier.parse(cso["identifier"].native)
        except CertlibError as error:
            report.failed("identifier", SubIndication.FORMAT_FAILURE, error.message)
            return
        identifier = parsed.identifier
        if (identifier.type_code != cso["type_code"].native
                or identifier.issuer_code != cso["issuer"]["uscc"].native):
            report.failed("identifier", SubIndication.FORMAT_FAILURE,
                          "the identifier names another type or issuer")
            return
        report.warnings.extend(parsed.warnings)
        report.passed("identifier")

    def _check_validity(self, report: ReportBuilder,
                        cso: ecert.CertificateSecurityObject) -> None:
        moment = report.validation_time
        not_before = cso["validity"]["not_before"].native
        not_after = cso["validity"]["not_after"].native
        if moment < not_before:
            report.failed("validity", SubIndication.NOT_YET_VALID,
                          f"valid from {not_before.isoformat()}")
        elif not_after is not None and moment > not_after:
            report.failed("validity", SubIndication.EXPIRED,
                          f"expired {not_after.isoformat()}")
        else:
            report.passed("validity")

    def _check_status(self, report: ReportBuilder,
                      cso: ecert.CertificateSecurityObject) -> None:
        reference = cso["status"]
        named = parse_list_uri(reference["list"].native)
        issuer = cso["issuer"].native
        if named is not None and (named[0], named[1]) != (issuer["region"], issuer["uscc"]):
            # A department answers only for its own certificates: a status reference into
            # another department's (or region's) lists would borrow their answer.
            report.failed("status", SubIndication.FORMAT_FAILURE,
                          "the status reference names another department's list")
            return
        if self.status is None:
            report.indeterminate("status", SubIndication.TRY_LATER, "no status source")
            return
        try:
            answer = self.status.status(reference["list"].native, reference["index"].native,
                                        report.validation_time)
        except CertlibError as error:
            report.indeterminate("status", SubIndication.TRY_LATER, error.message)
            return
        if answer.status is CertificateStatus.VALID:
            report.passed("status", f"valid according to {answer.source}")
        elif answer.status is CertificateStatus.REVOKED:
            report.failed("status", SubIndication.REVOKED, f"revoked ({answer.source})")
        elif answer.status is CertificateStatus.SUSPENDED:
            report.failed("status", SubIndication.SUSPENDED, f"suspended ({answer.source})")
        else:
            report.indeterminate("status", SubIndication.TRY_LATER,
                                 f"status unknown ({answer.source}): {answer.detail}")

    def _check_fields(self, report: ReportBuilder, cso: ecert.CertificateSecurityObject,
                      parsed: ecert.Presentation | ecert.ElectronicCertificate,
                      full: bool) -> None:
        digest_name = _DIGESTS.get(cso["digest_algorithm"]["algorithm"].dotted)
        if digest_name is None:
            report.failed("fields", SubIndication.FORMAT_FAILURE, "unknown digest algorithm")
            return
        committed: dict[str, bytes] = {}
        for entry in cso["field_digests"]:
            name = entry["name"].native
            if name in committed:
                report.failed("fields", SubIndication.FORMAT_FAILURE,
                              "the security object lists a field twice")
                return
            committed[name] = entry["digest"].native
        items = parsed["fields"] if full else parsed["disclosed"]
        disclosed: dict[str, str] = {}
        for item in items:
            name = item["name"].native
            if name in disclosed or name not in committed:
                report.failed("fields", SubIndication.HASH_FAILURE,
                              "a disclosed field is duplicated or not committed to")
                return
            if len(item["salt"].native) < ecert.SALT_BYTES:
                report.failed("fields", SubIndication.FORMAT_FAILURE, "a salt is too short")
                return
            if ecert.item_digest(digest_name, item) != committed[name]:
                report.failed("fields", SubIndication.HASH_FAILURE,
                              f"field {name!r} does not match its signed digest")
                return
            disclosed[name] = item["value"].native
        type_key = cso["type_key"].native
        if self.types is not None and type_key in self.types:
            certificate_type = self.types.get(type_key)
            if certificate_type.code != cso["type_code"].native:
                report.warnings.append("the local registry gives this type another code")
            unknown = [n for n in committed if n not in certificate_type.fields]
            if unknown:
                report.warnings.append(f"fields unknown to the local type: {sorted(unknown)}")
        report.disclosed.update(disclosed)
        report.passed("fields", f"{len(disclosed)} of {len(committed)} fields disclosed")

    def _check_holder(self, report: ReportBuilder, cso: ecert.CertificateSecurityObject,
                      parsed: ecert.Presentation | ecert.ElectronicCertificate,
                      full: bool) -> None:
        holder = parsed["holder"]
        if not full and holder.native is None:
            report.skipped("holder", "the holder's identity is not disclosed")
            return
        digest_name = _DIGESTS[cso["digest_algorithm"]["algorithm"].dotted]
        if ecert.item_digest(digest_name, holder) != cso["holder_reference"].native:
            report.failed("holder", SubIndication.HASH_FAILURE,
                          "the holder item does not match the holder reference")
            return
        report.passed("holder")

    def _check_binding(self, report: ReportBuilder, *, cso: ecert.CertificateSecurityObject,
                       parsed: ecert.Presentation | ecert.ElectronicCertificate, full: bool,
                       expected: BindingExpectation | None) -> None:
        binding = None if full else parsed["binding"]
        if binding is None or binding.native is None:
            if expected is not None:
                report.failed("holder-binding", SubIndication.SIG_CONSTRAINTS_FAILURE,
                              "the verifier requires a holder binding and there is none")
            else:
                report.skipped("holder-binding", "not bound to a verifier")
            return
        holder_key = cso["holder_key"]
        if holder_key.native is None:
            report.failed("holder-binding", SubIndication.SIG_CONSTRAINTS_FAILURE,
                          "the certificate names no holder key")
            return
        values = binding.native
        to_be_signed = binding_to_be_signed(
            parsed["signed_object"].dump(), parsed["disclosed"], audience=values["audience"],
            nonce=values["nonce"], time=values["time"])
        algorithm = _binding_algorithm(binding["signature_algorithm"])
        try:
            valid = algorithm is not None and verify_signature(
                holder_key.untag().dump(), algorithm, to_be_signed, values["signature"])
        except CertlibError:
            valid = False
        if not valid:
            report.failed("holder-binding", SubIndication.SIG_CRYPTO_FAILURE,
                          "the holder's signature does not verify")
            return
        if expected is not None:
            if values["audience"] != expected.audience:
                report.failed("holder-binding", SubIndication.SIG_CONSTRAINTS_FAILURE,
                              "the presentation was made for another verifier")
                return
            if expected.nonce is not None and values["nonce"] != expected.nonce:
                report.failed("holder-binding", SubIndication.SIG_CONSTRAINTS_FAILURE,
                              "the presentation answers another nonce")
                return
            age = report.validation_time - values["time"]
            if age > expected.max_age or age < -timedelta(seconds=30):
                report.failed("holder-binding", SubIndication.SIG_CONSTRAINTS_FAILURE,
                              "the presentation is outside its time window (replay?)")
                return
        report.passed("holder-binding", f"for {values['audience']}")


@functools.lru_cache(maxsize=1024)
def signer_authorisation(signer: bytes) -> dict[str, Any] | None:
    """The issuer-authorisation extension of a signing certificate whose EKU allows
    e-certificate signing, as plain data; None otherwise."""
    try:
        authorisation: IssuerAuthorisation | None = issuer_authorisation(signer)
        certificate = x509.Certificate.load(signer)
        usage = certificate.extended_key_usage_value
        purposes = set(usage.native) if usage else set()
        if authorisation is None or not purposes & {oids.KP_ECERT_SIGNING,
                                                    "certlib_ecert_signing"}:
            return None
        native: dict[str, Any] = authorisation.native
        return native
    except (ValueError, TypeError, KeyError):
        return None


def _binding_algorithm(identifier: object) -> str | None:
    assert isinstance(identifier, algos.SignedDigestAlgorithm)
    dotted = identifier["algorithm"].dotted
    for name in ("ecdsa-p256-sha256", "rsa-pss-sha256", "ed25519", "sm2-sm3"):
        if get_algorithm(name).signature_oid == dotted:
            return name
    return None


def _subject(cso: ecert.CertificateSecurityObject) -> dict[str, object]:
    validity = cso["validity"].native
    return {
        "identifier": cso["identifier"].native,
        "type_code": cso["type_code"].native,
        "type": cso["type_key"].native,
        "issuer": cso["issuer"].native,
        "valid_from": validity["not_before"].isoformat(),
        "valid_until": validity["not_after"].isoformat() if validity["not_after"] else None,
        "issued_at": cso["issued_at"].native.isoformat(),
    }


def verify(data: bytes | str, *, trust: TrustMaterial, status: StatusSource | None = None,
           at: datetime | None = None, binding: BindingExpectation | None = None,
           types: TypeRegistry | None = None) -> ValidationReport:
    """Verify an e-certificate or presentation (DER bytes or QR text) and report."""
    return Verifier(trust, status, types).verify(data, at=at, binding=binding)


__all__ = ["BindingExpectation", "TrustMaterial", "Verifier", "verify"]
