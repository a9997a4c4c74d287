"""Helpers for e-certificate tests: re-encoding tampered structures."""

from __future__ import annotations

from asn1crypto import cms, core

from certlib import ecert


def replace_field(certificate: bytes, name: str, *, value: str | None = None,
                  salt: bytes | None = None) -> bytes:
    """The certificate with one field item's value or salt changed (signature untouched)."""
    parsed = ecert.ElectronicCertificate.load(certificate)
    items = []
    for original in parsed["fields"]:
        item = original
        if original["name"].native == name:
            item = ecert.FieldItem({
                "salt": salt if salt is not None else original["salt"].native,
                "name": name,
                "value": value if value is not None else original["value"].native,
            })
        items.append(item)
    return bytes(ecert.ElectronicCertificate({
        "version": 1, "signed_object": parsed["signed_object"], "fields": items,
        "holder": parsed["holder"]}).dump())


def replace_signed_object(certificate: bytes, signed_object: bytes) -> bytes:
    """The certificate with another signed object."""
    parsed = ecert.ElectronicCertificate.load(certificate)
    return bytes(ecert.ElectronicCertificate({
        "version": 1, "signed_object": cms.ContentInfo.load(signed_object),
        "fields": parsed["fields"], "holder": parsed["holder"]}).dump())


def signed_data(certificate: bytes) -> tuple[cms.ContentInfo, cms.SignedData]:
    """A fresh, mutable parse of the certificate's envelope."""
    info = cms.ContentInfo.load(ecert.ElectronicCertificate.load(certificate)[
        "signed_object"].dump())
    content = info["content"]
    if not isinstance(content, cms.SignedData):
        content = cms.SignedData.load(content.dump())
    return info, content


def rebuild(info: cms.ContentInfo, signed: cms.SignedData) -> bytes:
    """A ContentInfo around a (changed) SignedData, re-encoded."""
    return bytes(cms.ContentInfo({"content_type": info["content_type"], "content": signed})
                 .dump(force=True))


def flip_byte(data: bytes, offset: int) -> bytes:
    """`data` with one byte inverted."""
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:]


__all__ = ["core", "flip_byte", "rebuild", "replace_field", "replace_signed_object",
           "signed_data"]
