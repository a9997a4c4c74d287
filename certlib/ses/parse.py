"""Reading seals (SESeal) and seal signatures (SES_Signature) of versions 1, 4 and 5.

Parsing keeps the exact bytes every signature covers, sliced from the input as received:
the seal maker's signed data and the signer's TBS_Sign are never re-encoded. Where real
files depart from the standards (see docs/seals-ses-ofd.md) the parser accepts the known
variants; anything else, trailing data, indefinite lengths and oversized input raise
`MalformedSeal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from asn1crypto import core

from certlib.errors import MalformedInput
from certlib.ses import asn1

MAX_SEAL_BYTES = 4 << 20
"""Largest seal accepted: real seals are 2-40 KB, most of it the picture."""
MAX_SIGNATURE_BYTES = MAX_SEAL_BYTES + (256 << 10)
MAX_LIST_ENTRIES = 64
"""Most certificates (or certificate digests) in a seal, and most extensions."""
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
"""Times written without a zone (v1 timeInfo strings) are read as Beijing time."""

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError,
                 RecursionError)


class MalformedSeal(MalformedInput):
    """Bytes that are not a seal or seal signature certlib can read."""

    code = "MALFORMED_SEAL"


@dataclass(frozen=True)
class SealPicture:
    """The seal's image: its type (`png`, `jpg`, `gif`, `bmp`, `svg`, `ofd`), bytes, size."""

    kind: str
    data: bytes = field(repr=False)
    width_mm: int
    height_mm: int


@dataclass(frozen=True)
class SealExtension:
    """One ExtData: an OID, its criticality and its value."""

    oid: str
    critical: bool
    value: bytes


@dataclass(frozen=True)
class Seal:
    """A parsed electronic seal (SESeal) with the exact bytes its maker signed."""

    version: int
    """Format: 1 (GM/T 0031-2014), 4 (GB/T 38540-2020) or 5 (GM/T 0031-2025)."""
    header_version: int
    es_id: str
    seal_type: int
    name: str
    vendor_id: str
    cert_list_type: int
    """1: signer certificates; 2: certificate digests (GB/T 38540)."""
    signer_certificates: tuple[bytes, ...] = field(repr=False)
    """The certList entries' bytes (DER certificates when the seal follows the standard)."""
    certificate_digests: tuple[tuple[str, bytes], ...] = field(repr=False)
    created: datetime
    valid_from: datetime
    valid_until: datetime
    picture: SealPicture
    extensions: tuple[SealExtension, ...]
    maker_certificate: bytes = field(repr=False)
    signature_algorithm: str
    signature: bytes = field(repr=False)
    signed_bytes: bytes = field(repr=False)
    """Exactly what the maker signed: DER(SES_SealInfo) (v4/v5), or the v1 SEQUENCE of
    SES_SealInfo, certificate and algorithm, each element as received."""
    time_stamp: bytes | None = field(repr=False)
    """The v5 timeStamp BIT STRING contents, if any."""
    der: bytes = field(repr=False)


@dataclass(frozen=True)
class SesSignature:
    """A parsed seal signature (SES_Signature) with the exact bytes its signer signed."""

    version: int
    seal: Seal
    data_hash: bytes = field(repr=False)
    property_info: str
    signer_certificate: bytes = field(repr=False)
    signature_algorithm: str
    signature: bytes = field(repr=False)
    signing_time: datetime | None
    """timeInfo as a time; None when it cannot be read as one (a v1 time-stamp token)."""
    time_info: bytes = field(repr=False)
    """timeInfo as received: GeneralizedTime text (v4/v5), or the v1 BIT STRING bytes."""
    time_stamp: bytes | None = field(repr=False)
    """The v4/v5 timeStamp (a GB/T 20520 token, not verified here), if any."""
    extensions: tuple[SealExtension, ...]
    tbs_bytes: bytes = field(repr=False)
    """DER(TBS_Sign) exactly as received: what the signer signed."""
    der: bytes = field(repr=False)


def parse_seal(der: bytes) -> Seal:
    """Read a DER SESeal of version 1, 4 or 5; MalformedSeal if it is not one."""
    data = _input(der, MAX_SEAL_BYTES, "seal")
    try:
        return _seal(data)
    except MalformedSeal:
        raise
    except _PARSE_ERRORS as error:
        raise MalformedSeal(f"not an electronic seal ({type(error).__name__})") from None


def parse_signature(der: bytes) -> SesSignature:
    """Read a DER SES_Signature of version 1, 4 or 5; MalformedSeal if it is not one."""
    data = _input(der, MAX_SIGNATURE_BYTES, "seal signature")
    try:
        count = len(asn1.Elements.load(data, strict=True))
        if count == 2:
            return _signature_v1(data)
        if count in (4, 5):
            return _signature_v4(data)
    except MalformedSeal:
        raise
    except _PARSE_ERRORS as error:
        raise MalformedSeal(f"not a seal signature ({type(error).__name__})") from None
    raise MalformedSeal("an SES_Signature has 2, 4 or 5 elements")


