"""Signed trust lists and the national list of lists: making, signing, accepting, refusing,
rotating keys, province authorisations, staleness, persistence.

Three regions run their own platforms (630000 and 630100 with ECDSA CAs, 620000 with SM2
CAs) on the test token; the verifier keeps its state in `fresh_platform`'s store, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from certlib.algorithms import verify_signature
from certlib.clock import utc_now
from certlib.config import Settings
from certlib.errors import InputError, UnavailableError
from certlib.ids import uscc_with_check
from certlib.keys import CertlibKeyStore
from certlib.platform import Platform, open_platform
from certlib.report import CheckResult, Indication, SubIndication
from certlib.statuslist import StatusListPublisher, StatusListSource
from certlib.trust import TrustMaterial
from certlib.trustlist import (
    ISSUER_CHECK,
    MAX_DOCUMENT_BYTES,
    KeyDefinition,
    ListState,
    RegionNotListed,
    Rejection,
    TrustListClient,
    TrustListMissing,
    TrustListRejected,
    TrustListStale,
    add_signatures,
    build_national_list,
    build_region_list,
    canonical,
    keyid,
    parse_region_list,
    parse_signed,
    region_entry,
    sign,
    valid_signers,
)
from certlib.trustlist.canonical import parse_document
from certlib.verify import Verifier
from hsm import KeyRef
from tests.samples import SAMPLES

ECDSA, SM2, ED25519, RSA_PSS = "ecdsa-p256-sha256", "sm2-sm3", "ed25519", "rsa-pss-sha256"
DRIVING = "11000000000000000U001"
RESIDENT_ID = "11100000000013127D001"
ALL_TYPES = [DRIVING, RESIDENT_ID, "11000000000000000U002"]
NAMES = {"630000": "青海省政务服务平台", "630100": "西宁市政务服务平台",
         "620000": "甘肃省政务服务平台"}
ALGORITHMS = {"630000": ECDSA, "630100": ECDSA, "620000": SM2}


# -- the world: three region platforms and the keys of every list ----------------------------------


@dataclass
class Clock:
    """A clock the tests move."""

    now: datetime = field(default_factory=utc_now)

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class RegionSetup:
    """One region's platform, its departments and the keys that sign its trust list."""

    code: str
    platform: Platform
    issuer: str
    """USCC of a department of the region."""
    keys: tuple[KeyRef, ...]
    threshold: int


