"""OFD signatures (certlib.ofd): real third-party files, HSM round trips, hostile packages.

The ofdrw files must give the outcomes their README states; the round trips seal and sign
small OFDs with SM2 keys in the SoftHSM2 token and check every tamper case by the check
that catches it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from certlib.algorithms import digest
from certlib.errors import CertlibError, InputError
from certlib.keys import CertlibKeyStore
from certlib.ofd import (
    DocumentClosed,
    Limits,
    MalformedOfd,
    OfdReport,
    prepare_signature,
    read_package,
    seal_ofd,
    sign_ofd,
    verify_ofd,
)
from certlib.ofd.cms import loose_time
from certlib.ofd.package import resolve
from certlib.report import CheckResult, Indication, SubIndication, ValidationReport
from certlib.ses import parse_signature, sign_data
from certlib.trust import TrustMaterial
from tests.ses_support import (
    OFD_NS,
    SealPki,
    flip_byte,
    make_pki,
    minimal_ofd,
    ofdrw_root,
    ofdrw_sign_key,
    rezip,
    seal_of,
    signed_data_variant,
    unzip,
    when,
    zip_files,
)

SIGN_0 = "Doc_0/Signs/Sign_0"


def results(report: ValidationReport) -> dict[str, CheckResult]:
    """Check name -> result."""
    return {check.name: check.result for check in report.checks}


def only(report: OfdReport) -> ValidationReport:
    """The report of the only signature."""
    assert len(report.signatures) == 1
    return report.signatures[0]


@pytest.fixture(scope="module")
def pki(keystore: CertlibKeyStore) -> SealPki:
    """An SM2 seal PKI in the token."""
    return make_pki(keystore)


@pytest.fixture(scope="module")
def seal(pki: SealPki) -> bytes:
    """A seal valid 2025-2030 listing pki.signer."""
    return seal_of(pki)


@pytest.fixture(scope="module")
def sealed(pki: SealPki, seal: bytes) -> bytes:
    """A two-page OFD with one seal on the second page."""
    return seal_ofd(minimal_ofd(pages=2), seal, pki.signer, pki.signer_sign, page=1,
                    box_mm=(120.0, 200.5, 40.0, 40.0))


@pytest.fixture(scope="module")
def corpus(testdata: Path) -> Path:
    """The signed OFDs of the ofdrw corpus."""
    return testdata / "ofdrw" / "ofd"


# -- the third-party files ------------------------------------------------------------------


def test_v4signed_every_check_passes_but_the_chain_is_unknown(corpus: Path, testdata: Path) -> None:
    """The GOMAIN tax invoice: 13/13 references, dataHash, both signatures, signer in the
    seal; its CA is not here, so INDETERMINATE, and PASSED once its certificates are trusted."""
    data = (corpus / "v4signed.ofd").read_bytes()
    report = verify_ofd(data)
    signature = only(report)
    checks = results(signature)
    for name in ("references", "data-hash", "signature", "signer-in-seal", "seal-signature",
                 "seal-validity", "signing-time"):
        assert checks[name] is CheckResult.PASSED, name
    assert next(c.detail for c in signature.checks if c.name == "references").startswith("13/13")
    assert checks["signer-chain"] is CheckResult.INDETERMINATE
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert signature.subject["es_id"] == "50011200000399"
    assert signature.subject["vendor_id"] == "GOMAIN"
    assert results(report.document)["coverage"] is CheckResult.PASSED
    certs = testdata / "ofdrw" / "certs"
    direct = TrustMaterial(anchors=[(certs / "v4signed_signer.cer").read_bytes(),
                                    (certs / "v4signed_sealmaker.cer").read_bytes()])
    assert verify_ofd(data, trust=direct).passed


def test_allprotected_passes_with_the_ofdrw_root_and_is_closed(
        corpus: Path, testdata: Path, pki: SealPki, seal: bytes) -> None:
    """ofdrw's closed document: every check passes (CheckMethod "SM3" by name), Seal.esl is
    the embedded seal, and it refuses another seal."""
    data = (corpus / "allprotected.ofd").read_bytes()
    report = verify_ofd(data, trust=TrustMaterial(anchors=[ofdrw_root(testdata)]))
    assert report.passed, only(report).checks
    checks = results(only(report))
    assert checks["seal-file"] is CheckResult.PASSED
    assert verify_ofd(data).sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    with pytest.raises(DocumentClosed):
        seal_ofd(data, seal, pki.signer, pki.signer_sign)
    with pytest.raises(DocumentClosed):
        sign_ofd(data, pki.signer, pki.signer_sign)


def test_dms360_v1_is_reported_as_non_conformant(corpus: Path) -> None:
    """refs FAIL, dataHash FAIL, signature FAIL (raw e = dataHash only), seal OK."""
    report = verify_ofd((corpus / "n_v1_dms360_nonconformant.ofd").read_bytes())
    signature = only(report)
    checks = results(signature)
    assert checks["references"] is CheckResult.FAILED
    assert checks["data-hash"] is CheckResult.FAILED
    assert checks["signature"] is CheckResult.FAILED
    assert signature.subject["nonconformant_signature"] == "raw SM2 over e = dataHash"
    assert checks["seal-signature"] is CheckResult.PASSED
    assert checks["seal-file"] is CheckResult.PASSED
    assert checks["signer-in-seal"] is CheckResult.FAILED  # certList holds IA5String "1"
    assert report.indication is Indication.FAILED
    assert report.sub_indication is SubIndication.HASH_FAILURE


def test_real_invoice_stripped_and_sealed_again(corpus: Path, pki: SealPki, seal: bytes) -> None:
    """The tax invoice without its signature, sealed here: the OFD.xml it had is reused."""
    files = unzip((corpus / "v4signed.ofd").read_bytes())
    root = etree.fromstring(files["OFD.xml"])
    for element in root.iter(f"{{{OFD_NS}}}Signatures"):
        element.getparent().remove(element)  # type: ignore[union-attr]
    files["OFD.xml"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    stripped = zip_files({n: c for n, c in files.items() if not n.startswith("Doc_0/Signs/")})
    assert results(verify_ofd(stripped).document)["signatures"] is CheckResult.FAILED
    resealed = seal_ofd(stripped, seal, pki.signer, pki.signer_sign)
    report = verify_ofd(resealed, trust=pki.trust)
    assert report.passed
    assert next(c.detail for c in only(report).checks if c.name == "references").startswith(
        "14/14")  # the 13 files it had (OFD.xml now naming Signatures.xml) and Seal.esl


# -- HSM round trips -----------------------------------------------------------------------


def test_sealed_ofd_layout(sealed: bytes, seal: bytes) -> None:
    """The files a seal adds, what they reference and what the SES_Signature signs."""
    files = unzip(sealed)
    assert b"<ofd:Signatures>/Doc_0/Signs/Signatures.xml</ofd:Signatures>" in files["OFD.xml"]
    listing = etree.fromstring(files["Doc_0/Signs/Signatures.xml"])
    entry = listing.find(f"{{{OFD_NS}}}Signature")
    assert entry is not None
    assert (entry.get("ID"), entry.get("Type"), entry.get("BaseLoc")) == (
        "s001", "Seal", f"/{SIGN_0}/Signature.xml")
    assert files[f"{SIGN_0}/Seal.esl"] == seal
    xml = files[f"{SIGN_0}/Signature.xml"]
    description = etree.fromstring(xml)
    namespaces = {"ofd": OFD_NS}
    references = description.findall(".//ofd:Reference", namespaces)
    referenced = {r.get("FileRef") for r in references}
    assert referenced == {f"/{name}" for name in files} - {
        "/Doc_0/Signs/Signatures.xml", f"/{SIGN_0}/Signature.xml", f"/{SIGN_0}/SignedValue.dat"}
    method = description.find(".//ofd:References", namespaces)
    assert method is not None and method.get("CheckMethod") == "1.2.156.10197.1.401"
    stamp = description.find(".//ofd:StampAnnot", namespaces)
    assert stamp is not None
    assert (stamp.get("PageRef"), stamp.get("Boundary")) == ("11", "120.00 200.50 40.00 40.00")
    signature = parse_signature(files[f"{SIGN_0}/SignedValue.dat"])
    assert signature.version == 4
    assert signature.data_hash == digest("sm3", xml)
    assert signature.property_info == f"/{SIGN_0}/Signature.xml"
    assert signature.seal.der == seal


def test_sealed_ofd_passes_with_trust(sealed: bytes, pki: SealPki) -> None:
    """PASSED with the root; INDETERMINATE without it."""
    report = verify_ofd(sealed, trust=pki.trust)
    assert report.passed, only(report).checks
    assert only(report).subject["seal_name"] == "青海省测试厅业务专用章"
    assert verify_ofd(sealed).sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_several_seals_and_closing(sealed: bytes, pki: SealPki, seal: bytes) -> None:
    """A second seal covers the first one's files; a closing seal stops further signing."""
    second = seal_ofd(sealed, seal, pki.signer, pki.signer_sign, page=0, seal_file=False)
    report = verify_ofd(second, trust=pki.trust)
    assert report.passed and len(report.signatures) == 2
    assert "Doc_0/Signs/Sign_1/Seal.esl" not in unzip(second)
    assert [r.subject["signature_id"] for r in report.signatures] == ["s001", "s002"]
    later = unzip(second)["Doc_0/Signs/Sign_1/Signature.xml"]
    assert b"<ofd:Seal>" not in later
    for name in ("Signature.xml", "SignedValue.dat", "Seal.esl"):
        assert f"/{SIGN_0}/{name}".encode() in later
    closed = seal_ofd(second, seal, pki.signer, pki.signer_sign, close=True)
    assert b"/Doc_0/Signs/Signatures.xml" in unzip(closed)["Doc_0/Signs/Sign_2/Signature.xml"]
    report = verify_ofd(closed, trust=pki.trust)
    assert report.passed and len(report.signatures) == 3
    with pytest.raises(DocumentClosed):
        seal_ofd(closed, seal, pki.signer, pki.signer_sign)


