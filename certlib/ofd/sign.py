"""Adding GB/T 33190 §18 signatures to an OFD: seals (`Type="Seal"`) and `Type="Sign"`.

The package gains `Sign_N/Signature.xml` (the signed description: References with the SM3
digest of every file, the stamp annotation, the seal location), `Sign_N/SignedValue.dat`
(an SES_Signature over SM3(Signature.xml), or a GB/T 35275 SignedData) and, for seals,
`Sign_N/Seal.esl`. Signatures.xml is created (and OFD.xml pointed at it) or extended.
`close=True` also covers Signatures.xml, so the document accepts no further signature.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from lxml import etree

from certlib.algorithms import digest
from certlib.errors import InputError
from certlib.ofd.cms import Model, build_signed_value
from certlib.ofd.package import (
    DEFAULT_LIMITS,
    OFD_NAMESPACE,
    Limits,
    MalformedOfd,
    OfdPackage,
    child,
    children,
    directory,
    documents,
    page_ids,
    read_package,
    read_signature_xml,
    signature_entries,
    write_package,
)
from certlib.ses.asn1 import SM2_WITH_SM3, SM3
from certlib.ses.build import check_can_sign, sign_data
from certlib.ses.parse import parse_seal

Signer = Callable[[bytes], bytes]
PROVIDER = "certlib"


class DocumentClosed(InputError):
    """The OFD's signature list is protected by a signature: no signature can be added."""

    code = "OFD_CLOSED"


@dataclass(frozen=True)
class PreparedSignature:
    """An OFD with its new signature described, waiting for the signed value."""

    signature_xml: bytes = field(repr=False)
    """The Signature.xml bytes as they will be stored: what the signature protects."""
    signature_path: str
    signed_value_path: str
    data_hash: bytes = field(repr=False)
    """SM3(signature_xml): the SES dataHash."""
    when: datetime
    files: tuple[tuple[str, bytes], ...] = field(repr=False)

    @property
    def property_info(self) -> str:
        """The absolute path of Signature.xml: the SES propertyInfo every vendor writes."""
        return f"/{self.signature_path}"

    def finish(self, signed_value: bytes) -> bytes:
        """The signed OFD, with `signed_value` as SignedValue.dat."""
        return write_package([*self.files, (self.signature_path, self.signature_xml),
                              (self.signed_value_path, signed_value)], self.when)


