"""Test helpers for seals and OFD: an SM2 seal PKI in the token, minimal OFDs, ZIP surgery.

The PKI's keys are SM2 keys of the test SoftHSM2 token; certificates come from
tests/chain_support. The third-party (ofdrw) material is read from the `testdata` corpus.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import gmssl_pyx
import pytest
from asn1crypto import cms, core, keys, parser, pem, x509
from PIL import Image, ImageDraw

from certlib.algorithms import SM2_DEFAULT_USER_ID, digest
from certlib.keys import CertlibKeyStore
from certlib.ses import SealPicture, SealSpec, make_seal
from certlib.trust import TrustMaterial
from hsm import KeyRef
from tests.chain_support import dn, key_issuer, make_certificate

Signer = Callable[[bytes], bytes]
OFD_NS = "http://www.ofdspec.org/2016"


def when(year: int, month: int = 1, day: int = 1) -> datetime:
    """A UTC midnight."""
    return datetime(year, month, day, tzinfo=UTC)


@dataclass(frozen=True)
class SealPki:
    """An SM2 root, a seal maker and two signers (only `signer` is listed in seals made here)."""

    root: bytes
    maker: bytes
    maker_sign: Signer
    signer: bytes
    signer_sign: Signer
    outsider: bytes
    outsider_sign: Signer
    signer_key: KeyRef

    @property
    def trust(self) -> TrustMaterial:
        """The root as the only trust anchor."""
        return TrustMaterial(anchors=[self.root])


def make_pki(keystore: CertlibKeyStore) -> SealPki:
    """Root 2024-2044; maker and signers 2025-2035, all SM2 keys in the token."""
    prefix = f"ses-{uuid.uuid4().hex[:8]}"
    root_key = keystore.generate("sm2-sm3", f"{prefix}-root")
    refs = {role: keystore.generate("sm2-sm3", f"{prefix}-{role}")
            for role in ("maker", "signer", "outsider")}
    root = make_certificate(
        None, subject=dn("SES Test Root"), spki=root_key.public_key, serial=1,
        not_before=when(2024), not_after=when(2044), ca=True,
        key_usage=frozenset({"key_cert_sign", "crl_sign"}),
        self_signer=lambda data: keystore.sign(root_key, data))
    issuer = key_issuer(keystore, root_key, dn("SES Test Root"))
    certificates = {
        role: make_certificate(issuer, subject=dn(f"SES test {role}"), spki=ref.public_key,
                               serial=10 + index, not_before=when(2025), not_after=when(2035),
                               ca=False)
        for index, (role, ref) in enumerate(refs.items())
    }

    def signer_of(ref: KeyRef) -> Signer:
        return lambda data: keystore.sign(ref, data)

    return SealPki(root=root, maker=certificates["maker"], maker_sign=signer_of(refs["maker"]),
                   signer=certificates["signer"], signer_sign=signer_of(refs["signer"]),
                   outsider=certificates["outsider"],
                   outsider_sign=signer_of(refs["outsider"]), signer_key=refs["signer"])


def png(size: int = 120) -> bytes:
    """A small red round seal picture."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((4, 4, size - 4, size - 4), outline=(220, 0, 0, 255), width=6)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def seal_spec(pki: SealPki, **changes: object) -> SealSpec:
    """A seal listing `pki.signer`, valid 2025-2030 unless `changes` say otherwise."""
    start = changes.get("valid_from", when(2025))
    values: dict[str, object] = {
        "es_id": "63010000000001", "seal_type": 1, "name": "青海省测试厅业务专用章",
        "signer_certificates": (pki.signer,), "created": start, "valid_from": start,
        "valid_until": when(2030), "picture": SealPicture("png", png(), 40, 40),
    }
    values.update(changes)
    return SealSpec(**values)  # type: ignore[arg-type]


def seal_of(pki: SealPki, **changes: object) -> bytes:
    """A v4 seal made by the maker key in the token."""
    return make_seal(seal_spec(pki, **changes), pki.maker, pki.maker_sign)


def minimal_ofd(pages: int = 1) -> bytes:
    """A small valid unsigned OFD with `pages` pages of text."""
    page_list = "".join(f'<ofd:Page ID="{10 + n}" BaseLoc="Pages/Page_{n}/Content.xml"/>'
                        for n in range(pages))
    files = {
        "OFD.xml": f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{OFD_NS}" '
                   'Version="1.1" DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>'
                   f'{uuid.uuid4().hex}</ofd:DocID><ofd:CreationDate>2026-01-01'
                   '</ofd:CreationDate></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml'
                   '</ofd:DocRoot></ofd:DocBody></ofd:OFD>',
        "Doc_0/Document.xml": f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document '
                              f'xmlns:ofd="{OFD_NS}"><ofd:CommonData><ofd:MaxUnitID>100'
                              '</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297'
                              '</ofd:PhysicalBox></ofd:PageArea><ofd:PublicRes>PublicRes.xml'
                              f'</ofd:PublicRes></ofd:CommonData><ofd:Pages>{page_list}'
                              '</ofd:Pages></ofd:Document>',
        "Doc_0/PublicRes.xml": f'<?xml version="1.0" encoding="UTF-8"?><ofd:Res '
                               f'xmlns:ofd="{OFD_NS}" BaseLoc="Res"><ofd:Fonts><ofd:Font '
                               'ID="2" FontName="宋体"/></ofd:Fonts></ofd:Res>',
    }
    for n in range(pages):
        files[f"Doc_0/Pages/Page_{n}/Content.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content>'
            '<ofd:Layer ID="3"><ofd:TextObject ID="4" Boundary="20 20 170 10" Font="2" '
            f'Size="5"><ofd:TextCode X="0" Y="5">第 {n + 1} 页 测试文本</ofd:TextCode>'
            '</ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>')
    return zip_files({name: text.encode() for name, text in files.items()})


