"""Reading OFD packages (GB/T 33190) safely: the ZIP, its paths and its XML.

The ZIP is read within fixed bounds (package size, entry count, entry and total sizes,
compression ratio), entry names must be plain relative paths, and XML is parsed by lxml
with entities, DTDs and network access off (a document with a DTD is refused) and
libxml2's default nesting limit (256). Elements are matched by local name, since real
files use two namespaces.
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from certlib.errors import MalformedInput

OFD_NAMESPACE = "http://www.ofdspec.org/2016"


class MalformedOfd(MalformedInput):
    """Bytes that are not an OFD package certlib can read."""

    code = "MALFORMED_OFD"


@dataclass(frozen=True)
class Limits:
    """Bounds on what reading one package may cost."""

    max_package_bytes: int = 128 << 20
    max_entries: int = 10_000
    max_entry_bytes: int = 64 << 20
    max_total_bytes: int = 256 << 20
    max_ratio: int = 200
    """Most uncompressed bytes per compressed byte, for entries above 1 MiB."""
    max_xml_bytes: int = 16 << 20


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class OfdPackage:
    """The files of an OFD package, by path without a leading slash, in ZIP order."""

    files: dict[str, bytes] = field(repr=False)
    directories: tuple[str, ...] = ()

    def read(self, path: str) -> bytes:
        """The bytes of a file; MalformedOfd when it is missing."""
        try:
            return self.files[path]
        except KeyError:
            raise MalformedOfd(f"the package has no file /{path}") from None

    def xml(self, path: str) -> etree._Element:
        """A file parsed as XML."""
        return parse_xml(self.read(path), f"/{path}")


def read_package(data: bytes, limits: Limits = DEFAULT_LIMITS) -> OfdPackage:
    """Read an OFD (ZIP) within `limits`; MalformedOfd if it is not a safe, readable one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedOfd("an OFD must be bytes")
    if len(data) > limits.max_package_bytes:
        raise MalformedOfd("the OFD package is too large")
    # zipfile reads the whole central directory before anything can be counted; every
    # entry it reads starts with this signature, so counting them first bounds that work.
    if bytes(data).count(b"PK\x01\x02") > limits.max_entries:
        raise MalformedOfd("the OFD package has too many entries")
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise MalformedOfd("the OFD package has too many entries")
            files: dict[str, bytes] = {}
            directories: list[str] = []
            total = 0
            for info in infos:
                name = _entry_name(info.filename)
                if name in files or name in directories:
                    raise MalformedOfd("the OFD package names an entry twice")
                if info.is_dir():
                    directories.append(name)
                    continue
                _check_entry(info, limits)
                total += info.file_size
                if total > limits.max_total_bytes:
                    raise MalformedOfd("the OFD package expands beyond the size limit")
                files[name] = archive.read(info)
    except MalformedOfd:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError,
            ValueError, NotImplementedError, RuntimeError, KeyError, OverflowError) as error:
        raise MalformedOfd(f"not a readable ZIP package ({type(error).__name__})") from None
    if "OFD.xml" not in files:
        raise MalformedOfd("the package has no OFD.xml")
    return OfdPackage(files, tuple(directories))


def write_package(files: Iterable[tuple[str, bytes]], when: datetime) -> bytes:
    """A ZIP of `files` (path, bytes), deflated, every entry dated `when`."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def _entry_name(name: str) -> str:
    """A ZIP entry name as a package path; MalformedOfd for anything that could escape."""
    if "\\" in name or "\x00" in name or name.startswith("/") or ":" in name.split("/", 1)[0]:
        raise MalformedOfd("an entry name is not a relative package path")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise MalformedOfd("an entry name is not a plain relative path")
    return "/".join(parts)


def _check_entry(info: zipfile.ZipInfo, limits: Limits) -> None:
    if info.flag_bits & 0x1:
        raise MalformedOfd("encrypted entries are not allowed")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise MalformedOfd("entries must be stored or deflated")
    if info.file_size > limits.max_entry_bytes:
        raise MalformedOfd("an entry is larger than the size limit")
    if info.file_size > 1 << 20 and info.file_size > limits.max_ratio * max(
            info.compress_size, 1):
        raise MalformedOfd("an entry is compressed beyond the ratio limit (zip bomb)")


# -- XML -------------------------------------------------------------------------------


def parse_xml(data: bytes, what: str, limit: int = DEFAULT_LIMITS.max_xml_bytes) -> etree._Element:
    """The root element of an XML file; MalformedOfd if it is not plain, well-formed XML."""
    if len(data) > limit:
        raise MalformedOfd(f"{what} is larger than the XML size limit")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_comments=True,
                             remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        raise MalformedOfd(f"{what} is not well-formed XML") from None
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None:
        raise MalformedOfd(f"{what} has a DTD, which OFD does not use")
    return root


def local(element: etree._Element) -> str:
    """The local name of an element (namespace dropped)."""
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Child elements with local name `name`."""
    return [child for child in element if local(child) == name]


def child(element: etree._Element, name: str) -> etree._Element | None:
    """The first child element with local name `name`, or None."""
    found = children(element, name)
    return found[0] if found else None


def text(element: etree._Element | None) -> str:
    """The stripped text of an element; '' for None."""
    return (element.text or "").strip() if element is not None else ""


def decode_base64(value: str) -> bytes | None:
    """Strict base64 (whitespace ignored); None when it is not base64."""
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