def _input(der: object, limit: int, what: str) -> bytes:
    if not isinstance(der, bytes | bytearray | memoryview):
        raise MalformedSeal(f"a {what} must be DER bytes")
    if len(der) > limit:
        raise MalformedSeal(f"the {what} is larger than {limit >> 20} MiB")
    return bytes(der)


def _seal(data: bytes) -> Seal:
    count = len(asn1.Elements.load(data, strict=True))
    if count == 2:
        return _seal_v1(data)
    if count in (4, 5):
        return _seal_v4(data)
    raise MalformedSeal("an SESeal has 2, 4 or 5 elements")


def _seal_v1(data: bytes) -> Seal:
    value = asn1.SESealV1.load(data, strict=True)
    sign_info = value["sign_info"]
    _exact(value, sign_info)
    info_bytes, sign_info_bytes = asn1.first_elements(data, 2)
    cert_bytes, algorithm_bytes = asn1.first_elements(sign_info_bytes, 2)
    _same(value["seal_info"], info_bytes)
    _same(sign_info["cert"], cert_bytes)
    signed = core.Sequence(contents=info_bytes + cert_bytes + algorithm_bytes).dump()
    return _seal_from(
        value["seal_info"], version=1, der=data, signed=signed,
        maker=bytes(sign_info["cert"].native),
        algorithm=sign_info["signature_algorithm"].dotted,
        signature=asn1.octets(sign_info["sign_data"]), time_stamp=None)


def _seal_v4(data: bytes) -> Seal:
    value = asn1.SESealV4.load(data, strict=True)
    _exact(value)
    info = value["seal_info"]
    header_version = int(info["header"]["version"].native)
    if header_version not in (4, 5):
        raise MalformedSeal("a four-element seal must have header version 4 or 5")
    time_stamp = None
    if not isinstance(value["time_stamp"], core.Void):
        if header_version != 5:
            raise MalformedSeal("only a version-5 seal carries a time-stamp")
        time_stamp = asn1.time_stamp_octets(value["time_stamp"])
    (info_bytes,) = asn1.first_elements(data, 1)
    _same(info, info_bytes)
    return _seal_from(
        info, version=header_version, der=data, signed=info_bytes,
        maker=bytes(value["cert"].native), algorithm=value["sign_alg"].dotted,
        signature=asn1.bit_string_octets(value["signed_value"].contents),
        time_stamp=time_stamp)


def _seal_from(info: asn1.SealInfoV1 | asn1.SealInfoV4, *, version: int, der: bytes,
               signed: bytes, maker: bytes, algorithm: str, signature: bytes,
               time_stamp: bytes | None) -> Seal:
    header, prop, picture = info["header"], info["property"], info["picture"]
    _exact(info, header, prop, picture)
    if header["id"].native != "ES":
        raise MalformedSeal("the seal header does not start with ES")
    certificates: tuple[bytes, ...] = ()
    digests: tuple[tuple[str, bytes], ...] = ()
    if version == 1:
        list_type = 1
        certificates = tuple(_v1_certificate(entry) for entry in prop["cert_list"])
    else:
        list_type = int(prop["cert_list_type"].native)
        if list_type == 1:
            listed = prop["cert_list"].parse(asn1.CertInfoList)
            certificates = tuple(bytes(c.native) for c in listed)
        elif list_type == 2:
            entries = prop["cert_list"].parse(asn1.CertDigestList)
            digests = tuple((e["type"].native, bytes(e["value"].native)) for e in entries)
        else:
            raise MalformedSeal("certListType must be 1 or 2")
    if len(certificates) + len(digests) > MAX_LIST_ENTRIES:
        raise MalformedSeal("the seal lists too many certificates")
    extensions: tuple[SealExtension, ...] = ()
    if not isinstance(info["ext_datas"], core.Void):
        extensions = _extensions(info["ext_datas"].chosen)
    return Seal(
        version=version,
        header_version=int(header["version"].native),
        es_id=str(info["es_id"].native),
        seal_type=int(prop["type"].native),
        name=str(prop["name"].native),
        vendor_id=str(header["vid"].native),
        cert_list_type=list_type,
        signer_certificates=certificates,
        certificate_digests=digests,
        created=_time(prop["create_date"].chosen.native),
        valid_from=_time(prop["valid_start"].chosen.native),
        valid_until=_time(prop["valid_end"].chosen.native),
        picture=SealPicture(
            kind=str(picture["type"].native).lower(),
            data=bytes(picture["data"].native),
            width_mm=int(picture["width"].native),
            height_mm=int(picture["height"].native),
        ),
        extensions=extensions,
        maker_certificate=maker,
        signature_algorithm=algorithm,
        signature=signature,
        signed_bytes=signed,
        time_stamp=time_stamp,
        der=der,
    )


