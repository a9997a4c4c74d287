"""Making GB/T 38540 (version 4) seals and seal signatures with SM2 keys held elsewhere.

The caller passes `sign(data) -> DER SM2 signature` (SM2 with SM3, default user id), in
production a key-store key: `lambda data: keystore.sign(maker_key, data)`. Every signature
is checked against the certificate before it is used, so a wrong key fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core, x509

from certlib.algorithms import digest, load_public_key, verify_signature
from certlib.errors import InputError, InvalidKey, MalformedInput
from certlib.ses import asn1
from certlib.ses.parse import (
    MAX_LIST_ENTRIES,
    MAX_SEAL_BYTES,
    Seal,
    SealPicture,
    parse_seal,
)

Signer = Callable[[bytes], bytes]

PICTURE_TYPES = {"png": "PNG", "jpg": "JPG", "gif": "GIF", "bmp": "BMP", "svg": "SVG",
                 "ofd": "ofd"}
"""Picture kinds certlib writes, and the type string real seals use for each."""

SEAL_TYPES = {1: "official seal (单位印章)", 2: "personal seal (个人印章)"}
"""GM/T 0031-2014 codes; other positive values are business-defined (tax seals use 3)."""

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError)


@dataclass(frozen=True)
class SealSpec:
    """What a seal says: identity, type, name, who may use it, when, and its picture."""

    es_id: str
    seal_type: int
    name: str
    signer_certificates: tuple[bytes, ...]
    created: datetime
    valid_from: datetime
    valid_until: datetime
    picture: SealPicture
    vendor_id: str = "certlib"
    ext_data: bytes | None = None
    """DER ExtensionDatas (SEQUENCE OF ExtData) to carry in the seal, or None."""


def make_seal(spec: SealSpec, maker_certificate: bytes, sign: Signer) -> bytes:
    """A version-4 SESeal (GB/T 38540) signed by the seal maker; DER."""
    maker_key = certificate_key(maker_certificate, "maker certificate")
    _check_spec(spec)
    header = asn1.SesHeader({"id": "ES", "version": 4, "vid": spec.vendor_id})
    info = asn1.SealInfoV4({
        "header": header,
        "es_id": spec.es_id,
        "property": asn1.PropertyInfoV4({
            "type": spec.seal_type,
            "name": spec.name,
            "cert_list_type": 1,
            "cert_list": asn1.CertInfoList(list(spec.signer_certificates)),
            "create_date": _time(spec.created),
            "valid_start": _time(spec.valid_from),
            "valid_end": _time(spec.valid_until),
        }),
        "picture": asn1.PictureInfo({
            "type": PICTURE_TYPES[spec.picture.kind],
            "data": spec.picture.data,
            "width": spec.picture.width_mm,
            "height": spec.picture.height_mm,
        }),
    })
    if spec.ext_data is not None:
        info["ext_datas"] = asn1.ExtDatasChoice(
            name="untagged", value=asn1.ExtensionDatas.load(spec.ext_data))
    signed = bytes(info.dump())
    signature = _signed(sign, signed, maker_key, "seal maker")
    seal = asn1.SESealV4({
        "seal_info": asn1.SealInfoV4.load(signed),
        "cert": maker_certificate,
        "sign_alg": asn1.SM2_WITH_SM3,
        "signed_value": core.OctetBitString(signature),
    })
    return bytes(seal.dump())


def sign_data(seal_der: bytes, signer_certificate: bytes, data_hash: bytes,
              property_info: str, sign: Signer, *, timestamp: datetime | None = None) -> bytes:
    """A version-4 SES_Signature over `data_hash`, without policy checks (`check_can_sign`)."""
    seal = parse_seal(seal_der)
    if seal.version != 4:
        raise InputError("only version-4 seals sign version-4 signatures")
    signer_key = certificate_key(signer_certificate, "signer certificate")
    if not isinstance(data_hash, bytes) or len(data_hash) != 32:
        raise InputError("data_hash must be the 32-byte SM3 digest")
    _ia5(property_info, "property_info", 0, 4096)
    moment = _moment(timestamp or datetime.now(UTC), "timestamp")
    tbs = bytes(asn1.TBSSignV4({
        "version": 4,
        "eseal": asn1.SESealV4.load(seal.der),
        "time_info": core.GeneralizedTime(moment),
        "data_hash": core.OctetBitString(data_hash),
        "property_info": property_info,
    }).dump())
    signature = _signed(sign, tbs, signer_key, "signer")
    return bytes(asn1.SESSignatureV4({
        "to_sign": asn1.TBSSignV4.load(tbs),
        "cert": signer_certificate,
        "signature_alg": asn1.SM2_WITH_SM3,
        "signature": core.OctetBitString(signature),
    }).dump())


def sign_detached(seal_der: bytes, signer_certificate: bytes, data: bytes, sign: Signer, *,
                  property_info: str = "") -> bytes:
    """A version-4 SES_Signature over raw `data` (dataHash = SM3(data)); DER."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError("data must be bytes")
    moment = _moment(datetime.now(UTC), "now")
    check_can_sign(parse_seal(seal_der), signer_certificate, moment)
    return sign_data(seal_der, signer_certificate, digest("sm3", bytes(data)), property_info,
                     sign, timestamp=moment)


