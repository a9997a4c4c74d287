"""Grants, uses, delegations, showings and receipts against a real token and both
databases, with the attacks the issue lists: each refused, and nothing consumed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from certlib.config import Settings
from certlib.errors import CertlibError, InputError
from certlib.grants import (
    AudienceMismatch,
    DelegationRefused,
    GrantRefused,
    GrantTokenInvalid,
    GrantUsedUp,
    Holder,
    Matter,
    NoDuty,
    Scope,
    UseKind,
    from_text,
    to_text,
    verify_receipt,
    verify_show,
)
from certlib.ids import uscc_with_check
from certlib.platform import Platform, open_platform
from certlib.present import load_presentation
from certlib.report import Indication, SubIndication
from certlib.status import StoreStatusSource
from certlib.store.schema import certificate_uses
from tests.samples import LI_SI, SAMPLES, WANG_WU, ZHANG_SAN

POLICE = uscc_with_check("11630100MB0000044")
OFFICE = uscc_with_check("11630100MB0000045")  # a service office that receives grants
OTHER = uscc_with_check("11630100MB0000046")
MATTER = Matter("630100-ZZ-001", "户籍迁入登记")
FIELDS = ("name", "address")


def _issue(platform: Platform, id_number: str) -> str:
    data = {**SAMPLES["resident-id-card"], "id_number": id_number}
    return platform.office.issue(issuer_uscc=POLICE, type_id="resident-id-card",
                                 data=data).identifier


def _set_up(platform: Platform) -> tuple[Holder, str]:
    platform.authority.init_region("630000", "青海省政务服务平台")
    platform.authority.add_issuer(POLICE, "西宁市公安局", "630000",
                                  [platform.types.get("resident-id-card").code])
    return platform.holders.person(ZHANG_SAN), _issue(platform, ZHANG_SAN)


def _uses(platform: Platform) -> int:
    with platform.store.reading() as connection:
        return int(connection.execute(sa.select(sa.func.count())
                                      .select_from(certificate_uses)).scalar_one())


def _grant(platform: Platform, holder: Holder, identifier: str, **changes: object) -> bytes:
    options: dict[str, object] = {"audience": OFFICE, "certificates": (identifier,),
                                  "fields": FIELDS, "matter": MATTER} | changes
    return platform.grants.create(holder, **options).token  # type: ignore[arg-type]


def test_grant_use_receipt_and_history(fresh_platform: Platform) -> None:
    """The office gets exactly the granted fields, signed by the issuer, and a receipt the
    holder verifies; the history matches the audit log; a second use is refused."""
    holder, identifier = _set_up(fresh_platform)
    token = _grant(fresh_platform, holder, identifier, reason="为张三办理户籍迁入")
    text = to_text("grant", token)
    assert text.startswith("GT1:") and from_text(text) == ("grant", token)
    used = fresh_platform.grants.use(text, OFFICE)
    [(got, presentation)] = used.presentations
    assert got == identifier and used.fields == FIELDS
    disclosed = {item["name"].native for item in load_presentation(presentation)["disclosed"]}
    assert disclosed == set(FIELDS)
    report = fresh_platform.verifier().verify(presentation)
    assert report.passed and set(report.disclosed) == set(FIELDS)
    receipt = verify_receipt(used.receipt, trust=fresh_platform.trust_material())
    assert receipt.passed, receipt.checks
    assert receipt.subject["fields"] == list(FIELDS) and receipt.subject["use_number"] == 1
    assert "张三" not in str(receipt.subject) and ZHANG_SAN not in str(receipt.subject)
    with pytest.raises(GrantUsedUp):
        fresh_platform.grants.use(token, OFFICE)
    [use] = fresh_platform.grants.history(holder)
    assert (use.kind, use.caller, use.matter, use.receipt) == (
        UseKind.GRANT, f"department:{OFFICE}", MATTER, used.receipt)
    audited = fresh_platform.audit.query(object_id=f"holder:{holder.pseudonym}")
    uses = [r for r in audited if r.method.startswith("certificate.use.")]
    assert [r.objects[1] for r in uses] == [use.receipt_id for use in
                                            fresh_platform.grants.history(holder)]


def test_fifty_concurrent_uses_of_a_one_use_grant(fresh_platform: Platform) -> None:
    """Exactly one succeeds; the others are told the grant is used up; one use recorded."""
    holder, identifier = _set_up(fresh_platform)
    token = _grant(fresh_platform, holder, identifier)
    start = threading.Barrier(50)

    def attempt(_: int) -> str:
        start.wait()
        try:
            fresh_platform.grants.use(token, OFFICE)
            return "ok"
        except GrantUsedUp:
            return "used up"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("ok") == 1 and outcomes.count("used up") == 49
    assert _uses(fresh_platform) == 1
    assert fresh_platform.grants.of_holder(holder)[0].uses == 1


def test_refusals_consume_nothing(fresh_platform: Platform, settings: Settings,
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    """Another audience, a grant not valid yet, a revoked grant, a suspended certificate, an
    altered token, another platform's token, someone else's certificate: refused, no use."""
    holder, identifier = _set_up(fresh_platform)
    grants = fresh_platform.grants
    token = _grant(fresh_platform, holder, identifier, max_uses=3)
    with pytest.raises(AudienceMismatch):
        grants.use(token, OTHER)
    later = _grant(fresh_platform, holder, identifier,
                   not_before=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(GrantRefused, match="not valid now"):
        grants.use(later, OFFICE)
    altered = bytearray(token)
    altered[-40] ^= 1
    with pytest.raises(GrantTokenInvalid):
        grants.use(bytes(altered), OFFICE)
    with pytest.raises(GrantTokenInvalid):
        grants.use("GT1:not-a-token", OFFICE)
    fresh_platform.office.suspend(identifier)
    with pytest.raises(GrantRefused, match="suspended"):
        grants.use(token, OFFICE)
    fresh_platform.office.resume(identifier)
    revoked = grants.create(holder, audience=OFFICE, certificates=(identifier,),
                            fields=FIELDS, matter=MATTER)
    grants.revoke(revoked.id, holder.actor, holder)
    with pytest.raises(GrantRefused, match="revoked"):
        grants.use(revoked.token, OFFICE)
    stranger = fresh_platform.holders.person(LI_SI)
    with pytest.raises(GrantRefused, match="does not hold"):
        _grant(fresh_platform, stranger, identifier)
    # The same grant made by another platform (another region, its own use key; SoftHSM2
    # allows one token directory per process, so it shares the token, not the database).
    home = tmp_path_factory.mktemp("other-platform")
    other = open_platform(replace(settings, database_url=f"sqlite:///{home / 'other.db'}"))
    try:
        other.authority.init_region("640000", "宁夏回族自治区政务服务平台")
        other.authority.add_issuer(POLICE, "西宁市公安局", "640000",
                                   [other.types.get("resident-id-card").code])
        foreign = _grant(other, other.holders.person(ZHANG_SAN), _issue(other, ZHANG_SAN))
    finally:
        other.close()
    with pytest.raises(GrantTokenInvalid, match="not signed by this platform"):
        grants.use(foreign, OFFICE)
    assert _uses(fresh_platform) == 0
    assert all(grant.uses == 0 for grant in grants.of_holder(holder))
    grants.use(token, OFFICE)  # and the good grant still works
    assert _uses(fresh_platform) == 1


@pytest.mark.parametrize("changes, widened", [
    ({"fields": ("name", "address", "id_number")}, "fields"),
    ({"matters": ("other-matter",)}, "matters"),
    ({"max_uses": 6}, "number of uses"),
    ({"window": 40}, "validity window"),
    ({"max_depth": 2, "may_redelegate": True}, "depth"),
])
def test_redelegation_only_narrower(fresh_platform: Platform, changes: dict[str, object],
                                    widened: str) -> None:
    """An agent's re-delegation that widens fields, matters, uses, window or depth."""
    holder, identifier = _set_up(fresh_platform)
    agent = fresh_platform.holders.person(LI_SI)
    now = datetime.now(UTC)
    parent = fresh_platform.delegations.delegate(
        holder.actor, holder, agent_kind="person", agent=agent.actor.label,
        scope=Scope((identifier,), FIELDS, (MATTER.code,), now, now + timedelta(days=30), 5,
                    may_redelegate=True, max_depth=1))
    changes = dict(changes)  # the parameter is shared between the database runs
    window = int(changes.pop("window", 10))  # type: ignore[call-overload]
    base: dict[str, object] = {"certificates": (identifier,), "fields": ("name",),
                               "matters": (MATTER.code,), "not_before": now,
                               "not_after": now + timedelta(days=window), "max_uses": 2}
    scope = Scope(**(base | changes))  # type: ignore[arg-type]
    third = fresh_platform.holders.person(WANG_WU)
    with pytest.raises((DelegationRefused, InputError), match=widened.split(maxsplit=1)[0]):
        fresh_platform.delegations.delegate(agent.actor, holder, agent_kind="person",
                                            agent=third.actor.label, scope=scope,
                                            parent_id=parent.id)