def test_tampering_is_caught_by_the_right_check(sealed: bytes, pki: SealPki) -> None:
    """One byte of a page: HASH_FAILURE (references); of Signature.xml: HASH_FAILURE
    (dataHash); of the signature value: SIG_CRYPTO_FAILURE; a removed file: HASH_FAILURE."""
    files = unzip(sealed)
    page = "Doc_0/Pages/Page_0/Content.xml"
    changed = verify_ofd(rezip(sealed, {page: flip_byte(files[page], 200)}), trust=pki.trust)
    assert changed.sub_indication is SubIndication.HASH_FAILURE
    assert results(only(changed))["references"] is CheckResult.FAILED
    assert results(only(changed))["signature"] is CheckResult.PASSED
    xml = files[f"{SIGN_0}/Signature.xml"]
    edited = xml.replace(b"SignatureDateTime>2", b"SignatureDateTime>3")
    report = verify_ofd(rezip(sealed, {f"{SIGN_0}/Signature.xml": edited}), trust=pki.trust)
    assert results(only(report))["data-hash"] is CheckResult.FAILED
    assert report.sub_indication is SubIndication.HASH_FAILURE
    value = files[f"{SIGN_0}/SignedValue.dat"]
    forged = verify_ofd(rezip(sealed, {f"{SIGN_0}/SignedValue.dat": flip_byte(value, len(value)
                                                                             - 3)}),
                        trust=pki.trust)
    assert forged.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert results(only(forged))["references"] is CheckResult.PASSED
    removed = verify_ofd(rezip(sealed, {"Doc_0/PublicRes.xml": None}), trust=pki.trust)
    assert removed.sub_indication is SubIndication.HASH_FAILURE
    swapped = verify_ofd(rezip(sealed, {f"{SIGN_0}/Seal.esl": seal_of(pki)}), trust=pki.trust)
    assert results(only(swapped))["seal-file"] is CheckResult.FAILED


