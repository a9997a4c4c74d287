"""HolderService and UseService on a real certd over mutual TLS, on SQLite and PostgreSQL,
with holders authenticated by a real local OpenID Connect identity provider: 免证办 end to
end, a one-use grant raced from fifty calls, every refusal consuming nothing, delegation
chains, showings, uses by duty, and bad input with field details."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from asn1crypto import pem
from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from certlib.client import CertlibClient
from certlib.grants import GrantState, UseKind, verify_receipt
from certlib.grants.delegation import AGENT_KINDS
from certlib.ids import uscc_with_check
from certlib.present import load_presentation
from certlib.status import StoreStatusSource
from certlib.store import Store
from certlib.store.schema import crls
from certlib.trust import TrustMaterial
from certlib.verify import Verifier
from certsvc.v1 import (
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    grant_pb2,
    holder_service_pb2,
    holder_service_pb2_grpc,
    report_pb2,
    use_service_pb2,
    use_service_pb2_grpc,
)
from tests.conftest import _drop_postgres_database, _postgres_database
from tests.daemon_support import (
    HOLDER_AUDIENCE,
    ID_NUMBER_CLAIM,
    POLICE,
    RunningDaemon,
    launch,
    run_certd,
)
from tests.idp import LocalIdentityProvider
from tests.samples import LI_SI, SAMPLES, WANG_WU, ZHANG_SAN

APP = uscc_with_check("12630000MB0000050")  # the platform's holder app backend
OFFICE = uscc_with_check("11630100MB0000045")  # a service office: grants, duties, verifying
OTHER = uscc_with_check("11630100MB0000046")  # another department: no duties, not audience
MATTER = grant_pb2.Matter(code="630100-ZZ-001", display_name="户籍迁入登记")
FIELDS = ["name", "address"]
CLIENTS = {  # label -> (USCC, name, roles)
    "app": (APP, "青海省政务服务平台移动端", "holder_app"),
    "office": (OFFICE, "西宁市城东区政务服务中心", "grant_user,verifier,duty_officer"),
    "other": (OTHER, "西宁市城西区政务服务中心", "grant_user,verifier,duty_officer"),
}
PERSON = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
          for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}
SUBJECTS = {ZHANG_SAN: "holder-zhang", LI_SI: "holder-li", WANG_WU: "holder-wang"}
"""Identity-provider subjects (pseudonymous: subjects are not masked) of the holders."""


# -- the daemon, its identity provider and the parties -------------------------------------------


@pytest.fixture(scope="module")
def idp() -> Iterator[LocalIdentityProvider]:
    """The platform's unified identity provider, on 127.0.0.1."""
    with LocalIdentityProvider() as provider:
        yield provider


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def certd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          idp: LocalIdentityProvider) -> Iterator[RunningDaemon]:
    """certd with `[oidc]` at the test IdP, the office's duty, and the parties' clients."""
    home = tmp_path_factory.mktemp("certd-grants")
    duties = {OFFICE: [MATTER.code]}
    if request.param == "sqlite":
        running = launch(home, f"sqlite:///{home / 'certlib.db'}", idp=idp, duties=duties)
        yield from _with_clients(running)
        return
    name = f"certlib_grants_{uuid.uuid4().hex[:12]}"
    url = _postgres_database(name)
    try:
        yield from _with_clients(launch(home, url, idp=idp, duties=duties))
    finally:
        _drop_postgres_database(name)


def _with_clients(running: Iterator[RunningDaemon]) -> Iterator[RunningDaemon]:
    for daemon in running:
        for label, (uscc, name, roles) in CLIENTS.items():
            made = run_certd(daemon.home, daemon.database_url, "client-cert", "--region",
                             "630000", "--uscc", uscc, "--name", name, "--label", label,
                             "--roles", roles)
            assert made.returncode == 0, made.stderr
        yield daemon


