"""PAdES signing with key-store keys, checked by pyHanko's validator and poppler's pdfsig."""

from __future__ import annotations

import contextlib
import http.server
import io
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, crl, keys, pem, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from certlib import errors
from certlib.keys import CertlibKeyStore
from certlib.pdfsign import (
    Appearance,
    KeyStoreSigner,
    PdfSigningRefused,
    Permissions,
    sign_pdf,
)
from certlib.render import render_certificate_pdf
from hsm import KeyRef

CRL_URL = "http://127.0.0.1:9/root.crl"
"""Named in the leaf certificates so that B-LT has revocation data to embed; never fetched."""


# -- a small test PKI whose keys live in the key store ---------------------------------------


def _signature_algorithm(key: KeyRef) -> algos.SignedDigestAlgorithm:
    assert key.algorithm == "ecdsa-p256-sha256", "the test CA signs with ECDSA"
    return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})


def _name(common_name: str) -> x509.Name:
    return x509.Name.build({
        "country_name": "CN",
        "organization_name": "certlib test PKI",
        "common_name": common_name,
    })


def _time(moment: datetime) -> x509.Time:
    return x509.Time({"utc_time": moment.replace(microsecond=0)})


def issue_certificate(
    keystore: CertlibKeyStore,
    *,
    issuer_key: KeyRef,
    issuer: x509.Name,
    subject: x509.Name,
    public_key: bytes,
    ca: bool,
    extended_key_usage: list[str] | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """A certificate whose TBSCertificate is signed by `issuer_key` in the key store."""
    now = datetime.now(UTC)
    spki = keys.PublicKeyInfo.load(public_key)
    issuer_spki = keys.PublicKeyInfo.load(issuer_key.public_key)
    extensions: list[dict[str, Any]] = [
        {"extn_id": "basic_constraints", "critical": True,
         "extn_value": {"ca": ca, "path_len_constraint": 0 if ca else None}},
        {"extn_id": "key_usage", "critical": True,
         "extn_value": {"key_cert_sign", "crl_sign"} if ca
         else {"digital_signature", "non_repudiation"}},
        {"extn_id": "key_identifier", "critical": False, "extn_value": spki.sha1},
        {"extn_id": "authority_key_identifier", "critical": False,
         "extn_value": {"key_identifier": issuer_spki.sha1}},
    ]
    if extended_key_usage:
        extensions.append({"extn_id": "extended_key_usage", "critical": True,
                           "extn_value": extended_key_usage})
    if crl_url:
        extensions.append({
            "extn_id": "crl_distribution_points", "critical": False,
            "extn_value": [{"distribution_point": {
                "full_name": [x509.GeneralName(
                    name="uniform_resource_identifier", value=crl_url)]}}],
        })
    tbs = x509.TbsCertificate({
        "version": "v3",
        "serial_number": int.from_bytes(uuid.uuid4().bytes, "big") >> 1,
        "signature": _signature_algorithm(issuer_key),
        "issuer": issuer,
        "validity": {"not_before": _time(now - timedelta(hours=1)),
                     "not_after": _time(now + timedelta(days=365))},
        "subject": subject,
        "subject_public_key_info": spki,
        "extensions": extensions,
    })
    return x509.Certificate({
        "tbs_certificate": tbs,
        "signature_algorithm": _signature_algorithm(issuer_key),
        "signature_value": keystore.sign(issuer_key, tbs.dump()),
    })


def issue_crl(keystore: CertlibKeyStore, issuer_key: KeyRef, issuer: x509.Name) -> bytes:
    """An empty CRL of the root, signed in the key store."""
    now = datetime.now(UTC)
    tbs = crl.TbsCertList({
        "version": "v2",
        "signature": _signature_algorithm(issuer_key),
        "issuer": issuer,
        "this_update": _time(now - timedelta(minutes=5)),
        "next_update": _time(now + timedelta(days=7)),
        "crl_extensions": [
            {"extn_id": "crl_number", "critical": False, "extn_value": 1},
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {
                 "key_identifier": keys.PublicKeyInfo.load(issuer_key.public_key).sha1}},
        ],
    })
    return bytes(crl.CertificateList({
        "tbs_cert_list": tbs,
        "signature_algorithm": _signature_algorithm(issuer_key),
        "signature": keystore.sign(issuer_key, tbs.dump()),
    }).dump())


