"""跨地区互通互认 with three real daemons: 630000 (province), 630100 (its city) and 620000
(another province, its department signing with SM2), each with its own store and SoftHSM2
token, federated by signed trust lists under a national list of lists.

630000 reads other regions' status from their signed status lists (cached, refetched every
2 s, valid 8 s); 630100 asks the issuing region's daemon first. Verification never says
PASSED when a source is missing: with 620000 killed and the cache stale the answer is
INDETERMINATE / TRY_LATER naming the region.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from certlib.client import CertlibClient
from certlib.errors import CertlibError, ConfigurationError
from certlib.ids import uscc_with_check
from certlib.present import present
from certlib.render import render_certificate_pdf
from certlib.report import Indication, SubIndication, ValidationReport
from certsvc.v1 import (
    grant_pb2,
    holder_service_pb2,
    holder_service_pb2_grpc,
    report_pb2,
    seal_service_pb2,
    seal_service_pb2_grpc,
    use_service_pb2,
    use_service_pb2_grpc,
)
from daemon.config import FederationSettings, load_daemon_config
from tests.daemon_support import HOLDER_AUDIENCE, ID_NUMBER_CLAIM, run_certd
from tests.federation_support import (
    DRIVING,
    REGIONS,
    RESIDENT_ID,
    World,
    certctl,
    ok,
    running_world,
    wait_for,
)
from tests.idp import LocalIdentityProvider
from tests.samples import SAMPLES, ZHANG_SAN

PROVINCE, CITY, OTHER = "630000", "630100", "620000"
MATTER = grant_pb2.Matter(code="630000-ZZ-017", display_name="跨省户籍迁入登记")


def _fields(type_id: str, **changes: str) -> dict[str, str]:
    sample = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
              for key, value in SAMPLES[type_id].items() if key != "photo"}
    return sample | changes


@pytest.fixture(scope="module")
def idp() -> Iterator[LocalIdentityProvider]:
    """620000's identity provider for its holders."""
    with LocalIdentityProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory,
          idp: LocalIdentityProvider) -> Iterator[World]:
    """The three regions running, national list 1 in force everywhere."""
    yield from running_world(tmp_path_factory.mktemp("federation"),
                             online=frozenset({CITY}), idp=idp)


@pytest.fixture(scope="module")
def clients(world: World) -> Iterator[dict[str, CertlibClient]]:
    """Each region's department at its own daemon."""
    made = {code: world.client(code) for code in REGIONS}
    yield made
    for client in made.values():
        client.close()


def issue(clients: dict[str, CertlibClient], region: str, type_id: str = DRIVING,
          **changes: str) -> tuple[str, bytes]:
    """A certificate issued by the region's department: (identifier, DER)."""
    issued = clients[region].issue(REGIONS[region].department, type_id,
                                   _fields(type_id, **changes))
    return issued.identifier, issued.der


def summary(report: ValidationReport) -> tuple[Indication, SubIndication | None]:
    """(indication, sub-indication) of a report."""
    return report.indication, report.sub_indication


def details(report: ValidationReport) -> str:
    """The checks of a report, for failure messages and detail assertions."""
    return "; ".join(f"{c.name}={c.result.value}:{c.detail}" for c in report.checks)


def passes(client: CertlibClient, data: bytes) -> ValidationReport:
    """A report that must say PASSED."""
    report = client.verify(data)
    assert report.indication is Indication.PASSED, details(report)
    return report


# -- verify anywhere --------------------------------------------------------------------------


def test_certificates_and_presentations_verify_in_every_other_region(
        world: World, clients: dict[str, CertlibClient]) -> None:
    """A certificate of each region verifies at both others, by national list -> region list
    -> department -> certificate; so does a presentation disclosing two fields."""
    for issuer_region in REGIONS:
        _, der = issue(clients, issuer_region)
        shown = present(der, ["name", "vehicle_classes"])
        for verifier_region in REGIONS:
            if verifier_region == issuer_region:
                continue
            report = passes(clients[verifier_region], der)
            assert REGIONS[issuer_region].department in json.dumps(report.subject, default=str)
            names = {c.name for c in report.checks}
            assert {"certificate-chain", "signature", "status", "issuer-authorisation"} <= \
                names, details(report)
            passes(clients[verifier_region], shown)