@dataclass
class Parties:
    """Stubs of everyone taking part, and tokens for the holders."""

    daemon: RunningDaemon
    idp: LocalIdentityProvider
    clients: dict[str, CertlibClient]

    def holders(self) -> holder_service_pb2_grpc.HolderServiceStub:
        """HolderService as the holder app."""
        return holder_service_pb2_grpc.HolderServiceStub(self.clients["app"].channel)

    def uses(self, label: str = "office") -> use_service_pb2_grpc.UseServiceStub:
        """UseService as a department."""
        return use_service_pb2_grpc.UseServiceStub(self.clients[label].channel)

    def certificates(self) -> certificate_service_pb2_grpc.CertificateServiceStub:
        """CertificateService as the police (the issuer)."""
        return certificate_service_pb2_grpc.CertificateServiceStub(
            self.clients["police"].channel)

    def token(self, id_number: str, **changes: Any) -> tuple[tuple[str, str]]:
        """`authorization` metadata with a fresh token for the holder."""
        options: dict[str, Any] = {"audience": HOLDER_AUDIENCE,
                                   "extra_claims": {ID_NUMBER_CLAIM: id_number}} | changes
        return (("authorization", "Bearer " + self.idp.mint(SUBJECTS[id_number], **options)),)

    def issue(self, id_number: str = ZHANG_SAN) -> str:
        """A resident ID card for the holder, issued by the police; its resource name."""
        issued = self.certificates().IssueCertificate(
            certificate_service_pb2.IssueCertificateRequest(
                issuer=f"issuers/{POLICE}", type_id="resident-id-card",
                fields={**PERSON, "id_number": id_number}), timeout=60)
        return issued.certificate.name

    def grant(self, certificate: str, id_number: str = ZHANG_SAN,
              **changes: Any) -> grant_pb2.Grant:
        """A grant of the holder's certificate to the office (changes: request fields)."""
        options: dict[str, Any] = {"audience": f"issuers/{OFFICE}",
                                   "certificates": [certificate], "fields": FIELDS,
                                   "matter": MATTER} | changes
        return self.holders().CreateGrant(holder_service_pb2.CreateGrantRequest(**options),
                                          metadata=self.token(id_number), timeout=60).grant

    def history(self, id_number: str = ZHANG_SAN) -> list[grant_pb2.CertificateUse]:
        """The holder's uses, newest first."""
        return list(self.holders().ListUses(holder_service_pb2.ListUsesRequest(),
                                            metadata=self.token(id_number), timeout=60).uses)


@pytest.fixture
def parties(certd: RunningDaemon, idp: LocalIdentityProvider) -> Iterator[Parties]:
    """Clients of the holder app, the office, the other department and the police."""
    clients = {label: certd.client(label) for label in (*CLIENTS, "police")}
    try:
        yield Parties(certd, idp, clients)
    finally:
        for client in clients.values():
            client.close()


def _details(failure: grpc.RpcError) -> tuple[grpc.StatusCode, str, list[str], bool]:
    """(status code, ErrorInfo reason, BadRequest fields, whether RetryInfo came)."""
    assert isinstance(failure, grpc.Call)
    status = rpc_status.from_call(failure)
    assert status is not None, "no google.rpc.Status details"
    reason, fields, retry = "", [], False
    for detail in status.details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        if detail.Unpack(bad):
            fields = [violation.field for violation in bad.field_violations]
        retry = retry or detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    return failure.code(), reason, fields, retry


def _failure(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, list[str], bool]:
    """The details of a call that must fail."""
    try:
        call()
    except grpc.RpcError as failure:
        return _details(failure)
    raise AssertionError("the call succeeded")