# -- paths -----------------------------------------------------------------------------


def directory(path: str) -> str:
    """The directory part of a package path ('' for the root)."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def resolve(location: str, base: str) -> str:
    """An ST_Loc (absolute, or relative to the directory `base`) as a package path."""
    location = location.strip()
    if not location or "\\" in location or "\x00" in location:
        raise MalformedOfd("a location is empty or not a package path")
    joined = location[1:] if location.startswith("/") else f"{base}/{location}"
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise MalformedOfd("a location leaves the package")
            parts.pop()
        else:
            parts.append(part)
    if not parts:
        raise MalformedOfd("a location names the package root")
    return "/".join(parts)


def find(package: OfdPackage, location: str, base: str) -> str:
    """Resolve `location` against `base`, falling back to the package root (some writers)."""
    path = resolve(location, base)
    if path not in package.files and not location.strip().startswith("/") and base:
        rooted = resolve(location, "")
        if rooted in package.files:
            return rooted
    return path


# -- the document structure (GB/T 33190 §7, §18) -----------------------------------------


@dataclass(frozen=True)
class DocumentEntry:
    """One DocBody of OFD.xml: the document's root file and its signature list, if any."""

    index: int
    doc_root: str
    signatures: str | None


@dataclass(frozen=True)
class SignatureEntry:
    """One <Signature> of a Signatures.xml."""

    id: str
    type: str
    path: str
    """The package path of its Signature.xml."""


@dataclass(frozen=True)
class Reference:
    """One <Reference>: the file it names (as a package path) and the digest it records."""

    file_ref: str
    path: str | None
    """None when FileRef is not a usable location."""
    check_value: bytes | None
    """None when CheckValue is not base64."""


@dataclass(frozen=True)
class StampAnnot:
    """One <StampAnnot>: the page ID it sits on and its box in millimetres."""

    id: str
    page_ref: str
    boundary: str


@dataclass(frozen=True)
class SignatureXml:
    """A parsed Signature.xml (§18.2) and its bytes as stored."""

    path: str
    raw: bytes = field(repr=False)
    provider: str
    method: str
    date_time: str
    check_method: str
    references: tuple[Reference, ...]
    stamps: tuple[StampAnnot, ...]
    seal_path: str | None
    signed_value_path: str


def documents(package: OfdPackage) -> list[DocumentEntry]:
    """The documents OFD.xml lists, with their signature-list paths."""
    root = package.xml("OFD.xml")
    found = []
    for index, body in enumerate(children(root, "DocBody")):
        doc_root = text(child(body, "DocRoot"))
        if not doc_root:
            raise MalformedOfd("a DocBody has no DocRoot")
        signatures = text(child(body, "Signatures"))
        found.append(DocumentEntry(index, find(package, doc_root, ""),
                                   find(package, signatures, "") if signatures else None))
    if not found:
        raise MalformedOfd("OFD.xml lists no document")
    return found


def signature_entries(package: OfdPackage, signatures_path: str) -> list[SignatureEntry]:
    """The signatures a Signatures.xml lists."""
    root = package.xml(signatures_path)
    base = directory(signatures_path)
    found = []
    for element in children(root, "Signature"):
        location = element.get("BaseLoc") or ""
        found.append(SignatureEntry(id=element.get("ID") or "",
                                    type=element.get("Type") or "Seal",
                                    path=find(package, location, base)))
    return found


def read_signature_xml(package: OfdPackage, path: str) -> SignatureXml:
    """Parse the Signature.xml at `path`."""
    raw = package.read(path)
    root = parse_xml(raw, f"/{path}")
    info = child(root, "SignedInfo")
    if local(root) != "Signature" or info is None:
        raise MalformedOfd(f"/{path} is not a Signature description")
    base = directory(path)
    provider = child(info, "Provider")
    references = child(info, "References")
    if references is None:
        raise MalformedOfd(f"/{path} has no References")
    seal = child(info, "Seal")
    seal_location = text(child(seal, "BaseLoc")) if seal is not None else ""
    signed_value = text(child(root, "SignedValue"))
    if not signed_value:
        raise MalformedOfd(f"/{path} names no SignedValue")
    return SignatureXml(
        path=path,
        raw=raw,
        provider=(provider.get("ProviderName") or text(child(provider, "ProviderName"))
                  if provider is not None else ""),
        method=text(child(info, "SignatureMethod")),
        date_time=text(child(info, "SignatureDateTime")),
        check_method=(references.get("CheckMethod") or "").strip(),
        references=tuple(_reference(element, package, base)
                         for element in children(references, "Reference")),
        stamps=tuple(StampAnnot(element.get("ID") or "", element.get("PageRef") or "",
                                element.get("Boundary") or "")
                     for element in children(info, "StampAnnot")),
        seal_path=find(package, seal_location, base) if seal_location else None,
        signed_value_path=find(package, signed_value, base),
    )


def page_ids(package: OfdPackage, doc_root: str) -> list[str]:
    """The page IDs of a document, in page order."""
    root = package.xml(doc_root)
    pages = child(root, "Pages")
    return [page.get("ID") or "" for page in children(pages, "Page")] if pages is not None else []


def _reference(element: etree._Element, package: OfdPackage, base: str) -> Reference:
    file_ref = element.get("FileRef") or ""
    try:
        path: str | None = find(package, file_ref, base)
    except MalformedOfd:
        path = None
    return Reference(file_ref, path, decode_base64(text(child(element, "CheckValue"))))
