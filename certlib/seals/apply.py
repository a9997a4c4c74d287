"""Applying a seal to a PDF (PAdES), an OFD (GB/T 33190 §18 with a GB/T 38540 signature)
or raw data (a detached SES_Signature), under the seal's use policy."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from certlib import ses
from certlib.audit import Actor
from certlib.errors import InputError
from certlib.ofd import seal_ofd
from certlib.pdfkeyword import find_keyword, stamp_box_for
from certlib.pdfsign import Appearance, sign_pdf
from certlib.seals.control import SealUseDesk, check_purpose
from certlib.seals.errors import SealUseRefused
from certlib.seals.records import DocumentKind, SealRecord, SealUse
from certlib.seals.registry import SealRegistry

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_POINTS_PER_MM = 72 / 25.4


@dataclass(frozen=True)
class Placement:
    """Where the seal's picture goes: a box on a page, or centred on a keyword's n-th
    occurrence. Boxes are in millimetres from the page's lower-left corner (PDF) or
    upper-left corner (OFD), as each format counts."""

    page: int = 0
    x_mm: float = 20.0
    y_mm: float = 20.0
    keyword: str | None = None
    occurrence: int = 0


@dataclass(frozen=True)
class SealedDocument:
    """A sealed document and the use recorded for it."""

    es_id: str
    kind: DocumentKind
    data: bytes
    use: SealUse


class SealApplier:
    """Applies seals: checks the policy, signs with the seal's HSM keys, records the use."""

    def __init__(self, desk: SealUseDesk) -> None:
        self.desk = desk

    @property
    def registry(self) -> SealRegistry:
        """The seal registry."""
        return self.desk.registry

    def apply_pdf(self, es_id: str, pdf: bytes, *, actor: Actor, purpose: str,
                  placement: Placement | None = None, request_id: str | None = None,
                  reason: str | None = None, location: str | None = None,
                  timestamp_url: str | None = None, long_term: bool = False) -> SealedDocument:
        """Seal a PDF with a PAdES signature and the seal's picture as a visible stamp."""
        placement = placement or Placement()

        def make(record: SealRecord) -> bytes:
            authority = self.registry.authority
            region = authority.region(record.region_code)
            material = authority.trust_material() if long_term else None
            return sign_pdf(
                pdf, keystore=authority.keystore,
                key=authority.keystore.get(record.pdf_key_name),
                certificate=record.pdf_certificate, chain=[region.issuing_certificate],
                reason=reason or f"{record.owner_name} {record.name}", location=location,
                appearance=Appearance(record.picture, *_pdf_box(pdf, placement, record)),
                timestamp_url=timestamp_url, embed_validation_info=long_term,
                trust_roots=material.anchors if material else (),
                crls=material.crls if material else ())

        return self._apply(es_id, pdf, DocumentKind.PDF, actor=actor, purpose=purpose,
                           request_id=request_id, make=make)

    def apply_ofd(self, es_id: str, ofd: bytes, *, actor: Actor, purpose: str,
                  placement: Placement | None = None, close: bool = False,
                  request_id: str | None = None) -> SealedDocument:
        """Seal an OFD with a GB/T 38540 v4 signature (Type="Seal"); `close` forbids more."""
        placement = placement or Placement()

        def make(record: SealRecord) -> bytes:
            if placement.keyword is not None:
                raise InputError("keyword placement is for PDF; give a page and box for OFD")
            keystore = self.registry.keystore
            key = keystore.get(record.ses_key_name)
            return seal_ofd(ofd, record.seal, record.ses_certificate,
                            lambda data: keystore.sign(key, data), page=placement.page,
                            box_mm=(placement.x_mm, placement.y_mm,
                                    float(record.picture_width_mm),
                                    float(record.picture_height_mm)),
                            close=close)

        return self._apply(es_id, ofd, DocumentKind.OFD, actor=actor, purpose=purpose,
                           request_id=request_id, make=make)

    def apply_data(self, es_id: str, data: bytes, *, actor: Actor, purpose: str,
                   request_id: str | None = None) -> SealedDocument:
        """A detached GB/T 38540 SES_Signature over `data` (dataHash = SM3(data))."""

        def make(record: SealRecord) -> bytes:
            keystore = self.registry.keystore
            key = keystore.get(record.ses_key_name)
            return ses.sign_detached(record.seal, record.ses_certificate, data,
                                     lambda tbs: keystore.sign(key, tbs))

        return self._apply(es_id, data, DocumentKind.DATA, actor=actor, purpose=purpose,
                           request_id=request_id, make=make)

    def _apply(self, es_id: str, document: bytes, kind: DocumentKind, *, actor: Actor,
               purpose: str, request_id: str | None,
               make: Callable[[SealRecord], bytes]) -> SealedDocument:
        if not isinstance(document, bytes | bytearray) or not document:
            raise InputError("the document is empty or not bytes")
        if len(document) > MAX_DOCUMENT_BYTES:
            raise InputError("the document is larger than 64 MiB")
        check_purpose(purpose)
        digest = hashlib.sha256(document).hexdigest()
        try:
            record = self.desk.check(es_id, actor, kind, digest, request_id=request_id)
        except SealUseRefused as error:
            self.desk.refused(es_id, actor, kind, error.code)
            raise
        sealed = make(record)
        try:
            use = self.desk.record(es_id, actor, kind=kind, document_digest=digest,
                                   sealed_digest=hashlib.sha256(sealed).hexdigest(),
                                   purpose=purpose, request_id=request_id)
        except SealUseRefused as error:  # lost a race (quota, revocation): nothing leaves
            self.desk.refused(es_id, actor, kind, error.code)
            raise
        return SealedDocument(es_id, kind, sealed, use)


def _pdf_box(pdf: bytes, placement: Placement,
             record: SealRecord) -> tuple[int, tuple[int, int, int, int]]:
    width = record.picture_width_mm * _POINTS_PER_MM
    height = record.picture_height_mm * _POINTS_PER_MM
    if placement.keyword is not None:
        hits = find_keyword(pdf, placement.keyword)
        if len(hits) <= placement.occurrence:
            raise InputError("the keyword does not occur in the document "
                             f"{placement.occurrence + 1} time(s)")
        page, box = stamp_box_for(hits[placement.occurrence], record.picture_width_mm,
                                  record.picture_height_mm)
        return page, tuple(round(v) for v in box)  # type: ignore[return-value]
    x, y = placement.x_mm * _POINTS_PER_MM, placement.y_mm * _POINTS_PER_MM
    return placement.page, (round(x), round(y), round(x + width), round(y + height))