def _code(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    code, reason, _, _ = _failure(call)
    return code, reason


def _library_verifier(daemon: RunningDaemon) -> tuple[Verifier, Store]:
    """certlib's own verifier, trusting the daemon's region roots (with their newest CRLs),
    asking its store for status."""
    store = Store(daemon.database_url)
    return Verifier(_trust(daemon, store), StoreStatusSource(store)), store


def _trust(daemon: RunningDaemon, store: Store) -> TrustMaterial:
    roots = [der for _, _, der in pem.unarmor((daemon.home / "tls" / "ca.pem").read_bytes(),
                                             multiple=True)]
    newest: dict[tuple[str, str], bytes] = {}
    with store.reading() as connection:
        for row in connection.execute(sa.select(crls.c.region_code, crls.c.authority,
                                                crls.c.der).order_by(crls.c.number)):
            newest[(row.region_code, row.authority)] = bytes(row.der)
    return TrustMaterial(anchors=roots, crls=list(newest.values()))


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


# -- 免证办 ---------------------------------------------------------------------------------------


def test_holder_grants_office_uses_holder_sees_receipt(parties: Parties) -> None:
    """The holder lists their certificates and grants the office two fields; the office
    gets exactly those, signed by the issuer; the holder's history has the use and a
    receipt that verifies, online and with the library."""
    certificate = parties.issue()
    holders, office = parties.holders(), parties.uses()
    listed = holders.ListCertificates(holder_service_pb2.ListCertificatesRequest(),
                                      metadata=parties.token(ZHANG_SAN), timeout=60)
    mine = {c.name: c for c in listed.certificates}
    assert certificate in mine and not mine[certificate].der
    assert (mine[certificate].type_id, mine[certificate].issuer) == (
        "resident-id-card", f"issuers/{POLICE}")
    assert mine[certificate].status == 1 and mine[certificate].HasField("not_before_time")
    others = holders.ListCertificates(holder_service_pb2.ListCertificatesRequest(),
                                      metadata=parties.token(WANG_WU), timeout=60)
    assert certificate not in {c.name for c in others.certificates}

    grant = parties.grant(certificate, reason="为张三办理户籍迁入", max_uses=1)
    assert grant.name.startswith("grants/") and grant.token_text.startswith("GT1:")
    assert (grant.state, grant.uses, grant.audience, list(grant.fields)) == (
        grant_pb2.GRANT_STATE_ACTIVE, 0, f"issuers/{OFFICE}", FIELDS)
    assert grant.granted_by == grant.holder and grant.holder.startswith("holder:")
    uses_before = parties.daemon.count("certificate_uses")

    used = office.UseCertificate(use_service_pb2.UseCertificateRequest(
        token_text=grant.token_text), timeout=60).result
    [presented] = used.presentations
    assert presented.certificate == certificate and list(used.disclosed_fields) == FIELDS
    disclosed = {item["name"].native for item in
                 load_presentation(presented.presentation)["disclosed"]}
    assert disclosed == set(FIELDS)
    verifier, store = _library_verifier(parties.daemon)
    try:
        report = verifier.verify(presented.presentation)
        assert report.passed, report.checks
        assert report.disclosed == {"name": "张三", "address": PERSON["address"]}
    finally:
        store.close()
    assert parties.daemon.count("certificate_uses") == uses_before + 1

    [use] = parties.history()[:1]
    assert (use.kind, use.caller, use.grant, use.receipt_id) == (
        grant_pb2.USE_KIND_GRANT, f"department:{OFFICE}", grant.name, used.receipt_id)
    assert use.receipt == used.receipt and list(use.fields) == FIELDS
    assert use.matter == MATTER and list(use.certificates) == [certificate]
    online = office.VerifyReceipt(use_service_pb2.VerifyReceiptRequest(receipt=use.receipt),
                                  timeout=60).report
    assert online.indication == report_pb2.INDICATION_PASSED
    attributes = online.subject.attributes
    assert json.loads(attributes["fields"]) == FIELDS
    assert (attributes["kind"], attributes["use_number"]) == ("grant", "1")
    assert ZHANG_SAN not in str(online) and "张三" not in str(online)
    store = Store(parties.daemon.database_url)
    try:
        offline = verify_receipt(use.receipt, trust=_trust(parties.daemon, store))
    finally:
        store.close()
    assert offline.passed and offline.subject["receipt_id"] == use.receipt_id
    [listed_grant] = [g for g in holders.ListGrants(
        holder_service_pb2.ListGrantsRequest(), metadata=parties.token(ZHANG_SAN),
        timeout=60).grants if g.name == grant.name]
    assert listed_grant.uses == 1 and listed_grant.token == grant.token

    code, reason, _, retry = _failure(lambda: office.UseCertificate(
        use_service_pb2.UseCertificateRequest(token_der=grant.token), timeout=60))
    assert (code, reason, retry) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "GRANT_USED_UP", False)


def test_fifty_concurrent_uses_of_a_one_use_grant(parties: Parties) -> None:
    """From five connections at once: exactly one use succeeds, 49 are told the grant is
    used up, and exactly one use is recorded."""
    grant = parties.grant(parties.issue())
    before = parties.daemon.count("certificate_uses")
    offices = [parties.daemon.client("office") for _ in range(5)]
    start = threading.Barrier(50)

    def attempt(number: int) -> str:
        stub = use_service_pb2_grpc.UseServiceStub(offices[number % 5].channel)
        start.wait()
        try:
            stub.UseCertificate(use_service_pb2.UseCertificateRequest(token_der=grant.token),
                                timeout=120)
            return "OK"
        except grpc.RpcError as failure:
            code, reason, _, _ = _details(failure)
            return f"{code.name} {reason}"

    try:
        with ThreadPoolExecutor(50) as pool:
            outcomes = list(pool.map(attempt, range(50)))
    finally:
        for client in offices:
            client.close()
    assert outcomes.count("OK") == 1, outcomes
    assert outcomes.count("RESOURCE_EXHAUSTED GRANT_USED_UP") == 49, outcomes
    assert parties.daemon.count("certificate_uses") == before + 1
    assert [use.grant for use in parties.history()].count(grant.name) == 1


# -- refusals -----------------------------------------------------------------------------------