@dataclass(frozen=True)
class Signer:
    """A key store key with its certificate."""

    key: KeyRef
    certificate: x509.Certificate


@dataclass(frozen=True)
class Pki:
    """Root CA, two document signers (ECDSA, RSA-PSS), a CRL and a TSA, all for tests."""

    root_key: KeyRef
    root: x509.Certificate
    ecdsa: Signer
    rsa: Signer
    crl: bytes
    tsa_certificate: x509.Certificate
    tsa_key_pem: bytes


@pytest.fixture(scope="module")
def pki(keystore: CertlibKeyStore) -> Pki:
    """A fresh test PKI; every certificate is signed by the root key in the key store."""
    tag = uuid.uuid4().hex[:8]
    root_key = keystore.generate("ecdsa-p256-sha256", f"pdf-root-{tag}")
    root_name = _name(f"certlib test root {tag}")
    root = issue_certificate(keystore, issuer_key=root_key, issuer=root_name, subject=root_name,
                             public_key=root_key.public_key, ca=True)

    def signer(algorithm: str, label: str) -> Signer:
        key = keystore.generate(algorithm, f"pdf-{label}-{tag}")
        cert = issue_certificate(keystore, issuer_key=root_key, issuer=root_name,
                                 subject=_name(f"文档签名 {label} {tag}"),
                                 public_key=key.public_key, ca=False, crl_url=CRL_URL)
        return Signer(key, cert)

    tsa_private = ec.generate_private_key(ec.SECP256R1())
    tsa_public = tsa_private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    tsa_certificate = issue_certificate(
        keystore, issuer_key=root_key, issuer=root_name, subject=_name(f"test TSA {tag}"),
        public_key=tsa_public, ca=False, extended_key_usage=["time_stamping"])
    return Pki(
        root_key=root_key, root=root,
        ecdsa=signer("ecdsa-p256-sha256", "ecdsa"),
        rsa=signer("rsa-pss-sha256", "rsa-pss"),
        crl=issue_crl(keystore, root_key, root_name),
        tsa_certificate=tsa_certificate,
        tsa_key_pem=tsa_private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()),
    )


# -- a real RFC 3161 time-stamp authority: `openssl ts -reply` behind a loopback HTTP server --


def _write_tsa_config(directory: Path, pki: Pki) -> Path:
    (directory / "tsa.pem").write_bytes(pem.armor("CERTIFICATE", pki.tsa_certificate.dump()))
    (directory / "tsa.key").write_bytes(pki.tsa_key_pem)
    (directory / "tsa.key").chmod(0o600)
    (directory / "root.pem").write_bytes(pem.armor("CERTIFICATE", pki.root.dump()))
    (directory / "serial").write_text("01\n")
    config = directory / "tsa.cnf"
    config.write_text(
        "[ tsa ]\n"
        "default_tsa = test_tsa\n"
        "[ test_tsa ]\n"
        f"dir = {directory}\n"
        "serial = $dir/serial\n"
        "crypto_device = builtin\n"
        "signer_cert = $dir/tsa.pem\n"
        "certs = $dir/root.pem\n"
        "signer_key = $dir/tsa.key\n"
        "signer_digest = sha256\n"
        "default_policy = 1.3.6.1.4.1.99999.1.1\n"
        "digests = sha256, sha384, sha512\n"
        "accuracy = secs:1\n"
        "ordering = yes\n"
        "tsa_name = no\n"
        "ess_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n"
    )
    return config


