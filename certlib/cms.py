"""CMS SignedData (RFC 5652) with HSM keys, and GM/T 0010 (GB/T 35275) for SM2.

Signing builds signed attributes (content type, message digest, signing time, ESS
signing-certificate-v2) and has the key store sign their DER SET. For SM2 the envelope
follows GM/T 0010: ContentInfo type 1.2.156.10197.6.1.4.2.2, digest SM3 and signature
algorithm sm2-1 (1.2.156.10197.1.301.1).

Parsing keeps the original bytes: the signature is checked over the signed attributes
exactly as received (with their [0] tag turned into SET), never over a re-encoding.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp, x509

from certlib import oids
from certlib.algorithms import (
    PssParameters,
    algorithm_identifier,
    digest,
    get_algorithm,
    load_public_key,
    verify_rsa_pss,
    verify_signature,
)
from certlib.errors import InvalidKey, MalformedInput
from certlib.keys import CertlibKeyStore
from hsm import KeyRef

MAX_ENVELOPE_BYTES = 1 << 20
"""Refuse larger envelopes before parsing: e-certificates are a few kilobytes."""

cms.ContentInfo._oid_specs.setdefault("gm_signed_data", cms.SignedData)
assert tsp.SigningCertificateV2  # importing asn1crypto.tsp registers the ESS attributes

_DIGEST_OIDS = {"sha256": "2.16.840.1.101.3.4.2.1", "sha512": "2.16.840.1.101.3.4.2.3",
                "sm3": oids.SM3}
_DIGEST_NAMES = {oid: name for name, oid in _DIGEST_OIDS.items()}


def _digest_for(algorithm: str) -> str:
    """The message digest used with a signature algorithm in CMS (RFC 8419 for Ed25519)."""
    entry = get_algorithm(algorithm)
    return "sha512" if entry.name == "ed25519" else str(entry.digest)


def _signer_info_algorithm(algorithm: str) -> algos.SignedDigestAlgorithm:
    if algorithm == "sm2-sm3":
        return algos.SignedDigestAlgorithm({"algorithm": oids.SM2_SIGN})
    return algorithm_identifier(algorithm)


def _frozen(value: cms.CMSAttribute) -> cms.CMSAttribute:
    """`value` re-loaded from its DER, so later dumps reuse the bytes."""
    return cms.CMSAttribute.load(value.dump())


class EnvelopeSigner:
    """Signs SignedData envelopes with one HSM key and certificate chain.

    The parts that never change between envelopes (certificates, signer identifier, ESS
    attribute) are encoded once, so signing many envelopes costs little beyond the HSM.
    """

    def __init__(self, keystore: CertlibKeyStore, key: KeyRef, *, certificate: bytes,
                 chain: Sequence[bytes]) -> None:
        self.keystore = keystore
        self.key = key
        self.digest_name = _digest_for(key.algorithm)
        self.gm = key.algorithm == "sm2-sm3"
        self._digest_algorithm_value = algos.DigestAlgorithm(
            {"algorithm": _DIGEST_OIDS[self.digest_name]})
        signer = x509.Certificate.load(certificate)
        self._ess = tsp.SigningCertificateV2({"certs": [{
            "hash_algorithm": {"algorithm": _DIGEST_OIDS[self.digest_name]},
            "cert_hash": digest(self.digest_name, certificate),
            "issuer_serial": {
                "issuer": [x509.GeneralName(name="directory_name", value=signer.issuer)],
                "serial_number": signer.serial_number,
            },
        }]})
        self._ess_attribute = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [self._ess]}).dump()
        self._content_type_attributes: dict[str, bytes] = {}
        self._sid_der = cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": signer.issuer, "serial_number": signer.serial_number}).dump()
        certificate_set = cms.CertificateSet([
            cms.CertificateChoices(name="certificate", value=x509.Certificate.load(c))
            for c in (certificate, *chain)], implicit=0)
        self._certificates = certificate_set.dump()
        self._signature_algorithm = _signer_info_algorithm(key.algorithm).dump()
        self._digest_algorithm = self._digest_algorithm_value.dump()
        self._digest_algorithms = cms.DigestAlgorithms([self._digest_algorithm_value]).dump()

    def sign(self, content: bytes, *, content_type: str, signing_time: datetime,
             include_certificates: bool = True) -> bytes:
        """A DER ContentInfo with SignedData over `content`."""
        # asn1crypto re-encodes a freshly built value every time it is dumped, and a parent
        # dumps its children repeatedly. So each level is built from children re-loaded
        # from DER (lazy: kept as bytes) and dumped exactly once.
        attributes = cms.CMSAttributes([
            cms.CMSAttribute.load(self._content_type_attribute(content_type)),
            _frozen(cms.CMSAttribute({
                "type": "signing_time",
                "values": [cms.Time({"generalized_time": signing_time})]})),
            _frozen(cms.CMSAttribute({
                "type": "message_digest", "values": [digest(self.digest_name, content)]})),
            cms.CMSAttribute.load(self._ess_attribute),
        ]).dump()
        signature = self.keystore.sign(self.key, attributes)
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier.load(self._sid_der),
            "digest_algorithm": algos.DigestAlgorithm.load(self._digest_algorithm),
            # the same attributes under the SignerInfo's implicit [0] tag
            "signed_attrs": cms.CMSAttributes.load(b"\xa0" + attributes[1:], implicit=0),
            "signature_algorithm": algos.SignedDigestAlgorithm.load(self._signature_algorithm),
            "signature": signature,
        }).dump()
        encapsulated = cms.EncapsulatedContentInfo({
            "content_type": content_type,
            "content": core.ParsableOctetString(content, explicit=0),
        }).dump()
        signed_data = cms.SignedData({
            "version": "v1" if self.gm else "v3",
            "digest_algorithms": cms.DigestAlgorithms.load(self._digest_algorithms),
            # asn1crypto reads a version-1 SignedData's content as PKCS#7 ContentInfo,
            # which has the same encoding.
            "encap_content_info": (cms.ContentInfo if self.gm
                                   else cms.EncapsulatedContentInfo).load(encapsulated),
            "certificates": cms.CertificateSet.load(self._certificates, implicit=0)
            if include_certificates else None,
            "signer_infos": cms.SignerInfos([cms.SignerInfo.load(signer_info)]),
        }).dump()
        return bytes(cms.ContentInfo({
            "content_type": oids.GM_SIGNED_DATA if self.gm else "signed_data",
            "content": cms.SignedData.load(signed_data),
        }).dump())

    def _content_type_attribute(self, content_type: str) -> bytes:
        encoded = self._content_type_attributes.get(content_type)
        if encoded is None:
            encoded = cms.CMSAttribute({"type": "content_type", "values": [content_type]}).dump()
            self._content_type_attributes[content_type] = encoded
        return encoded


def sign(
    keystore: CertlibKeyStore,
    key: KeyRef,
    *,
    certificate: bytes,
    chain: Sequence[bytes],
    content: bytes,
    content_type: str,
    signing_time: datetime,
) -> bytes:
    """A DER ContentInfo with SignedData over `content`, signed by `key` in the HSM."""
    signer = EnvelopeSigner(keystore, key, certificate=certificate, chain=chain)
    return signer.sign(content, content_type=content_type, signing_time=signing_time)


@dataclass(frozen=True)
class SignedEnvelope:
    """A parsed SignedData with exactly one signer, its original bytes kept."""

    content_type: str
    content: bytes
    certificates: tuple[bytes, ...]
    issuer: x509.Name
    serial_number: int | None
    subject_key_identifier: bytes | None
    digest_algorithm: str
    signature_algorithm: algos.SignedDigestAlgorithm
    signed_attributes: bytes
    """The DER SET OF attributes as received, [0] turned into SET: what was signed."""
    signature: bytes
    message_digest: bytes | None
    content_type_attribute: str | None
    signing_time: datetime | None
    signing_certificate_hash: tuple[str, bytes] | None
    """ESS signing-certificate-v2: (digest name, certificate hash)."""
    duplicate_attributes: bool
    gm: bool

    def find_signer_certificate(self, extra: Sequence[bytes] = ()) -> bytes | None:
        """The certificate, among the embedded and `extra` ones, that the signer names."""
        issuer = self.issuer.dump() if self.subject_key_identifier is None else b""
        for candidate in (*self.certificates, *extra):
            facts = certificate_facts(candidate)
            if facts is None:
                continue
            if self.subject_key_identifier is not None:
                if facts.key_identifier == self.subject_key_identifier:
                    return candidate
            elif facts.serial_number == self.serial_number and facts.issuer == issuer:
                return candidate
        return None

    def message_digest_matches(self) -> bool:
        """Whether the messageDigest attribute equals the digest of the content."""
        return self.message_digest is not None and self.message_digest == digest(
            self.digest_algorithm, self.content)

    def signature_valid(self, signer_certificate: bytes) -> bool:
        """Whether the signature over the signed attributes verifies with the certificate."""
        facts = certificate_facts(signer_certificate)
        if facts is None:
            return False
        spki = facts.public_key
        algorithm = self.signature_algorithm["algorithm"].dotted
        key = load_public_key(spki)
        if algorithm in (oids.SM2_SIGN, oids.SM2_WITH_SM3):
            return key.key_type == "sm2" and verify_signature(
                spki, "sm2-sm3", self.signed_attributes, self.signature)
        if algorithm == "1.2.840.113549.1.1.10":
            params = self.signature_algorithm["parameters"]
            pss = PssParameters(
                params["hash_algorithm"]["algorithm"].native,
                params["mask_gen_algorithm"]["parameters"]["algorithm"].native,
                params["salt_length"].native)
            return key.key_type == "rsa" and verify_rsa_pss(
                key, self.signed_attributes, self.signature, pss)
        names = {"1.2.840.10045.4.3.2": "ecdsa-p256-sha256", "1.3.101.112": "ed25519",
                 "1.2.840.113549.1.1.11": "rsa-pkcs1-sha256",
                 "1.2.840.113549.1.1.1": "rsa-pkcs1-sha256"}
        name = names.get(algorithm)
        if name is None or get_algorithm(name).key_type != key.key_type:
            return False
        if name != "ed25519" and self.digest_algorithm != "sha256":
            return False
        try:
            return verify_signature(spki, name, self.signed_attributes, self.signature)
        except InvalidKey:
            return False

    def certificate_binding_matches(self, signer_certificate: bytes) -> bool:
        """Whether ESS signing-certificate-v2 names exactly this certificate."""
        if self.signing_certificate_hash is None:
            return False
        name, expected = self.signing_certificate_hash
        return digest(name, signer_certificate) == expected


@dataclass(frozen=True)
class CertificateFacts:
    """What envelope checks read from a certificate, parsed once."""

    issuer: bytes
    """DER of the issuer Name."""
    serial_number: int
    key_identifier: bytes | None
    public_key: bytes


@functools.lru_cache(maxsize=2048)
def certificate_facts(der: bytes) -> CertificateFacts | None:
    """Issuer, serial, key identifier and SPKI of a certificate; None if it does not parse."""
    try:
        certificate = x509.Certificate.load(der)
        return CertificateFacts(
            issuer=certificate.issuer.dump(),
            serial_number=certificate.serial_number,
            key_identifier=certificate.key_identifier,
            public_key=certificate.public_key.dump(),
        )
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError):
        return None


def parse(data: bytes) -> SignedEnvelope:
    """Parse a DER ContentInfo holding SignedData with one signer; MalformedInput if not."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedInput("a signed envelope must be bytes")
    if len(data) > MAX_ENVELOPE_BYTES:
        raise MalformedInput("the signed envelope is larger than 1 MiB")
    try:
        return _parse(bytes(data))
    except MalformedInput:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError,
            RecursionError) as error:
        raise MalformedInput(f"not a valid CMS SignedData: {type(error).__name__}") from None