def test_uncovered_file_fails_the_document(sealed: bytes, pki: SealPki) -> None:
    """A file added after signing, covered by no signature: the signature still passes, the
    document does not (coverage, SIG_CONSTRAINTS_FAILURE)."""
    report = verify_ofd(rezip(sealed, {"Doc_0/Res/extra.png": b"\x89PNG..."}), trust=pki.trust)
    assert only(report).passed
    assert results(report.document)["coverage"] is CheckResult.FAILED
    assert report.indication is Indication.FAILED
    assert report.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE


def test_relative_signature_locations(sealed: bytes, pki: SealPki) -> None:
    """BaseLoc relative to Signatures.xml's folder, as some writers put it."""
    listing = unzip(sealed)["Doc_0/Signs/Signatures.xml"].replace(
        b'BaseLoc="/Doc_0/Signs/Sign_0/Signature.xml"', b'BaseLoc="Sign_0/Signature.xml"')
    report = verify_ofd(rezip(sealed, {"Doc_0/Signs/Signatures.xml": listing}), trust=pki.trust)
    assert report.passed
    assert resolve("../Res/a.png", "Doc_0/Pages") == "Doc_0/Res/a.png"
    assert resolve("/OFD.xml", "Doc_0") == "OFD.xml"
    with pytest.raises(MalformedOfd):
        resolve("../../etc/passwd", "Doc_0")


