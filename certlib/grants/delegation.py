"""委托用证: holders delegate the showing and granting of certificates to agents, and agents
delegate further only where allowed, only narrower, only so deep. A link that is revoked,
outside its window or used up stops everything below it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from certlib.audit import Actor, AuditLog
from certlib.clock import utc_now, whole_seconds
from certlib.errors import InputError
from certlib.grants.errors import DelegationNotFound, DelegationRefused
from certlib.grants.holders import Holder, HolderDirectory
from certlib.grants.records import Delegation, GrantState, Matter, Scope
from certlib.store import Store
from certlib.store.schema import delegations

MAX_DEPTH = 3
"""How many delegations may follow one another below a holder's."""
MAX_WINDOW = timedelta(days=366)
MAX_USES = 1000
AGENT_KINDS = ("person", "organisation")


class DelegationDesk:
    """Makes, checks, uses up and revokes delegations."""

    def __init__(self, store: Store, audit: AuditLog, directory: HolderDirectory,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.audit = audit
        self.directory = directory
        self.clock = clock

    def delegate(self, by: Actor, holder: Holder, *, agent_kind: str, agent: str, scope: Scope,
                 parent_id: str | None = None) -> Delegation:
        """Delegate to `agent` (a `holder:` or `department:` label) within `scope`: `by` is
        the holder, or for a re-delegation the agent of `parent_id`."""
        now = self.clock()
        _check_scope(scope, now)
        scope = replace(scope, not_before=whole_seconds(scope.not_before),
                        not_after=whole_seconds(scope.not_after))
        if agent_kind not in AGENT_KINDS:
            raise InputError("agent_kind is person or organisation")
        if agent in (by.label, holder.actor.label):
            raise InputError("an agent must be someone other than the holder and the delegator")
        delegation = Delegation(uuid.uuid4().hex, holder.pseudonym, parent_id, by.label,
                                agent_kind, agent, scope, 0, GrantState.ACTIVE, now)
        if parent_id is None and not self.directory.owns(holder, scope.certificates):
            raise DelegationRefused("the holder does not hold every one of these certificates")
        with self.store.transaction() as connection:
            if parent_id is None:
                if by != holder.actor:
                    raise DelegationRefused("only the holder delegates without a parent")
                if scope.max_depth > MAX_DEPTH - 1:
                    raise DelegationRefused(f"delegation chains are at most {MAX_DEPTH} deep")
            else:
                parent = self.chain(connection, parent_id, now)[0]
                if parent.agent != by.label:
                    raise DelegationRefused("only the parent delegation's agent re-delegates")
                if parent.holder != holder.pseudonym:
                    raise DelegationRefused("the parent delegation is another holder's")
                if not parent.scope.may_redelegate:
                    raise DelegationRefused("the parent delegation does not allow re-delegation")
                widened = scope.narrower_than(parent.scope, parent.uses_left)
                if widened is not None:
                    raise DelegationRefused(f"a re-delegation may not widen the {widened}")
            connection.execute(sa.insert(delegations).values(
                id=delegation.id, holder_index=holder.index, holder=holder.pseudonym,
                parent_id=parent_id, delegated_by=by.label, agent_kind=agent_kind,
                agent=agent, certificates=json.dumps(list(scope.certificates)),
                fields=json.dumps(list(scope.fields)), matters=json.dumps(list(scope.matters)),
                not_before=scope.not_before, not_after=scope.not_after,
                max_uses=scope.max_uses, uses=0, may_redelegate=scope.may_redelegate,
                depth_left=scope.max_depth, state=GrantState.ACTIVE.value, created_at=now))
            self.audit.append(connection, actor=by, method="delegation.create",
                              objects=(delegation.id, f"holder:{holder.pseudonym}", agent),
                              details={"parent": parent_id or "", "uses": scope.max_uses})
        return delegation

    def get(self, delegation_id: str) -> Delegation:
        """One delegation; DelegationNotFound if unknown."""
        with self.store.reading() as connection:
            return _load(connection, delegation_id)

    def holder_of(self, delegation_id: str) -> Holder:
        """The holder whose certificates a delegation is about (for agents acting on it)."""
        with self.store.reading() as connection:
            row = connection.execute(sa.select(delegations.c.holder_index, delegations.c.holder)
                                     .where(delegations.c.id == delegation_id)).first()
        if row is None:
            raise DelegationNotFound(f"no delegation {delegation_id!r}")
        return Holder(bytes(row.holder_index), row.holder)

    def of_holder(self, holder: Holder) -> list[Delegation]:
        """Every delegation of the holder's certificates, newest first."""
        return self._query(delegations.c.holder_index == holder.index)

    def for_agent(self, agent: str) -> list[Delegation]:
        """Every delegation to this agent label, newest first."""
        return self._query(delegations.c.agent == agent)

    def _query(self, condition: sa.ColumnElement[bool]) -> list[Delegation]:
        with self.store.reading() as connection:
            return [_delegation(row) for row in connection.execute(
                sa.select(delegations).where(condition)
                .order_by(delegations.c.created_at.desc()).limit(1000))]

    def revoke(self, delegation_id: str, by: Actor, holder: Holder | None = None) -> Delegation:
        """Revoke a link (its holder, or whoever made it, may): everything below stops."""
        now = self.clock()
        with self.store.transaction() as connection:
            delegation = _load(connection, delegation_id)
            if not ((holder is not None and delegation.holder == holder.pseudonym)
                    or delegation.delegated_by == by.label):
                raise DelegationNotFound(f"no delegation {delegation_id!r} of yours")
            if delegation.state is GrantState.ACTIVE:
                connection.execute(sa.update(delegations).where(
                    delegations.c.id == delegation_id).values(
                    state=GrantState.REVOKED.value, revoked_at=now))
                self.audit.append(connection, actor=by, method="delegation.revoke",
                                  objects=(delegation_id, f"holder:{delegation.holder}"))
            return _load(connection, delegation_id)

    def chain(self, connection: Connection, delegation_id: str,
              at: datetime) -> list[Delegation]:
        """The delegation and its ancestors (leaf first), if every link still counts at
        `at`; DelegationRefused naming the first that does not."""
        links: list[Delegation] = []
        current: str | None = delegation_id
        while current is not None:
            link = _load(connection, current)
            if link.state is not GrantState.ACTIVE:
                raise DelegationRefused(f"delegation {link.id} has been revoked")
            if not link.scope.not_before <= at <= link.scope.not_after:
                raise DelegationRefused(f"delegation {link.id} is not valid now")
            links.append(link)
            current = link.parent_id
            if len(links) > MAX_DEPTH + 1:
                raise DelegationRefused("the delegation chain is too deep")
        return links

    def consume(self, connection: Connection, delegation_id: str, by: Actor, at: datetime, *,
                certificates: tuple[str, ...], fields: tuple[str, ...],
                matter: Matter | None) -> list[Delegation]:
        """Check that `by` may act within the delegation and use one of its uses (in the
        caller's transaction); the chain, leaf first."""
        links = self.chain(connection, delegation_id, at)
        leaf = links[0]
        if leaf.agent != by.label:
            raise DelegationRefused("the delegation is another agent's")
        scope = leaf.scope
        if not set(certificates) <= set(scope.certificates):
            raise DelegationRefused("the delegation does not cover these certificates")
        if not set(fields) <= set(scope.fields):
            raise DelegationRefused("the delegation does not cover these fields")
        if matter is not None and scope.matters and matter.code not in scope.matters:
            raise DelegationRefused("the delegation does not cover this matter")
        used = connection.execute(sa.update(delegations).where(
            (delegations.c.id == delegation_id) & (delegations.c.uses < delegations.c.max_uses))
            .values(uses=delegations.c.uses + 1)).rowcount
        if not used:
            raise DelegationRefused(f"delegation {delegation_id} is used up")
        return links


def agents_of(links: list[Delegation]) -> list[str]:
    """The chain as receipts and tokens state it, from the holder down: `<agent> for
    <delegator>` per link."""
    return [f"{link.agent} for {link.delegated_by}" for link in reversed(links)]


def _check_scope(scope: Scope, now: datetime) -> None:
    if not isinstance(scope, Scope):
        raise InputError("scope must be a Scope")
    if not scope.certificates or not scope.fields:
        raise InputError("a delegation names at least one certificate and one field")
    if len(scope.certificates) > 10 or len(scope.fields) > 100 or len(scope.matters) > 100:
        raise InputError("a delegation names at most 10 certificates, 100 fields and matters")
    if not scope.not_before < scope.not_after <= max(now, scope.not_before) + MAX_WINDOW:
        raise InputError("a delegation's window is positive and at most a year")
    if scope.not_after <= now:
        raise InputError("a delegation's window must not be over already")
    if not 1 <= scope.max_uses <= MAX_USES:
        raise InputError(f"a delegation allows 1 to {MAX_USES} uses")
    if not 0 <= scope.max_depth <= MAX_DEPTH - 1 or (scope.max_depth and not
                                                       scope.may_redelegate):
        raise InputError("max_depth is 0 to 2, and above 0 only with may_redelegate")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load(connection: Connection, delegation_id: str) -> Delegation:
    if not isinstance(delegation_id, str) or not 1 <= len(delegation_id) <= 40:
        raise DelegationNotFound("not a delegation id")
    row = connection.execute(sa.select(delegations).where(
        delegations.c.id == delegation_id)).first()
    if row is None:
        raise DelegationNotFound(f"no delegation {delegation_id!r}")
    return _delegation(row)


def _delegation(row: sa.Row[tuple[object, ...]]) -> Delegation:
    scope = Scope(tuple(json.loads(row.certificates)), tuple(json.loads(row.fields)),
                  tuple(json.loads(row.matters)), _aware(row.not_before),
                  _aware(row.not_after), row.max_uses, bool(row.may_redelegate),
                  row.depth_left)
    return Delegation(row.id, row.holder, row.parent_id, row.delegated_by, row.agent_kind,
                      row.agent, scope, row.uses, GrantState(row.state), _aware(row.created_at))