def test_province_authorisation_limits_its_city(clients: dict[str, CertlibClient]) -> None:
    """630000's list lets 630100's departments issue driving licences only: 620000 accepts
    the city's driving licence and refuses its resident ID card, although the department's
    own certificate allows both."""
    _, licence = issue(clients, CITY)
    _, card = issue(clients, CITY, RESIDENT_ID)
    passes(clients[OTHER], licence)
    report = clients[OTHER].verify(card)
    assert summary(report) == (Indication.FAILED, SubIndication.NOT_AUTHORISED), details(report)
    listed = [c for c in report.checks if c.name == "trust-list-issuer"]
    assert listed and listed[0].result.value == "FAILED"
    passes(clients[CITY], card)  # at home the city's own policy rules


def test_seals_of_another_region_verify(world: World, tmp_path: Path) -> None:
    """620000's department seals data and a PDF (certctl on its platform); 630000's daemon
    verifies both, and refuses the signature over other data."""
    home, es_id = world.homes[OTHER], world.seals[OTHER]
    data = tmp_path / "notice.txt"
    data.write_bytes("跨省协查函正文".encode() * 20)
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(render_certificate_pdf("协查函", "Letter", [("盖章处", "（盖章）")],
                                              identifier="示例", issuer="甘肃省公安厅",
                                              qr_payload=None))
    ok(home, "seals", "apply", es_id, str(data), "--out", str(tmp_path / "notice.ses"),
       "--purpose", "跨省协查", "--kind", "data")
    ok(home, "seals", "apply", es_id, str(letter), "--out", str(tmp_path / "sealed.pdf"),
       "--purpose", "跨省协查", "--kind", "pdf", "--keyword", "盖章处")
    with world.client(PROVINCE) as client:
        seals = seal_service_pb2_grpc.SealServiceStub(client.channel)
        checked = seals.VerifySealedDocument(seal_service_pb2.VerifySealedDocumentRequest(
            document=(tmp_path / "notice.ses").read_bytes(), signed_data=data.read_bytes()),
            timeout=60)
        assert (checked.format, checked.indication) == ("ses", report_pb2.INDICATION_PASSED), \
            [c.detail for s in checked.signatures for c in s.report.checks]
        assert checked.signatures[0].report.subject.attributes["es_id"] == es_id
        pdf = seals.VerifySealedDocument(seal_service_pb2.VerifySealedDocumentRequest(
            document=(tmp_path / "sealed.pdf").read_bytes()), timeout=120)
        assert (pdf.format, pdf.indication) == ("pdf", report_pb2.INDICATION_PASSED), \
            [c.detail for s in pdf.signatures for c in s.report.checks]
        forged = seals.VerifySealedDocument(seal_service_pb2.VerifySealedDocumentRequest(
            document=(tmp_path / "notice.ses").read_bytes(), signed_data=b"other text"),
            timeout=60)
        assert forged.indication == report_pb2.INDICATION_FAILED


# -- status across regions ---------------------------------------------------------------------


def test_revocation_is_seen_at_once_online_and_within_freshness_from_lists(
        clients: dict[str, CertlibClient]) -> None:
    """620000 revokes: 630100 (asks the issuing daemon first) says REVOKED on the next call;
    630000 (status lists refetched after 2 s) says REVOKED within the list's freshness."""
    identifier, der = issue(clients, OTHER)
    passes(clients[PROVINCE], der)  # 630000 now holds a fresh copy of the list
    passes(clients[CITY], der)
    clients[OTHER].revoke(identifier)
    report = clients[CITY].verify(der)
    assert summary(report) == (Indication.FAILED, SubIndication.REVOKED), details(report)
    assert f"region {OTHER}'s daemon" in details(report)

    def revoked_at_province() -> bool:
        return summary(clients[PROVINCE].verify(der)) == (Indication.FAILED,
                                                           SubIndication.REVOKED)

    wait_for(revoked_at_province, timeout=12)
    report = clients[PROVINCE].verify(der)
    assert "status list" in details(report)


def test_issuer_killed_gives_try_later_then_passes_again(
        world: World, clients: dict[str, CertlibClient]) -> None:
    """620000 killed with SIGKILL: 630000 and 630100 answer from what they hold while it is
    fresh, then INDETERMINATE / TRY_LATER naming 620000, never PASSED; after 620000 comes
    back, PASSED again."""
    _, der = issue(clients, OTHER)
    passes(clients[PROVINCE], der)
    passes(clients[CITY], der)
    world.kill(OTHER)
    try:
        for verifier in (PROVINCE, CITY):

            def undecided(at: str = verifier) -> ValidationReport | None:
                report = clients[at].verify(der)
                assert report.indication is not Indication.FAILED, details(report)
                return report if report.indication is Indication.INDETERMINATE else None

            report = wait_for(undecided, timeout=30, interval=0.5)
            assert report.sub_indication is SubIndication.TRY_LATER, details(report)
            status = next(c for c in report.checks if c.name == "status")
            assert f"region {OTHER}" in status.detail, details(report)
    finally:
        world.restart(OTHER)
    clients[OTHER].close()
    clients[OTHER] = world.client(OTHER)
    for verifier in (PROVINCE, CITY):

        def passed_again(at: str = verifier) -> bool:
            return clients[at].verify(der).passed

        wait_for(passed_again, timeout=30, interval=0.5)