@pytest.fixture(scope="module")
def tsa_url(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a local time-stamp authority run by the openssl CLI."""
    found = shutil.which("openssl")
    if found is None:
        pytest.skip("openssl is not installed")
    openssl: str = found
    directory = tmp_path_factory.mktemp("tsa")
    config = _write_tsa_config(directory, pki)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = self.rfile.read(length)
            with lock, tempfile.TemporaryDirectory(dir=directory) as work:
                query, reply = Path(work) / "q.tsq", Path(work) / "r.tsr"
                query.write_bytes(request)
                subprocess.run([openssl, "ts", "-reply", "-config", str(config),
                                "-queryfile", str(query), "-out", str(reply)],
                               check=True, capture_output=True)
                body = reply.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- checkers: pyHanko's validator and poppler's pdfsig with an NSS database ---------------


def pyhanko_status(
    pdf: bytes, root: x509.Certificate, index: int, context: ValidationContext | None = None,
) -> PdfSignatureStatus:
    """pyHanko's verdict on signature `index`, trusting only `root` (soft-fail revocation)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    signature = reader.embedded_signatures[index]
    if context is None:
        context = ValidationContext(trust_roots=[root], allow_fetching=False,
                                    revocation_mode="soft-fail")
    return validate_pdf_signature(
        signature, context,
        key_usage_settings=KeyUsageConstraints(key_usage={"non_repudiation"}),
    )


def details(status: PdfSignatureStatus) -> str:
    """pyHanko's full account of a validation, for assertion messages."""
    text: str = status.pretty_print_details()  # type: ignore[no-untyped-call]
    return text


@pytest.fixture(scope="module")
def nss_db(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An NSS database that trusts the test root, for pdfsig."""
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.skip("certutil is not installed (Debian package libnss3-tools)")
    directory = tmp_path_factory.mktemp("nss")
    root_pem = directory / "root.pem"
    root_pem.write_bytes(pem.armor("CERTIFICATE", pki.root.dump()))
    subprocess.run([certutil, "-N", "-d", f"sql:{directory}", "--empty-password"],
                   check=True, capture_output=True)
    # pdfsig checks the signer for S/MIME (email signer) use: the root needs the "C" trust
    # flag in the S/MIME position; "C,," (SSL only) gives "Certificate issuer isn't Trusted".
    subprocess.run([certutil, "-A", "-n", "root", "-t", "C,C,", "-i", str(root_pem),
                    "-d", f"sql:{directory}"], check=True, capture_output=True)
    return f"sql:{directory}"


@dataclass(frozen=True)
class PdfsigSignature:
    """What pdfsig says about one signature."""

    field: str
    signature: str
    certificate: str
    whole_document: bool


def pdfsig(pdf: bytes, nss: str, tmp_path: Path) -> list[PdfsigSignature]:
    """pdfsig's report on every signature of `pdf`."""
    tool = shutil.which("pdfsig")
    if tool is None:
        pytest.skip("pdfsig is not installed (Debian package poppler-utils)")
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    result = subprocess.run([tool, "-nssdir", nss, str(path)],
                            capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    found = []
    for block in re.split(r"^Signature #\d+:$", output, flags=re.MULTILINE)[1:]:
        field = re.search(r"Signature Field Name: (.*)", block)
        signature = re.search(r"Signature Validation: (.*)", block)
        certificate = re.search(r"Certificate Validation: (.*)", block)
        found.append(PdfsigSignature(
            field=field.group(1).strip() if field else "",
            signature=signature.group(1).strip() if signature else "",
            certificate=certificate.group(1).strip() if certificate else "",
            whole_document="Total document signed" in block,
        ))
    assert found, f"pdfsig found no signature: {output}"
    return found


# -- documents ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_pdf() -> bytes:
    """A rendered e-certificate to sign."""
    return render_certificate_pdf(
        "营业执照", "Business licence",
        [("名称", "某某科技有限公司"), ("统一社会信用代码", "91110000600037341L"),
         ("法定代表人", "李四"), ("住所", "北京市海淀区中关村大街一号")],
        identifier="1.2.156.3005.2.11100000000013127D002.91110000600037341L.0001.001.Q",
        issuer="北京市市场监督管理局", qr_payload="CERTLIB1:example",
    )


def _sign(keystore: CertlibKeyStore, pki: Pki, pdf: bytes, signer: Signer,
          **options: Any) -> bytes:
    return sign_pdf(pdf, keystore=keystore, key=signer.key,
                    certificate=signer.certificate.dump(), chain=[pki.root.dump()], **options)


# -- signing and checking ------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ecdsa", "rsa"])
def test_signed_pdf_is_valid_and_trusted(
    *, keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, nss_db: str, tmp_path: Path,
    which: str,
) -> None:
    signer: Signer = getattr(pki, which)
    signed = _sign(keystore, pki, certificate_pdf, signer, reason="签发", location="北京")

    status = pyhanko_status(signed, pki.root, 0)
    assert status.intact and status.valid and status.trusted, details(status)
    assert status.bottom_line
    signer_info = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0].signer_info
    mechanism = signer_info["signature_algorithm"]["algorithm"].native
    assert mechanism == ("rsassa_pss" if which == "rsa" else "sha256_ecdsa")
    assert status.md_algorithm == "sha256"

    [report] = pdfsig(signed, nss_db, tmp_path)
    assert report.signature == "Signature is Valid."
    assert report.certificate == "Certificate is Trusted."
    assert report.whole_document
    assert report.field == "Signature1"


def test_pdfsig_does_not_trust_an_unknown_root(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, tmp_path: Path,
) -> None:
    """The trust checks above can fail: an empty NSS database does not trust the root."""
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.skip("certutil is not installed (Debian package libnss3-tools)")
    empty = tmp_path / "empty-nss"
    empty.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{empty}", "--empty-password"],
                   check=True, capture_output=True)
    signed = _sign(keystore, pki, certificate_pdf, pki.ecdsa)
    [report] = pdfsig(signed, f"sql:{empty}", tmp_path)
    assert report.signature == "Signature is Valid."
    assert report.certificate != "Certificate is Trusted."

    other_root = issue_certificate(
        keystore, issuer_key=pki.ecdsa.key, issuer=_name("stranger"), subject=_name("stranger"),
        public_key=pki.ecdsa.key.public_key, ca=True)
    status = pyhanko_status(signed, other_root, 0)
    assert status.intact and status.valid and not status.trusted


def test_two_signatures_in_sequence_both_validate(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, nss_db: str, tmp_path: Path,
) -> None:
    first = _sign(keystore, pki, certificate_pdf, pki.ecdsa, reason="签发")
    second = _sign(keystore, pki, first, pki.rsa, reason="复核")
    assert second.startswith(first), "the second signature is an incremental update"

    reader = PdfFileReader(io.BytesIO(second))
    assert [s.field_name for s in reader.embedded_signatures] == ["Signature1", "Signature2"]
    for index in (0, 1):
        status = pyhanko_status(second, pki.root, index)
        assert status.bottom_line, details(status)
    earlier = pyhanko_status(second, pki.root, 0)
    assert earlier.coverage is not None
    assert earlier.coverage.name == "ENTIRE_REVISION"
    assert earlier.modification_level is not None
    assert earlier.modification_level.name == "FORM_FILLING"

    reports = pdfsig(second, nss_db, tmp_path)
    assert [r.field for r in reports] == ["Signature1", "Signature2"]
    for report in reports:
        assert report.signature == "Signature is Valid."
        assert report.certificate == "Certificate is Trusted."
    assert [r.whole_document for r in reports] == [False, True]


def _signed_range_offset(signed: bytes, needle: bytes) -> int:
    """Offset of `needle` inside the first byte range of the last signature."""
    reader = PdfFileReader(io.BytesIO(signed))
    signature = reader.embedded_signatures[-1]
    start, length = signature.byte_range[0], signature.byte_range[1]
    offset = signed.find(needle, start, start + length)
    assert offset >= 0
    return offset


def test_a_changed_byte_in_the_signed_range_is_reported_invalid(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, nss_db: str, tmp_path: Path,
) -> None:
    signed = _sign(keystore, pki, certificate_pdf, pki.ecdsa)
    offset = _signed_range_offset(signed, b"(certlib)")  # the /Creator string
    tampered = bytearray(signed)
    tampered[offset + 1] ^= 0x01
    tampered_bytes = bytes(tampered)

    status = pyhanko_status(tampered_bytes, pki.root, 0)
    assert not status.intact
    assert not status.bottom_line
    [report] = pdfsig(tampered_bytes, nss_db, tmp_path)
    assert report.signature != "Signature is Valid."
    assert "Mismatch" in report.signature


def test_signed_rendered_pdf_keeps_extractable_chinese_and_embedded_font(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, tmp_path: Path,
) -> None:
    for tool in ("pdftotext", "pdffonts"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package poppler-utils)")
    signed = _sign(keystore, pki, certificate_pdf, pki.ecdsa)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    flat = "".join(text.split())
    for expected in ("营业执照", "某某科技有限公司", "北京市市场监督管理局", "统一社会信用代码"):
        assert expected in flat
    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True,
                           text=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5:-3] == ["yes", "yes"] for line in fonts)


