"""Signed bitstring status lists: shape, bits, signatures, freshness, rollback, files, races."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import multiprocessing
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from asn1crypto import cms as asn1_cms
from asn1crypto import core

from certlib import cms, ecert, oids
from certlib.clock import utc_now
from certlib.config import load_settings
from certlib.errors import CertlibError, MalformedInput, UnavailableError
from certlib.ids import uscc_with_check
from certlib.issuance import IssuedCertificate
from certlib.platform import Platform, open_platform
from certlib.present import present
from certlib.report import Indication, SubIndication, ValidationReport
from certlib.status import CertificateStatus, StoreStatusSource
from certlib.statuslist import (
    MIN_ENTRIES,
    STATUS_LIST,
    SignedStatusList,
    StatusListNotFound,
    StatusListPublisher,
    StatusListRejected,
    StatusListSource,
    StatusListUnavailable,
    build_bitstring,
    decode_bitstring,
    directory_fetcher,
    encode_bitstring,
    parse_status_list_document,
    status_code,
    status_list_document,
    verify_status_list,
)
from certlib.store.schema import status_list_snapshots
from certlib.verify import Verifier
from tests.conftest import Departments
from tests.samples import SAMPLES

ECDSA = "ecdsa-p256-sha256"
_numbers = itertools.count(500)

W3C_EXAMPLE_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
"""The encodedList of the W3C Bitstring Status List v1.0 example: 16 KiB of zero bits."""


# -- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    """A department created for one test, so its status list holds only that test's entries."""

    uscc: str
    region: str


def _department(platform: Platform, departments: Departments, algorithm: str = ECDSA,
                region: str = "630000") -> Department:
    assert departments.by_algorithm  # the regions exist
    uscc = uscc_with_check(f"11{region[:2]}000000000{next(_numbers):04d}")
    platform.authority.add_issuer(uscc, f"状态列表测试厅{uscc[-4:]}", region,
                                  [t.code for t in platform.types], algorithm)
    return Department(uscc, region)


def _issue(platform: Platform, department: Department) -> IssuedCertificate:
    return platform.office.issue(issuer_uscc=department.uscc, type_id="resident-id-card",
                                 data=SAMPLES["resident-id-card"])


def _reference(certificate: bytes) -> tuple[str, int]:
    """(status-list URI, index) that the certificate's signed security object names."""
    signed = ecert.ElectronicCertificate.load(certificate)["signed_object"].dump()
    security_object = ecert.CertificateSecurityObject.load(cms.parse(signed).content)
    return security_object["status"]["list"].native, security_object["status"]["index"].native


def _list_id(uri: str) -> int:
    return int(uri.rsplit(":", 1)[1])


def _document(snapshot: SignedStatusList) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(cms.parse(snapshot.der).content)
    return parsed


def _replace_content(signed: bytes, content: bytes) -> bytes:
    """The envelope with other encapsulated content and the original signer info."""
    info = asn1_cms.ContentInfo.load(signed)
    signed_data = info["content"]
    if not isinstance(signed_data, asn1_cms.SignedData):
        signed_data = asn1_cms.SignedData.load(signed_data.dump())
    encapsulated = signed_data["encap_content_info"]
    signed_data["encap_content_info"] = type(encapsulated)({
        "content_type": STATUS_LIST,
        "content": core.ParsableOctetString(content, explicit=0)})
    return bytes(asn1_cms.ContentInfo({"content_type": info["content_type"],
                                       "content": signed_data}).dump(force=True))


def _serving(signed: bytes) -> Callable[[str], bytes]:
    """A fetch that always returns `signed`."""
    return lambda _uri: signed


def _sign_as(platform: Platform, uscc: str, content: bytes) -> bytes:
    """`content` signed as a status list with department `uscc`'s real HSM key."""
    authority = platform.authority
    issuer = authority.issuer(uscc)
    signer = cms.EnvelopeSigner(
        authority.keystore, authority.issuer_key(issuer), certificate=issuer.certificate,
        chain=(authority.region(issuer.region_code).issuing_certificate,))
    return signer.sign(content, content_type=STATUS_LIST, signing_time=utc_now())


class Clock:
    """A clock the test moves."""

    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or utc_now()

    def __call__(self) -> datetime:
        return self.moment