def _parse(data: bytes) -> SignedEnvelope:
    info = cms.ContentInfo.load(data, strict=True)
    outer = info["content_type"].dotted
    if outer not in ("1.2.840.113549.1.7.2", oids.GM_SIGNED_DATA):
        raise MalformedInput("the envelope is not SignedData")
    signed = info["content"]
    if not isinstance(signed, cms.SignedData):
        signed = cms.SignedData.load(signed.dump())
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise MalformedInput("the envelope must have exactly one signer")
    signer = signers[0]
    encapsulated = signed["encap_content_info"]
    content = encapsulated["content"]
    if isinstance(content, core.Void):
        raise MalformedInput("the envelope carries no content")
    content_bytes = bytes(content.contents if isinstance(content, core.ParsableOctetString)
                          else content.native)
    digest_oid = signer["digest_algorithm"]["algorithm"].dotted
    digest_name = _DIGEST_NAMES.get(digest_oid)
    if digest_name is None:
        raise MalformedInput(f"unsupported digest algorithm {digest_oid}")
    raw_attributes = signer["signed_attrs"]
    if isinstance(raw_attributes, core.Void) or len(raw_attributes) == 0:
        raise MalformedInput("the signer has no signed attributes")
    signed_attributes = b"\x31" + raw_attributes.dump()[1:]
    values: dict[str, list[object]] = {}
    for attribute in raw_attributes:
        values.setdefault(attribute["type"].dotted, []).append(attribute["values"])
    duplicate = any(len(v) > 1 for v in values.values()) or any(
        len(attribute["values"]) != 1 for attribute in raw_attributes)
    message_digest = _single(raw_attributes, "message_digest")
    content_type_value = _single(raw_attributes, "content_type")
    signing_time = _single(raw_attributes, "signing_time")
    ess = _single(raw_attributes, "signing_certificate_v2")
    ess_hash: tuple[str, bytes] | None = None
    if isinstance(ess, tsp.SigningCertificateV2) and len(ess["certs"]) > 0:
        first = ess["certs"][0]
        ess_name = _DIGEST_NAMES.get(first["hash_algorithm"]["algorithm"].dotted)
        if ess_name is not None:
            ess_hash = (ess_name, bytes(first["cert_hash"].native))
    sid = signer["sid"]
    issuer, serial, ski = x509.Name(), None, None
    if sid.name == "issuer_and_serial_number":
        issuer, serial = sid.chosen["issuer"], int(sid.chosen["serial_number"].native)
    else:
        ski = bytes(sid.chosen.native)
    certificates = tuple(
        choice.chosen.dump() for choice in (signed["certificates"] or [])
        if choice.name == "certificate"
    )
    return SignedEnvelope(
        content_type=encapsulated["content_type"].dotted,
        content=content_bytes,
        certificates=certificates,
        issuer=issuer,
        serial_number=serial,
        subject_key_identifier=ski,
        digest_algorithm=digest_name,
        signature_algorithm=signer["signature_algorithm"],
        signed_attributes=signed_attributes,
        signature=bytes(signer["signature"].native),
        message_digest=bytes(message_digest.native) if message_digest is not None else None,
        content_type_attribute=content_type_value.dotted if content_type_value is not None
        else None,
        signing_time=signing_time.native if signing_time is not None else None,
        signing_certificate_hash=ess_hash,
        duplicate_attributes=duplicate,
        gm=info["content_type"].dotted == oids.GM_SIGNED_DATA,
    )


def _single(attributes: cms.CMSAttributes, name: str) -> core.Asn1Value | None:
    for attribute in attributes:
        if attribute["type"].native == name:
            values = attribute["values"]
            return values[0] if len(values) else None
    return None


def strip_certificates(data: bytes) -> bytes:
    """The same envelope without its certificate set (signatures do not cover it)."""
    info = cms.ContentInfo.load(data)
    signed = info["content"]
    if not isinstance(signed, cms.SignedData):
        signed = cms.SignedData.load(signed.dump())
    stripped = cms.SignedData({
        "version": signed["version"],
        "digest_algorithms": signed["digest_algorithms"],
        "encap_content_info": signed["encap_content_info"],
        "signer_infos": signed["signer_infos"],
    })
    return bytes(cms.ContentInfo({"content_type": info["content_type"],
                                  "content": stripped}).dump())