def test_expired_seal_and_unlisted_signer(pki: SealPki, seal: bytes) -> None:
    """seal_ofd refuses both; made anyway (lower-level parts), verification fails them."""
    expired = seal_of(pki, valid_until=when(2025, 6))
    with pytest.raises(InputError):
        seal_ofd(minimal_ofd(), expired, pki.signer, pki.signer_sign)
    with pytest.raises(InputError):
        seal_ofd(minimal_ofd(), seal, pki.outsider, pki.outsider_sign)

    def forced(seal_der: bytes, certificate: bytes, sign: Callable[[bytes], bytes]) -> bytes:
        prepared = prepare_signature(minimal_ofd(), kind="Seal", seal_der=seal_der, page=0,
                                     box_mm=(10, 10, 40, 40))
        return prepared.finish(sign_data(seal_der, certificate, prepared.data_hash,
                                         prepared.property_info, sign,
                                         timestamp=prepared.when))

    late = verify_ofd(forced(expired, pki.signer, pki.signer_sign), trust=pki.trust)
    assert late.sub_indication is SubIndication.EXPIRED
    assert results(only(late))["seal-validity"] is CheckResult.FAILED
    outsider = verify_ofd(forced(seal, pki.outsider, pki.outsider_sign), trust=pki.trust)
    assert outsider.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert results(only(outsider))["signer-in-seal"] is CheckResult.FAILED


def test_unsigned_document_fails() -> None:
    """No signature: FAILED/FORMAT_FAILURE from the document check `signatures`."""
    report = verify_ofd(minimal_ofd())
    assert report.indication is Indication.FAILED
    assert report.sub_indication is SubIndication.FORMAT_FAILURE
    assert results(report.document)["signatures"] is CheckResult.FAILED
    assert report.signatures == ()


def test_bad_arguments(pki: SealPki, seal: bytes) -> None:
    """Pages and boxes outside the document, and unknown models."""
    with pytest.raises(InputError):
        seal_ofd(minimal_ofd(), seal, pki.signer, pki.signer_sign, page=3)
    with pytest.raises(InputError):
        seal_ofd(minimal_ofd(), seal, pki.signer, pki.signer_sign, box_mm=(0, 0, 0, 10))
    with pytest.raises(InputError):
        sign_ofd(minimal_ofd(), pki.signer, pki.signer_sign, model="attached")  # type: ignore[arg-type]


# -- Type="Sign" (GB/T 35275) ------------------------------------------------------------


