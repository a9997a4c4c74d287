"""PAdES signatures on PDF documents through pyHanko, with the private key in the key store.

pyHanko builds the document revision, the CMS SignedData and the PAdES attributes; the only
private-key operation, signing the DER of the signed attributes, goes to
`CertlibKeyStore.sign`. This is pyHanko's "PKCS#11 as just another signer" design, with
certlib's key store (its one serialised session per token) in place of a second PKCS#11
session. ECDSA P-256 with SHA-256 and RSASSA-PSS with SHA-256 are supported.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import io
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, crl, keys, ocsp, x509
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import (
    AxisAlignment,
    InnerScaling,
    LayoutError,
    Margins,
    SimpleBoxLayoutRule,
)
from pyhanko.pdf_utils.misc import PdfError, PdfReadError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certlib.errors import (
    CertlibError,
    InputError,
    InvalidKey,
    MalformedInput,
    TrustError,
    UnavailableError,
)
from certlib.keys import CertlibKeyStore
from hsm import KeyRef

DIGEST = "sha256"
TIMESTAMP_TIMEOUT = 10
"""Seconds to wait for the time-stamp authority."""

_PSS_SALT_LENGTH = 32
_MAX_ECDSA_P256_DER = 72


class PdfSigningRefused(InputError):
    """The document cannot take this signature (encrypted, locked, field already signed)."""

    code = "PDF_SIGNING_REFUSED"


class Permissions(enum.Enum):
    """What a certification (DocMDP) signature still allows after it."""

    NO_CHANGES = fields.MDPPerm.NO_CHANGES
    FILL_FORMS = fields.MDPPerm.FILL_FORMS
    ANNOTATE = fields.MDPPerm.ANNOTATE


@dataclass(frozen=True)
class Appearance:
    """A visible stamp: an image (PNG or JPEG) drawn in a box on one page.

    `page` counts from 0; `box` is (x1, y1, x2, y2) in PDF points from the page's
    lower-left corner.
    """

    image: bytes
    page: int
    box: tuple[int, int, int, int]


class KeyStoreSigner(signers.Signer):
    """A pyHanko signer whose raw signatures come from `CertlibKeyStore.sign`."""

    def __init__(
        self,
        keystore: CertlibKeyStore,
        key: KeyRef,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        mechanism = signature_mechanism(key)
        if certificate.public_key.dump() != key.public_key:
            raise InvalidKey(f"the certificate does not hold the public key of {key.label}")
        self._keystore = keystore
        self._key = key
        self._dry_run_size = _signature_size(certificate)
        super().__init__(
            signing_cert=certificate,
            signature_mechanism=mechanism,
            cert_registry=_certificate_store(
                [cert for cert in chain if cert.dump() != certificate.dump()]
            ),
            embed_roots=True,
        )

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """The key store's signature of `data` (a placeholder of full size in a dry run)."""
        if digest_algorithm.lower() != DIGEST:
            raise InputError(f"PDF signatures here use {DIGEST}, not {digest_algorithm}")
        if dry_run:
            return bytes(self._dry_run_size)
        return self._keystore.sign(self._key, data)


def _certificate_store(certificates: Sequence[x509.Certificate]) -> SimpleCertificateStore:
    store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    store.register_multiple(certificates)
    return store


def signature_mechanism(key: KeyRef) -> algos.SignedDigestAlgorithm:
    """The CMS signature algorithm for a key store key; raises InvalidKey if unsupported."""
    if key.algorithm == "ecdsa-p256-sha256":
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    if key.algorithm == "rsa-pss-sha256":
        return algos.SignedDigestAlgorithm({
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams({
                "hash_algorithm": {"algorithm": DIGEST},
                "mask_gen_algorithm": {
                    "algorithm": "mgf1",
                    "parameters": {"algorithm": DIGEST},
                },
                "salt_length": _PSS_SALT_LENGTH,
                "trailer_field": "trailer_field_bc",
            }),
        })
    raise InvalidKey(
        f"PDF signatures need an ecdsa-p256-sha256 or rsa-pss-sha256 key, not {key.algorithm}"
    )


def _signature_size(certificate: x509.Certificate) -> int:
    public_key: keys.PublicKeyInfo = certificate.public_key
    if public_key.algorithm == "rsa":
        return int(public_key.byte_size)
    return _MAX_ECDSA_P256_DER


def sign_pdf(
    pdf: bytes,
    *,
    keystore: CertlibKeyStore,
    key: KeyRef,
    certificate: bytes,
    chain: Sequence[bytes] = (),
    field_name: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    contact: str | None = None,
    appearance: Appearance | None = None,
    timestamp_url: str | None = None,
    embed_validation_info: bool = False,
    trust_roots: Sequence[bytes] = (),
    crls: Sequence[bytes] = (),
    ocsp_responses: Sequence[bytes] = (),
    fetch_revocation_info: bool = False,
    certify: Permissions | None = None,
) -> bytes:
    """`pdf` with one more PAdES signature (B-B; B-T with a TSA; B-LT with validation data)."""
    return _run(async_sign_pdf(
        pdf, keystore=keystore, key=key, certificate=certificate, chain=chain,
        field_name=field_name, reason=reason, location=location, contact=contact,
        appearance=appearance, timestamp_url=timestamp_url,
        embed_validation_info=embed_validation_info, trust_roots=trust_roots, crls=crls,
        ocsp_responses=ocsp_responses, fetch_revocation_info=fetch_revocation_info,
        certify=certify,
    ))