def test_refused_uses_consume_nothing(parties: Parties) -> None:
    """Another audience, a window not begun, an altered token, a token that is not one, a
    suspended certificate, a revoked grant, a department without the role: each refused
    with its own status, and no use consumed or recorded."""
    certificate = parties.issue()
    office = parties.uses()
    grant = parties.grant(certificate, max_uses=3)
    later = parties.grant(certificate, not_before_time=_stamp(
        datetime.now(UTC) + timedelta(days=1)))
    revoked = parties.grant(certificate)
    before = parties.daemon.count("certificate_uses")

    def use(token: bytes, label: str = "office") -> Callable[[], object]:
        return lambda: parties.uses(label).UseCertificate(
            use_service_pb2.UseCertificateRequest(token_der=token), timeout=60)

    assert _code(use(grant.token, "other")) == (grpc.StatusCode.PERMISSION_DENIED,
                                                "GRANT_AUDIENCE")
    assert _code(use(later.token)) == (grpc.StatusCode.FAILED_PRECONDITION, "GRANT_REFUSED")
    altered = bytearray(grant.token)
    altered[-40] ^= 1
    assert _failure(use(bytes(altered)))[:3] == (
        grpc.StatusCode.INVALID_ARGUMENT, "GRANT_TOKEN_INVALID", ["token_der"])
    assert _failure(lambda: office.UseCertificate(use_service_pb2.UseCertificateRequest(
        token_text="GT1:not-a-token"), timeout=60))[:3] == (
        grpc.StatusCode.INVALID_ARGUMENT, "GRANT_TOKEN_INVALID", ["token_text"])
    name = certificate_service_pb2.SuspendCertificateRequest(name=certificate)
    parties.certificates().SuspendCertificate(name, timeout=60)
    try:
        assert _code(use(grant.token)) == (grpc.StatusCode.FAILED_PRECONDITION,
                                           "GRANT_REFUSED")
    finally:
        parties.certificates().ResumeCertificate(
            certificate_service_pb2.ResumeCertificateRequest(name=certificate), timeout=60)
    gone = parties.holders().RevokeGrant(holder_service_pb2.RevokeGrantRequest(
        name=revoked.name), metadata=parties.token(ZHANG_SAN), timeout=60).grant
    assert gone.state == grant_pb2.GRANT_STATE_REVOKED
    assert _code(use(revoked.token)) == (grpc.StatusCode.FAILED_PRECONDITION, "GRANT_REFUSED")
    assert _code(use(grant.token, "police")) == (grpc.StatusCode.PERMISSION_DENIED,
                                                 "PERMISSION_DENIED")
    assert parties.daemon.count("certificate_uses") == before
    states = {g.name: g.uses for g in parties.holders().ListGrants(
        holder_service_pb2.ListGrantsRequest(), metadata=parties.token(ZHANG_SAN),
        timeout=60).grants}
    assert states[grant.name] == states[later.name] == states[revoked.name] == 0
    assert use(grant.token)() is not None  # and the good grant still works
    assert parties.daemon.count("certificate_uses") == before + 1


