"""Verifying seals and seal signatures (GM/T 0031-2014 §6, GB/T 38540 §6.3 and §7.3).

Every step is a named check in a `ValidationReport`. Signatures are checked over the exact
bytes received. A signature's seal, signer certificate and seal maker certificate are
judged at the signing time (timeInfo), as the standards' procedures do; see
docs/seals-ses-ofd.md for each check and the decisions behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from asn1crypto import x509

from certlib.algorithms import digest, load_public_key, verify_signature, verify_sm2_digest
from certlib.chain import validate_path
from certlib.errors import CertlibError, InputError
from certlib.report import ReportBuilder, SubIndication, ValidationReport
from certlib.ses.asn1 import SM2_WITH_SM3
from certlib.ses.parse import MalformedSeal, Seal, SesSignature, parse_seal, parse_signature
from certlib.trust import TrustMaterial

CLOCK_SKEW = timedelta(minutes=5)
"""How far a signing time may lie after the validation time."""

_UNDECIDED = (SubIndication.TRY_LATER, SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
              SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
              SubIndication.CHAIN_CONSTRAINTS_FAILURE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
              SubIndication.OUT_OF_BOUNDS_NO_POE, SubIndication.REVOKED_NO_POE)
_CERT_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError)


def verify_seal(data: bytes | Seal, *, trust: TrustMaterial | None = None,
                at: datetime | None = None) -> ValidationReport:
    """Verify a seal on its own: format, maker signature, validity at `at`, maker chain."""
    report = ReportBuilder(_now(at))
    try:
        seal = data if isinstance(data, Seal) else parse_seal(data)
    except MalformedSeal as error:
        report.failed("seal-format", SubIndication.FORMAT_FAILURE, error.message)
        return report.build()
    report.subject.update(seal_subject(seal))
    report.passed("seal-format", f"SESeal version {seal.version}")
    check_seal(report, seal, trust=trust, moment=report.validation_time)
    return report.build()


def verify_ses_signature(data: bytes | SesSignature, *, signed_data: bytes | None = None,
                         data_hash: bytes | None = None, trust: TrustMaterial | None = None,
                         at: datetime | None = None) -> ValidationReport:
    """Verify a seal signature against the data it protects (or that data's SM3 digest)."""
    report = ReportBuilder(_now(at))
    try:
        signature = data if isinstance(data, SesSignature) else parse_signature(data)
    except MalformedSeal as error:
        report.failed("format", SubIndication.FORMAT_FAILURE, error.message)
        return report.build()
    for value, what in ((signed_data, "signed_data"), (data_hash, "data_hash")):
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            raise InputError(f"{what} must be bytes")
    expected = bytes(data_hash) if data_hash is not None else None
    if signed_data is not None:
        computed = digest("sm3", bytes(signed_data))
        # given both, they must agree: a mismatch must not pass unnoticed
        expected = computed if expected in (None, computed) else b""
    check_ses_signature(report, signature, expected_hash=expected, trust=trust)
    return report.build()


def check_ses_signature(report: ReportBuilder, signature: SesSignature, *,
                        expected_hash: bytes | None, trust: TrustMaterial | None) -> None:
    """Every check of a seal signature, added to `report`; dataHash against `expected_hash`."""
    seal = signature.seal
    report.passed("format", f"SES_Signature version {signature.version}")
    report.subject.update(seal_subject(seal))
    report.subject["signer"] = certificate_subject(signature.signer_certificate)
    report.subject["signing_time"] = (signature.signing_time.isoformat()
                                      if signature.signing_time else None)
    if expected_hash is None:
        report.indeterminate("data-hash", SubIndication.SIGNED_DATA_NOT_FOUND,
                             "no data to compare the signed dataHash with")
    elif signature.data_hash == expected_hash:
        report.passed("data-hash", "dataHash is the SM3 digest of the protected data")
    else:
        report.failed("data-hash", SubIndication.HASH_FAILURE,
                      "dataHash does not match the protected data")
    _check_signer_signature(report, signature)
    _check_listed(report, signature)
    moment = _signing_time(report, signature)
    check_seal(report, seal, trust=trust, moment=moment)
    if signature.time_stamp is not None:
        report.skipped("time-stamp", "present but not verified (GB/T 20520 tokens are not "
                                     "validated); the signing time is timeInfo")
        report.warnings.append("the signature's time-stamp was not verified")
    if moment is None:
        report.indeterminate("signer-chain", SubIndication.OUT_OF_BOUNDS_NO_POE,
                             "no signing time to validate the signer's certificate at")
        return
    check_chain(report, "signer-chain", signature.signer_certificate, trust=trust,
                moment=moment, region=seal_region(seal))


def check_seal(report: ReportBuilder, seal: Seal, *, trust: TrustMaterial | None,
               moment: datetime | None) -> None:
    """The seal checks: maker signature, validity period and maker chain at `moment`."""
    if seal.signature_algorithm != SM2_WITH_SM3:
        report.indeterminate("seal-signature", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                             "the seal is not signed with SM2-with-SM3")
    elif _verifies(seal.maker_certificate, seal.signed_bytes, seal.signature):
        report.passed("seal-signature", "the seal maker's SM2 signature verifies")
    else:
        report.failed("seal-signature", SubIndication.SIG_CRYPTO_FAILURE,
                      "the seal maker's signature does not verify")
    for index, entry in enumerate(seal.signer_certificates):
        if certificate_subject(entry) is None:
            report.warnings.append(f"seal certList entry {index} is not a DER certificate")
    if seal.time_stamp is not None:
        report.skipped("seal-time-stamp", "present but not verified")
        report.warnings.append("the seal's time-stamp was not verified")
    if moment is None:
        report.indeterminate("seal-validity", SubIndication.OUT_OF_BOUNDS_NO_POE,
                             "no time to judge the seal and its maker's certificate at")
        return
    _check_seal_period(report, seal, moment)
    check_chain(report, "seal-maker-chain", seal.maker_certificate, trust=trust, moment=moment,
                region=seal_region(seal))


def seal_region(seal: Seal) -> str | None:
    """The region a seal's esID names (certlib's esIDs begin with the GB/T 2260 code of the
    region that made the seal), or None for an esID of another form."""
    prefix = seal.es_id[:6]
    return prefix if len(prefix) == 6 and prefix.isdigit() and prefix[0] != "0" else None


def check_chain(report: ReportBuilder, name: str, certificate: bytes, *,
                trust: TrustMaterial | None, moment: datetime,
                intermediates: Sequence[bytes] = (), region: str | None = None) -> None:
    """Path validation of a signing certificate at `moment` as check `name`; with `region`,
    the path must end at that region's root when the trust tells roots apart by region."""
    if trust is None or not trust.anchors:
        report.indeterminate(name, SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                             "no trust anchors were given")
        return
    try:
        result = validate_path(
            certificate, trust_anchors=trust.anchors,
            intermediates=[*intermediates, *trust.certificates], moment=moment,
            crls=trust.crls, revocation="require" if trust.crls else "if-declared",
            retroactive_crls=True)
    except CertlibError as error:
        report.failed(name, SubIndication.FORMAT_FAILURE, error.message)
        return
    if not result.ok:
        sub = SubIndication(result.sub_indication or "CERTIFICATE_CHAIN_GENERAL_FAILURE")
        if sub in _UNDECIDED:
            report.indeterminate(name, sub, result.message)
        else:
            report.failed(name, sub, result.message)
        return
    usage = x509.Certificate.load(certificate).key_usage_value
    if usage is not None and not {"digital_signature", "non_repudiation"} & set(usage.native):
        report.failed(name, SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                      "the certificate's key usage does not allow signatures")
        return
    mismatch = trust.region_mismatch(result.path, region) if region is not None else None
    if mismatch is not None:
        report.failed(name, SubIndication.NOT_AUTHORISED, f"the seal's esID names region "
                                                          f"{region}, but {mismatch}")
        return
    if not trust.crls:
        report.warnings.append(f"{name}: revocation not checked (no CRLs given)")
    report.passed(name, f"{len(result.path)} certificates to an anchor, "
                        f"at {moment.isoformat()}")


def seal_subject(seal: Seal) -> dict[str, object]:
    """What a report says about a seal (its name, identifier, type, vendor and validity)."""
    return {"seal_name": seal.name, "es_id": seal.es_id, "seal_type": seal.seal_type,
            "seal_version": seal.version, "vendor_id": seal.vendor_id,
            "seal_valid_from": seal.valid_from.isoformat(),
            "seal_valid_until": seal.valid_until.isoformat()}


def certificate_subject(der: bytes) -> str | None:
    """The subject of a DER certificate, readable; None when it does not parse."""
    try:
        return str(x509.Certificate.load(der, strict=True).subject.human_friendly)
    except _CERT_ERRORS:
        return None


def _check_signer_signature(report: ReportBuilder, signature: SesSignature) -> None:
    if signature.signature_algorithm != SM2_WITH_SM3:
        report.indeterminate("signature", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                             "the signature is not SM2-with-SM3")
    elif _verifies(signature.signer_certificate, signature.tbs_bytes, signature.signature):
        report.passed("signature", "the signer's SM2 signature over TBS_Sign verifies")
    elif signature.version == 1 and _raw_e(signature):
        report.subject["nonconformant_signature"] = "raw SM2 over e = dataHash"
        report.warnings.append("non-conformant v1 signature: it verifies only as a raw SM2 "
                               "signature with e = dataHash, binding neither seal nor time")
        report.failed("signature", SubIndication.SIG_CRYPTO_FAILURE,
                      "not a GM/T 0031 signature over TBS_Sign: it verifies only as raw SM2 "
                      "with e = dataHash (non-conformant)")
    else:
        report.failed("signature", SubIndication.SIG_CRYPTO_FAILURE,
                      "the signer's signature does not verify")


def _check_listed(report: ReportBuilder, signature: SesSignature) -> None:
    seal, signer = signature.seal, signature.signer_certificate
    if seal.cert_list_type == 1:
        if signer in seal.signer_certificates:
            report.passed("signer-in-seal", "the signer's certificate is in the seal's list")
        else:
            report.failed("signer-in-seal", SubIndication.SIG_CONSTRAINTS_FAILURE,
                          "the signer's certificate is not in the seal's certificate list")
        return
    known = {"sm3": "sm3", "sha256": "sha256", "sha-256": "sha256"}
    for kind, value in seal.certificate_digests:
        name = known.get(kind.strip().lower())
        if name is not None and digest(name, signer) == value:
            report.warnings.append("the signer matched a certificate digest (certListType 2)")
            report.passed("signer-in-seal", f"the signer's {name} digest is in the seal's list")
            return
    if any(known.get(kind.strip().lower()) is None for kind, _ in seal.certificate_digests):
        report.indeterminate("signer-in-seal", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                             "the seal lists certificate digests of an unknown algorithm")
    else:
        report.failed("signer-in-seal", SubIndication.SIG_CONSTRAINTS_FAILURE,
                      "no certificate digest in the seal matches the signer")


def _signing_time(report: ReportBuilder, signature: SesSignature) -> datetime | None:
    moment = signature.signing_time
    if moment is None:
        report.indeterminate("signing-time", SubIndication.GENERIC,
                             "timeInfo cannot be read as a time")
        return None
    if moment > report.validation_time + CLOCK_SKEW:
        report.failed("signing-time", SubIndication.SIG_CONSTRAINTS_FAILURE,
                      "the signing time is after the validation time")
        return moment
    report.passed("signing-time", f"{moment.isoformat()} (timeInfo, the signer's claim)")
    return moment


def _check_seal_period(report: ReportBuilder, seal: Seal, moment: datetime) -> None:
    if moment < seal.valid_from:
        report.failed("seal-validity", SubIndication.NOT_YET_VALID,
                      f"the seal is valid from {seal.valid_from.isoformat()}")
    elif moment > seal.valid_until:
        report.failed("seal-validity", SubIndication.EXPIRED,
                      f"the seal expired {seal.valid_until.isoformat()}")
    else:
        report.passed("seal-validity", f"valid at {moment.isoformat()}")


def _verifies(certificate: bytes, data: bytes, signature: bytes) -> bool:
    try:
        spki = x509.Certificate.load(certificate, strict=True).public_key.dump()
        return verify_signature(spki, "sm2-sm3", data, signature)
    except (*_CERT_ERRORS, CertlibError):
        return False


def _raw_e(signature: SesSignature) -> bool:
    """The dms360 model: SM2 verification with e = dataHash itself (no Z, no TBS_Sign)."""
    try:
        spki = x509.Certificate.load(signature.signer_certificate, strict=True).public_key.dump()
        return verify_sm2_digest(load_public_key(spki), signature.data_hash, signature.signature)
    except (*_CERT_ERRORS, CertlibError):
        return False


def _now(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC).replace(microsecond=0)
    if at.utcoffset() is None:
        raise InputError("`at` must be a timezone-aware datetime")
    return at