def check_can_sign(seal: Seal, signer_certificate: bytes, when: datetime) -> None:
    """InputError unless `seal` lists the signer and is valid at `when` (GM/T 0031 §6.2.2)."""
    if signer_certificate not in _listed(seal):
        raise InputError("the signer's certificate is not in the seal's certificate list")
    if not seal.valid_from <= when <= seal.valid_until:
        raise InputError("the seal is not valid at the signing time")


def certificate_key(der: bytes, what: str) -> bytes:
    """The SM2 SubjectPublicKeyInfo of a DER certificate; InputError if it has none."""
    if not isinstance(der, bytes) or not der:
        raise InputError(f"the {what} must be DER bytes")
    try:
        certificate = x509.Certificate.load(der, strict=True)
        spki = bytes(certificate.public_key.dump())
        key = load_public_key(spki)
    except (*_PARSE_ERRORS, InvalidKey, MalformedInput):
        raise InputError(f"the {what} is not a well-formed certificate") from None
    if key.key_type != "sm2":
        raise InputError(f"the {what} does not hold an SM2 key")
    return spki


def _listed(seal: Seal) -> Sequence[bytes]:
    if seal.cert_list_type == 1:
        return seal.signer_certificates
    return ()


def _signed(sign: Signer, data: bytes, spki: bytes, who: str) -> bytes:
    signature = sign(data)
    if not isinstance(signature, bytes) or not verify_signature(spki, "sm2-sm3", data,
                                                                 signature):
        raise InputError(f"the {who} key does not match its certificate (SM2 with SM3 expected)")
    return signature


def _check_spec(spec: SealSpec) -> None:
    _ia5(spec.es_id, "es_id", 1, 64)
    _ia5(spec.vendor_id, "vendor_id", 1, 64)
    if not isinstance(spec.seal_type, int) or not 0 < spec.seal_type < 1 << 31:
        raise InputError("seal_type must be a positive integer")
    if not isinstance(spec.name, str) or not 0 < len(spec.name) <= 256:
        raise InputError("the seal name must have 1 to 256 characters")
    if not spec.signer_certificates or len(spec.signer_certificates) > MAX_LIST_ENTRIES:
        raise InputError(f"a seal lists 1 to {MAX_LIST_ENTRIES} signer certificates")
    for certificate in spec.signer_certificates:
        certificate_key(certificate, "signer certificate")
    created = _moment(spec.created, "created")
    start = _moment(spec.valid_from, "valid_from")
    end = _moment(spec.valid_until, "valid_until")
    if not created <= end or not start < end:
        raise InputError("the seal's validity must end after it starts and after it is made")
    picture = spec.picture
    if picture.kind not in PICTURE_TYPES:
        raise InputError(f"picture kind must be one of {', '.join(PICTURE_TYPES)}")
    if not isinstance(picture.data, bytes) or not picture.data:
        raise InputError("the seal picture is empty")
    if len(picture.data) > MAX_SEAL_BYTES - (64 << 10):
        raise InputError("the seal picture is too large")
    for size in (picture.width_mm, picture.height_mm):
        if not isinstance(size, int) or not 0 < size <= 1000:
            raise InputError("picture width and height are whole millimetres, 1 to 1000")
    if spec.ext_data is not None:
        try:
            values = asn1.ExtensionDatas.load(spec.ext_data, strict=True)
            _ = values.native
        except _PARSE_ERRORS:
            raise InputError("ext_data must be a DER ExtensionDatas") from None


def _ia5(value: object, what: str, low: int, high: int) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high or not value.isascii() or (
            not value.isprintable()):
        raise InputError(f"{what} must be {low} to {high} printable ASCII characters")


def _moment(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InputError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(UTC).replace(microsecond=0)


def _time(value: datetime) -> asn1.SesTime:
    return asn1.SesTime(name="generalized_time", value=_moment(value, "time"))