def test_holder_tokens_are_checked(parties: Parties) -> None:
    """No token, a malformed header, an expired token, one for another audience, one
    without an identity number: UNAUTHENTICATED with the reason; another holder cannot
    revoke or use someone's grant; a department that is not the holder app is refused."""
    certificate = parties.issue()
    grant = parties.grant(certificate)
    holders = parties.holders()
    request = holder_service_pb2.ListGrantsRequest()

    def listing(metadata: Any, stub: Any = holders) -> Callable[[], object]:
        return lambda: stub.ListGrants(request, metadata=metadata, timeout=60)

    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    assert _code(listing(())) == (unauthenticated, "TOKEN_MISSING")
    assert _code(listing((("authorization", "Basic dXNlcjpwdw=="),))) == (
        unauthenticated, "TOKEN_MALFORMED")
    assert _code(listing(parties.token(ZHANG_SAN, expires_in=-600))) == (
        unauthenticated, "TOKEN_EXPIRED")
    assert _code(listing(parties.token(ZHANG_SAN, audience="another-service"))) == (
        unauthenticated, "TOKEN_AUDIENCE_INVALID")
    assert _code(listing(parties.token(ZHANG_SAN, extra_claims={}))) == (
        unauthenticated, "TOKEN_NO_IDENTITY_NUMBER")
    forged = parties.token(ZHANG_SAN)[0][1][:-4] + "AAAA"
    assert _code(listing((("authorization", forged),))) == (
        unauthenticated, "TOKEN_SIGNATURE_INVALID")
    office_as_app = holder_service_pb2_grpc.HolderServiceStub(parties.clients["office"].channel)
    assert _code(listing(parties.token(ZHANG_SAN), office_as_app)) == (
        grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")

    stranger = parties.token(LI_SI)
    assert _code(lambda: holders.RevokeGrant(holder_service_pb2.RevokeGrantRequest(
        name=grant.name), metadata=stranger, timeout=60)) == (grpc.StatusCode.NOT_FOUND,
                                                              "GRANT_NOT_FOUND")
    assert grant.name not in {g.name for g in holders.ListGrants(
        request, metadata=stranger, timeout=60).grants}
    assert _code(lambda: parties.grant(certificate, LI_SI)) == (
        grpc.StatusCode.FAILED_PRECONDITION, "GRANT_REFUSED")
    [still] = [g for g in holders.ListGrants(request, metadata=parties.token(ZHANG_SAN),
                                             timeout=60).grants if g.name == grant.name]
    assert still.state == grant_pb2.GRANT_STATE_ACTIVE and still.uses == 0


def test_without_oidc_holder_methods_are_off(tmp_path: Path) -> None:
    """A certd without `[oidc]`: holder methods answer FAILED_PRECONDITION."""
    with contextlib.contextmanager(launch)(tmp_path, f"sqlite:///{tmp_path / 'certlib.db'}",
                                          workers=1) as daemon:
        made = run_certd(daemon.home, daemon.database_url, "client-cert", "--region", "630000",
                         "--uscc", APP, "--name", "移动端", "--label", "app",
                         "--roles", "holder_app")
        assert made.returncode == 0, made.stderr
        with daemon.client("app") as app:
            stub = holder_service_pb2_grpc.HolderServiceStub(app.channel)
            assert _code(lambda: stub.ListCertificates(
                holder_service_pb2.ListCertificatesRequest(),
                metadata=(("authorization", "Bearer x.y.z"),), timeout=60)) == (
                grpc.StatusCode.FAILED_PRECONDITION, "OIDC_NOT_CONFIGURED")


# -- delegation -------------------------------------------------------------------------------


def _scope(certificate: str, fields: list[str], days: int, uses: int,
           **more: Any) -> grant_pb2.DelegationScope:
    return grant_pb2.DelegationScope(
        certificates=[certificate], fields=fields, max_uses=uses,
        not_after_time=_stamp(datetime.now(UTC) + timedelta(days=days)), **more)


def test_delegation_chain_narrows_and_stops_at_a_revoked_link(parties: Parties) -> None:
    """张三 -> 李四 -> 王五: a re-delegation that widens is refused; 王五 grants within
    scope and the office's receipt names the chain; once 张三 revokes 李四's link, 王五's
    grant and any further grant are refused."""
    certificate = parties.issue()
    holders = parties.holders()
    zhang, li = parties.token(ZHANG_SAN), parties.token(LI_SI)
    top = holders.CreateDelegation(holder_service_pb2.CreateDelegationRequest(
        agent_id_number=LI_SI, scope=_scope(certificate, FIELDS, 30, 5, may_redelegate=True,
                                            max_depth=1)), metadata=zhang, timeout=60).delegation
    assert (top.agent_kind, top.state, top.parent) == (
        grant_pb2.AGENT_KIND_PERSON, grant_pb2.GRANT_STATE_ACTIVE, "")
    received = holders.ListDelegations(holder_service_pb2.ListDelegationsRequest(),
                                       metadata=li, timeout=60)
    assert top.name in {d.name for d in received.agent_delegations}
    assert top.name not in {d.name for d in received.delegations}

    wider = holder_service_pb2.CreateDelegationRequest(
        agent_id_number=WANG_WU, parent=top.name,
        scope=_scope(certificate, [*FIELDS, "id_number"], 10, 2))
    assert _code(lambda: holders.CreateDelegation(wider, metadata=li, timeout=60)) == (
        grpc.StatusCode.FAILED_PRECONDITION, "DELEGATION_REFUSED")
    below = holders.CreateDelegation(holder_service_pb2.CreateDelegationRequest(
        agent_id_number=WANG_WU, parent=top.name,
        scope=_scope(certificate, ["name"], 10, 2, matters=[MATTER.code])),
        metadata=li, timeout=60).delegation
    assert below.parent == top.name and below.holder == top.holder

    first = parties.grant(certificate, WANG_WU, fields=["name"], delegation=below.name,
                          not_after_time=_stamp(datetime.now(UTC) + timedelta(days=5)))
    second = parties.grant(certificate, WANG_WU, fields=["name"], delegation=below.name)
    assert first.holder == top.holder and first.granted_by != first.holder
    assert first.delegation == below.name
    office = parties.uses()
    used = office.UseCertificate(use_service_pb2.UseCertificateRequest(
        token_der=first.token), timeout=60).result
    assert list(used.disclosed_fields) == ["name"]
    statement = office.VerifyReceipt(use_service_pb2.VerifyReceiptRequest(
        receipt=used.receipt), timeout=60).report.subject.attributes
    assert json.loads(statement["agents"]) == [
        f"{top.agent} for {top.delegated_by}", f"{below.agent} for {below.delegated_by}"]

    holders.RevokeDelegation(holder_service_pb2.RevokeDelegationRequest(name=top.name),
                             metadata=zhang, timeout=60)
    refused = (grpc.StatusCode.FAILED_PRECONDITION, "DELEGATION_REFUSED")
    assert _code(lambda: office.UseCertificate(use_service_pb2.UseCertificateRequest(
        token_der=second.token), timeout=60)) == refused
    assert _code(lambda: parties.grant(certificate, WANG_WU, fields=["name"],
                                       delegation=below.name)) == refused
    mine = holders.ListDelegations(holder_service_pb2.ListDelegationsRequest(),
                                   metadata=zhang, timeout=60).delegations
    states = {d.name: d.state for d in mine}
    assert states[top.name] == grant_pb2.GRANT_STATE_REVOKED
    assert states[below.name] == grant_pb2.GRANT_STATE_ACTIVE  # but stopped by its parent
    assert [u.grant for u in parties.history()].count(first.name) == 1
    assert second.name not in {u.grant for u in parties.history()}


def test_organisation_agent_presents_within_its_delegation(parties: Parties) -> None:
    """An organisation agent presents only delegated fields, only as often as delegated,
    and no one else may use its delegation."""
    certificate = parties.issue()
    delegation = parties.holders().CreateDelegation(holder_service_pb2.CreateDelegationRequest(
        agent_uscc=OTHER, scope=_scope(certificate, ["name"], 3, 1)),
        metadata=parties.token(ZHANG_SAN), timeout=60).delegation
    assert (delegation.agent_kind, delegation.agent) == (grant_pb2.AGENT_KIND_ORGANISATION,
                                                         f"department:{OTHER}")

    def present(label: str, fields: list[str]) -> Callable[[], Any]:
        return lambda: parties.uses(label).PresentAsAgent(use_service_pb2.PresentAsAgentRequest(
            delegation=delegation.name, certificate=certificate, fields=fields,
            matter=MATTER), timeout=60)

    refused = (grpc.StatusCode.FAILED_PRECONDITION, "DELEGATION_REFUSED")
    assert _code(present("other", FIELDS)) == refused
    assert _code(present("office", ["name"])) == refused
    result = present("other", ["name"])().result
    assert list(result.disclosed_fields) == ["name"] and result.receipt
    assert _code(present("other", ["name"])) == refused
    [use] = [u for u in parties.history() if u.receipt_id == result.receipt_id]
    assert (use.kind, use.caller, use.delegation) == (
        grant_pb2.USE_KIND_AGENT, f"department:{OTHER}", delegation.name)


# -- showing and duty ---------------------------------------------------------------------------


def test_showing_verifies_with_its_nonce_only(parties: Parties) -> None:
    """A showing verifies online with the verifier's nonce and audience; with another nonce
    the report FAILS and discloses nothing; a person agent shows under a delegation."""
    certificate = parties.issue()
    nonce, audience = b"verifier-nonce-0001", f"department:{OFFICE}"
    shown = parties.holders().ShowCertificate(holder_service_pb2.ShowCertificateRequest(
        certificate=certificate, fields=["name"], nonce=nonce, audience=audience,
        lifetime=duration_pb2.Duration(seconds=120)), metadata=parties.token(ZHANG_SAN),
        timeout=60)
    assert shown.showing_text.startswith("SH1:")
    remaining = shown.expire_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(seconds=100) < remaining <= timedelta(seconds=121)
    office = parties.uses()
    good = office.VerifyShowing(use_service_pb2.VerifyShowingRequest(
        showing_text=shown.showing_text, nonce=nonce, audience=audience), timeout=60).report
    assert good.indication == report_pb2.INDICATION_PASSED, good.checks
    assert dict(good.disclosed_fields) == {"name": "张三"}
    replayed = office.VerifyShowing(use_service_pb2.VerifyShowingRequest(
        showing_der=shown.showing, nonce=b"another-nonce-000", audience=audience),
        timeout=60).report
    assert (replayed.indication, replayed.sub_indication) == (
        report_pb2.INDICATION_FAILED, report_pb2.SUB_INDICATION_SIG_CONSTRAINTS_FAILURE)
    assert not replayed.disclosed_fields
    stale = office.VerifyShowing(use_service_pb2.VerifyShowingRequest(
        showing_der=shown.showing, nonce=nonce, validation_time=_stamp(
            datetime.now(UTC) + timedelta(minutes=10))), timeout=60).report
    assert stale.sub_indication == report_pb2.SUB_INDICATION_EXPIRED

    delegation = parties.holders().CreateDelegation(holder_service_pb2.CreateDelegationRequest(
        agent_id_number=LI_SI, scope=_scope(certificate, ["name"], 1, 1)),
        metadata=parties.token(ZHANG_SAN), timeout=60).delegation
    by_agent = parties.holders().ShowCertificate(holder_service_pb2.ShowCertificateRequest(
        certificate=certificate, fields=["name"], delegation=delegation.name),
        metadata=parties.token(LI_SI), timeout=60)
    checked = office.VerifyShowing(use_service_pb2.VerifyShowingRequest(
        showing_der=by_agent.showing), timeout=60).report
    assert checked.indication == report_pb2.INDICATION_PASSED
    assert json.loads(checked.subject.attributes["agents"]) == [
        f"{delegation.agent} for {delegation.delegated_by}"]
    assert _code(lambda: parties.holders().ShowCertificate(
        holder_service_pb2.ShowCertificateRequest(certificate=certificate, fields=["name"]),
        metadata=parties.token(LI_SI), timeout=60)) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                        "GRANT_REFUSED")
    kinds = [u.kind for u in parties.history()[:2]]
    assert kinds == [grant_pb2.USE_KIND_SHOW, grant_pb2.USE_KIND_SHOW]