def _expect(report: ValidationReport, indication: Indication,
            sub: SubIndication | None) -> None:
    assert (report.indication, report.sub_indication) == (indication, sub), report.to_dict(
        include_disclosed=False)


@pytest.fixture
def publisher(platform: Platform, tmp_path: Path) -> StatusListPublisher:
    """A publisher on the test platform writing into a fresh directory."""
    return StatusListPublisher(platform.authority, tmp_path / "status")


# -- the bitstring -----------------------------------------------------------------------------


def test_bit_order_is_most_significant_first() -> None:
    """Entry i takes bits 2i and 2i+1, counted from the most significant bit of byte 0."""
    bits = build_bitstring(8, [(0, "revoked"), (3, "suspended"), (5, "revoked"),
                               (6, "valid"), (7, "something-new")])
    assert bits == bytes([0b01_00_00_10, 0b00_01_00_11])
    assert [status_code(bits, i) for i in range(8)] == [1, 0, 0, 2, 0, 1, 0, 3]
    with pytest.raises(CertlibError):
        build_bitstring(8, [(8, "revoked")])


def test_encoded_list_is_multibase_base64url_gzip() -> None:
    """`u` + unpadded base64url of GZIP; decodes the W3C example; refuses anything else."""
    example = decode_bitstring(W3C_EXAMPLE_LIST)
    assert example == bytes(16384)  # 131,072 one-bit entries, all zero
    bits = build_bitstring(MIN_ENTRIES, [(12345, "revoked"), (MIN_ENTRIES - 1, "suspended")])
    encoded = encode_bitstring(bits)
    assert encoded.startswith("u") and "=" not in encoded
    raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    assert gzip.decompress(raw) == bits  # any GZIP reader gets the same bits
    assert decode_bitstring(encoded) == bits
    assert len(encoded) < 200, "a sparse list compresses to almost nothing"

    def b64(data: bytes) -> str:
        return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    zero = gzip.compress(bytes(64), mtime=0)
    bad = ["", "z" + encoded[1:], encoded + "=", "u!!!!", b64(b"not gzip at all"),
           b64(zero + b"trailing"), b64(zero + zero),
           b64(gzip.compress(bytes(1 << 22), mtime=0))]  # inflates to 4 MiB
    for text in bad:
        with pytest.raises(MalformedInput):
            decode_bitstring(text)


# -- publishing --------------------------------------------------------------------------------