def test_certification_signature_locks_the_document(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, nss_db: str, tmp_path: Path,
) -> None:
    certified = _sign(keystore, pki, certificate_pdf, pki.ecdsa, certify=Permissions.NO_CHANGES)
    status = pyhanko_status(certified, pki.root, 0)
    assert status.bottom_line
    level = PdfFileReader(io.BytesIO(certified)).embedded_signatures[0].docmdp_level
    assert level is not None
    assert level.name == "NO_CHANGES"
    [report] = pdfsig(certified, nss_db, tmp_path)
    assert report.signature == "Signature is Valid."
    with pytest.raises(PdfSigningRefused):
        _sign(keystore, pki, certified, pki.rsa)


def test_form_filling_certification_allows_a_later_approval(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    certified = _sign(keystore, pki, certificate_pdf, pki.ecdsa, certify=Permissions.FILL_FORMS)
    approved = _sign(keystore, pki, certified, pki.rsa)
    first = pyhanko_status(approved, pki.root, 0)
    assert first.bottom_line, details(first)
    assert first.docmdp_ok
    assert pyhanko_status(approved, pki.root, 1).bottom_line


def test_visible_stamp_is_drawn_in_its_box(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, tmp_path: Path,
) -> None:
    # Smaller than the box: the stamp is scaled up to fill it.
    picture = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
    ImageDraw.Draw(picture).ellipse((2, 2, 58, 58), fill=(220, 0, 0, 255))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    box = (400, 80, 520, 200)
    signed = _sign(keystore, pki, certificate_pdf, pki.ecdsa, field_name="seal-1",
                   appearance=Appearance(image=buffer.getvalue(), page=0, box=box))
    status = pyhanko_status(signed, pki.root, 0)
    assert status.bottom_line, details(status)

    reader = PdfFileReader(io.BytesIO(signed))
    annotation = reader.embedded_signatures[0].sig_field
    assert [round(float(v)) for v in annotation["/Rect"]] == list(box)

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed (Debian package poppler-utils)")
    (tmp_path / "stamped.pdf").write_bytes(signed)
    subprocess.run(["pdftoppm", "-r", "72", "-png", "-singlefile", str(tmp_path / "stamped.pdf"),
                    str(tmp_path / "page")], check=True)
    page = Image.open(tmp_path / "page.png").convert("RGB")
    height = page.height
    centre = ((box[0] + box[2]) // 2, height - (box[1] + box[3]) // 2)
    red, green, blue = page.getpixel(centre)  # type: ignore[misc]
    assert red > 180 and green < 80 and blue < 80
    near_edge = (box[0] + 6, height - (box[1] + box[3]) // 2)  # filled only when scaled up
    red, green, blue = page.getpixel(near_edge)  # type: ignore[misc]
    assert red > 180 and green < 80 and blue < 80
    corner = (box[0] + 3, height - box[3] + 3)  # transparent corner of the picture
    assert page.getpixel(corner) == (255, 255, 255)


def test_b_t_and_b_lt_with_a_real_time_stamp_authority(
    *, keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, tsa_url: str, nss_db: str,
    tmp_path: Path,
) -> None:
    signed = _sign(keystore, pki, certificate_pdf, pki.ecdsa, timestamp_url=tsa_url,
                   embed_validation_info=True, crls=[pki.crl])
    status = pyhanko_status(signed, pki.root, 0)
    assert status.bottom_line, details(status)
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid
    assert status.timestamp_validity.trusted

    reader = PdfFileReader(io.BytesIO(signed))
    dss = reader.root["/DSS"]
    embedded_crls = [bytes(ref.get_object().data) for ref in dss["/CRLs"]]
    assert pki.crl in embedded_crls
    # With revocation checking strict and no fetching, the CRL in the DSS is what lets the
    # signer's certificate pass; without it the same check fails.
    from_dss = DocumentSecurityStore.read_dss(reader).as_validation_context(
        {"trust_roots": [pki.root], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    assert pyhanko_status(signed, pki.root, 0, from_dss).bottom_line
    without = ValidationContext(trust_roots=[pki.root], allow_fetching=False,
                                revocation_mode="hard-fail", crls=[], ocsps=[])
    assert not pyhanko_status(signed, pki.root, 0, without).trusted

    [report] = pdfsig(signed, nss_db, tmp_path)
    assert report.signature == "Signature is Valid."
    assert report.certificate == "Certificate is Trusted."


def test_b_t_only(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, tsa_url: str,
) -> None:
    signed = _sign(keystore, pki, certificate_pdf, pki.rsa, timestamp_url=tsa_url)
    status = pyhanko_status(signed, pki.root, 0)
    assert status.bottom_line
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert "/DSS" not in PdfFileReader(io.BytesIO(signed)).root


# -- refusals ----------------------------------------------------------------------------


def test_unreachable_tsa_is_unavailable(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(errors.UnavailableError):
        _sign(keystore, pki, certificate_pdf, pki.ecdsa,
              timestamp_url=f"http://127.0.0.1:{port}/tsa")


def test_b_lt_with_a_root_that_does_not_issue_the_signer_is_a_trust_error(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    stranger = issue_certificate(
        keystore, issuer_key=pki.ecdsa.key,
        issuer=_name("stranger root"), subject=_name("stranger root"),
        public_key=pki.ecdsa.key.public_key, ca=True)
    with pytest.raises(errors.TrustError):
        sign_pdf(certificate_pdf, keystore=keystore, key=pki.ecdsa.key,
                 certificate=pki.ecdsa.certificate.dump(), trust_roots=[stranger.dump()],
                 embed_validation_info=True, crls=[pki.crl])


def test_b_lt_without_the_crl_is_a_trust_error(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    """The leaf names a CRL; hard-fail refuses to embed nothing for it."""
    with pytest.raises(errors.TrustError):
        _sign(keystore, pki, certificate_pdf, pki.ecdsa, embed_validation_info=True)


def test_certificate_of_another_key_is_refused(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    with pytest.raises(errors.InvalidKey):
        sign_pdf(certificate_pdf, keystore=keystore, key=pki.ecdsa.key,
                 certificate=pki.rsa.certificate.dump())


def test_unsupported_key_algorithm_is_refused(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, key_name: str,
) -> None:
    key = keystore.generate("ed25519", key_name)
    with pytest.raises(errors.InvalidKey):
        KeyStoreSigner(keystore, key, pki.ecdsa.certificate)


def test_disabled_key_raises_a_key_store_error(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, key_name: str,
) -> None:
    key = keystore.generate("ecdsa-p256-sha256", key_name)
    certificate = issue_certificate(
        keystore, issuer_key=pki.root_key, issuer=pki.root.subject, subject=_name(key_name),
        public_key=key.public_key, ca=False)
    keystore.disable(key_name)
    with pytest.raises(errors.KeyNotUsableError):
        sign_pdf(certificate_pdf, keystore=keystore, key=key, certificate=certificate.dump())


def test_signing_a_filled_field_again_is_refused(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    signed = _sign(keystore, pki, certificate_pdf, pki.ecdsa, field_name="issuer")
    with pytest.raises(PdfSigningRefused):
        _sign(keystore, pki, signed, pki.ecdsa, field_name="issuer")


@pytest.mark.parametrize(
    "pdf",
    [b"", b"not a pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"],
)
def test_malformed_pdf_is_malformed_input(
    keystore: CertlibKeyStore, pki: Pki, pdf: bytes,
) -> None:
    with pytest.raises(errors.MalformedInput):
        _sign(keystore, pki, pdf, pki.ecdsa)


def test_truncated_pdf_is_malformed_input(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    with pytest.raises(errors.MalformedInput):
        _sign(keystore, pki, certificate_pdf[: len(certificate_pdf) // 2], pki.ecdsa)


def test_malformed_certificate_and_appearance_are_input_errors(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    with pytest.raises(errors.MalformedInput):
        sign_pdf(certificate_pdf, keystore=keystore, key=pki.ecdsa.key, certificate=b"\x30\x03")
    with pytest.raises(errors.MalformedInput):
        _sign(keystore, pki, certificate_pdf, pki.ecdsa,
              appearance=Appearance(image=b"not an image", page=0, box=(0, 0, 10, 10)))
    with pytest.raises(errors.InputError):
        _sign(keystore, pki, certificate_pdf, pki.ecdsa,
              appearance=Appearance(image=b"", page=0, box=(10, 10, 0, 0)))
    picture = io.BytesIO()
    Image.new("RGB", (10, 10), (255, 0, 0)).save(picture, format="PNG")
    with pytest.raises(errors.InputError, match="page 5"):
        _sign(keystore, pki, certificate_pdf, pki.ecdsa,
              appearance=Appearance(image=picture.getvalue(), page=5, box=(0, 0, 10, 10)))


def test_digest_of_signed_attributes_is_what_the_key_store_signed(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes,
) -> None:
    """The CMS signature verifies over the signed attributes with the key store's public key."""
    from certlib.algorithms import verify_signature

    signed = _sign(keystore, pki, certificate_pdf, pki.ecdsa)
    reader = PdfFileReader(io.BytesIO(signed))
    signer_info = reader.embedded_signatures[0].signer_info
    signed_attrs = signer_info["signed_attrs"].untag().dump()
    signature = signer_info["signature"].native
    assert verify_signature(pki.ecdsa.key.public_key, "ecdsa-p256-sha256", signed_attrs, signature)



@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_pdfs_raise_only_certlib_errors(
    keystore: CertlibKeyStore, pki: Pki, certificate_pdf: bytes, data: st.DataObject,
) -> None:
    damaged = bytearray(certificate_pdf)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(damaged) // 2, len(damaged)))
    with contextlib.suppress(errors.CertlibError):
        _sign(keystore, pki, bytes(damaged[:cut]), pki.ecdsa)


def test_encrypted_pdf_is_refused(keystore: CertlibKeyStore, pki: Pki) -> None:
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text="secret")
    document.set_encryption(owner_password="owner", user_password="")
    with pytest.raises(PdfSigningRefused, match="encrypted"):
        _sign(keystore, pki, bytes(document.output()), pki.ecdsa)
