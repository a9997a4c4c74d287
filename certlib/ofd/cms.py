"""OFD `Type="Sign"` signatures: GB/T 35275 (GM/T 0010) SM2 SignedData over Signature.xml.

Two models are written and read (docs/seals-ses-ofd.md):
- `detached`: no eContent; signed attributes content-type, signing-time and messageDigest =
  SM3(Signature.xml); SM2 signs DER(SET OF attributes) (GOMAIN, the 电子证照 sample);
- `digest`: eContent = SM3(Signature.xml) and no signed attributes; SM2 signs those 32
  bytes (ofdrw's GBT35275DSContainer, a real 不动产 file). Reading also accepts the digest
  in base64, as ofdrw can write it.
SM2 always means SM2-with-SM3 and the default user id.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

from asn1crypto import cms, core, x509

from certlib import cms as envelopes  # registers the GM/T 0010 SignedData type
from certlib import oids
from certlib.algorithms import digest, verify_signature
from certlib.errors import CertlibError, InputError
from certlib.report import ReportBuilder, SubIndication
from certlib.ses.build import certificate_key
from certlib.ses.parse import CHINA_STANDARD_TIME
from certlib.ses.verify import CLOCK_SKEW, certificate_subject, check_chain
from certlib.trust import TrustMaterial

Model = Literal["detached", "digest"]
Signer = Callable[[bytes], bytes]

PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
SM2_SIGNATURE_OIDS = frozenset({oids.SM2_SIGN, oids.SM2_WITH_SM3, oids.SM2_CURVE})
"""digestEncryptionAlgorithm values meaning SM2 (SM3 and Z are implied) in real files."""
MAX_SIGNED_VALUE_BYTES = envelopes.MAX_ENVELOPE_BYTES
_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError,
           RecursionError)


def build_signed_value(tbs: bytes, signer_certificate: bytes, sign: Signer, *,
                       chain: Sequence[bytes] = (), model: Model = "detached",
                       signing_time: datetime) -> bytes:
    """A DER ContentInfo (GM/T 0010 SignedData) signing `tbs`, the Signature.xml bytes."""
    spki = certificate_key(signer_certificate, "signer certificate")
    signer = x509.Certificate.load(signer_certificate)
    tbs_digest = digest("sm3", tbs)
    if model == "detached":
        attributes = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": [oids.GM_DATA]}),
            cms.CMSAttribute({"type": "signing_time",
                              "values": [cms.Time({"utc_time": signing_time.astimezone(UTC)})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [tbs_digest]}),
        ]).dump()
        to_sign, content = attributes, None
    elif model == "digest":
        to_sign, content = tbs_digest, tbs_digest
    else:
        raise InputError("model must be 'detached' or 'digest'")
    signature = sign(to_sign)
    if not isinstance(signature, bytes) or not verify_signature(spki, "sm2-sm3", to_sign,
                                                                signature):
        raise InputError("the signer key does not match its certificate (SM2 expected)")
    encapsulated: dict[str, object] = {"content_type": oids.GM_DATA}
    if content is not None:
        encapsulated["content"] = core.ParsableOctetString(content, explicit=0)
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": signer.issuer, "serial_number": signer.serial_number}),
        "digest_algorithm": {"algorithm": oids.SM3},
        "signed_attrs": (cms.CMSAttributes.load(b"\xa0" + to_sign[1:], implicit=0)
                         if model == "detached" else None),
        "signature_algorithm": {"algorithm": oids.SM2_SIGN},
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": oids.SM3}],
        "encap_content_info": cms.ContentInfo.load(
            cms.EncapsulatedContentInfo(encapsulated).dump()),
        "certificates": [x509.Certificate.load(c) for c in (signer_certificate, *chain)],
        "signer_infos": [signer_info],
    })
    return bytes(cms.ContentInfo({"content_type": oids.GM_SIGNED_DATA,
                                  "content": signed_data}).dump())


def check_signed_value(report: ReportBuilder, signed_value: bytes, tbs: bytes, *,
                       trust: TrustMaterial | None, claimed_time: datetime | None) -> None:
    """Every check of a `Type="Sign"` SignedValue against the Signature.xml bytes `tbs`."""
    if len(signed_value) > MAX_SIGNED_VALUE_BYTES:
        report.failed("format", SubIndication.FORMAT_FAILURE, "the SignedValue is too large")
        return
    try:
        _check(report, signed_value, tbs, trust=trust, claimed_time=claimed_time)
    except _ERRORS as error:
        report.failed("format", SubIndication.FORMAT_FAILURE,
                      f"not a GB/T 35275 SignedData ({type(error).__name__})")


def _check(report: ReportBuilder, data: bytes, tbs: bytes, *,
           trust: TrustMaterial | None, claimed_time: datetime | None) -> None:
    info = cms.ContentInfo.load(data, strict=True)
    if info["content_type"].dotted not in (oids.GM_SIGNED_DATA, PKCS7_SIGNED_DATA):
        report.failed("format", SubIndication.FORMAT_FAILURE, "the SignedValue is not SignedData")
        return
    signed = info["content"]
    if not isinstance(signed, cms.SignedData):
        signed = cms.SignedData.load(signed.dump())
    if len(signed["signer_infos"]) != 1:
        report.failed("format", SubIndication.FORMAT_FAILURE, "one signer is expected")
        return
    signer = signed["signer_infos"][0]
    certificates = [c.chosen.dump() for c in (signed["certificates"] or [])
                    if c.name == "certificate"]
    content = signed["encap_content_info"]["content"]
    econtent = None if isinstance(content, core.Void) else bytes(
        content.parse(core.OctetString).native)
    attributes = signer["signed_attrs"]
    detached = not isinstance(attributes, core.Void) and len(attributes) > 0
    report.passed("format", "GB/T 35275 SignedData, "
                  + ("signed attributes" if detached else "signed digest"))
    report.subject["model"] = "detached" if detached else "digest"
    digest_oid = signer["digest_algorithm"]["algorithm"].dotted
    if digest_oid != oids.SM3 or (
            signer["signature_algorithm"]["algorithm"].dotted not in SM2_SIGNATURE_OIDS):
        report.indeterminate("signature", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                             "only SM2 with SM3 signatures are supported")
        return
    certificate = _signer_certificate(signer["sid"], [*certificates,
                                                      *(trust.certificates if trust else [])])
    if certificate is None:
        report.indeterminate("signer-certificate", SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                             "the signer's certificate is neither embedded nor known")
        return
    report.subject["signer"] = certificate_subject(certificate)
    tbs_digest = digest("sm3", tbs)
    signing_time = claimed_time
    if detached:
        values = {a["type"].dotted: a["values"] for a in attributes}
        if len(values) != len(attributes) or any(len(v) != 1 for v in values.values()):
            report.failed("signed-attributes", SubIndication.FORMAT_FAILURE,
                          "a signed attribute is repeated or has several values")
            return
        md = values.get("1.2.840.113549.1.9.4")
        kind = values.get("1.2.840.113549.1.9.3")
        when = values.get("1.2.840.113549.1.9.5")
        if kind is None or kind[0].dotted != signed["encap_content_info"]["content_type"].dotted:
            report.failed("signed-attributes", SubIndication.FORMAT_FAILURE,
                          "the content-type attribute does not match the content")
            return
        covered = econtent if econtent is not None else tbs
        hash_ok = md is not None and bytes(md[0].native) == digest("sm3", covered) and (
            econtent is None or econtent in (tbs, tbs_digest))
        message = b"\x31" + attributes.dump()[1:]
        if when is not None:
            signing_time = when[0].native
    else:
        hash_ok = econtent is not None and econtent in (tbs_digest, base64.b64encode(tbs_digest))
        message = econtent or b""
    if hash_ok:
        report.passed("data-hash", "the signed digest is the SM3 digest of Signature.xml")
    else:
        report.failed("data-hash", SubIndication.HASH_FAILURE,
                      "the signed digest does not match Signature.xml")
    spki = x509.Certificate.load(certificate).public_key.dump()
    try:
        valid = verify_signature(spki, "sm2-sm3", message, bytes(signer["signature"].native))
    except CertlibError:
        valid = False
    if valid:
        report.passed("signature", "the signer's SM2 signature verifies")
    else:
        report.failed("signature", SubIndication.SIG_CRYPTO_FAILURE,
                      "the signer's signature does not verify")
    moment = signing_time or report.validation_time
    if moment > report.validation_time + CLOCK_SKEW:
        report.failed("signing-time", SubIndication.SIG_CONSTRAINTS_FAILURE,
                      "the signing time is after the validation time")
    else:
        report.passed("signing-time", moment.isoformat())
    report.subject["signing_time"] = moment.isoformat()
    check_chain(report, "signer-chain", certificate, trust=trust, moment=moment,
                intermediates=certificates)


def _signer_certificate(sid: cms.SignerIdentifier, candidates: Sequence[bytes]) -> bytes | None:
    for candidate in candidates:
        try:
            certificate = x509.Certificate.load(candidate, strict=True)
            if sid.name == "issuer_and_serial_number":
                if (certificate.issuer == sid.chosen["issuer"]
                        and certificate.serial_number == sid.chosen["serial_number"].native):
                    return candidate
            elif certificate.key_identifier == sid.chosen.native:
                return candidate
        except _ERRORS:
            continue
    return None


def loose_time(value: str) -> datetime | None:
    """A SignatureDateTime as written in practice (several layouts); Beijing time if no zone."""
    text = value.strip()
    zone = UTC if text.endswith("Z") else None
    text = text.rstrip("Z")
    moment = None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        for layout in ("%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S"):
            try:
                moment = datetime.strptime(text, layout)
                break
            except ValueError:
                continue
    if moment is None:
        return None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone or CHINA_STANDARD_TIME)
    return moment


__all__ = ["Model", "build_signed_value", "check_signed_value", "loose_time"]