def zip_files(files: Mapping[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP of `files`, in order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    """The files of a ZIP, by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()
                if not info.is_dir()}


def rezip(data: bytes, changes: Mapping[str, bytes | None]) -> bytes:
    """The same ZIP with files replaced, added, or (None) removed."""
    files = unzip(data)
    for name, content in changes.items():
        if content is None:
            files.pop(name, None)
        else:
            files[name] = content
    return zip_files(files)


def flip_byte(data: bytes, index: int) -> bytes:
    """`data` with one byte changed."""
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def elements(der: bytes) -> list[bytes]:
    """The exact TLVs inside a DER SEQUENCE."""
    _, _, _, _, contents, _ = parser.parse(der, strict=True)
    found, offset = [], 0
    while offset < len(contents):
        size = parser.peek(contents[offset:])
        found.append(contents[offset:offset + size])
        offset += size
    return found


def sequence(parts: list[bytes]) -> bytes:
    """A DER SEQUENCE of the given TLVs."""
    return bytes(parser.emit(0, 1, 16, b"".join(parts)))


# -- third-party material --------------------------------------------------------------


def p12_certificate(path: Path, password: str) -> bytes:
    """The end certificate of a legacy (RC2-40) PKCS#12 file, through the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing")
    run = subprocess.run(
        ["openssl", "pkcs12", "-legacy", "-in", str(path), "-passin", f"pass:{password}",
         "-nokeys", "-clcerts"], capture_output=True, check=False)
    if run.returncode != 0:
        pytest.skip(f"openssl cannot open the legacy p12: {run.stderr[:200]!r}")
    _, _, der = pem.unarmor(run.stdout[run.stdout.index(b"-----BEGIN"):])
    return bytes(der)


def ofdrw_root(testdata: Path) -> bytes:
    """The OFD R&W test root certificate (from ROOT.p12)."""
    return p12_certificate(testdata / "ofdrw" / "keys" / "ROOT.p12", "123456")


def ofdrw_sign_key(testdata: Path) -> tuple[bytes, Signer]:
    """ofdrw's sign_cert.pem and a signer for sign_key.pem (GmSSL, default SM2 id)."""
    folder = testdata / "ofdrw" / "keys"
    _, _, certificate = pem.unarmor((folder / "sign_cert.pem").read_bytes())
    _, _, key_der = pem.unarmor((folder / "sign_key.pem").read_bytes())
    key = keys.ECPrivateKey.load(key_der)
    scalar = int(key["private_key"].native).to_bytes(32, "big")
    point = bytes(key["public_key"].native)

    def sign(data: bytes) -> bytes:
        return bytes(gmssl_pyx.sm2_sign(scalar, point[1:], data, SM2_DEFAULT_USER_ID))

    return bytes(certificate), sign


def openssl_sm2_verify(tmp: Path, certificate: bytes, data: bytes, signature: bytes) -> bool:
    """Whether `openssl dgst -sm3` (SM2, default id) verifies `signature` over `data`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing")
    name = uuid.uuid4().hex[:8]
    cert, message, sig, pub = (tmp / f"{name}.{ext}" for ext in ("der", "bin", "sig", "pem"))
    cert.write_bytes(certificate)
    message.write_bytes(data)
    sig.write_bytes(signature)
    run = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", str(cert), "-pubkey",
                          "-noout", "-out", str(pub)], capture_output=True, check=True)
    run = subprocess.run(
        ["openssl", "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", str(pub),
         "-signature", str(sig), str(message)], capture_output=True, check=False)
    return run.returncode == 0 and b"Verified OK" in run.stdout


def signed_data_variant(tbs: bytes, certificate: bytes, sign: Signer, *,
                        econtent: bytes | None, attributes: bool,
                        outer_type: str = "1.2.156.10197.6.1.4.2.2",
                        signature_oid: str = "1.2.156.10197.1.301.1") -> bytes:
    """A GB/T 35275 SignedData over `tbs` in shapes other writers use (test-only builder)."""
    signer = x509.Certificate.load(certificate)
    covered = econtent if econtent is not None else tbs
    signed_attrs = None
    message = econtent or b""
    if attributes:
        encoded = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["1.2.156.10197.6.1.4.2.1"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [digest("sm3", covered)]}),
        ]).dump()
        signed_attrs = cms.CMSAttributes.load(b"\xa0" + encoded[1:], implicit=0)
        message = encoded
    encapsulated: dict[str, object] = {"content_type": "1.2.156.10197.6.1.4.2.1"}
    if econtent is not None:
        encapsulated["content"] = core.ParsableOctetString(econtent, explicit=0)
    signed = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": "1.2.156.10197.1.401"}],
        "encap_content_info": cms.ContentInfo.load(
            cms.EncapsulatedContentInfo(encapsulated).dump()),
        "certificates": [signer],
        "signer_infos": [{
            "version": "v1",
            "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
                "issuer": signer.issuer, "serial_number": signer.serial_number}),
            "digest_algorithm": {"algorithm": "1.2.156.10197.1.401"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": signature_oid},
            "signature": sign(message),
        }],
    })
    return bytes(cms.ContentInfo({"content_type": outer_type, "content": signed}).dump())