# -- trust lists in the daemons ------------------------------------------------------------------


def _in_force(world: World, at: str) -> dict[str, Any]:
    shown = ok(world.homes[at], "trust", "show")
    return {"national": shown["national"]["version"],
            **{row["region"]: row["version"] for row in shown["regions"]}}


def _fetch_outcomes(world: World, at: str) -> dict[str, str]:
    done = certctl(world.homes[at], "trust", "fetch", "--json")
    assert done.returncode in (0, 1, 4), done.stderr
    return {row["scope"]: (row["outcome"] if row["outcome"] != "rejected"
                           else f"rejected:{row['reason']}") for row in json.loads(done.stdout)}


def test_bad_region_lists_are_refused_and_the_last_good_copy_stays(
        world: World, clients: dict[str, CertlibClient], tmp_path: Path) -> None:
    """A newer 620000 list is taken up by the daemons; then a tampered, a rolled-back, an
    expired and a wrongly signed one are each refused while 620000 keeps verifying."""
    _, der = issue(clients, OTHER)
    good = world.region_file(OTHER)
    older = good.read_bytes()
    world.publish_region(OTHER)
    version = world.versions[OTHER]
    wait_for(lambda: _in_force(world, PROVINCE)[OTHER] == version, timeout=20)
    last_good = good.read_bytes()
    expired = world.publish_region(OTHER, valid_for="1s", out=tmp_path / "expired.json")
    ok(world.homes[OTHER], "trust", "key", "create", "--name", "rogue")
    rogue = world.publish_region(OTHER, keys="rogue", out=tmp_path / "rogue.json")
    document = json.loads(last_good)
    document["signed"]["version"] = version + 3
    tampered = json.dumps(document).encode()
    time.sleep(1.5)  # the expired list's second passes
    cases = {"tampered": tampered, "rollback": older,
             "expired": expired.read_bytes(), "signatures": rogue.read_bytes()}
    try:
        for reason, content in cases.items():
            good.write_bytes(content)
            outcome = _fetch_outcomes(world, PROVINCE)[OTHER]
            expected = "signatures" if reason == "tampered" else reason
            assert outcome == f"rejected:{expected}", (reason, outcome)
            assert _in_force(world, PROVINCE)[OTHER] == version
            passes(clients[PROVINCE], der)
            passes(clients[CITY], der)
    finally:
        good.write_bytes(last_good)
    assert _fetch_outcomes(world, PROVINCE)[OTHER] == "unchanged"


def test_national_key_rotation_with_overlap_keeps_everyone_verifying(
        world: World, clients: dict[str, CertlibClient]) -> None:
    """National list 2 names the old and the new key (signed by both); list 3 names only the
    new key. The daemons walk both versions and every region keeps verifying the others; a
    list signed by the retired key alone, or tampered, is refused afterwards."""
    national = world.national_home
    ok(national, "trust", "key", "create", "--name", "n2", "--alg", "sm2-sm3")
    ok(national, "trust", "key", "export", "--name", "n2", "--out",
       str(world.pub / "keys" / "n2.json"))
    issued = {code: issue(clients, code)[1] for code in REGIONS}
    world.publish_national(keys="n1,n2", listed="n1,n2")
    third = world.publish_national(keys="n2", listed="n2")
    for code in REGIONS:

        def rotated(at: str = code) -> bool:
            return bool(_in_force(world, at)["national"] == 3)

        wait_for(rotated, timeout=30)
    for verifier in REGIONS:
        for issuer_region, der in issued.items():
            if issuer_region != verifier:
                passes(clients[verifier], der)
    retired = world.publish_national(keys="n1", listed="n1")
    assert _fetch_outcomes(world, PROVINCE)["national"] == "rejected:signatures"
    document = json.loads(third.read_bytes())
    document["signed"]["version"] = 5
    retired.write_text(json.dumps(document))
    assert _fetch_outcomes(world, CITY)["national"] == "rejected:signatures"
    assert _in_force(world, PROVINCE)["national"] == 3
    retired.unlink()
    passes(clients[PROVINCE], issued[OTHER])


