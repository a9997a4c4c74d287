"""A certificate as a person reads it: an A4 PDF signed by its issuer, carrying the 亮证 QR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from certlib import cms, ecert
from certlib.errors import InputError
from certlib.pdfsign import sign_pdf
from certlib.present import load_certificate
from certlib.render import render_certificate_pdf

if TYPE_CHECKING:
    from certlib.platform import Platform


def render_signed_pdf(platform: Platform, certificate: bytes, qr_text: str | None) -> bytes:
    """The certificate's fields in a PDF, signed (PAdES) with the issuing department's key."""
    parsed = load_certificate(certificate)
    envelope = cms.parse(parsed["signed_object"].dump())
    security_object = ecert.CertificateSecurityObject.load(envelope.content)
    certificate_type = platform.types.get(security_object["type_key"].native)
    rows = []
    for item in parsed["fields"]:
        name, value = item["name"].native, item["value"].native
        spec = certificate_type.fields.get(name)
        if spec is None or spec.kind == "binary":
            continue
        rows.append((spec.label_zh, spec.display(value)))
    validity = security_object["validity"].native
    issuer = platform.authority.issuer(security_object["issuer"]["uscc"].native)
    key = platform.authority.issuer_key(issuer)
    if key.algorithm not in ("ecdsa-p256-sha256", "rsa-pss-sha256"):
        raise InputError(
            f"PDF signatures need an ECDSA or RSA key; department {issuer.uscc} signs with "
            f"{key.algorithm}")
    pdf = render_certificate_pdf(
        certificate_type.name_zh, certificate_type.name_en, rows,
        identifier=security_object["identifier"].native,
        issuer=security_object["issuer"]["name"].native,
        qr_payload=qr_text,
        validity=(validity["not_before"].date().isoformat(),
                  validity["not_after"].date().isoformat() if validity["not_after"] else "长期"),
    )
    region = platform.authority.region(issuer.region_code)
    return sign_pdf(pdf, keystore=platform.keystore, key=key, certificate=issuer.certificate,
                    chain=(region.issuing_certificate,), reason="电子证照",
                    location=region.name)