def test_delegated_grant_and_revoking_a_middle_link(fresh_platform: Platform) -> None:
    """Holder -> agent A -> agent B; B grants within scope, the office uses it and the receipt
    names the chain; revoking A's link stops B's grant and B's further grants."""
    holder, identifier = _set_up(fresh_platform)
    first = fresh_platform.holders.person(LI_SI)
    second = fresh_platform.holders.person(WANG_WU)
    now = datetime.now(UTC)
    top = fresh_platform.delegations.delegate(
        holder.actor, holder, agent_kind="person", agent=first.actor.label,
        scope=Scope((identifier,), FIELDS, (), now, now + timedelta(days=30), 5,
                    may_redelegate=True, max_depth=1))
    below = fresh_platform.delegations.delegate(
        first.actor, holder, agent_kind="person", agent=second.actor.label,
        scope=Scope((identifier,), ("name",), (MATTER.code,), now, now + timedelta(days=10), 2),
        parent_id=top.id)
    with pytest.raises(GrantRefused, match="only under a delegation"):
        _grant(fresh_platform, holder, identifier, fields=("name",), by=second.actor)
    with pytest.raises(DelegationRefused, match="fields"):
        _grant(fresh_platform, holder, identifier, by=second.actor, delegation_id=below.id)
    token = _grant(fresh_platform, holder, identifier, fields=("name",), by=second.actor,
                   delegation_id=below.id, not_after=now + timedelta(days=5), max_uses=2)
    used = fresh_platform.grants.use(token, OFFICE)
    statement = verify_receipt(used.receipt, trust=fresh_platform.trust_material()).subject
    assert statement["agents"] == [f"{first.actor.label} for {holder.actor.label}",
                                   f"{second.actor.label} for {first.actor.label}"]
    fresh_platform.delegations.revoke(top.id, holder.actor, holder)
    with pytest.raises(DelegationRefused, match="revoked"):
        fresh_platform.grants.use(token, OFFICE)
    with pytest.raises(DelegationRefused, match="revoked"):
        _grant(fresh_platform, holder, identifier, fields=("name",), by=second.actor,
               delegation_id=below.id)
    assert _uses(fresh_platform) == 1