async def async_sign_pdf(
    pdf: bytes,
    *,
    keystore: CertlibKeyStore,
    key: KeyRef,
    certificate: bytes,
    chain: Sequence[bytes] = (),
    field_name: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    contact: str | None = None,
    appearance: Appearance | None = None,
    timestamp_url: str | None = None,
    embed_validation_info: bool = False,
    trust_roots: Sequence[bytes] = (),
    crls: Sequence[bytes] = (),
    ocsp_responses: Sequence[bytes] = (),
    fetch_revocation_info: bool = False,
    certify: Permissions | None = None,
) -> bytes:
    """`sign_pdf` for callers already inside an event loop."""
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise InputError("the PDF must be bytes")
    signing_cert = _load_certificate(certificate, "certificate")
    chain_certs = [_load_certificate(item, f"chain[{i}]") for i, item in enumerate(chain)]
    signer = KeyStoreSigner(keystore, key, signing_cert, chain_certs)
    for name, text in (("field_name", field_name), ("reason", reason),
                       ("location", location), ("contact", contact)):
        if text is not None and not isinstance(text, str):
            raise InputError(f"{name} must be a string")
    if certify is not None and not isinstance(certify, Permissions):
        raise InputError("certify must be a Permissions value or None")

    writer = _open(bytes(pdf))
    name = field_name or _free_field_name(writer)
    if appearance is not None and isinstance(appearance.page, int):
        pages = _page_count(writer)
        if appearance.page >= pages:
            raise InputError(
                f"appearance page {appearance.page} is beyond the document's {pages} page(s)"
            )
    field_spec, style = _appearance(name, appearance)
    if timestamp_url is not None and (
        not isinstance(timestamp_url, str) or not timestamp_url.startswith(("http://", "https://"))
    ):
        raise InputError("timestamp_url must be an http:// or https:// URL")
    context = None
    if embed_validation_info:
        context = _validation_context(
            signing_cert=signing_cert, chain=chain_certs, trust_roots=trust_roots, crls=crls,
            ocsp_responses=ocsp_responses, fetch=fetch_revocation_info,
        )
    metadata = signers.PdfSignatureMetadata(
        field_name=name,
        md_algorithm=DIGEST,
        reason=reason,
        location=location,
        contact_info=contact,
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=certify is not None,
        docmdp_permissions=(certify or Permissions.FILL_FORMS).value,
        embed_validation_info=embed_validation_info,
        validation_context=context,
    )
    timestamper = (
        HTTPTimeStamper(timestamp_url, timeout=TIMESTAMP_TIMEOUT)
        if timestamp_url is not None else None
    )
    pdf_signer = signers.PdfSigner(
        metadata, signer, timestamper=timestamper, stamp_style=style, new_field_spec=field_spec
    )
    try:
        output = await pdf_signer.async_sign_pdf(writer, bytes_reserved=_reserve(
            signing_cert, chain_certs, timestamped=timestamper is not None,
            long_term=embed_validation_info))
    except CertlibError:
        raise
    except SigningError as error:
        raise _signing_error(error) from error
    except TimestampRequestError as error:
        raise UnavailableError("the time-stamp authority could not be reached") from error
    except (PathBuildingError, PathValidationError) as error:
        raise TrustError("the signer's certificate could not be validated") from error
    except (PdfError, LayoutError) as error:
        raise MalformedInput(f"the PDF could not be signed: {type(error).__name__}") from error
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as error:
        raise MalformedInput(f"the PDF could not be processed: {type(error).__name__}") from error
    finally:
        if context is not None:
            await context.aclose()  # type: ignore[no-untyped-call]
    result: bytes = output.getvalue()
    return result


def _reserve(signing_cert: x509.Certificate, chain: Sequence[x509.Certificate], *,
             timestamped: bool, long_term: bool) -> int | None:
    """Bytes to reserve for the CMS container: computed for a plain signature (it holds
    the signature and the certificates), so pyHanko skips its dry-run signature; left to
    pyHanko's dry run when a time-stamp token or validation data must fit as well."""
    if timestamped or long_term:
        return None
    size = 6144 + 2 * (len(signing_cert.dump()) + sum(len(cert.dump()) for cert in chain))
    return size + size % 2


_loops = threading.local()


def _run(coroutine: Coroutine[Any, Any, bytes]) -> bytes:
    """Run on this thread's own event loop (asyncio.run would make a new loop each time)."""
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coroutine)


def _load_certificate(data: bytes, name: str) -> x509.Certificate:
    if not isinstance(data, bytes | bytearray):
        raise InputError(f"{name} must be DER bytes")
    return _parsed_certificate(bytes(data), name)