# -- 跨省通办: a grant used across regions ---------------------------------------------------------


def test_department_of_another_region_uses_a_grant(
        world: World, clients: dict[str, CertlibClient], idp: LocalIdentityProvider) -> None:
    """A 620000 holder grants their resident ID card to 630000's department; that department
    calls 620000's daemon with its own region's client certificate and gets the fields; the
    holder sees the use. Another region's department may not use it, nor call for roles it
    does not have there."""
    identifier, _ = issue(clients, OTHER, RESIDENT_ID, id_number=ZHANG_SAN)
    token = (("authorization", "Bearer " + idp.mint(
        "holder-gs-zhang", audience=HOLDER_AUDIENCE,
        extra_claims={ID_NUMBER_CLAIM: ZHANG_SAN})),)
    app = world.client(OTHER, "app")
    try:
        holders = holder_service_pb2_grpc.HolderServiceStub(app.channel)
        grant = holders.CreateGrant(holder_service_pb2.CreateGrantRequest(
            audience=f"issuers/{REGIONS[PROVINCE].department}",
            certificates=[f"certificates/{identifier}"], fields=["name", "address"],
            matter=MATTER, reason="跨省户籍迁入"), metadata=token, timeout=60).grant
        with world.client(OTHER, of=CITY) as stranger:
            refused = _code(lambda: use_service_pb2_grpc.UseServiceStub(stranger.channel)
                            .UseCertificate(use_service_pb2.UseCertificateRequest(
                                token_text=grant.token_text), timeout=60))
            assert refused == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(CertlibError) as denied:
                stranger.issue(REGIONS[CITY].department, DRIVING, _fields(DRIVING))
            assert denied.value.code == "PERMISSION_DENIED"
        with world.client(OTHER, of=PROVINCE) as office:
            used = use_service_pb2_grpc.UseServiceStub(office.channel).UseCertificate(
                use_service_pb2.UseCertificateRequest(token_text=grant.token_text),
                timeout=60).result
        assert list(used.disclosed_fields) == ["name", "address"]
        uses = holders.ListUses(holder_service_pb2.ListUsesRequest(), metadata=token,
                                timeout=60).uses
        assert [u.caller for u in uses] == [f"department:{REGIONS[PROVINCE].department}"]
        assert uses[0].matter.code == MATTER.code
    finally:
        app.close()


def _code(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as failure:
        assert isinstance(failure, grpc.Call)
        return failure.code()
    raise AssertionError("the call succeeded")



# -- settings and set-up ---------------------------------------------------------------------------


def test_federation_settings_are_checked(tmp_path: Path) -> None:
    """`[federation]` is read from certlib.toml; unknown names and non-positive times are
    configuration errors, not silently ignored."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "certlib.toml").write_text(
        "[federation]\nrefresh_seconds = 5\nstatus_online = true\npeer_client = \"peer\"\n")
    settings = load_daemon_config(home).federation
    assert (settings.refresh_seconds, settings.status_online, settings.peer_client) == (
        5, True, "peer")
    assert settings.status_refresh_seconds == FederationSettings().status_refresh_seconds
    for bad, message in (("refresh_second = 5", "unknown"),
                         ("peer_timeout_seconds = 0", "positive"),
                         ("status_refresh_seconds = true", "positive")):
        (home / "certlib.toml").write_text(f"[federation]\n{bad}\n")
        with pytest.raises(ConfigurationError, match=message):
            load_daemon_config(home)


def test_a_region_with_sm2_cas_cannot_serve_grpc_tls(tmp_path: Path) -> None:
    """gRPC's TLS cannot check SM2 certificates: `certd init` says so and creates neither the
    region nor TLS files, rather than a server certificate no client can verify."""
    home = tmp_path / "sm2"
    done = run_certd(home, f"sqlite:///{home / 'certlib.db'}", "init", "--region", "650000",
                     "--name", "新疆维吾尔自治区政务服务平台", "--operator",
                     uscc_with_check("12650000MB0000100"), "--alg", "sm2-sm3")
    assert done.returncode != 0 and "SM2" in done.stderr, done.stderr
    assert not (home / "tls" / "server.pem").exists()
    assert certctl(home, "pki", "export-root", "--region", "650000", "--out",
                   str(tmp_path / "root.pem")).returncode == 2  # no such region