def _signature_v1(data: bytes) -> SesSignature:
    value = asn1.SESSignatureV1.load(data, strict=True)
    tbs = value["to_sign"]
    _exact(value, tbs)
    (tbs_bytes,) = asn1.first_elements(data, 1)
    _same(tbs, tbs_bytes)
    seal = _seal(asn1.first_elements(tbs_bytes, 2)[1])
    if seal.version != 1:
        raise MalformedSeal("a version-1 signature must embed a version-1 seal")
    time_info, signing_time, time_stamp = _v1_time(tbs["time_info"])
    return SesSignature(
        version=1, seal=seal, data_hash=asn1.octets(tbs["data_hash"]),
        property_info=str(tbs["property_info"].native),
        signer_certificate=bytes(tbs["cert"].native),
        signature_algorithm=tbs["signature_algorithm"].dotted,
        signature=asn1.octets(value["signature"]), signing_time=signing_time,
        time_info=time_info, time_stamp=time_stamp, extensions=(), tbs_bytes=tbs_bytes,
        der=data)


def _signature_v4(data: bytes) -> SesSignature:
    value = asn1.SESSignatureV4.load(data, strict=True)
    tbs = value["to_sign"]
    _exact(value, tbs)
    (tbs_bytes,) = asn1.first_elements(data, 1)
    _same(tbs, tbs_bytes)
    seal = _seal(asn1.first_elements(tbs_bytes, 2)[1])
    version = int(tbs["version"].native)
    if seal.version not in (4, 5) or version != seal.version:
        raise MalformedSeal("TBS_Sign and its seal must both be version 4 or both 5")
    extensions: tuple[SealExtension, ...] = ()
    if not isinstance(tbs["ext_datas"], core.Void):
        extensions = _extensions(tbs["ext_datas"])
    time_stamp = None
    if not isinstance(value["time_stamp"], core.Void):
        time_stamp = asn1.time_stamp_octets(value["time_stamp"])
    return SesSignature(
        version=version, seal=seal,
        data_hash=asn1.bit_string_octets(tbs["data_hash"].contents),
        property_info=str(tbs["property_info"].native),
        signer_certificate=bytes(value["cert"].native),
        signature_algorithm=value["signature_alg"].dotted,
        signature=asn1.bit_string_octets(value["signature"].contents),
        signing_time=_time(tbs["time_info"].native), time_info=bytes(tbs["time_info"].contents),
        time_stamp=time_stamp, extensions=extensions, tbs_bytes=tbs_bytes, der=data)


def _v1_certificate(entry: asn1.CertEntryV1) -> bytes:
    """A v1 certList entry: an OCTET STRING holding the DER (or, tolerated, the DER itself)."""
    if entry.name == "certificate":
        return bytes(entry.chosen.dump())
    return bytes(entry.chosen.contents)


def _extensions(values: asn1.ExtensionDatas) -> tuple[SealExtension, ...]:
    if len(values) > MAX_LIST_ENTRIES:
        raise MalformedSeal("too many extensions")
    found = []
    for value in values:
        _exact(value)
        found.append(SealExtension(value["extn_id"].dotted, bool(value["critical"].native),
                                   bytes(value["extn_value"].native)))
    return tuple(found)


def _v1_time(value: asn1.TimeInfoV1) -> tuple[bytes, datetime | None, bytes | None]:
    """(raw bytes, time, time-stamp token) of a v1 timeInfo: text, a DER time, or a token."""
    if value.name in ("utc_time", "generalized_time"):
        return bytes(value.chosen.contents), _time(value.chosen.native), None
    raw = asn1.octets(value)
    if raw[:1] == b"\x30":  # "可以是时间戳": a DER token; its time is not read here
        return raw, None, raw
    return raw, _text_time(raw), None


def _text_time(raw: bytes) -> datetime | None:
    """ofdrw writes `yyyy-MM-dd HH:mm:ss`, dms360 ISO 8601 with Z; both seen in real files."""
    try:
        text = raw.decode("ascii").strip()
        moment = datetime.fromisoformat(text)
    except (UnicodeDecodeError, ValueError):
        text = raw.decode("ascii", "replace").strip()
        zone = UTC if text.endswith("Z") else None
        try:
            moment = datetime.strptime(text.rstrip("Z"), "%Y%m%d%H%M%S").replace(tzinfo=zone)
        except ValueError:
            return None
    return _time(moment)


def _time(moment: object) -> datetime:
    if not isinstance(moment, datetime):
        raise MalformedSeal("a time field is not a time")
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=CHINA_STANDARD_TIME)
    return moment


def _exact(*values: core.Sequence) -> None:
    for value in values:
        asn1.exact_fields(value)


def _same(value: core.Asn1Value, exact: bytes) -> None:
    """The typed element must be the exact bytes received (no indefinite lengths)."""
    if value.dump() != exact:
        raise MalformedSeal("a signed element is not DER (indefinite length)")