def test_fetch_for_duty_only_with_a_duty(parties: Parties) -> None:
    """The office, with a duty for the matter in the policy, fetches 张三's ID card without
    a grant (recorded with its legal basis); a department without the duty, a matter the
    office has no duty for and a department without the role are refused."""
    parties.issue()
    before = parties.daemon.count("certificate_uses")

    def fetch(label: str, matter: grant_pb2.Matter = MATTER) -> Callable[[], Any]:
        return lambda: parties.uses(label).FetchForDuty(use_service_pb2.FetchForDutyRequest(
            holder_id_number=ZHANG_SAN, type_id="resident-id-card", matter=matter,
            legal_basis="《户口登记条例》第十条", fields=["name"]), timeout=60)

    assert _code(fetch("other")) == (grpc.StatusCode.PERMISSION_DENIED, "NO_DUTY")
    assert _code(fetch("office", grant_pb2.Matter(code="630100-ZZ-999",
                                                  display_name="其他事项"))) == (
        grpc.StatusCode.PERMISSION_DENIED, "NO_DUTY")
    assert _code(fetch("police")) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert parties.daemon.count("certificate_uses") == before
    result = fetch("office")().result
    assert list(result.disclosed_fields) == ["name"] and len(result.presentations) == 1
    assert parties.daemon.count("certificate_uses") == before + 1
    [use] = parties.history()[:1]
    assert (use.kind, use.legal_basis, use.caller) == (
        grant_pb2.USE_KIND_DUTY, "《户口登记条例》第十条", f"department:{OFFICE}")