@pytest.mark.parametrize("model", ["detached", "digest"])
def test_sign_type_round_trip(pki: SealPki, seal: bytes, model: str) -> None:
    """Both CMS models with a token key, on a sealed document; tampering is caught."""
    base = seal_ofd(minimal_ofd(), seal, pki.signer, pki.signer_sign)
    signed = sign_ofd(base, pki.signer, pki.signer_sign, model=model)  # type: ignore[arg-type]
    report = verify_ofd(signed, trust=pki.trust)
    assert report.passed, [r.checks for r in report.signatures]
    sign_report = report.signatures[1]
    assert sign_report.subject["type"] == "Sign" and sign_report.subject["model"] == model
    files = unzip(signed)
    value = files["Doc_0/Signs/Sign_1/SignedValue.dat"]
    assert value[:20].find(bytes.fromhex("2a811ccf550601040202")) > 0  # GM/T 0010 signedData
    page = "Doc_0/Pages/Page_0/Content.xml"
    assert verify_ofd(rezip(signed, {page: flip_byte(files[page], 150)}),
                      trust=pki.trust).sub_indication is SubIndication.HASH_FAILURE
    xml = files["Doc_0/Signs/Sign_1/Signature.xml"]
    edited = verify_ofd(rezip(signed, {"Doc_0/Signs/Sign_1/Signature.xml": xml + b" "}),
                        trust=pki.trust)
    assert results(edited.signatures[1])["data-hash"] is CheckResult.FAILED
    forged = verify_ofd(rezip(signed, {"Doc_0/Signs/Sign_1/SignedValue.dat":
                                       flip_byte(value, len(value) - 3)}), trust=pki.trust)
    assert results(forged.signatures[1])["signature"] is CheckResult.FAILED
    assert forged.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_sign_type_variants_of_other_writers(pki: SealPki) -> None:
    """Shapes other writers use: a base64 digest (ofdrw option), Signature.xml attached with
    signed attributes, PKCS#7 signedData and the SM2-with-SM3 OID; and a wrong digest."""
    prepared = prepare_signature(minimal_ofd(), kind="Sign")
    tbs = prepared.signature_xml
    sm3 = digest("sm3", tbs)
    cases = [
        ({"econtent": base64.b64encode(sm3), "attributes": False}, True),
        ({"econtent": tbs, "attributes": True}, True),
        ({"econtent": None, "attributes": True, "outer_type": "1.2.840.113549.1.7.2",
          "signature_oid": "1.2.156.10197.1.501"}, True),
        ({"econtent": digest("sm3", tbs + b" "), "attributes": False}, False),
        ({"econtent": b"other content", "attributes": True}, False),
    ]
    for options, expected in cases:
        value = signed_data_variant(tbs, pki.signer, pki.signer_sign,
                                    **options)  # type: ignore[arg-type]
        report = only(verify_ofd(prepared.finish(value), trust=pki.trust))
        assert report.passed is expected, (options, report.checks)
        if not expected:
            assert results(report)["data-hash"] is CheckResult.FAILED


def test_sign_type_with_ofdrw_key(testdata: Path) -> None:
    """ofdrw's sign_cert.pem / sign_key.pem (valid 2021-07 to 2023-07), signing in 2022:
    PASSED with the OFD R&W root, the chain judged at the signed signing time."""
    certificate, sign = ofdrw_sign_key(testdata)
    trust = TrustMaterial(anchors=[ofdrw_root(testdata)])
    for model in ("detached", "digest"):
        signed = sign_ofd(minimal_ofd(), certificate, sign, model=model,
                          signing_time=when(2022, 6))
        report = verify_ofd(signed, trust=trust)
        assert report.passed, only(report).checks
        assert only(report).subject["signing_time"].startswith("2022-06-01")


def test_loose_signature_times() -> None:
    """The SignatureDateTime layouts seen in real files."""
    assert loose_time("20201004072855.302Z") == when(2020, 10, 4).replace(
        hour=7, minute=28, second=55, microsecond=302000)
    assert loose_time("20200817111329Z") == when(2020, 8, 17).replace(hour=11, minute=13,
                                                                      second=29)
    assert loose_time("2020-10-23 19:45:37") == when(2020, 10, 23).replace(hour=11, minute=45,
                                                                          second=37)
    assert loose_time("20201010151120") == when(2020, 10, 10).replace(hour=7, minute=11,
                                                                     second=20)
    assert loose_time("yesterday") is None


# -- hostile packages ----------------------------------------------------------------------


def _timed_failure(data: bytes, limits: Limits | None = None, *, package: str = "") -> OfdReport:
    """verify_ofd fails within 5 s; with `package`, the package check fails saying so."""
    start = time.perf_counter()
    report = verify_ofd(data) if limits is None else verify_ofd(data, limits=limits)
    assert time.perf_counter() - start < 5.0
    assert report.indication is Indication.FAILED
    if package:
        check = report.document.checks[0]
        assert check.name == "package" and check.result is CheckResult.FAILED
        assert package in check.detail, check.detail
    return report


def _lie_about_size(data: bytes, size: int) -> bytes:
    """The ZIP with its central directory claiming `size` uncompressed bytes per entry."""
    out = bytearray(data)
    index = out.find(b"PK\x01\x02")
    while index >= 0:
        out[index + 24:index + 28] = struct.pack("<I", size)
        index = out.find(b"PK\x01\x02", index + 4)
    return bytes(out)


