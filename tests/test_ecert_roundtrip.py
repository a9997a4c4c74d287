"""Issue, present and verify every certificate type with every algorithm, on real HSM keys."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem
from PIL import Image

from certlib import ecert
from certlib.platform import Platform
from certlib.present import load_certificate, present, qr_code, to_qr_text
from certlib.report import Indication
from tests.conftest import Departments
from tests.samples import SAMPLES

ALGORITHMS = ("ecdsa-p256-sha256", "rsa-pss-sha256", "ed25519", "sm2-sm3")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("type_id", sorted(SAMPLES))
def test_issue_present_verify(platform: Platform, departments: Departments, type_id: str,
                              algorithm: str) -> None:
    """Every type and algorithm: the certificate, its default presentation and QR all pass."""
    issued = platform.office.issue(issuer_uscc=departments.by_algorithm[algorithm],
                                   type_id=type_id, data=SAMPLES[type_id])
    verifier = platform.verifier()
    full = verifier.verify(issued.der)
    assert full.indication is Indication.PASSED, full.to_dict(include_disclosed=False)
    profile = platform.types.get(type_id).profile()
    presentation = present(issued.der, profile.fields)
    shown = verifier.verify(presentation)
    assert shown.passed and set(shown.disclosed) == set(profile.fields)
    compact = verifier.verify(to_qr_text(present(issued.der, profile.fields, compact=True)))
    assert compact.passed and compact.disclosed == shown.disclosed


@pytest.mark.parametrize("type_id", ["resident-id-card", "business-licence"])
def test_sm2_all_the_way(platform: Platform, departments: Departments, type_id: str) -> None:
    """SM2 CAs, SM2 department, GM/T 0010 envelope: verifies; digests are SM3."""
    issued = platform.office.issue(issuer_uscc=departments.sm2_region_issuer, type_id=type_id,
                                   data=SAMPLES[type_id])
    report = platform.verifier().verify(issued.der)
    assert report.passed, report.to_dict(include_disclosed=False)
    info = load_certificate(issued.der)["signed_object"]
    assert info["content_type"].dotted == "1.2.156.10197.6.1.4.2.2"
    assert report.checks[2].detail == "1.2.156.10197.1.301.1"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
# Ed25519 envelopes follow RFC 8419 (SHA-512 message digest); OpenSSL 3.0's `cms` refuses
# any digest with EdDSA ("invalid digest"), so only ECDSA and RSA are checked with it here.
@pytest.mark.parametrize("algorithm", ["ecdsa-p256-sha256", "rsa-pss-sha256"])
def test_openssl_cms_verifies_envelopes_with_only_the_root(
    platform: Platform, departments: Departments, tmp_path: Path, algorithm: str
) -> None:
    """`openssl cms -verify` accepts the envelope given only the region root."""
    issued = platform.office.issue(issuer_uscc=departments.by_algorithm[algorithm],
                                   type_id="resident-id-card", data=SAMPLES["resident-id-card"])
    envelope = tmp_path / "ecert.cms"
    envelope.write_bytes(load_certificate(issued.der)["signed_object"].dump())
    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", platform.authority.region("630000")
                               .root_certificate))
    content = tmp_path / "content.der"
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(envelope), "-CAfile",
         str(root), "-binary", "-out", str(content)], capture_output=True, text=True,
        check=False)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    cso = ecert.CertificateSecurityObject.load(content.read_bytes())
    assert cso["identifier"].native == issued.identifier
    other_root = tmp_path / "other.pem"
    other_root.write_bytes(pem.armor("CERTIFICATE", platform.authority.region("620000")
                                     .root_certificate))
    wrong = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(envelope), "-CAfile",
         str(other_root), "-binary", "-out", "/dev/null"], capture_output=True, check=False)
    assert wrong.returncode != 0


def test_qr_code_fits_and_decodes(platform: Platform, departments: Departments) -> None:
    """The default resident-ID presentation fits one QR code and scans back to the same text."""
    zxingcpp = pytest.importorskip("zxingcpp")
    issued = platform.office.issue(issuer_uscc=departments.by_algorithm["ecdsa-p256-sha256"],
                                   type_id="resident-id-card", data=SAMPLES["resident-id-card"])
    fields = platform.types.get("resident-id-card").profile().fields
    compact = present(issued.der, fields, compact=True)
    text = to_qr_text(compact)
    info = qr_code(text)
    assert info.version <= 40
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(info.png)))
    assert [barcode.text for barcode in decoded] == [text]
    assert platform.verifier().verify(decoded[0].text).passed