def test_showing_is_bound_to_nonce_and_window(fresh_platform: Platform) -> None:
    """A showing verifies with its nonce in its window; another nonce, or later, fails."""
    holder, identifier = _set_up(fresh_platform)
    nonce = b"verifier-nonce-0001"
    token = fresh_platform.showings.show(holder, identifier, ("name",), nonce=nonce,
                                         audience=f"department:{OFFICE}")
    trust = fresh_platform.trust_material()
    status = StoreStatusSource(fresh_platform.store)
    good = verify_show(to_text("show", token), trust=trust, nonce=nonce, status=status,
                       audience=f"department:{OFFICE}")
    assert good.passed and set(good.disclosed) == {"name"}, good.checks
    assert verify_show(token, trust=trust, nonce=b"another-nonce-000").indication is (
        Indication.FAILED)
    stale = verify_show(token, trust=trust, nonce=nonce,
                        at=datetime.now(UTC) + timedelta(minutes=10))
    assert (stale.indication, stale.sub_indication) == (Indication.FAILED,
                                                        SubIndication.EXPIRED)
    assert [use.kind for use in fresh_platform.grants.history(holder)] == [UseKind.SHOW]


def test_duty_fetch_is_recorded_for_the_holder(fresh_platform: Platform) -> None:
    """A department with a duty for the matter fetches without a grant (legal basis kept);
    one without the duty is refused."""
    holder, _ = _set_up(fresh_platform)
    duties = {OFFICE: frozenset({MATTER.code})}
    with pytest.raises(NoDuty):
        fresh_platform.grants.fetch_for_duty(OTHER, holder, type_id="resident-id-card",
                                             matter=MATTER, legal_basis="x", duties=duties)
    used = fresh_platform.grants.fetch_for_duty(
        OFFICE, holder, type_id="resident-id-card", matter=MATTER, fields=("name",),
        legal_basis="《户口登记条例》第十条", duties=duties)
    assert used.fields == ("name",)
    [use] = fresh_platform.grants.history(holder)
    assert (use.kind, use.legal_basis) == (UseKind.DUTY, "《户口登记条例》第十条")


def test_organisation_agent_presents_within_scope(fresh_platform: Platform) -> None:
    """A company clerk's organisation, as agent, presents only delegated fields, and only
    as often as delegated."""
    holder, identifier = _set_up(fresh_platform)
    now = datetime.now(UTC)
    delegation = fresh_platform.delegations.delegate(
        holder.actor, holder, agent_kind="organisation", agent=f"department:{OTHER}",
        scope=Scope((identifier,), ("name",), (), now, now + timedelta(days=3), 1))
    with pytest.raises(DelegationRefused, match="fields"):
        fresh_platform.grants.present_as_agent(OTHER, delegation.id, identifier,
                                               ("name", "address"), MATTER)
    used = fresh_platform.grants.present_as_agent(OTHER, delegation.id, identifier,
                                                  ("name",), MATTER)
    assert used.fields == ("name",)
    with pytest.raises(DelegationRefused, match="used up"):
        fresh_platform.grants.present_as_agent(OTHER, delegation.id, identifier, ("name",),
                                               MATTER)
    with pytest.raises(DelegationRefused, match="another agent"):
        fresh_platform.grants.present_as_agent(OFFICE, delegation.id, identifier, ("name",),
                                               MATTER)


@pytest.mark.parametrize("changes", [
    {"fields": ("no_such_field",)},
    {"matter": Matter("bad code!", "x")},
    {"max_uses": 0},
    {"audience": "not-a-uscc"},
    {"not_after": datetime.now(UTC) - timedelta(days=1)},
])
def test_bad_grants_are_input_errors(fresh_platform: Platform,
                                     changes: dict[str, object]) -> None:
    """Malformed grant requests: a clear error and no grant."""
    holder, identifier = _set_up(fresh_platform)
    with pytest.raises(CertlibError):
        _grant(fresh_platform, holder, identifier, **changes)
    assert fresh_platform.grants.of_holder(holder) == []