def seal_ofd(ofd: bytes, seal_der: bytes, signer_certificate: bytes, sign: Signer, *,
             page: int = 0, box_mm: tuple[float, float, float, float] | None = None,
             close: bool = False, property_info: str = "", signing_time: datetime | None = None,
             seal_file: bool = True, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The OFD with one more seal (v4 SES_Signature) at `box_mm` (x, y, w, h) on `page`."""
    seal = parse_seal(seal_der)
    when = _moment(signing_time)
    check_can_sign(seal, signer_certificate, when)
    box = box_mm or (20.0, 20.0, float(seal.picture.width_mm), float(seal.picture.height_mm))
    prepared = prepare_signature(ofd, kind="Seal", seal_der=seal.der if seal_file else None,
                                 page=page, box_mm=box, close=close, signing_time=when,
                                 limits=limits)
    signed_value = sign_data(seal.der, signer_certificate, prepared.data_hash,
                             property_info or prepared.property_info, sign, timestamp=when)
    return prepared.finish(signed_value)


def sign_ofd(ofd: bytes, signer_certificate: bytes, sign: Signer, *,
             chain: Sequence[bytes] = (), model: Model = "detached", close: bool = False,
             signing_time: datetime | None = None, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The OFD with one more `Type="Sign"` signature (GB/T 35275 SM2 SignedData)."""
    when = _moment(signing_time)
    prepared = prepare_signature(ofd, kind="Sign", close=close, signing_time=when,
                                 limits=limits)
    return prepared.finish(build_signed_value(prepared.signature_xml, signer_certificate, sign,
                                              chain=chain, model=model, signing_time=when))


def prepare_signature(ofd: bytes, *, kind: Literal["Seal", "Sign"], seal_der: bytes | None = None,
                      page: int | None = None,
                      box_mm: tuple[float, float, float, float] | None = None,
                      close: bool = False, signing_time: datetime | None = None,
                      limits: Limits = DEFAULT_LIMITS) -> PreparedSignature:
    """Describe a new signature of `kind` ("Seal" or "Sign") in the first document."""
    if kind not in ("Seal", "Sign"):
        raise InputError("kind must be 'Seal' or 'Sign'")
    when = _moment(signing_time)
    package = read_package(ofd, limits)
    document = documents(package)[0]
    files = dict(package.files)
    list_path = document.signatures
    if list_path is not None and list_path in package.files:
        entries = signature_entries(package, list_path)
        _refuse_closed(package, [entry.path for entry in entries], list_path)
        listing = package.xml(list_path)
    else:
        list_path = list_path or f"{_prefix(document.doc_root)}Signs/Signatures.xml"
        listing = etree.Element(f"{{{OFD_NAMESPACE}}}Signatures", nsmap={"ofd": OFD_NAMESPACE})
        if document.signatures is None:
            files["OFD.xml"] = _point_to_list(package, list_path)
    number = _next_number(listing)
    sign_dir = _free_directory(package, document.doc_root)
    signature_path = f"{sign_dir}/Signature.xml"
    signed_value_path = f"{sign_dir}/SignedValue.dat"
    _add_entry(listing, f"s{number:03d}", kind, signature_path)
    files[list_path] = _serialise(listing)
    seal_path = None
    if seal_der is not None:
        seal_path = f"{sign_dir}/Seal.esl"
        files[seal_path] = seal_der
    stamp = None
    if page is not None:
        stamp = (str(number), _page_id(package, document.doc_root, page), _boundary(box_mm))
    references = [(path, digest("sm3", content)) for path, content in files.items()
                  if close or path != list_path]
    xml = _signature_xml(when, references, stamp, seal_path, signed_value_path)
    return PreparedSignature(signature_xml=xml, signature_path=signature_path,
                             signed_value_path=signed_value_path,
                             data_hash=digest("sm3", xml), when=when,
                             files=tuple(files.items()))


def _refuse_closed(package: OfdPackage, signature_paths: list[str], list_path: str) -> None:
    for path in signature_paths:
        try:
            description = read_signature_xml(package, path)
        except MalformedOfd:
            raise MalformedOfd("an existing signature cannot be read, so whether the "
                               "document accepts another is unknown") from None
        if any(reference.path == list_path for reference in description.references):
            raise DocumentClosed("the document is closed: an existing signature protects "
                                 "its signature list")


def _point_to_list(package: OfdPackage, list_path: str) -> bytes:
    root = package.xml("OFD.xml")
    body = children(root, "DocBody")[0]
    namespace = etree.QName(body).namespace or OFD_NAMESPACE
    etree.SubElement(body, f"{{{namespace}}}Signatures").text = f"/{list_path}"
    return _serialise(root)


def _next_number(listing: etree._Element) -> int:
    values = [element.get("ID") or "" for element in children(listing, "Signature")]
    maximum = child(listing, "MaxSignId")
    if maximum is not None:
        values.append(maximum.text or "")
    numbers = [int(digits) for value in values
               if (digits := value.strip().lstrip("sS")).isascii() and digits.isdigit()
               and len(digits) <= 9]
    return max(numbers, default=0) + 1


def _add_entry(listing: etree._Element, sign_id: str, kind: str, signature_path: str) -> None:
    namespace = etree.QName(listing).namespace or OFD_NAMESPACE
    maximum = child(listing, "MaxSignId")
    if maximum is None:
        maximum = etree.Element(f"{{{namespace}}}MaxSignId")
        listing.insert(0, maximum)
    maximum.text = sign_id
    etree.SubElement(listing, f"{{{namespace}}}Signature", ID=sign_id, Type=kind,
                     BaseLoc=f"/{signature_path}")


def _free_directory(package: OfdPackage, doc_root: str) -> str:
    base = f"{_prefix(doc_root)}Signs/Sign_"
    used = {name for name in (*package.files, *package.directories)}
    index = 0
    while any(name == f"{base}{index}" or name.startswith(f"{base}{index}/") for name in used):
        index += 1
    return f"{base}{index}"


def _page_id(package: OfdPackage, doc_root: str, page: int) -> str:
    ids = page_ids(package, doc_root)
    if not isinstance(page, int) or not 0 <= page < len(ids) or not ids[page]:
        raise InputError(f"page must be an index from 0 to {len(ids) - 1}")
    return ids[page]


def _boundary(box: tuple[float, float, float, float] | None) -> str:
    if box is None or len(box) != 4 or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in box) or min(box[2:]) <= 0:
        raise InputError("box_mm must be (x, y, width, height) in millimetres, width and "
                         "height positive")
    return " ".join(f"{value:.2f}" for value in box)


def _signature_xml(when: datetime, references: list[tuple[str, bytes]],
                   stamp: tuple[str, str, str] | None, seal_path: str | None,
                   signed_value_path: str) -> bytes:
    def element(parent: etree._Element | None, name: str, text: str | None = None,
                **attributes: str) -> etree._Element:
        tag = f"{{{OFD_NAMESPACE}}}{name}"
        made = (etree.Element(tag, nsmap={"ofd": OFD_NAMESPACE}) if parent is None
                else etree.SubElement(parent, tag))
        for key, value in attributes.items():
            made.set(key, value)
        made.text = text
        return made

    root = element(None, "Signature")
    info = element(root, "SignedInfo")
    element(info, "Provider", ProviderName=PROVIDER, Company=PROVIDER)
    element(info, "SignatureMethod", SM2_WITH_SM3)
    element(info, "SignatureDateTime", when.strftime("%Y%m%d%H%M%SZ"))
    listed = element(info, "References", CheckMethod=SM3)
    for path, value in references:
        reference = element(listed, "Reference", FileRef=f"/{path}")
        element(reference, "CheckValue", base64.b64encode(value).decode("ascii"))
    if stamp is not None:
        element(info, "StampAnnot", ID=stamp[0], PageRef=stamp[1], Boundary=stamp[2])
    if seal_path is not None:
        element(element(info, "Seal"), "BaseLoc", f"/{seal_path}")
    element(root, "SignedValue", f"/{signed_value_path}")
    return _serialise(root)


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _prefix(doc_root: str) -> str:
    base = directory(doc_root)
    return f"{base}/" if base else ""


def _moment(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InputError("signing_time must be a timezone-aware datetime")
    return value.astimezone(UTC).replace(microsecond=0)
