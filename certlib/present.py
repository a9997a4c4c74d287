"""Presentations: selective disclosure, holder binding, and the compact 亮证 QR form.

A presentation is the issuer's signed object plus only the disclosed fields with their
salts (as in ISO 18013-5 mdoc and SD-JWT). Optionally the holder signs it for one
verifier: audience, nonce and time (as in ISO 18013-5 device authentication), with the
key the certificate names. The compact form drops the certificates from the envelope
(verifiers use cached trust material), compresses and base45-encodes it for a QR code.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import base45
import segno
from asn1crypto import cms

from certlib import cms as envelopes
from certlib import ecert
from certlib.algorithms import algorithm_identifier, get_algorithm
from certlib.errors import InputError, MalformedInput

QR_PREFIX = "EC1:"
"""Marks a compact certlib e-certificate presentation (version 1) in a QR code."""
MAX_ENCODED_BYTES = 64 * 1024
"""Upper bound for a decompressed presentation: refuses zip bombs."""


def _load(cls: type[ecert.ElectronicCertificate] | type[ecert.Presentation],
          data: bytes, what: str) -> ecert.ElectronicCertificate | ecert.Presentation:
    if not isinstance(data, bytes | bytearray):
        raise MalformedInput(f"{what} must be bytes")
    if len(data) > MAX_ENCODED_BYTES:
        raise MalformedInput(f"{what} is larger than {MAX_ENCODED_BYTES} bytes")
    try:
        value = cls.load(bytes(data), strict=True)
        for field in cls._fields:  # build each top-level element now: a wrong shape fails here
            value[field[0]]
        if value.children is None or len(value.children) != len(cls._fields):
            raise ValueError("elements that fit no field")  # asn1crypto keeps them silently
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError):
        raise MalformedInput(f"{what} is not valid DER of the expected structure") from None
    return cast(ecert.ElectronicCertificate | ecert.Presentation, value)


def load_certificate(data: bytes) -> ecert.ElectronicCertificate:
    """Parse a holder's DER ElectronicCertificate."""
    value = _load(ecert.ElectronicCertificate, data, "an e-certificate")
    assert isinstance(value, ecert.ElectronicCertificate)
    return value


def load_presentation(data: bytes) -> ecert.Presentation:
    """Parse a DER Presentation."""
    value = _load(ecert.Presentation, data, "a presentation")
    assert isinstance(value, ecert.Presentation)
    return value


def field_names(certificate: ecert.ElectronicCertificate) -> tuple[str, ...]:
    """The names of the fields a certificate carries."""
    return tuple(item["name"].native for item in certificate["fields"])


@dataclass(frozen=True)
class HolderSigner:
    """How the holder signs a binding: the algorithm and a function over the bytes."""

    algorithm: str
    sign: Callable[[bytes], bytes]


def binding_to_be_signed(signed_object: bytes, disclosed: ecert.FieldItems, *, audience: str,
                         nonce: bytes, time: datetime) -> bytes:
    """The DER BindingToBeSigned for a presentation."""
    return bytes(ecert.BindingToBeSigned({
        "context": ecert.BINDING_CONTEXT,
        "signed_object_digest": hashlib.sha256(signed_object).digest(),
        "disclosed_digest": hashlib.sha256(disclosed.dump()).digest(),
        "audience": audience,
        "nonce": nonce,
        "time": time,
    }).dump())


def present(
    certificate: bytes,
    fields: Sequence[str],
    *,
    include_holder: bool = False,
    compact: bool = False,
    audience: str | None = None,
    nonce: bytes | None = None,
    time: datetime | None = None,
    holder: HolderSigner | None = None,
) -> bytes:
    """A DER Presentation disclosing only `fields` of a holder's certificate.

    With `holder`, `audience`, `nonce` and `time`, the holder's key signs the presentation
    for that verifier (the certificate must name the holder key). `compact` drops the
    certificates from the envelope, for QR codes.
    """
    parsed = load_certificate(certificate)
    wanted = list(dict.fromkeys(fields))
    available = {item["name"].native: item for item in parsed["fields"]}
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise InputError(f"the certificate has no field(s) {', '.join(map(repr, unknown))}")
    signed_object = parsed["signed_object"].dump()
    if compact:
        signed_object = envelopes.strip_certificates(signed_object)
    disclosed = ecert.FieldItems([available[name] for name in wanted])
    body: dict[str, object] = {
        "version": 1,
        "signed_object": cms.ContentInfo.load(signed_object),
        "disclosed": disclosed,
    }
    if include_holder:
        body["holder"] = parsed["holder"]
    if holder is not None:
        if audience is None or nonce is None or time is None:
            raise InputError("a holder binding needs an audience, a nonce and a time")
        to_be_signed = binding_to_be_signed(signed_object, disclosed, audience=audience,
                                            nonce=nonce, time=time)
        body["binding"] = {
            "audience": audience, "nonce": nonce, "time": time,
            "signature_algorithm": algorithm_identifier(get_algorithm(holder.algorithm).name),
            "signature": holder.sign(to_be_signed),
        }
    return bytes(ecert.Presentation(body).dump())


def to_qr_text(presentation: bytes) -> str:
    """The compact text form for a QR code: `EC1:` + base45(zlib(DER))."""
    return encode_text(QR_PREFIX, presentation)


def from_qr_text(text: str) -> bytes:
    """The DER presentation inside a QR text; MalformedInput if it is not one."""
    return decode_text(QR_PREFIX, text)


def encode_text(prefix: str, der: bytes) -> str:
    """`prefix` + base45(zlib(DER)): the compact text of a QR code (alphanumeric mode)."""
    encoded: bytes = base45.b45encode(zlib.compress(der, 9))
    return prefix + encoded.decode("ascii")


def decode_text(prefix: str, text: str) -> bytes:
    """The DER inside `encode_text`'s output; MalformedInput if it is not one."""
    if not isinstance(text, str) or not text.startswith(prefix):
        raise MalformedInput(f"the compact text starts with {prefix!r}")
    if len(text) > 2 * MAX_ENCODED_BYTES:
        raise MalformedInput("the compact text is too long")
    try:
        compressed = base45.b45decode(text[len(prefix):].strip())
        inflater = zlib.decompressobj()
        data = inflater.decompress(compressed, MAX_ENCODED_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise MalformedInput("the compact payload is truncated or inflates beyond the limit")
    except (ValueError, zlib.error):
        raise MalformedInput("the compact payload is not base45-encoded zlib data") from None
    return data


@dataclass(frozen=True)
class QrInfo:
    """A rendered QR code and its size."""

    version: int
    error_level: str
    characters: int
    png: bytes


def qr_code(text: str, *, scale: int = 4) -> QrInfo:
    """Render QR text (alphanumeric mode) as PNG with error correction M where it fits."""
    code = segno.make_qr(text, error="M", boost_error=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=4)
    return QrInfo(int(code.version), str(code.error), len(text), buffer.getvalue())