@dataclass(frozen=True)
class World:
    """Regions, national keys before and after a rotation, an outsider's key, list files."""

    keystore: CertlibKeyStore
    regions: dict[str, RegionSetup]
    national_keys: tuple[KeyRef, ...]
    """ECDSA, SM2 and RSA-PSS; threshold 2."""
    new_national_keys: tuple[KeyRef, ...]
    """Ed25519 and SM2; threshold 2."""
    outsider: KeyRef
    started: datetime

    def region_document(self, code: str, *, version: int, expires: timedelta = timedelta(days=30),
                        issued: datetime | None = None, keys: tuple[KeyRef, ...] | None = None,
                        authorisations: dict[str, list[str]] | None = None,
                        name: str | None = None) -> bytes:
        """A signed list of region `code`, by its keys unless others are given."""
        setup = self.regions[code]
        issued = issued or self.started
        if authorisations is None and code == "630000":
            authorisations = {"630100": [DRIVING]}
        signed = build_region_list(
            setup.platform, code, version=version, issued=issued, expires=issued + expires,
            endpoint=f"certd-{code}.gov.example:7443", authorisations=authorisations, name=name)
        return sign(signed, self.keystore, keys if keys is not None else setup.keys)

    def entries(self, codes: tuple[str, ...] = ("630000", "630100", "620000"),
                keys: dict[str, tuple[KeyRef, ...]] | None = None) -> list[Any]:
        """The national list's entries for these regions."""
        keys = keys or {}
        return [region_entry(code, NAMES[code], keys.get(code, self.regions[code].keys),
                             self.regions[code].threshold, f"file:///lists/{code}.json")
                for code in codes]

    def national_document(self, *, version: int, signers: tuple[KeyRef, ...],
                          keys: tuple[KeyRef, ...] | None = None, threshold: int = 2,
                          expires: timedelta = timedelta(days=60),
                          issued: datetime | None = None, entries: list[Any] | None = None,
                          location: str = "file:///lists/national-{version}.json") -> bytes:
        """A signed national list (keys in it: the old national keys unless given)."""
        signed = build_national_list(
            version=version, issued=issued or self.started,
            expires=(issued or self.started) + expires, operator="国家政务服务平台",
            location=location, keys=keys if keys is not None else self.national_keys,
            threshold=threshold, regions=entries if entries is not None else self.entries())
        return sign(signed, self.keystore, signers)

    def bootstrap(self) -> bytes:
        """National list version 1, signed by its own three keys."""
        return self.national_document(version=1, signers=self.national_keys)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def world(settings: Settings, keystore: CertlibKeyStore,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Three region platforms with a department each, and every trust-list key."""
    directory = tmp_path_factory.mktemp("trust-regions")
    regions: dict[str, RegionSetup] = {}
    opened = []
    for number, code in enumerate(("630000", "630100", "620000"), start=1):
        platform = open_platform(replace(settings,
                                         database_url=f"sqlite:///{directory / code}.db"))
        opened.append(platform)
        platform.authority.init_region(code, NAMES[code], ALGORITHMS[code])
        uscc = uscc_with_check(f"12{code}TL000000{number}")
        types = [DRIVING, RESIDENT_ID] if code == "630100" else ALL_TYPES
        platform.authority.add_issuer(uscc, f"{NAMES[code]}测试厅", code, types)
        keys: tuple[KeyRef, ...]
        if code == "620000":
            keys = (keystore.generate(SM2, _unique("tl-620000-a")),
                    keystore.generate(ED25519, _unique("tl-620000-b")))
            threshold = 2
        else:
            algorithm = SM2 if code == "630100" else ECDSA
            keys, threshold = (keystore.generate(algorithm, _unique(f"tl-{code}")),), 1
        regions[code] = RegionSetup(code, platform, uscc, keys, threshold)
    regions["630000"].platform.seals.maker("630000")
    world = World(
        keystore=keystore, regions=regions,
        national_keys=(keystore.generate(ECDSA, _unique("tl-national-a")),
                       keystore.generate(SM2, _unique("tl-national-b")),
                       keystore.generate(RSA_PSS, _unique("tl-national-c"))),
        new_national_keys=(keystore.generate(ED25519, _unique("tl-national-d")),
                           keystore.generate(SM2, _unique("tl-national-e"))),
        outsider=keystore.generate(ECDSA, _unique("tl-outsider")),
        started=utc_now() - timedelta(minutes=1))
    yield world
    for platform in opened:
        platform.close()


@pytest.fixture
def clock(world: World) -> Clock:
    """Now, as the verifier sees it."""
    assert world.started < utc_now()
    return Clock(utc_now())


def _client(platform: Platform, world: World, clock: Clock, **options: Any) -> TrustListClient:
    return TrustListClient(platform.store, bootstrap=world.bootstrap(), clock=clock,
                           reload_after=timedelta(0), **options)


def _rejected(action: Callable[[], object]) -> Rejection:
    with pytest.raises(TrustListRejected) as caught:
        action()
    assert caught.value.code == "TRUST_LIST_REJECTED"
    return caught.value.reason


def _resign_signed(world: World, document: bytes, change: Callable[[dict[str, Any]], None],
                   keys: tuple[KeyRef, ...]) -> bytes:
    """The document's signed part, changed, and signed again by `keys`."""
    signed = json.loads(document)["signed"]
    change(signed)
    return sign(signed, world.keystore, keys)


def _flip_signature(document: bytes) -> bytes:
    value = json.loads(document)
    raw = bytearray(base64.b64decode(value["signatures"][0]["sig"]))
    raw[len(raw) // 2] ^= 0x01
    value["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    return canonical(value)


def _flip_in_signed_part(document: bytes) -> bytes:
    """One bit of a USCC digit in the signed part changed: still JSON, still well formed."""
    position = document.index(b'"uscc":"') + len(b'"uscc":"') + 3
    assert document[position:position + 1].isdigit()
    return document[:position] + bytes([document[position] ^ 0x01]) + document[position + 1:]


# -- formats ------------------------------------------------------------------------------------


def test_canonical_json_is_rfc8785() -> None:
    """Members sorted by UTF-16 code units, no whitespace, UTF-8, JCS string escapes."""
    value = {"b": [True, None, "é\n\u001f"], "a": -12, "\U0001f600": 1, "\ue000": 2}
    assert canonical(value) == ('{"a":-12,"b":[true,null,"é\\n\\u001f"],'
                                '"\U0001f600":1,"\ue000":2}').encode()
    for bad in (1.5, {"a": 2**53}, {1: "x"}, ("tuple",), b"bytes"):
        with pytest.raises(InputError):
            canonical(bad)


@pytest.mark.parametrize("text", [
    b'{"a":1,"a":2}', b'{"a":1.0}', b'{"a":NaN}', b"\xef\xbb\xbf{}", b'{"a":"\xff"}',
    b"[" * 100_000, b'{"a":' + b"9" * 5000 + b"}", b"", b"{",
], ids=["duplicate", "float", "nan", "bom", "not-utf8", "deep", "huge-int", "empty", "cut"])
def test_strict_parsing(text: bytes) -> None:
    """Anything that is not plain, unambiguous JSON is refused as malformed."""
    assert _rejected(lambda: parse_document(text)) is Rejection.MALFORMED


def test_keyids_and_signatures_of_every_algorithm(world: World) -> None:
    """keyid = SHA-256 of the SPKI; ECDSA, SM2, RSA-PSS and Ed25519 HSM keys all sign."""
    keys = (*world.national_keys, *world.new_national_keys)
    document = sign({"type": "x", "n": 1}, world.keystore, keys)
    parsed = parse_signed(document)
    assert parsed.signed_bytes == b'{"n":1,"type":"x"}'
    definitions = {keyid(k.public_key): KeyDefinition.of(k) for k in keys}
    assert set(definitions) == {hashlib.sha256(k.public_key).hexdigest() for k in keys}
    assert valid_signers(parsed, definitions) == set(definitions)
    for signature in parsed.signatures:
        key = definitions[signature.keyid]
        assert verify_signature(key.public_key, key.algorithm, parsed.signed_bytes,
                                signature.sig)
        assert not verify_signature(key.public_key, key.algorithm, b"other", signature.sig)
    assert {k.algorithm for k in keys} == {ECDSA, SM2, RSA_PSS, ED25519}


def test_build_region_list_from_a_platform(fresh_platform: Platform) -> None:
    """The list names the region's CAs, active departments with their types and signing
    certificates, seal maker, status sources, daemon and TLS identity, authorisations."""
    authority = fresh_platform.authority
    region = authority.init_region("650000", "新疆维吾尔自治区政务服务平台", SM2)
    active = uscc_with_check("12650000TL0000001")
    revoked = uscc_with_check("12650000TL0000002")
    authority.add_issuer(active, "新疆测试厅", "650000", [DRIVING, RESIDENT_ID])
    authority.add_issuer(revoked, "新疆已撤销厅", "650000", [DRIVING])
    authority.revoke_issuer(revoked)
    _, maker = fresh_platform.seals.maker("650000")
    now = utc_now()
    signed = build_region_list(
        fresh_platform, "650000", version=7, issued=now, expires=now + timedelta(days=7),
        endpoint="certd.xj.gov.example:7443", authorisations={"650100": [DRIVING]})
    assert signed["type"] == "certlib.region-trust-list" and signed["format_version"] == 1
    assert signed["region"] == "650000" and signed["version"] == 7
    listed = parse_region_list(signed)
    assert listed.roots == (region.root_certificate,)
    assert listed.issuing == (region.issuing_certificate,)
    assert [(e.uscc, e.certificate_types) for e in listed.issuers] == [
        (active, (DRIVING, RESIDENT_ID))]
    assert listed.issuers[0].certificate == authority.issuer(active).certificate
    assert listed.seal_makers == (maker,)
    assert listed.endpoint.address == "certd.xj.gov.example:7443"
    assert (listed.endpoint.host, listed.endpoint.port) == ("certd.xj.gov.example", 7443)
    assert listed.endpoint.server_name == "certd.xj.gov.example"
    assert listed.endpoint.ca_certificates == (region.root_certificate,)
    assert listed.status.status_lists == "certsvc://certd.xj.gov.example:7443"
    assert listed.status.covers("urn:certlib:status:650000:" + active + ":1")
    assert listed.authorises("650100", DRIVING) and not listed.authorises("650100", RESIDENT_ID)
    assert not listed.authorises("650000", DRIVING)
    with pytest.raises(InputError, match="not inside"):
        build_region_list(fresh_platform, "650000", version=1, expires=now + timedelta(days=1),
                          endpoint="certd.xj.gov.example:7443",
                          authorisations={"630100": [DRIVING]})
    for endpoint in ("certd.xj.gov.example", "bad host:1", "h:70000", "h:0"):
        with pytest.raises(InputError, match="host:port"):
            build_region_list(fresh_platform, "650000", version=1,
                              expires=now + timedelta(days=1), endpoint=endpoint)
    with pytest.raises(InputError, match="expires after"):
        build_region_list(fresh_platform, "650000", version=1, issued=now, expires=now,
                          endpoint="certd.xj.gov.example:7443")


# -- accepting lists ----------------------------------------------------------------------------


def _issue(setup: RegionSetup) -> bytes:
    return setup.platform.office.issue(issuer_uscc=setup.issuer, type_id="resident-id-card",
                                       data=SAMPLES["resident-id-card"]).der


def _crls(setup: RegionSetup) -> list[bytes]:
    """The region's CRLs, as its `crls` source would hand them out."""
    return [setup.platform.authority.current_crl(setup.code, authority)
            for authority in ("root", "issuing")]


def _verify_across(client: TrustListClient, setup: RegionSetup, certificate: bytes,
                   trust: TrustMaterial) -> Indication:
    """Verify a certificate of another region: trust from the lists, status from its lists."""
    publisher = StatusListPublisher(setup.platform.authority, None)
    status = StatusListSource(trust, publisher.fetch, clock=client.clock)
    return Verifier(trust, status).verify(certificate, at=client.clock()).indication


def test_three_regions_verify_through_the_national_list(fresh_platform: Platform,
                                                        world: World, clock: Clock) -> None:
    """ECDSA- and SM2-signed region lists are accepted through the national list, and a
    certificate of each region verifies with nothing but the lists (and fetched CRLs)."""
    client = _client(fresh_platform, world, clock)
    assert client.national().version == 1
    assert client.view().regions(ListState.MISSING) == ("620000", "630000", "630100")
    for code in ("630000", "630100", "620000"):
        accepted = client.update_region(world.region_document(code, version=1))
        assert (accepted.region, accepted.version) == (code, 1)
    view = client.view()
    assert view.regions(ListState.FRESH) == ("620000", "630000", "630100")
    for code, setup in world.regions.items():
        material = client.trust_material_for(code, _crls(setup))
        region = setup.platform.authority.region(code)
        assert material.anchors == [region.root_certificate]
        assert region.issuing_certificate in material.certificates
        assert setup.platform.authority.issuer(setup.issuer).certificate in material.certificates
        assert client.endpoint_of(code).address == f"certd-{code}.gov.example:7443"
        assert client.status_location_of(code).crls == f"certsvc://certd-{code}.gov.example:7443"
    combined = client.trust_material()
    assert len(combined.anchors) == 3
    for code in ("620000", "630000"):
        setup = world.regions[code]
        certificate = _issue(setup)
        clock.now = utc_now()
        trust = client.trust_material(crls=[c for s in world.regions.values()
                                            for c in _crls(s)])
        assert _verify_across(client, setup, certificate, trust) is Indication.PASSED
        other = client.trust_material_for("630100", _crls(world.regions["630100"]))
        assert _verify_across(client, setup, certificate, other) is not Indication.PASSED


@dataclass(frozen=True)
class BadCase:
    """A region list that must be refused, and why."""

    region: str
    make: Callable[[World, Clock], bytes]
    reason: Rejection


BAD_REGION_LISTS = {
    "signature-byte-flipped": BadCase(
        "630000", lambda w, c: _flip_signature(w.region_document("630000", version=3)),
        Rejection.SIGNATURES),
    "signed-part-byte-flipped": BadCase(
        "630000", lambda w, c: _flip_in_signed_part(w.region_document("630000", version=3)),
        Rejection.SIGNATURES),
    "sm2-signature-byte-flipped": BadCase(
        "630100", lambda w, c: _flip_signature(w.region_document("630100", version=3)),
        Rejection.SIGNATURES),
    "version-rollback": BadCase(
        "630000", lambda w, c: w.region_document("630000", version=1), Rejection.ROLLBACK),
    "same-version-other-content": BadCase(
        "630000", lambda w, c: w.region_document("630000", version=2, name="另一个名字"),
        Rejection.ROLLBACK),
    "expired": BadCase(
        "630000", lambda w, c: w.region_document(
            "630000", version=3, issued=c.now - timedelta(days=3), expires=timedelta(days=1)),
        Rejection.EXPIRED),
    "issued-in-the-future": BadCase(
        "630000", lambda w, c: w.region_document(
            "630000", version=3, issued=c.now + timedelta(hours=1)),
        Rejection.NOT_YET_VALID),
    "wrong-key": BadCase(
        "630000", lambda w, c: w.region_document("630000", version=3, keys=(w.outsider,)),
        Rejection.SIGNATURES),
    "key-of-another-region": BadCase(
        "630000", lambda w, c: w.region_document(
            "630000", version=3, keys=w.regions["620000"].keys),
        Rejection.SIGNATURES),
    "below-threshold": BadCase(
        "620000", lambda w, c: w.region_document(
            "620000", version=3, keys=w.regions["620000"].keys[:1]),
        Rejection.SIGNATURES),
    "same-key-twice-below-threshold": BadCase(
        "620000", lambda w, c: _duplicate_signature(w.region_document(
            "620000", version=3, keys=w.regions["620000"].keys[:1])),
        Rejection.SIGNATURES),
    "region-not-listed": BadCase(
        "630000", lambda w, c: _resign_signed(
            w, w.region_document("630000", version=3),
            lambda s: s.update(region="610000"), (w.outsider,)),
        Rejection.REGION_NOT_LISTED),
    "national-list-as-region-list": BadCase(
        "630000", lambda w, c: w.bootstrap(), Rejection.WRONG_TYPE),
    "unknown-format-version": BadCase(
        "630000", lambda w, c: _resign_signed(
            w, w.region_document("630000", version=3),
            lambda s: s.update(format_version=2), w.regions["630000"].keys),
        Rejection.WRONG_TYPE),
    "unknown-member": BadCase(
        "630000", lambda w, c: _resign_signed(
            w, w.region_document("630000", version=3),
            lambda s: s.update(extra=1), w.regions["630000"].keys),
        Rejection.MALFORMED),
    "issuer-in-another-region": BadCase(
        "630000", lambda w, c: _resign_signed(
            w, w.region_document("630000", version=3),
            lambda s: s["issuers"].extend(
                json.loads(w.region_document("620000", version=9))["signed"]["issuers"]),
            w.regions["630000"].keys),
        Rejection.MALFORMED),
    "not-json": BadCase("630000", lambda w, c: b"\x30\x82\x01\x00", Rejection.MALFORMED),
    "no-signatures-member": BadCase(
        "630000", lambda w, c: canonical({"signed": json.loads(
            w.region_document("630000", version=3))["signed"]}),
        Rejection.MALFORMED),
    "oversized": BadCase(
        "630000", lambda w, c: w.region_document("630000", version=3)[:-1]
        + b" " * MAX_DOCUMENT_BYTES + b"}",
        Rejection.OVERSIZED),
}


def _duplicate_signature(document: bytes) -> bytes:
    value = json.loads(document)
    value["signatures"] = value["signatures"] * 2
    return canonical(value)


@pytest.mark.parametrize("case", list(BAD_REGION_LISTS), ids=list(BAD_REGION_LISTS))
def test_refused_region_lists_keep_the_last_good_copy(fresh_platform: Platform, world: World,
                                                      clock: Clock, case: str) -> None:
    """Each bad list is refused with its reason; the version 2 in force stays in force, also
    for a client started afterwards."""
    bad = BAD_REGION_LISTS[case]
    client = _client(fresh_platform, world, clock)
    good = world.region_document(bad.region, version=2)
    client.update_region(good)
    before = client.region_list(bad.region)
    document = bad.make(world, clock)
    assert _rejected(lambda: client.update_region(document)) is bad.reason
    assert client.region_list(bad.region) == before
    restarted = TrustListClient(fresh_platform.store, clock=clock)
    assert restarted.region_list(bad.region) == before
    assert client.update_region(good) == before  # the same list again: nothing changes


def test_national_key_rotation(fresh_platform: Platform, world: World, clock: Clock) -> None:
    """A new national list needs the threshold of the keys in force and of its own keys:
    new keys alone are refused, old and new together rotate, then old alone are refused."""
    client = _client(fresh_platform, world, clock)
    client.update_region(world.region_document("630000", version=1))
    old, new = world.national_keys, world.new_national_keys
    assert _rejected(lambda: client.update_national(world.national_document(
        version=2, signers=old[:1]))) is Rejection.SIGNATURES
    assert _rejected(lambda: client.update_national(world.national_document(
        version=2, signers=new, keys=new))) is Rejection.SIGNATURES
    assert _rejected(lambda: client.update_national(world.national_document(
        version=2, signers=(*old[:1], *new), keys=new))) is Rejection.SIGNATURES
    assert _rejected(lambda: client.update_national(world.national_document(
        version=2, signers=(*old[:2], new[0]), keys=new))) is Rejection.SIGNATURES
    assert client.national().version == 1
    rotated = client.update_national(world.national_document(
        version=2, signers=(*old[:2], *new), keys=new))
    assert rotated.version == 2 and set(rotated.keys) == {keyid(k.public_key) for k in new}
    assert client.national().version == 2
    assert _rejected(lambda: client.update_national(world.national_document(
        version=3, signers=old, keys=new))) is Rejection.SIGNATURES
    assert _rejected(lambda: client.update_national(world.national_document(
        version=3, signers=old, keys=old))) is Rejection.SIGNATURES
    assert client.update_national(world.national_document(
        version=3, signers=new, keys=new)).version == 3
    assert _rejected(lambda: client.update_national(world.national_document(
        version=2, signers=new, keys=new, issued=world.started + timedelta(seconds=1))
    )) is Rejection.ROLLBACK
    assert _rejected(lambda: client.update_national(world.national_document(
        version=4, signers=new, keys=new, issued=clock.now - timedelta(days=3),
        expires=timedelta(days=1)))) is Rejection.EXPIRED
    assert _rejected(lambda: client.update_national(
        world.region_document("630000", version=5))) is Rejection.WRONG_TYPE
    assert client.national().version == 3
    assert client.region_list("630000").version == 1  # region keys unchanged: still in force
    restarted = TrustListClient(fresh_platform.store, bootstrap=world.bootstrap(), clock=clock)
    assert restarted.national().version == 3  # the bootstrap only seeds an empty store


def test_k_of_n_signatures_from_separate_holders(fresh_platform: Platform, world: World,
                                                 clock: Clock) -> None:
    """Holders add their signatures one by one; a key counts once however often it signs."""
    client = _client(fresh_platform, world, clock)
    signed = json.loads(world.national_document(version=2, signers=world.national_keys))
    one = sign(signed["signed"], world.keystore, world.national_keys[:1])
    assert _rejected(lambda: client.update_national(one)) is Rejection.SIGNATURES
    assert _rejected(lambda: client.update_national(_duplicate_signature(one))) is (
        Rejection.SIGNATURES)
    two = add_signatures(one, world.keystore, world.national_keys[1:2])
    assert len(parse_signed(two).signatures) == 2
    assert client.update_national(two).version == 2


def test_bootstrap_is_checked_and_required(fresh_platform: Platform, world: World,
                                           clock: Clock) -> None:
    """A pinned list below its own threshold is refused; without one nothing is trusted."""
    weak = world.national_document(version=1, signers=world.national_keys[:1])
    assert _rejected(lambda: TrustListClient(fresh_platform.store, bootstrap=weak,
                                             clock=clock)) is Rejection.SIGNATURES
    client = TrustListClient(fresh_platform.store, clock=clock)
    with pytest.raises(TrustListMissing):
        client.national()
    with pytest.raises(TrustListMissing):
        client.update_region(world.region_document("630000", version=1))
    with pytest.raises(TrustListMissing):
        client.update_national(world.national_document(version=2,
                                                       signers=world.national_keys))
    assert client.view().state_of("630000") is ListState.MISSING
    assert client.trust_material().anchors == []


def test_region_key_change_drops_what_the_new_keys_do_not_sign(
        fresh_platform: Platform, world: World, clock: Clock) -> None:
    """When the national list gives a region other keys, its stored list signed by the old
    key is dropped with its version floor (recovery from a list signed far ahead); a region
    the national list drops is forgotten."""
    client = _client(fresh_platform, world, clock)
    client.update_region(world.region_document("630000", version=50))
    client.update_region(world.region_document("620000", version=1))
    replacement = (world.outsider,)
    client.update_national(world.national_document(
        version=2, signers=world.national_keys,
        entries=world.entries(("630000", "630100"), keys={"630000": replacement})))
    view = client.view()
    assert view.state_of("630000") is ListState.MISSING
    assert view.state_of("620000") is ListState.NOT_LISTED
    with pytest.raises(RegionNotListed):
        client.region_list("620000")
    assert _rejected(lambda: client.update_region(world.region_document(
        "620000", version=2))) is Rejection.REGION_NOT_LISTED
    assert _rejected(lambda: client.update_region(world.region_document(
        "630000", version=51))) is Rejection.SIGNATURES
    assert client.update_region(world.region_document(
        "630000", version=1, keys=replacement)).version == 1


# -- using lists ---------------------------------------------------------------------------------


def test_a_province_authorises_its_cities(fresh_platform: Platform, world: World,
                                          clock: Clock) -> None:
    """A city's department may issue only the types its province granted the city."""
    client = _client(fresh_platform, world, clock)
    city, province = world.regions["630100"], world.regions["630000"]
    client.update_region(world.region_document("630100", version=1))
    with pytest.raises(TrustListMissing):  # the province's word is needed and missing
        client.issuer_allowed("630100", city.issuer, DRIVING)
    check = client.issuer_check("630100", city.issuer, DRIVING)
    assert (check.name, check.result, check.sub_indication) == (
        ISSUER_CHECK, CheckResult.INDETERMINATE, SubIndication.TRY_LATER)
    client.update_region(world.region_document("630000", version=1))
    assert client.issuer_allowed("630100", city.issuer, DRIVING)
    assert client.issuer_check("630100", city.issuer, DRIVING).result is CheckResult.PASSED
    assert not client.issuer_allowed("630100", city.issuer, RESIDENT_ID)  # city lists it
    check = client.issuer_check("630100", city.issuer, RESIDENT_ID)
    assert (check.result, check.sub_indication) == (CheckResult.FAILED,
                                                    SubIndication.NOT_AUTHORISED)
    assert client.issuer_allowed("630000", province.issuer, RESIDENT_ID)  # no one above
    assert not client.issuer_allowed("630100", province.issuer, DRIVING)  # not listed there
    assert not client.issuer_allowed("630000", province.issuer, "11000000000000000U009")
    client.update_region(world.region_document(
        "630000", version=2, authorisations={"630100": [DRIVING, RESIDENT_ID]}))
    assert client.issuer_allowed("630100", city.issuer, RESIDENT_ID)
    check = client.issuer_check("610000", city.issuer, DRIVING)
    assert (check.result, check.sub_indication) == (
        CheckResult.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    with pytest.raises(RegionNotListed):
        client.issuer_allowed("610000", city.issuer, DRIVING)


def test_expired_lists_are_stale_never_trusted(fresh_platform: Platform, world: World,
                                               clock: Clock) -> None:
    """After expiry the last good copy is no longer served: lookups say stale (TRY_LATER),
    the combined material leaves the region out and a verifier cannot answer PASSED."""
    client = _client(fresh_platform, world, clock)
    for code in ("630000", "630100"):
        client.update_region(world.region_document(code, version=1))
    client.update_region(world.region_document("620000", version=1, expires=timedelta(days=2)))
    setup = world.regions["620000"]
    certificate = _issue(setup)
    crls = _crls(setup)
    clock.now = utc_now()
    assert _verify_across(client, setup, certificate, client.trust_material(crls)) is (
        Indication.PASSED)
    clock.now += timedelta(days=3)
    view = client.view()
    assert view.state_of("620000") is ListState.STALE
    assert view.regions(ListState.FRESH) == ("630000", "630100")
    for lookup in (client.region_list, client.trust_material_for, client.endpoint_of,
                   client.status_location_of):
        with pytest.raises(TrustListStale) as caught:
            lookup("620000")
        assert isinstance(caught.value, UnavailableError)
    check = client.issuer_check("620000", setup.issuer, RESIDENT_ID)
    assert (check.result, check.sub_indication) == (CheckResult.INDETERMINATE,
                                                    SubIndication.TRY_LATER)
    material = client.trust_material(crls)
    assert setup.platform.authority.region("620000").root_certificate not in material.anchors
    report = Verifier(material).verify(certificate, at=clock.now)
    assert report.indication is Indication.INDETERMINATE
    assert [(c.result, c.sub_indication) for c in report.checks
            if c.name == "certificate-chain"] == [
        (CheckResult.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)]
    client.update_region(world.region_document("620000", version=2,
                                               issued=clock.now - timedelta(minutes=1)))
    assert client.view().state_of("620000") is ListState.FRESH
    clock.now = world.started + timedelta(days=61)  # past the national list's expiry
    with pytest.raises(TrustListStale):
        client.national()
    assert client.view().regions(ListState.STALE) == ("620000", "630000", "630100")
    assert client.trust_material().anchors == []
    with pytest.raises(TrustListStale):
        client.update_region(world.region_document("630000", version=2, issued=clock.now))
    assert client.update_national(world.national_document(
        version=2, signers=world.national_keys, issued=clock.now)).version == 2
    assert client.update_region(world.region_document(
        "630000", version=2, issued=clock.now)).version == 2
    assert client.view().regions(ListState.FRESH) == ("630000",)


def test_state_survives_a_restart(settings: Settings, fresh_platform: Platform, world: World,
                                  clock: Clock) -> None:
    """A new process on the same database has the same lists and the same rollback floors."""
    client = _client(fresh_platform, world, clock)
    client.update_national(world.national_document(version=2, signers=world.national_keys))
    client.update_region(world.region_document("630000", version=2))
    client.update_region(world.region_document("630100", version=1))
    fresh_platform.store.close()
    reopened = open_platform(replace(settings, database_url=fresh_platform.settings.database_url))
    try:
        again = TrustListClient(reopened.store, bootstrap=world.bootstrap(), clock=clock)
        assert again.national().version == 2
        assert again.region_list("630000") == client.region_list("630000")
        assert again.view().regions(ListState.FRESH) == ("630000", "630100")
        assert _rejected(lambda: again.update_region(world.region_document(
            "630000", version=1))) is Rejection.ROLLBACK
        assert _rejected(lambda: again.update_national(world.bootstrap())) is Rejection.ROLLBACK
    finally:
        reopened.close()


def _file_fetch(location: str) -> bytes:
    """Reads `file:` locations: the lists as an operator publishes them on disk."""
    path = Path(unquote(urlparse(location).path))
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnavailableError("no such list") from None


def test_refresh_walks_national_versions_and_fetches_region_lists(
        fresh_platform: Platform, world: World, clock: Clock, tmp_path: Path) -> None:
    """`refresh` follows every national version in turn (so a rotation is not skipped) and
    then each region's list; one bad list does not stop the others."""
    base = tmp_path.as_uri()
    entries = [region_entry(code, NAMES[code], world.regions[code].keys,
                            world.regions[code].threshold, f"{base}/{code}.json")
               for code in ("630000", "630100", "620000")]
    location = f"{base}/national-{{version}}.json"

    def national(version: int, signers: tuple[KeyRef, ...], keys: tuple[KeyRef, ...]) -> bytes:
        return world.national_document(version=version, signers=signers, keys=keys,
                                       entries=entries, location=location)

    old, new = world.national_keys, world.new_national_keys
    client = TrustListClient(fresh_platform.store, bootstrap=national(1, old, old),
                             clock=clock, reload_after=timedelta(0))
    (tmp_path / "national-2.json").write_bytes(national(2, (*old, *new), new))
    (tmp_path / "national-3.json").write_bytes(national(3, new, new))
    for code in ("630000", "630100"):
        (tmp_path / f"{code}.json").write_bytes(world.region_document(code, version=1))
    (tmp_path / "620000.json").write_bytes(_flip_signature(world.region_document("620000",
                                                                                version=1)))
    outcomes = client.refresh(_file_fetch)
    assert outcomes == {"national": "accepted", "630000": "accepted", "630100": "accepted",
                        "620000": "TRUST_LIST_REJECTED:signatures"}
    assert client.national().version == 3
    (tmp_path / "620000.json").unlink()
    assert client.refresh(_file_fetch) == {
        "national": "unchanged", "630000": "unchanged", "630100": "unchanged",
        "620000": "UNAVAILABLE"}
    (tmp_path / "national-4.json").write_bytes(national(4, old, old))
    assert client.refresh(_file_fetch)["national"] == "TRUST_LIST_REJECTED:signatures"
    assert client.national().version == 3


def test_operator_pin_and_the_bootstrap_file(fresh_platform: Platform, world: World,
                                             clock: Clock, tmp_path: Path) -> None:
    """`for_platform` pins `<home>/trust/national.json`; `pin_national` is the operator's
    recovery: a list under entirely new keys, whatever its version, self-signed only."""
    home = Platform(replace(fresh_platform.settings, home=tmp_path))
    with pytest.raises(TrustListMissing):
        TrustListClient.for_platform(home, clock=clock).national()
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "national.json").write_bytes(world.bootstrap())
    client = TrustListClient.for_platform(home, clock=clock)
    assert client.national().version == 1
    client.update_region(world.region_document("630000", version=1))
    new = world.new_national_keys
    unsigned_by_old = world.national_document(version=1, signers=new, keys=new,
                                              issued=world.started + timedelta(seconds=2))
    assert _rejected(lambda: client.update_national(unsigned_by_old)) is Rejection.SIGNATURES
    assert _rejected(lambda: client.pin_national(world.national_document(
        version=1, signers=new[:1], keys=new))) is Rejection.SIGNATURES
    assert client.pin_national(unsigned_by_old).keys.keys() == {
        keyid(k.public_key) for k in new}
    assert client.national().version == 1
    assert client.region_list("630000").version == 1  # its keys did not change
    assert client.update_national(world.national_document(
        version=2, signers=new, keys=new)).version == 2
    home.close()


def test_concurrent_updates_keep_the_highest_version(fresh_platform: Platform, world: World,
                                                     clock: Clock) -> None:
    """Clients on one database racing with versions 1-6 of a list end at version 6; every
    refusal is a rollback, never a lost update."""
    _client(fresh_platform, world, clock)
    documents = [world.region_document("630000", version=v) for v in range(1, 7)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def submit(order: list[bytes]) -> None:
        client = TrustListClient(fresh_platform.store, clock=clock, reload_after=timedelta(0))
        for document in order:
            try:
                client.update_region(document)
                result = "accepted"
            except TrustListRejected as error:
                result = error.reason.value
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=submit, args=(documents[::step],))
               for step in (1, -1, 2, -2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) <= {"accepted", "rollback"} and "accepted" in outcomes
    assert TrustListClient(fresh_platform.store, clock=clock).region_list(
        "630000").version == 6