def test_zip_bombs_are_refused_in_bounded_time_and_memory() -> None:
    """A high-ratio entry, an entry larger than allowed, a lying size, a large total."""
    zeros = bytes(8 << 20)
    ratio_bomb = zip_files({"OFD.xml": b"<a/>", "Doc_0/big.bin": zeros})
    tracemalloc.start()
    try:
        _timed_failure(ratio_bomb, package="ratio limit")
        _timed_failure(_lie_about_size(ratio_bomb, 1000), package="BadZipFile")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20
    small = Limits(max_entry_bytes=1 << 20, max_total_bytes=2 << 20)
    big_entry = zip_files({"OFD.xml": b"<a/>", "x.bin": zeros[: 3 << 20]}, zipfile.ZIP_STORED)
    _timed_failure(big_entry, small, package="larger than the size limit")
    many = zip_files({"OFD.xml": b"<a/>", **{f"f{n}.bin": zeros[: 900 << 10] for n in range(3)}},
                     zipfile.ZIP_STORED)
    _timed_failure(many, small, package="expands beyond")


def test_hostile_names_and_entry_counts() -> None:
    """Traversal, absolute and duplicate names, and far too many entries."""
    good = unzip(minimal_ofd())
    for name in ("../evil.xml", "/abs.xml", "Doc_0/../../x", "C:/x.xml", "Doc_0\\x.xml"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for key, value in good.items():
                archive.writestr(key, value)
            archive.writestr(zipfile.ZipInfo(name), b"x")
        with pytest.raises(MalformedOfd):
            read_package(buffer.getvalue())
        _timed_failure(buffer.getvalue(), package="entry name")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("OFD.xml", good["OFD.xml"])
        archive.writestr("OFD.xml", good["OFD.xml"])
    _timed_failure(buffer.getvalue(), package="twice")
    crowd = zip_files({"OFD.xml": b"<a/>", **{f"e/{n}": b"" for n in range(200_000)}},
                      zipfile.ZIP_STORED)
    start = time.perf_counter()
    _timed_failure(crowd, package="too many entries")
    assert time.perf_counter() - start < 0.5  # refused before zipfile reads the directory
    for junk in (b"", b"PK\x03\x04" + bytes(100), bytes(range(256)) * 10):
        _timed_failure(junk, package="not a readable ZIP")


def test_hostile_xml(pki: SealPki, seal: bytes, sealed: bytes) -> None:
    """Entity expansion, external entities, DTDs and deep nesting: refused, never expanded."""
    lol = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
           + b"".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">'.encode()
                      for n in range(8))
           + b']><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016">&i;</ofd:OFD>')
    external = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                b"<x>&e;</x>")
    deep = b"<a>" * 5000 + b"</a>" * 5000
    for xml in (lol, external, deep):
        _timed_failure(rezip(minimal_ofd(), {"OFD.xml": xml}), package="/OFD.xml")
        with pytest.raises(CertlibError):
            seal_ofd(rezip(minimal_ofd(), {"OFD.xml": xml}), seal, pki.signer, pki.signer_sign)
        broken = rezip(sealed, {f"{SIGN_0}/Signature.xml": xml})
        report = _timed_failure(broken)
        assert results(only(report))["signature-description"] is CheckResult.FAILED


def test_garbage_signed_values(sealed: bytes) -> None:
    """A SignedValue.dat of random or truncated bytes: FAILED/FORMAT_FAILURE."""
    value = unzip(sealed)[f"{SIGN_0}/SignedValue.dat"]
    for junk in (bytes(range(256)), value[: len(value) // 2], b"\x30\x80" * 1000):
        report = _timed_failure(rezip(sealed, {f"{SIGN_0}/SignedValue.dat": junk}))
        assert only(report).sub_indication is SubIndication.FORMAT_FAILURE


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_package_parts_never_escape(sealed: bytes, pki: SealPki, seal: bytes,
                                           data: st.DataObject) -> None:
    """Mutated package files: a report from verify_ofd (never PASSED after a change to a
    signed file), a certlib error or a result from seal_ofd; nothing else escapes."""
    files = unzip(sealed)
    name = data.draw(st.sampled_from(sorted(files)))
    content = bytearray(files[name])
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(content) - 1))
        content[index] = data.draw(st.sampled_from(b"<>/\"=&;:. 0123456789sZaxA\x00\xff"))
    changed = rezip(sealed, {name: bytes(content)})
    report = verify_ofd(changed, trust=pki.trust)
    if name != "Doc_0/Signs/Signatures.xml":  # the list itself is not signed (continue mode)
        assert report.passed is (bytes(content) == files[name])
    with contextlib.suppress(CertlibError):
        seal_ofd(changed, seal, pki.signer, pki.signer_sign)
