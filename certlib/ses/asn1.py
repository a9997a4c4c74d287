"""The ASN.1 of electronic seals and seal signatures, as asn1crypto classes.

Three versions: GM/T 0031-2014 (v1: `SESeal` of two elements), GB/T 38540-2020 (v4) and
GM/T 0031-2025 (v5: v4 plus an optional time-stamp on the seal). Fields where real files
differ from the standards are declared `Any` and read by the helpers below; see
docs/seals-ses-ofd.md for the exact modules and the tolerance rules.
"""

# mypy: disallow-subclassing-any=False

from __future__ import annotations

from asn1crypto import core, parser

SM2_WITH_SM3 = "1.2.156.10197.1.501"
"""GM/T 0006 SM2-with-SM3: the only signature algorithm certlib accepts in seals."""

SM3 = "1.2.156.10197.1.401"


class SesHeader(core.Sequence):
    """SES_Header: the fixed "ES", the format version and the vendor's identifier."""

    _fields = [("id", core.IA5String), ("version", core.Integer), ("vid", core.IA5String)]  # noqa: RUF012


class ExtData(core.Sequence):
    """ExtData: one vendor or standard extension of the seal information."""

    _fields = [  # noqa: RUF012
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    """ExtensionDatas ::= SEQUENCE OF ExtData."""

    _child_spec = ExtData


class SesTime(core.Choice):
    """UTCTime (GM/T 0031-2014) or GeneralizedTime (GB/T 38540): real v1 files use both."""

    _alternatives = [("utc_time", core.UTCTime), ("generalized_time", core.GeneralizedTime)]  # noqa: RUF012


class Octets(core.Choice):
    """A BIT STRING or an OCTET STRING: v1 files use either for hashes and signatures."""

    _alternatives = [("bit_string", core.OctetBitString), ("octet_string", core.OctetString)]  # noqa: RUF012


class TimeInfoV1(core.Choice):
    """v1 timeInfo: a BIT STRING per the standard, an OCTET STRING or a DER time in practice."""

    _alternatives = [  # noqa: RUF012
        ("bit_string", core.OctetBitString),
        ("octet_string", core.OctetString),
        ("utc_time", core.UTCTime),
        ("generalized_time", core.GeneralizedTime),
    ]


class CertEntryV1(core.Choice):
    """A v1 certList entry: an OCTET STRING per the standard; other forms are kept as read."""

    _alternatives = [  # noqa: RUF012
        ("octet_string", core.OctetString),
        ("certificate", core.Sequence),
        ("ia5_string", core.IA5String),
        ("utf8_string", core.UTF8String),
        ("printable_string", core.PrintableString),
    ]


class CertListV1(core.SequenceOf):
    """The v1 certList."""

    _child_spec = CertEntryV1


class ExtDatasChoice(core.Choice):
    """SES_SealInfo.extDatas: untagged in every real seal, [0] EXPLICIT in some readings."""

    _alternatives = [  # noqa: RUF012
        ("untagged", ExtensionDatas),
        ("tagged", ExtensionDatas, {"explicit": 0}),
    ]


class CertInfoList(core.SequenceOf):
    """CertInfoList ::= SEQUENCE OF Cert (OCTET STRING holding a DER certificate)."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    """CertDigestObj: a certificate digest and a free-form name of its algorithm."""

    _fields = [("type", core.PrintableString), ("value", core.OctetString)]  # noqa: RUF012


class CertDigestList(core.SequenceOf):
    """CertDigestList ::= SEQUENCE OF CertDigestObj (certListType 2)."""

    _child_spec = CertDigestObj


class PropertyInfoV1(core.Sequence):
    """SES_ESPropertyInfo of GM/T 0031-2014."""

    _fields = [  # noqa: RUF012
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertListV1),
        ("create_date", SesTime),
        ("valid_start", SesTime),
        ("valid_end", SesTime),
    ]


class PropertyInfoV4(core.Sequence):
    """SES_ESPropertyInfo of GB/T 38540: certListType chooses the certList alternative."""

    _fields = [  # noqa: RUF012
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", SesTime),
        ("valid_start", SesTime),
        ("valid_end", SesTime),
    ]


class PictureInfo(core.Sequence):
    """SES_ESPictrueInfo (the standard's spelling): type, image bytes, size in mm."""

    _fields = [  # noqa: RUF012
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class SealInfoV1(core.Sequence):
    """SES_SealInfo of GM/T 0031-2014."""

    _fields = [  # noqa: RUF012
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", PropertyInfoV1),
        ("picture", PictureInfo),
        ("ext_datas", ExtDatasChoice, {"optional": True}),
    ]


class SealInfoV4(core.Sequence):
    """SES_SealInfo of GB/T 38540 and GM/T 0031-2025."""

    _fields = [  # noqa: RUF012
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", PropertyInfoV4),
        ("picture", PictureInfo),
        ("ext_datas", ExtDatasChoice, {"optional": True}),
    ]


class SignInfoV1(core.Sequence):
    """SES_SignInfo of GM/T 0031-2014: the seal maker's certificate and signature."""

    _fields = [  # noqa: RUF012
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", Octets),
    ]


class SESealV1(core.Sequence):
    """SESeal of GM/T 0031-2014."""

    _fields = [("seal_info", SealInfoV1), ("sign_info", SignInfoV1)]  # noqa: RUF012


class SESealV4(core.Sequence):
    """SESeal of GB/T 38540 (four elements) and GM/T 0031-2025 (optional time-stamp)."""

    _fields = [  # noqa: RUF012
        ("seal_info", SealInfoV4),
        ("cert", core.OctetString),
        ("sign_alg", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
        ("time_stamp", core.Any, {"optional": True}),
    ]


class TBSSignV1(core.Sequence):
    """TBS_Sign of GM/T 0031-2014."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("eseal", SESealV1),
        ("time_info", TimeInfoV1),
        ("data_hash", Octets),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(core.Sequence):
    """SES_Signature of GM/T 0031-2014."""

    _fields = [("to_sign", TBSSignV1), ("signature", Octets)]  # noqa: RUF012


class TBSSignV4(core.Sequence):
    """TBS_Sign of GB/T 38540 and GM/T 0031-2025."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("eseal", SESealV4),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignatureV4(core.Sequence):
    """SES_Signature of GB/T 38540 and GM/T 0031-2025."""

    _fields = [  # noqa: RUF012
        ("to_sign", TBSSignV4),
        ("cert", core.OctetString),
        ("signature_alg", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.Any, {"optional": True}),
    ]


class Elements(core.SequenceOf):
    """Any SEQUENCE, element by element: used to tell the versions apart."""

    _child_spec = core.Any


# -- reading the tolerant fields -------------------------------------------------------


def bit_string_octets(contents: bytes) -> bytes:
    """The octets of BIT STRING contents; ValueError unless the unused-bit count is 0."""
    if not contents or contents[0] != 0:
        raise ValueError("a BIT STRING holding octets must have no unused bits")
    return contents[1:]


def octets(value: Octets | TimeInfoV1) -> bytes:
    """The bytes of a BIT STRING or OCTET STRING alternative."""
    chosen = value.chosen
    if chosen.method != 0:
        raise ValueError("constructed strings are not DER")
    if isinstance(chosen, core.OctetBitString):
        return bit_string_octets(chosen.contents)
    if isinstance(chosen, core.OctetString):
        return bytes(chosen.contents)
    raise ValueError("expected a BIT STRING or an OCTET STRING")


_TIME_STAMP_FORMS: tuple[tuple[type[core.Asn1Value], dict[str, int] | None], ...] = (
    (core.OctetBitString, {"explicit": 0}),
    (core.OctetBitString, {"implicit": 0}),
    (core.OctetBitString, None),
)


def time_stamp_octets(value: core.Any) -> bytes:
    """The time-stamp BIT STRING: [0] EXPLICIT (ofdrw), [0] IMPLICIT, or untagged."""
    for spec, params in _TIME_STAMP_FORMS:
        try:
            parsed = value.parse(spec, params)
        except ValueError:
            continue
        if parsed.method == 0:
            return bit_string_octets(parsed.contents)
    raise ValueError("the time-stamp is neither [0] nor a BIT STRING")


def first_elements(data: bytes, count: int) -> list[bytes]:
    """The exact bytes of the first `count` elements of the SEQUENCE `data` (as received)."""
    _class, _method, _tag, _header, contents, trailer = parser.parse(data, strict=True)
    if trailer:
        raise ValueError("indefinite length")
    found: list[bytes] = []
    offset = 0
    while len(found) < count:
        size = parser.peek(contents[offset:])
        found.append(contents[offset:offset + size])
        offset += size
    return found


def exact_fields(value: core.Sequence) -> None:
    """ValueError when a SEQUENCE has more elements than its declaration."""
    if len(value) > len(value._fields):
        raise ValueError(f"{type(value).__name__} has unexpected trailing elements")