# -- the contract ---------------------------------------------------------------------------------


def test_enums_mirror_the_library() -> None:
    """GrantState, UseKind and AgentKind name exactly the library's values, in order."""
    for wrapper, prefix, names in (
            (grant_pb2.GrantState, "GRANT_STATE_", [m.name for m in GrantState]),
            (grant_pb2.UseKind, "USE_KIND_", [m.name for m in UseKind]),
            (grant_pb2.AgentKind, "AGENT_KIND_", [kind.upper() for kind in AGENT_KINDS])):
        keys = wrapper.keys()
        assert keys[0] == f"{prefix}UNSPECIFIED" and wrapper.Value(keys[0]) == 0
        assert [key.removeprefix(prefix) for key in keys[1:]] == names


# -- bad input ----------------------------------------------------------------------------------

_LATER = timestamp_pb2.Timestamp(seconds=4_000_000_000)
"""A window end in 2096: past any window's limit."""

BAD: list[tuple[str, str, Callable[[str], Any], str]] = [
    # (service, method, request for a certificate name, offending field)
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        certificates=[c], fields=FIELDS, matter=MATTER), "audience"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience="issuers/not-a-uscc", certificates=[c], fields=FIELDS, matter=MATTER),
     "audience"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", fields=FIELDS, matter=MATTER), "certificates"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=["x"], fields=FIELDS, matter=MATTER),
     "certificates[0]"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], matter=MATTER), "fields"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=["no_such_field"],
        matter=MATTER), "fields"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS), "matter"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS,
        matter=grant_pb2.Matter(code="bad code!", display_name="x")), "matter.code"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS,
        matter=grant_pb2.Matter(code="x")), "matter.display_name"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS, matter=MATTER,
        max_uses=101), "max_uses"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS, matter=MATTER,
        not_after_time=timestamp_pb2.Timestamp(seconds=1_000_000_000)), "not_after_time"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS, matter=MATTER,
        not_after_time=_LATER), "not_after_time"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS, matter=MATTER,
        reason="长" * 201), "reason"),
    ("holder", "CreateGrant", lambda c: holder_service_pb2.CreateGrantRequest(
        audience=f"issuers/{OFFICE}", certificates=[c], fields=FIELDS, matter=MATTER,
        delegation="x"), "delegation"),
    ("holder", "RevokeGrant", lambda c: holder_service_pb2.RevokeGrantRequest(name="x"),
     "name"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        scope=_scope(c, FIELDS, 3, 1)), "agent"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_id_number="123", scope=_scope(c, FIELDS, 3, 1)), "agent_id_number"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_id_number=ZHANG_SAN, scope=_scope(c, FIELDS, 3, 1)), "agent_id_number"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_uscc="123", scope=_scope(c, FIELDS, 3, 1)), "agent_uscc"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_uscc=OTHER), "scope"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_uscc=OTHER, scope=grant_pb2.DelegationScope(certificates=[c], fields=FIELDS)),
     "scope.not_after_time"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_uscc=OTHER, scope=_scope(c, FIELDS, 3, 1, max_depth=1)), "scope.max_depth"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_uscc=OTHER, scope=_scope(c, FIELDS, 3, 1001)), "scope.max_uses"),
    ("holder", "CreateDelegation", lambda c: holder_service_pb2.CreateDelegationRequest(
        agent_uscc=OTHER, scope=_scope(c, FIELDS, 3, 1, matters=["bad code!"])),
     "scope.matters[0]"),
    ("holder", "ShowCertificate", lambda c: holder_service_pb2.ShowCertificateRequest(
        certificate=c, fields=["name"], nonce=b"abc"), "nonce"),
    ("holder", "ShowCertificate", lambda c: holder_service_pb2.ShowCertificateRequest(
        certificate=c, fields=["name"], lifetime=duration_pb2.Duration(seconds=31 * 60)),
     "lifetime"),
    ("holder", "ShowCertificate", lambda c: holder_service_pb2.ShowCertificateRequest(
        certificate=c), "fields"),
    ("holder", "ShowCertificate", lambda c: holder_service_pb2.ShowCertificateRequest(
        certificate="certificate", fields=["name"]), "certificate"),
    ("use", "UseCertificate", lambda c: use_service_pb2.UseCertificateRequest(), "token"),
    ("use", "UseCertificate", lambda c: use_service_pb2.UseCertificateRequest(token_der=b""),
     "token_der"),
    ("use", "FetchForDuty", lambda c: use_service_pb2.FetchForDutyRequest(
        holder_id_number="12345", type_id="resident-id-card", matter=MATTER,
        legal_basis="x"), "holder_id_number"),
    ("use", "FetchForDuty", lambda c: use_service_pb2.FetchForDutyRequest(
        holder_id_number=ZHANG_SAN, type_id="no-such-type", matter=MATTER,
        legal_basis="x"), "type_id"),
    ("use", "FetchForDuty", lambda c: use_service_pb2.FetchForDutyRequest(
        holder_id_number=ZHANG_SAN, type_id="resident-id-card", matter=MATTER),
     "legal_basis"),
    ("use", "PresentAsAgent", lambda c: use_service_pb2.PresentAsAgentRequest(
        delegation="x", certificate=c, fields=["name"], matter=MATTER), "delegation"),
    ("use", "PresentAsAgent", lambda c: use_service_pb2.PresentAsAgentRequest(
        delegation="delegations/abc", certificate=c, fields=["name"]), "matter"),
    ("use", "VerifyShowing", lambda c: use_service_pb2.VerifyShowingRequest(), "showing"),
    ("use", "VerifyShowing", lambda c: use_service_pb2.VerifyShowingRequest(
        showing_text="SH1:x", nonce=b"abc"), "nonce"),
    ("use", "VerifyReceipt", lambda c: use_service_pb2.VerifyReceiptRequest(), "receipt"),
]