@functools.lru_cache(maxsize=256)
def _parsed_certificate(data: bytes, name: str) -> x509.Certificate:
    try:
        certificate = x509.Certificate.load(bytes(data), strict=True)
        certificate.native  # noqa: B018 - parse every field now, not later inside pyHanko
    except (ValueError, TypeError, KeyError) as error:
        raise MalformedInput(f"{name} is not a DER X.509 certificate") from error
    return certificate


def _open(pdf: bytes) -> IncrementalPdfFileWriter:
    """A writer for the next revision of `pdf`; raises MalformedInput or PdfSigningRefused."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, RecursionError) as error:
        raise MalformedInput(f"not a readable PDF: {type(error).__name__}") from error
    if writer.prev.encrypted:
        raise PdfSigningRefused("encrypted PDFs are not signed")
    return writer


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    try:
        return int(writer.root["/Pages"]["/Count"])
    except (PdfError, ValueError, KeyError, TypeError) as error:
        raise MalformedInput("the PDF's page tree is malformed") from error


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    """The first of `Signature1`, `Signature2`, ... that the document does not use."""
    try:
        taken = {name for name, _, _ in fields.enumerate_sig_fields(writer)}
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as error:
        raise MalformedInput(
            f"the PDF's form fields are malformed: {type(error).__name__}"
        ) from error
    number = 1
    while f"Signature{number}" in taken:
        number += 1
    return f"Signature{number}"


def _appearance(
    name: str, appearance: Appearance | None
) -> tuple[fields.SigFieldSpec | None, StaticStampStyle | None]:
    """The field spec and stamp style of a visible signature, or (None, None)."""
    if appearance is None:
        return None, None
    if not isinstance(appearance, Appearance):
        raise InputError("appearance must be an Appearance")
    box = appearance.box
    if (
        not isinstance(box, tuple) or len(box) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)
        or box[2] <= box[0] or box[3] <= box[1]
    ):
        raise InputError(
            "appearance box must be four whole numbers (x1, y1, x2, y2) with x2 > x1, y2 > y1"
        )
    if not isinstance(appearance.page, int) or appearance.page < 0:
        raise InputError("appearance page must be a page index from 0")
    image = _decoded_image(appearance.image)
    spec = fields.SigFieldSpec(sig_field_name=name, on_page=appearance.page, box=box)
    style = StaticStampStyle(
        background=PdfImage(image),
        border_width=0,
        background_opacity=1.0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=0, right=0, top=0, bottom=0),
            # Scale up or down to the box, keeping the picture's aspect ratio.
            inner_content_scaling=InnerScaling.STRETCH_TO_FIT,
        ),
    )
    return spec, style


@functools.lru_cache(maxsize=64)
def _decoded_image(data: bytes) -> Image.Image:
    """The stamp picture, decoded once per distinct picture (a seal is used many times)."""
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, TypeError,
            Image.DecompressionBombError) as error:
        raise MalformedInput("the appearance image is not a readable PNG or JPEG") from error
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "PA"):
        image = image.convert("RGBA")
    return image


def _validation_context(
    *,
    signing_cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    trust_roots: Sequence[bytes],
    crls: Sequence[bytes],
    ocsp_responses: Sequence[bytes],
    fetch: bool,
) -> ValidationContext:
    """What pyHanko needs to validate the signer and gather the B-LT validation data."""
    roots = [_load_certificate(item, f"trust_roots[{i}]") for i, item in enumerate(trust_roots)]
    if not roots:
        roots = [cert for cert in chain if cert.self_signed in {"maybe", "yes"}]
    if not roots:
        raise InputError(
            "embedding validation data needs a trust root: pass trust_roots or put the root "
            "certificate in the chain"
        )
    try:
        crl_list = [crl.CertificateList.load(bytes(item), strict=True) for item in crls]
        ocsp_list = [ocsp.OCSPResponse.load(bytes(item), strict=True) for item in ocsp_responses]
        for item in (*crl_list, *ocsp_list):
            item.native  # noqa: B018 - parse now
    except (ValueError, TypeError, KeyError) as error:
        raise MalformedInput("a CRL or OCSP response is not valid DER") from error
    others = [cert for cert in chain if cert not in roots]
    kwargs: dict[str, Any] = {
        "trust_roots": roots,
        "other_certs": [signing_cert, *others],
        "crls": crl_list,
        "ocsps": ocsp_list,
        "allow_fetching": fetch,
        "revocation_mode": "hard-fail",
    }
    return ValidationContext(**kwargs)


def _signing_error(error: SigningError) -> CertlibError:
    """A certlib error for a pyHanko refusal."""
    cause = error.__cause__
    if isinstance(cause, PathBuildingError | PathValidationError):
        return TrustError("the signer's certificate could not be validated")
    if isinstance(cause, TimestampRequestError):
        return UnavailableError("the time-stamp authority could not be reached")
    # pyHanko's messages name fields and settings, never document content.
    return PdfSigningRefused(f"pyHanko refused to sign: {error}")