def test_published_list_shape_size_and_file(platform: Platform, departments: Departments,
                                            publisher: StatusListPublisher) -> None:
    """A W3C-shaped credential of >= 131,072 two-bit entries, small when sparse, on disk."""
    department = _department(platform, departments)
    issued = _issue(platform, department)
    uri, index = _reference(issued.der)
    snapshot = publisher.publish(_list_id(uri))
    assert (snapshot.uri, snapshot.number, snapshot.issuer_uscc) == (uri, 1, department.uscc)
    assert snapshot.next_update - snapshot.this_update == timedelta(hours=1)
    envelope = cms.parse(snapshot.der)
    assert envelope.content_type == STATUS_LIST == f"{oids.CERTLIB_ARC}.1.2"
    assert envelope.signing_time == snapshot.this_update
    document = _document(snapshot)
    assert document["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert document["id"] == uri
    assert document["issuer"] == f"urn:certlib:uscc:{department.uscc}"
    assert document["validFrom"] == snapshot.this_update.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert document["validUntil"] == snapshot.next_update.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert document["number"] == 1
    subject = document["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "message"
    assert subject["statusSize"] == 2
    assert subject["statusMessages"] == [
        {"status": "0x0", "message": "valid"}, {"status": "0x1", "message": "revoked"},
        {"status": "0x2", "message": "suspended"}, {"status": "0x3", "message": "undefined"}]
    bits = decode_bitstring(subject["encodedList"])
    assert len(bits) * 8 // 2 >= MIN_ENTRIES
    assert bits == bytes(len(bits)) and status_code(bits, index) == 0
    assert len(subject["encodedList"]) < 200
    assert len(snapshot.der) < 4096, "the whole signed list, certificates included"
    path = publisher.path_for(department.uscc, _list_id(uri))
    assert path == publisher.directory / department.uscc / f"{_list_id(uri)}.cms"  # type: ignore[operator]
    assert path.read_bytes() == snapshot.der
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert publisher.newest(_list_id(uri)) == snapshot
    with pytest.raises(StatusListNotFound):
        publisher.publish(10**8)


def test_status_changes_show_at_the_right_bits(platform: Platform, departments: Departments,
                                               publisher: StatusListPublisher) -> None:
    """Revoke, suspend and resume appear in the next list at exactly their entries."""
    department = _department(platform, departments)
    certificates = [_issue(platform, department) for _ in range(4)]
    references = [_reference(c.der) for c in certificates]
    uri = references[0][0]
    list_id = _list_id(uri)
    assert {r[0] for r in references} == {uri}
    first = publisher.current(list_id)
    assert publisher.current(list_id) == first, "nothing changed: no new snapshot"
    office = platform.office
    office.revoke(certificates[0].identifier)
    office.suspend(certificates[1].identifier)
    office.suspend(certificates[2].identifier)
    second = publisher.current(list_id)
    assert second.number == first.number + 1
    bits = decode_bitstring(_document(second)["credentialSubject"]["encodedList"])
    codes = [status_code(bits, index) for _, index in references]
    assert codes == [1, 2, 2, 0]
    expected = bytearray(len(bits))
    for (_, index), code in zip(references, codes, strict=True):
        expected[index // 4] |= code << (6 - 2 * (index % 4))
    assert bits == bytes(expected), "no other bit is set"
    office.resume(certificates[2].identifier)
    third = publisher.current(list_id)
    assert third.number == second.number + 1
    bits = decode_bitstring(_document(third)["credentialSubject"]["encodedList"])
    assert [status_code(bits, index) for _, index in references] == [1, 2, 0, 0]
    assert publisher.current(list_id) == third
    assert publisher.directory is not None
    fetched = directory_fetcher(publisher.directory)(uri)
    assert fetched == third.der


def test_republished_when_next_update_is_near(platform: Platform, departments: Departments,
                                              tmp_path: Path) -> None:
    """Unchanged lists are kept until renew_before ahead of their next-update, then re-signed."""
    department = _department(platform, departments)
    list_id = _list_id(_reference(_issue(platform, department).der)[0])
    clock = Clock()
    publisher = StatusListPublisher(platform.authority, tmp_path, clock=clock,
                                    lifetime=timedelta(hours=1),
                                    renew_before=timedelta(minutes=10))
    first = publisher.current(list_id)
    clock.moment += timedelta(minutes=45)
    assert publisher.current(list_id) == first
    clock.moment += timedelta(minutes=6)
    renewed = publisher.current(list_id)
    assert renewed.number == first.number + 1
    assert renewed.this_update == clock.moment and renewed.digest == first.digest
    assert publisher.path_for(department.uscc, list_id).read_bytes() == renewed.der


def test_fetch_serves_only_this_platforms_lists(platform: Platform, departments: Departments,
                                                publisher: StatusListPublisher) -> None:
    """fetch(uri) gives the current signed list; another department's or region's URI: none."""
    department = _department(platform, departments)
    uri, _ = _reference(_issue(platform, department).der)
    assert cms.parse(publisher.fetch(uri)).content_type == STATUS_LIST
    other = departments.by_algorithm[ECDSA]
    for wrong in (uri.replace(department.uscc, other),
                  uri.replace(":630000:", ":620000:"),
                  uri.rsplit(":", 1)[0] + ":99999999",
                  "https://example.org/status/1"):
        with pytest.raises(StatusListNotFound):
            publisher.fetch(wrong)


# -- verifying ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [ECDSA, "sm2-sm3"])
def test_lists_verify_including_sm2(platform: Platform, departments: Departments,
                                    publisher: StatusListPublisher, algorithm: str) -> None:
    """ECDSA and SM2 (GM/T 0010 envelope, SM2 region CAs) lists verify with the trust material."""
    region = "620000" if algorithm == "sm2-sm3" else "630000"
    department = _department(platform, departments, algorithm, region)
    issued = _issue(platform, department)
    platform.office.revoke(issued.identifier)
    uri, index = _reference(issued.der)
    snapshot = publisher.current(_list_id(uri))
    assert cms.parse(snapshot.der).gm is (algorithm == "sm2-sm3")
    verified = verify_status_list(snapshot.der, uri, platform.trust_material())
    assert (verified.number, verified.issuer_uscc, verified.region) == (
        snapshot.number, department.uscc, region)
    assert verified.entries == MIN_ENTRIES and verified.ttl == timedelta(minutes=5)
    assert verified.status(index) is CertificateStatus.REVOKED
    assert verified.status(MIN_ENTRIES) is CertificateStatus.UNKNOWN
    assert verified.status(-1) is CertificateStatus.UNKNOWN


def test_tampered_lists_are_rejected(platform: Platform, departments: Departments,
                                     publisher: StatusListPublisher) -> None:
    """Clearing a revoked bit, or any byte of the signature: rejected, and never VALID."""
    department = _department(platform, departments)
    issued = _issue(platform, department)
    platform.office.revoke(issued.identifier)
    uri, index = _reference(issued.der)
    genuine = publisher.current(_list_id(uri)).der
    document = json.loads(cms.parse(genuine).content)
    document["credentialSubject"]["encodedList"] = encode_bitstring(bytes(MIN_ENTRIES // 4))
    forged = _replace_content(genuine, json.dumps(document).encode())
    trust = platform.trust_material()
    signature_at = genuine.rindex(cms.parse(genuine).signature) + 10
    flipped = genuine[:signature_at] + bytes([genuine[signature_at] ^ 1]) + genuine[
        signature_at + 1:]
    for bad in (forged, flipped, genuine[:-7], b"\x30\x03\x02\x01\x01"):
        with pytest.raises(StatusListRejected):
            verify_status_list(bad, uri, trust)
        source = StatusListSource(trust, _serving(bad))
        answer = source.status(uri, index, utc_now())
        assert answer.status is CertificateStatus.UNKNOWN, answer
        report = Verifier(trust, source, platform.types).verify(issued.der)
        _expect(report, Indication.INDETERMINATE, SubIndication.TRY_LATER)
    # A certificate security object is not a status list, though the same key signed it.
    certificate_envelope = ecert.ElectronicCertificate.load(issued.der)["signed_object"].dump()
    with pytest.raises(StatusListRejected, match="does not carry a status list"):
        verify_status_list(certificate_envelope, uri, trust)


def test_list_signed_by_another_department_is_rejected(
        platform: Platform, departments: Departments, publisher: StatusListPublisher) -> None:
    """Department B's valid signature over A's list (or its own) does not speak for A."""
    department = _department(platform, departments)
    other = _department(platform, departments)
    issued = _issue(platform, department)
    platform.office.revoke(issued.identifier)
    uri, _ = _reference(issued.der)
    genuine = publisher.current(_list_id(uri)).der
    content = cms.parse(genuine).content
    trust = platform.trust_material()
    resigned = _sign_as(platform, other.uscc, content)
    assert cms.parse(resigned).signature_valid(platform.authority.issuer(other.uscc).certificate)
    with pytest.raises(StatusListRejected, match="not signed by its department"):
        verify_status_list(resigned, uri, trust)
    other_uri, _ = _reference(_issue(platform, other).der)
    others_list = publisher.current(_list_id(other_uri)).der
    with pytest.raises(StatusListRejected):
        verify_status_list(others_list, uri, trust)
    # Same department, but the list of another list id.
    with pytest.raises(StatusListRejected, match="names another list"):
        verify_status_list(genuine, uri.rsplit(":", 1)[0] + ":99999999", trust)
    # Trusting only the other region's root: no chain, so no answer.
    material = platform.trust_material()
    material.anchors = [platform.authority.region("620000").root_certificate]
    with pytest.raises(StatusListUnavailable):
        verify_status_list(genuine, uri, material)


def test_short_or_malformed_lists_are_rejected(platform: Platform,
                                               departments: Departments) -> None:
    """A properly signed list with too few entries, or not the W3C shape, is refused."""
    department = _department(platform, departments)
    issued = _issue(platform, department)
    uri, _ = _reference(issued.der)
    trust = platform.trust_material()
    now = utc_now()

    def signed(bitstring: bytes, change: dict[str, Any] | None = None) -> bytes:
        content = status_list_document(
            uri=uri, issuer_uscc=department.uscc, number=1, this_update=now,
            next_update=now + timedelta(hours=1), bitstring=bitstring, ttl=timedelta(minutes=5))
        if change:
            document = json.loads(content)
            document["credentialSubject"].update(change)
            content = json.dumps(document).encode()
        return _sign_as(platform, department.uscc, content)

    assert verify_status_list(signed(bytes(MIN_ENTRIES // 4)), uri, trust).number == 1
    with pytest.raises(StatusListRejected, match="fewer than 131072 entries"):
        verify_status_list(signed(bytes(1024)), uri, trust)
    for change in ({"statusSize": 1}, {"statusPurpose": "revocation"},
                   {"statusMessages": [{"status": "0x0", "message": "revoked"}]},
                   {"encodedList": "not multibase"}, {"ttl": -5}):
        with pytest.raises(StatusListRejected, match="malformed"):
            verify_status_list(signed(bytes(MIN_ENTRIES // 4), change), uri, trust)
    with pytest.raises(MalformedInput, match="twice"):
        parse_status_list_document(b'{"number":1,"number":2}')


def test_expired_and_future_lists_give_unknown(platform: Platform, departments: Departments,
                                               publisher: StatusListPublisher) -> None:
    """After next-update a list answers nothing: UNKNOWN, and the report says TRY_LATER."""
    department = _department(platform, departments)
    issued = _issue(platform, department)
    uri, index = _reference(issued.der)
    snapshot = publisher.current(_list_id(uri))
    trust = platform.trust_material()
    clock = Clock()
    source = StatusListSource(trust, publisher.fetch, clock=clock)
    verifier = Verifier(trust, source, platform.types)
    _expect(verifier.verify(issued.der), Indication.PASSED, None)
    clock.moment = snapshot.next_update  # the cached list expires; the fetch gives it again
    answer = source.status(uri, index, clock.moment)
    assert answer.status is CertificateStatus.UNKNOWN and "expired" in answer.detail
    _expect(verifier.verify(issued.der), Indication.INDETERMINATE, SubIndication.TRY_LATER)
    with pytest.raises(StatusListUnavailable, match="expired"):
        verify_status_list(snapshot.der, uri, trust, at=snapshot.next_update)
    # A list whose this-update lies beyond the allowed clock skew is not valid yet.
    ahead = StatusListPublisher(platform.authority, None,
                                clock=lambda: utc_now() + timedelta(minutes=30))
    with pytest.raises(StatusListUnavailable, match="not valid yet"):
        verify_status_list(ahead.publish(_list_id(uri)).der, uri, trust)


def test_rolled_back_lists_are_rejected(platform: Platform, departments: Departments,
                                        publisher: StatusListPublisher) -> None:
    """An older list (or another list under the same number) never replaces a newer one."""
    department = _department(platform, departments)
    issued = _issue(platform, department)
    uri, index = _reference(issued.der)
    older = publisher.current(_list_id(uri))
    platform.office.revoke(issued.identifier)
    newer = publisher.current(_list_id(uri))
    assert newer.number == older.number + 1
    trust = platform.trust_material()
    served = {"list": newer.der}
    clock = Clock()
    source = StatusListSource(trust, lambda _uri: served["list"], clock=clock)
    verifier = Verifier(trust, source, platform.types)
    _expect(verifier.verify(issued.der), Indication.FAILED, SubIndication.REVOKED)
    served["list"] = older.der  # an attacker (or a stale mirror) serves the older list
    clock.moment += timedelta(minutes=6)  # past the ttl: the source fetches again
    _expect(verifier.verify(issued.der), Indication.FAILED, SubIndication.REVOKED)
    assert source.cached(uri) is not None and source.cached(uri).number == newer.number  # type: ignore[union-attr]
    with pytest.raises(StatusListRejected, match="rollback"):
        source.load(uri, older.der)
    source.invalidate()
    answer = source.status(uri, index, clock.moment)
    assert answer.status is CertificateStatus.UNKNOWN and "rollback" in answer.detail
    _expect(verifier.verify(issued.der), Indication.INDETERMINATE, SubIndication.TRY_LATER)
    # Validly signed, same number, other bits: two stories for one number are refused.
    document = json.loads(cms.parse(newer.der).content)
    document["credentialSubject"]["encodedList"] = encode_bitstring(bytes(MIN_ENTRIES // 4))
    equivocation = _sign_as(platform, department.uscc, json.dumps(document).encode())
    assert verify_status_list(equivocation, uri, trust).status(index) is CertificateStatus.VALID
    with pytest.raises(StatusListRejected, match="same number"):
        source.load(uri, equivocation)
    assert source.load(uri, newer.der).number == newer.number


def test_unreachable_source_keeps_last_good_list(platform: Platform, departments: Departments,
                                                 publisher: StatusListPublisher) -> None:
    """A failing fetch keeps the last good list until it expires, then TRY_LATER."""
    department = _department(platform, departments)
    issued = _issue(platform, department)
    uri, index = _reference(issued.der)
    snapshot = publisher.current(_list_id(uri))
    calls: list[str] = []

    def flaky(requested: str) -> bytes:
        calls.append(requested)
        if len(calls) > 1:
            raise UnavailableError("the peer is down")
        return snapshot.der

    clock = Clock()
    trust = platform.trust_material()
    source = StatusListSource(trust, flaky, clock=clock)
    assert source.status(uri, index, clock.moment).status is CertificateStatus.VALID
    clock.moment += timedelta(minutes=10)
    assert source.status(uri, index, clock.moment).status is CertificateStatus.VALID
    assert source.status(uri, index, clock.moment).status is CertificateStatus.VALID
    assert len(calls) == 2, "a failed fetch is not retried on every question"
    clock.moment = snapshot.next_update
    answer = source.status(uri, index, clock.moment)
    assert answer.status is CertificateStatus.UNKNOWN and "peer is down" in answer.detail
    nowhere = StatusListSource(trust, directory_fetcher(Path("/nonexistent")))
    assert nowhere.status(uri, index, utc_now()).status is CertificateStatus.UNKNOWN
    assert nowhere.status("urn:other:1", 0, utc_now()).status is CertificateStatus.UNKNOWN


def test_verifier_answers_like_the_store(platform: Platform, departments: Departments,
                                         publisher: StatusListPublisher) -> None:
    """PASSED / SUSPENDED / REVOKED / TRY_LATER through lists, as through the store."""
    department = _department(platform, departments, "sm2-sm3", "620000")
    issued = _issue(platform, department)
    shown = present(issued.der, ["name"])
    trust = platform.trust_material()
    clock = Clock()
    lists = StatusListSource(trust, publisher.fetch, clock=clock)
    by_list = Verifier(trust, lists, platform.types)
    by_store = Verifier(trust, StoreStatusSource(platform.store), platform.types)
    office = platform.office

    def both(indication: Indication, sub: SubIndication | None) -> None:
        clock.moment += timedelta(minutes=5)  # one ttl later: the source fetches again
        for verifier in (by_list, by_store):
            _expect(verifier.verify(issued.der), indication, sub)
            _expect(verifier.verify(shown), indication, sub)

    both(Indication.PASSED, None)
    office.suspend(issued.identifier)
    both(Indication.FAILED, SubIndication.SUSPENDED)
    office.resume(issued.identifier)
    both(Indication.PASSED, None)
    office.revoke(issued.identifier)
    both(Indication.FAILED, SubIndication.REVOKED)
    assert lists.cached(_reference(issued.der)[0]) is not None
    unreachable = StatusListSource(trust, directory_fetcher(Path("/nonexistent")))
    _expect(Verifier(trust, unreachable).verify(issued.der), Indication.INDETERMINATE,
            SubIndication.TRY_LATER)


def test_threads_share_a_source(platform: Platform, departments: Departments,
                                publisher: StatusListPublisher) -> None:
    """Threads asking while the list is fetched again all the time get only right answers."""
    department = _department(platform, departments)
    certificates = [_issue(platform, department) for _ in range(3)]
    platform.office.revoke(certificates[0].identifier)
    platform.office.suspend(certificates[1].identifier)
    references = [_reference(c.der) for c in certificates]
    expected = [CertificateStatus.REVOKED, CertificateStatus.SUSPENDED, CertificateStatus.VALID]
    signed = publisher.current(_list_id(references[0][0])).der
    fetches: list[int] = []

    def fetch(_uri: str) -> bytes:
        fetches.append(1)
        return signed

    source = StatusListSource(platform.trust_material(), fetch, refresh_after=timedelta(0))
    wrong: list[object] = []

    def ask() -> None:
        for i in range(3000):
            uri, index = references[i % 3]
            answer = source.status(uri, index, utc_now())
            if answer.status is not expected[i % 3]:
                wrong.append(answer)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len(fetches) > 100, "refresh_after=0 fetches again on (nearly) every question"


# -- files and races ---------------------------------------------------------------------------


def test_files_are_replaced_atomically(platform: Platform, departments: Departments,
                                       publisher: StatusListPublisher) -> None:
    """A reader never sees a partial file; an older snapshot never replaces a newer file."""
    department = _department(platform, departments)
    uri, _ = _reference(_issue(platform, department).der)
    list_id = _list_id(uri)
    first = publisher.publish(list_id)
    path = publisher.path_for(department.uscc, list_id)
    seen: list[int] = []
    problems: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                data = path.read_bytes()
                seen.append(json.loads(cms.parse(data).content)["number"])
            except (OSError, CertlibError, ValueError) as error:
                problems.append(repr(error))
            time.sleep(0.002)  # let the publishing thread have the GIL

    reader = threading.Thread(target=read)
    reader.start()
    try:
        published = [publisher.publish(list_id) for _ in range(20)]
    finally:
        done.set()
        reader.join()
    assert problems == []
    assert len(seen) > 20 and seen == sorted(seen)
    assert path.read_bytes() == published[-1].der
    assert publisher.write_file(first) is False, "the older snapshot is not written"
    assert path.read_bytes() == published[-1].der
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    path.write_bytes(b"damaged")
    assert publisher.write_file(published[-1]) is True
    assert path.read_bytes() == published[-1].der


def _publish_worker(home: str, list_id: int, identifiers: list[str], barrier: Any,
                    results: Any) -> None:
    platform = open_platform(load_settings(Path(home)))
    try:
        publisher = StatusListPublisher.for_platform(platform)
        barrier.wait(timeout=60)
        numbers = []
        for identifier in identifiers:
            platform.office.revoke(identifier)
            numbers.append(publisher.publish(list_id).number)
            numbers.append(publisher.current(list_id).number)
        results.put(("ok", numbers))
    except BaseException as error:  # reported to the parent
        results.put(("error", repr(error)))
    finally:
        platform.close()


def test_processes_publishing_at_once(platform: Platform, departments: Departments,
                                      home: Path) -> None:
    """Three processes revoke and publish one list at once: no clash, no gap, no stale list."""
    department = _department(platform, departments)
    issued = [_issue(platform, department) for _ in range(12)]
    references = [_reference(c.der) for c in issued]
    uri = references[0][0]
    list_id = _list_id(uri)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    results = context.Queue()
    workers = [context.Process(target=_publish_worker, args=(
        str(home), list_id, [c.identifier for c in issued[w::3]], barrier, results))
        for w in range(3)]
    for worker in workers:
        worker.start()
    outcomes = []
    try:
        for _ in workers:
            outcomes.append(results.get(timeout=240))
    except queue.Empty:
        pytest.fail("a publishing process did not finish")
    finally:
        for worker in workers:
            worker.join(timeout=30)
    assert [kind for kind, _ in outcomes] == ["ok"] * 3, outcomes
    with platform.store.transaction() as connection:
        rows = connection.execute(
            sa.select(status_list_snapshots).where(status_list_snapshots.c.list_id == list_id)
            .order_by(status_list_snapshots.c.number)).all()
    numbers = [row.number for row in rows]
    assert numbers == list(range(1, len(numbers) + 1))
    trust = platform.trust_material()
    revoked_before: set[int] = set()
    for row in rows:
        verified = verify_status_list(bytes(row.der), uri, trust)
        assert verified.number == row.number
        revoked = {i for _, i in references
                   if verified.status(i) is CertificateStatus.REVOKED}
        assert revoked >= revoked_before, "a later number never shows an older state"
        revoked_before = revoked
    assert revoked_before == {i for _, i in references}
    path = StatusListPublisher.for_platform(platform).path_for(department.uscc, list_id)
    assert path.read_bytes() == bytes(rows[-1].der)
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert os.access(path, os.R_OK)