@pytest.fixture(scope="module")
def held(certd: RunningDaemon) -> str:
    """A certificate of 张三's, for the bad-input cases."""
    with certd.client("police") as police:
        issued = certificate_service_pb2_grpc.CertificateServiceStub(
            police.channel).IssueCertificate(certificate_service_pb2.IssueCertificateRequest(
                issuer=f"issuers/{POLICE}", type_id="resident-id-card", fields=PERSON),
            timeout=60)
    return issued.certificate.name


@pytest.mark.parametrize("case", BAD, ids=[f"{m}-{f}" for _, m, _, f in BAD])
def test_bad_input_is_invalid_argument_with_the_field(
        parties: Parties, held: str, case: tuple[str, str, Callable[[str], Any], str]) -> None:
    """Malformed requests: INVALID_ARGUMENT naming the offending field; nothing written."""
    service, method, make, field = case
    tables = ("grants", "delegations", "certificate_uses")
    before = [parties.daemon.count(table) for table in tables]
    stub = parties.holders() if service == "holder" else parties.uses()
    metadata = parties.token(ZHANG_SAN) if service == "holder" else ()
    code, reason, fields, _ = _failure(lambda: getattr(stub, method)(
        make(held), metadata=metadata, timeout=60))
    assert code is grpc.StatusCode.INVALID_ARGUMENT, reason
    assert reason and fields == [field], (reason, fields)
    assert [parties.daemon.count(table) for table in tables] == before
