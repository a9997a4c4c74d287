"""The e-certificate formats (DER, asn1crypto): security object, certificate, presentation.

```asn1
FieldItem ::= SEQUENCE { salt OCTET STRING (SIZE(16..64)), name UTF8String, value UTF8String }
HolderItem ::= SEQUENCE { salt OCTET STRING, idKind PrintableString, idValue PrintableString }
FieldDigest ::= SEQUENCE { name UTF8String, digest OCTET STRING }
CertificateSecurityObject ::= SEQUENCE {
    version          INTEGER (1),
    identifier       PrintableString,          -- GB/T 36904
    typeCode         PrintableString,          -- GB/T 36904 type code
    typeKey          UTF8String,               -- certlib type name, e.g. resident-id-card
    issuer           IssuerReference,
    holderReference  OCTET STRING,             -- digest of DER(HolderItem): never the number
    validity         CsoValidity,
    issuedAt         GeneralizedTime,
    status           StatusReference,
    digestAlgorithm  AlgorithmIdentifier,
    fieldDigests     SEQUENCE OF FieldDigest,  -- digest of DER(FieldItem), one per field
    holderKey        [0] EXPLICIT SubjectPublicKeyInfo OPTIONAL }
IssuerReference ::= SEQUENCE { uscc PrintableString, name UTF8String, region PrintableString }
CsoValidity ::= SEQUENCE { notBefore GeneralizedTime, notAfter GeneralizedTime OPTIONAL }
StatusReference ::= SEQUENCE { list IA5String, index INTEGER }
ElectronicCertificate ::= SEQUENCE {           -- what the holder keeps
    version INTEGER (1), signedObject ContentInfo, fields SEQUENCE OF FieldItem,
    holder HolderItem }
Presentation ::= SEQUENCE {                    -- what a verifier receives
    version INTEGER (1), signedObject ContentInfo, disclosed SEQUENCE OF FieldItem,
    holder [0] EXPLICIT HolderItem OPTIONAL, binding [1] EXPLICIT HolderBinding OPTIONAL }
HolderBinding ::= SEQUENCE {
    audience UTF8String, nonce OCTET STRING, time GeneralizedTime,
    signatureAlgorithm AlgorithmIdentifier, signature OCTET STRING }
BindingToBeSigned ::= SEQUENCE {
    context UTF8String ("certlib-presentation-binding-v1"),
    signedObjectDigest OCTET STRING, disclosedDigest OCTET STRING,
    audience UTF8String, nonce OCTET STRING, time GeneralizedTime }
```
`signedObject` is a CMS ContentInfo whose SignedData encapsulates the DER security
object (eContentType `certlib.oids.CERTIFICATE_SECURITY_OBJECT`).
"""

from __future__ import annotations

from typing import TypeVar

from asn1crypto import algos, cms, core, keys

from certlib.algorithms import digest

BINDING_CONTEXT = "certlib-presentation-binding-v1"
SALT_BYTES = 16


class FieldItem(core.Sequence):
    """One field with its salt: what a field digest commits to."""

    _fields = [  # noqa: RUF012
        ("salt", core.OctetString),
        ("name", core.UTF8String),
        ("value", core.UTF8String),
    ]


class FieldItems(core.SequenceOf):
    """Disclosed or stored fields."""

    _child_spec = FieldItem


class HolderItem(core.Sequence):
    """The holder's identity number with its salt: what the holder reference commits to."""

    _fields = [  # noqa: RUF012
        ("salt", core.OctetString),
        ("id_kind", core.PrintableString),
        ("id_value", core.PrintableString),
    ]


class FieldDigest(core.Sequence):
    """A field's name and the digest of its salted item."""

    _fields = [("name", core.UTF8String), ("digest", core.OctetString)]  # noqa: RUF012


class FieldDigests(core.SequenceOf):
    """All field digests of a certificate."""

    _child_spec = FieldDigest


class IssuerReference(core.Sequence):
    """The issuing department: USCC, name, region."""

    _fields = [  # noqa: RUF012
        ("uscc", core.PrintableString),
        ("name", core.UTF8String),
        ("region", core.PrintableString),
    ]


class CsoValidity(core.Sequence):
    """When the certificate is valid; no end for certificates valid for life."""

    _fields = [  # noqa: RUF012
        ("not_before", core.GeneralizedTime),
        ("not_after", core.GeneralizedTime, {"optional": True}),
    ]


class StatusReference(core.Sequence):
    """Where the certificate's status lives: a status list and an index in it."""

    _fields = [("list", core.IA5String), ("index", core.Integer)]  # noqa: RUF012


class CertificateSecurityObject(core.Sequence):
    """What the issuer signs: identifiers, validity, status and salted field digests."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("identifier", core.PrintableString),
        ("type_code", core.PrintableString),
        ("type_key", core.UTF8String),
        ("issuer", IssuerReference),
        ("holder_reference", core.OctetString),
        ("validity", CsoValidity),
        ("issued_at", core.GeneralizedTime),
        ("status", StatusReference),
        ("digest_algorithm", algos.DigestAlgorithm),
        ("field_digests", FieldDigests),
        ("holder_key", keys.PublicKeyInfo, {"explicit": 0, "optional": True}),
    ]


class ElectronicCertificate(core.Sequence):
    """The holder's complete certificate: the signed object plus every salted field."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("signed_object", cms.ContentInfo),
        ("fields", FieldItems),
        ("holder", HolderItem),
    ]


class HolderBinding(core.Sequence):
    """The holder's signature tying a presentation to one verifier, nonce and moment."""

    _fields = [  # noqa: RUF012
        ("audience", core.UTF8String),
        ("nonce", core.OctetString),
        ("time", core.GeneralizedTime),
        ("signature_algorithm", algos.SignedDigestAlgorithm),
        ("signature", core.OctetString),
    ]


class BindingToBeSigned(core.Sequence):
    """What the holder key signs in a holder binding."""

    _fields = [  # noqa: RUF012
        ("context", core.UTF8String),
        ("signed_object_digest", core.OctetString),
        ("disclosed_digest", core.OctetString),
        ("audience", core.UTF8String),
        ("nonce", core.OctetString),
        ("time", core.GeneralizedTime),
    ]


class Presentation(core.Sequence):
    """The signed object with only the disclosed fields, optionally holder-bound."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("signed_object", cms.ContentInfo),
        ("disclosed", FieldItems),
        ("holder", HolderItem, {"explicit": 0, "optional": True}),
        ("binding", HolderBinding, {"explicit": 1, "optional": True}),
    ]


def item_digest(digest_name: str, item: FieldItem | HolderItem) -> bytes:
    """The digest a security object holds for a salted item: digest of its DER."""
    return digest(digest_name, item.dump())


AsnValue = TypeVar("AsnValue", bound=core.Asn1Value)


def frozen(value: AsnValue) -> AsnValue:
    """`value` re-loaded from its own DER: asn1crypto re-encodes a built value at every
    dump, so freezing the parts of a larger structure makes building it linear."""
    loaded: AsnValue = type(value).load(value.dump())
    return loaded
