"""授权用证 and 依职能查验: holders (or their agents) grant departments the use of
certificates; departments use grants or, with a legal duty, fetch without one; every use is
consumed atomically, answered with exactly the allowed fields and a signed receipt, and
recorded for the holder to see."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from certlib.audit import Actor, AuditLog
from certlib.clock import utc_now, whole_seconds
from certlib.errors import InputError
from certlib.grants.delegation import DelegationDesk, agents_of
from certlib.grants.errors import (
    AudienceMismatch,
    GrantNotFound,
    GrantRefused,
    GrantTokenInvalid,
    GrantUsedUp,
    NoDuty,
)
from certlib.grants.holders import Holder, HolderDirectory
from certlib.grants.records import CertificateUse, Grant, GrantState, Matter, UseKind
from certlib.grants.signers import PlatformKeys
from certlib.grants.tokens import PlatformSigner, from_text, open_token
from certlib.ids import check_uscc
from certlib.issuance import CertificateOffice
from certlib.present import field_names, load_certificate, present
from certlib.protect import DataProtector
from certlib.status import CertificateStatus
from certlib.store.schema import certificate_uses, certificates, delegations, grants

MAX_GRANT_WINDOW = timedelta(days=366)
MAX_GRANT_USES = 100
_MATTER_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class UseResult:
    """What a department gets for one use: presentations with exactly the allowed fields,
    by certificate, and the signed receipt."""

    presentations: tuple[tuple[str, bytes], ...]
    receipt: bytes
    receipt_id: str
    fields: tuple[str, ...]
    """The field names disclosed (over all presentations)."""


def check_matter(matter: Matter) -> None:
    """InputError unless the matter has a code (letters, digits, . _ -) and a name."""
    if not isinstance(matter, Matter) or not isinstance(matter.code, str) \
            or not _MATTER_CODE.fullmatch(matter.code):
        raise InputError("a matter code is 1 to 64 letters, digits, dots, dashes, underscores")
    if not isinstance(matter.name, str) or not 1 <= len(matter.name.strip()) <= 100:
        raise InputError("a matter name is 1 to 100 characters")


class GrantDesk:
    """Grants, their use, uses by duty, and each holder's history of uses."""

    def __init__(self, office: CertificateOffice, *, protector: DataProtector,
                 directory: HolderDirectory, delegation_desk: DelegationDesk,
                 keys: PlatformKeys, clock: Callable[[], datetime] = utc_now) -> None:
        self.office = office
        self.protector = protector
        self.directory = directory
        self.delegations = delegation_desk
        self.keys = keys
        self.clock = clock
        self._regions: dict[str, str] = {}

    @property
    def audit(self) -> AuditLog:
        """The audit log."""
        return self.office.audit

    # -- grants -------------------------------------------------------------------------------

    def create(self, holder: Holder, *, audience: str, certificates: tuple[str, ...],
               fields: tuple[str, ...], matter: Matter, reason: str | None = None,
               not_before: datetime | None = None, not_after: datetime | None = None,
               max_uses: int = 1, by: Actor | None = None,
               delegation_id: str | None = None) -> Grant:
        """A grant for department `audience`; `by` an agent needs `delegation_id`."""
        now = self.clock()
        by = by or holder.actor
        audience = check_uscc(audience).value
        check_matter(matter)
        not_before = whole_seconds(not_before or now)
        not_after = whole_seconds(not_after or now + timedelta(days=7))
        if not not_before < not_after <= max(now, not_before) + MAX_GRANT_WINDOW \
                or not_after <= now:
            raise InputError("a grant's window is positive, not over, and at most a year")
        if not 1 <= max_uses <= MAX_GRANT_USES:
            raise InputError(f"a grant allows 1 to {MAX_GRANT_USES} uses")
        if reason is not None and not 1 <= len(reason) <= 200:
            raise InputError("the reason is 1 to 200 characters")
        self._check_fields(certificates, fields)
        if not self.directory.owns(holder, certificates):
            raise GrantRefused("the holder does not hold every one of these certificates")
        if by != holder.actor and delegation_id is None:
            raise GrantRefused("an agent grants only under a delegation")
        grant_id = uuid.uuid4().hex
        signer = self.keys.signer(self._region_of(certificates[0]))
        with self.office.store.transaction() as connection:
            agents: list[str] = []
            if delegation_id is not None:
                links = self.delegations.consume(connection, delegation_id, by, now,
                                                 certificates=certificates, fields=fields,
                                                 matter=matter)
                if links[-1].holder != holder.pseudonym:
                    raise GrantRefused("the delegation is another holder's")
                if not_after > links[0].scope.not_after:
                    raise GrantRefused("a grant may not outlast the delegation it is made under")
                agents = agents_of(links)
            token = signer.sign("grant", {
                "grant_id": grant_id, "holder": holder.pseudonym, "audience": audience,
                "certificates": list(certificates), "fields": list(fields),
                "matter_code": matter.code, "matter_name": matter.name,
                "not_before": not_before, "not_after": not_after, "max_uses": max_uses,
                "issued_at": now, "agents": agents}, now)
            key_id, sealed = (self.protector.seal(reason.encode(), grant_id.encode(),
                                                  connection) if reason else (None, None))
            connection.execute(sa.insert(grants).values(
                id=grant_id, holder_index=holder.index, holder=holder.pseudonym,
                granted_by=by.label, delegation_id=delegation_id, audience=audience,
                certificates=json.dumps(list(certificates)), fields=json.dumps(list(fields)),
                matter_code=matter.code, matter_name=matter.name, reason=sealed,
                reason_key_id=key_id, not_before=not_before, not_after=not_after,
                max_uses=max_uses, uses=0, state=GrantState.ACTIVE.value, created_at=now,
                token=token))
            self.audit.append(connection, actor=by, method="grant.create",
                              objects=(grant_id, f"holder:{holder.pseudonym}",
                                       f"department:{audience}"),
                              details={"matter": matter.code, "uses": max_uses})
            return self._load(connection, grant_id)

    def of_holder(self, holder: Holder) -> list[Grant]:
        """The holder's grants, newest first."""
        with self.office.store.reading() as connection:
            return [_grant(row) for row in connection.execute(
                sa.select(grants).where(grants.c.holder_index == holder.index)
                .order_by(grants.c.created_at.desc()).limit(1000))]

    def revoke(self, grant_id: str, by: Actor, holder: Holder | None = None) -> Grant:
        """Revoke a grant (its holder, or the agent who made it, may)."""
        with self.office.store.transaction() as connection:
            grant = self._load(connection, grant_id)
            if not ((holder is not None and grant.holder == holder.pseudonym)
                    or grant.granted_by == by.label):
                raise GrantNotFound(f"no grant {grant_id!r} of yours")
            if grant.state is GrantState.ACTIVE:
                connection.execute(sa.update(grants).where(grants.c.id == grant_id).values(
                    state=GrantState.REVOKED.value, revoked_at=self.clock()))
                self.audit.append(connection, actor=by, method="grant.revoke",
                                  objects=(grant_id, f"holder:{grant.holder}"))
            return self._load(connection, grant_id)

    # -- using ----------------------------------------------------------------------------------

    def use(self, token: bytes | str, caller: str) -> UseResult:
        """A department (`caller`, its USCC) uses a grant token: checked, one use consumed
        atomically, exactly the granted fields returned with a signed receipt."""
        now = self.clock()
        grant_id = self._grant_id_of(token, now)
        with self.office.store.reading() as connection:
            grant = self._load(connection, grant_id)
            self._check_grant(grant, caller, now, connection)  # early: before the work
        result = self._presentations(grant.certificates, grant.fields)
        signer = self.signer_for(grant.certificates[0])
        with self.office.store.transaction() as connection:
            locked = self._load(connection, grant_id, for_update=True)
            self._check_grant(locked, caller, now, connection)
            agents: list[str] = []
            if locked.delegation_id is not None:
                agents = agents_of(self.delegations.chain(connection, locked.delegation_id,
                                                          now))
            consumed = connection.execute(sa.update(grants).where(
                (grants.c.id == grant_id) & (grants.c.uses < grants.c.max_uses)
                & (grants.c.state == GrantState.ACTIVE.value))
                .values(uses=grants.c.uses + 1)).rowcount
            if not consumed:
                raise GrantUsedUp(f"grant {grant_id} has no uses left")
            holder = Holder(self._holder_index(connection, grant_id), grant.holder)
            return self._record(connection, kind=UseKind.GRANT, holder=holder,
                                caller=f"department:{caller}", matter=grant.matter,
                                result=result, grant_id=grant_id,
                                delegation_id=locked.delegation_id, agents=agents,
                                use_number=locked.uses + 1, now=now, signer=signer)

    def fetch_for_duty(self, caller: str, holder: Holder, *, type_id: str, matter: Matter,
                       legal_basis: str, duties: Mapping[str, frozenset[str]],
                       fields: tuple[str, ...] | None = None) -> UseResult:
        """依职能查验: a department with a legal duty for `matter` fetches the holder's
        certificates of one type without a grant; the use is recorded for the holder."""
        check_matter(matter)
        if not isinstance(legal_basis, str) or not 1 <= len(legal_basis.strip()) <= 200:
            raise InputError("the legal basis is 1 to 200 characters")
        if matter.code not in duties.get(caller, frozenset()):
            raise NoDuty(f"department {caller} has no duty for matter {matter.code}")
        certificate_type = self.office.types.get(type_id)
        held = [identifier for identifier in self.directory.certificates(holder)
                if self.office.record(identifier).type_id == certificate_type.id
                and self.office.status(identifier) is CertificateStatus.VALID]
        if not held:
            raise GrantRefused(f"the holder holds no valid {certificate_type.id}")
        chosen = fields or tuple(certificate_type.fields)
        result = self._presentations((held[0],), chosen)
        signer = self.signer_for(held[0])
        now = self.clock()
        with self.office.store.transaction() as connection:
            return self._record(connection, kind=UseKind.DUTY, holder=holder,
                                caller=f"department:{caller}", matter=matter, result=result,
                                legal_basis=legal_basis, use_number=1, now=now,
                                signer=signer)

    def present_as_agent(self, caller: str, delegation_id: str, identifier: str,
                         fields: tuple[str, ...], matter: Matter) -> UseResult:
        """委托用证 by an organisation agent (`caller`, its USCC) within its delegation."""
        check_matter(matter)
        now = self.clock()
        agent = Actor("department", caller)
        result = self._presentations((identifier,), fields)
        signer = self.signer_for(identifier)
        with self.office.store.transaction() as connection:
            links = self.delegations.consume(connection, delegation_id, agent, now,
                                             certificates=(identifier,), fields=fields,
                                             matter=matter)
            holder = Holder(_delegation_holder_index(connection, links[-1].id),
                            links[-1].holder)
            return self._record(connection, kind=UseKind.AGENT, holder=holder,
                                caller=agent.label, matter=matter, result=result,
                                delegation_id=delegation_id, agents=agents_of(links),
                                use_number=links[0].uses + 1, now=now, signer=signer)

    # -- history ------------------------------------------------------------------------------

    def history(self, holder: Holder) -> list[CertificateUse]:
        """Every use of the holder's certificates, newest first: who, when, for what."""
        with self.office.store.reading() as connection:
            rows = connection.execute(
                sa.select(certificate_uses).where(certificate_uses.c.holder_index == holder.index)
                .order_by(certificate_uses.c.id.desc()).limit(10_000)).all()
        return [CertificateUse(row.receipt_id, UseKind(row.kind), row.caller,
                               Matter(row.matter_code, row.matter_name), row.legal_basis,
                               row.grant_id, row.delegation_id,
                               tuple(json.loads(row.certificates)), tuple(json.loads(row.fields)),
                               _aware(row.used_at), bytes(row.receipt)) for row in rows]

    # -- internals --------------------------------------------------------------------------------

    def signer_for(self, identifier: str) -> PlatformSigner:
        """The `use` signer of the region whose department issued `identifier`."""
        return self.keys.signer(self._region_of(identifier))

    def _record(self, connection: Connection, *, kind: UseKind, holder: Holder, caller: str,
                matter: Matter, result: UseResult, now: datetime, use_number: int,
                signer: PlatformSigner,
                grant_id: str | None = None, delegation_id: str | None = None,
                agents: list[str] | None = None, legal_basis: str | None = None) -> UseResult:
        receipt_id = uuid.uuid4().hex
        identifiers = tuple(identifier for identifier, _ in result.presentations)
        receipt = signer.sign("receipt", {
            "receipt_id": receipt_id, "kind": kind.value, "holder": holder.pseudonym,
            "caller": caller, "matter_code": matter.code, "matter_name": matter.name,
            "legal_basis": legal_basis, "grant_id": grant_id, "agents": agents or [],
            "certificates": list(identifiers), "fields": list(result.fields),
            "use_number": use_number, "used_at": now}, now)
        connection.execute(sa.insert(certificate_uses).values(
            receipt_id=receipt_id, holder_index=holder.index, holder=holder.pseudonym,
            kind=kind.value, grant_id=grant_id, delegation_id=delegation_id, caller=caller,
            matter_code=matter.code, matter_name=matter.name, legal_basis=legal_basis,
            certificates=json.dumps(list(identifiers)), fields=json.dumps(list(result.fields)),
            used_at=now, receipt=receipt))
        self.audit.append(connection, actor=Actor(*caller.split(":", 1)),
                          method=f"certificate.use.{kind.value}",
                          objects=(f"holder:{holder.pseudonym}", receipt_id, *identifiers,
                                   *([grant_id] if grant_id else [])),
                          details={"matter": matter.code, "fields": len(result.fields)})
        return UseResult(result.presentations, receipt, receipt_id, result.fields)

    def _presentations(self, identifiers: tuple[str, ...], fields: tuple[str, ...], *,
                       compact: bool = False) -> UseResult:
        made: list[tuple[str, bytes]] = []
        disclosed: list[str] = []
        for identifier in identifiers:
            der = self.office.get(identifier).der
            names = [name for name in fields if name in field_names(load_certificate(der))]
            if names:
                made.append((identifier, present(der, names, compact=compact)))
                disclosed += [name for name in names if name not in disclosed]
        if not made:
            raise GrantRefused("none of the granted fields is in these certificates")
        return UseResult(tuple(made), b"", "", tuple(disclosed))

    def _check_grant(self, grant: Grant, caller: str, now: datetime,
                     connection: Connection | None = None) -> None:
        if grant.audience != caller:
            raise AudienceMismatch(f"grant {grant.id} was made for another department")
        if grant.state is not GrantState.ACTIVE:
            raise GrantRefused(f"grant {grant.id} has been revoked")
        if not grant.not_before <= now <= grant.not_after:
            raise GrantRefused(f"grant {grant.id} is not valid now")
        if grant.uses >= grant.max_uses:
            raise GrantUsedUp(f"grant {grant.id} has no uses left")
        for identifier in grant.certificates:
            status = (self.office.status(identifier) if connection is None
                      else _status(connection, identifier))
            if status is not CertificateStatus.VALID:
                raise GrantRefused(f"certificate {identifier} is {status.value}")

    def _check_fields(self, certificates: tuple[str, ...], fields: tuple[str, ...]) -> None:
        if not certificates or len(certificates) > 10 or not fields or len(fields) > 100:
            raise InputError("a grant names 1 to 10 certificates and 1 to 100 fields")
        known: set[str] = set()
        for identifier in certificates:
            known |= set(self.office.types.get(self.office.record(identifier).type_id).fields)
        unknown = [name for name in fields if name not in known]
        if unknown:
            raise InputError(f"no granted certificate has the field(s) {', '.join(unknown)}")

    def _grant_id_of(self, token: bytes | str, now: datetime) -> str:
        try:
            if isinstance(token, str):
                kind, der = from_text(token)
                if kind != "grant":
                    raise GrantTokenInvalid("not a grant token")
            else:
                der = token
        except InputError as error:
            raise GrantTokenInvalid(error.message) from None
        opened = open_token(der, "grant", trust=None, at=now)
        if not opened.info:
            raise GrantTokenInvalid("the grant token is malformed or its signature is wrong")
        if not self.keys.signed_here(opened.signer_certificate):
            raise GrantTokenInvalid("the grant token was not signed by this platform")
        return str(opened.info["grant_id"])

    def _region_of(self, identifier: str) -> str:
        region = self._regions.get(identifier)
        if region is None:  # a certificate's issuer and region never change
            issuer = self.office.record(identifier).issuer_uscc
            region = self._regions[identifier] = self.office.authority.issuer(issuer).region_code
        return region

    def _holder_index(self, connection: Connection, grant_id: str) -> bytes:
        return bytes(connection.execute(sa.select(grants.c.holder_index).where(
            grants.c.id == grant_id)).scalar_one())

    def _load(self, connection: Connection, grant_id: str, *, for_update: bool = False) -> Grant:
        if not isinstance(grant_id, str) or not 1 <= len(grant_id) <= 40:
            raise GrantNotFound("not a grant id")
        query = sa.select(grants).where(grants.c.id == grant_id)
        row = connection.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            raise GrantNotFound(f"no grant {grant_id!r}")
        return _grant(row)


def _status(connection: Connection, identifier: str) -> CertificateStatus:
    """A certificate's status read in the caller's transaction."""
    value = connection.execute(sa.select(certificates.c.status).where(
        certificates.c.identifier == identifier)).scalar_one_or_none()
    return CertificateStatus(value) if value is not None else CertificateStatus.UNKNOWN


def _delegation_holder_index(connection: Connection, delegation_id: str) -> bytes:
    return bytes(connection.execute(sa.select(delegations.c.holder_index).where(
        delegations.c.id == delegation_id)).scalar_one())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _grant(row: sa.Row[tuple[object, ...]]) -> Grant:
    return Grant(row.id, row.holder, row.granted_by, row.delegation_id, row.audience,
                 tuple(json.loads(row.certificates)), tuple(json.loads(row.fields)),
                 Matter(row.matter_code, row.matter_name), _aware(row.not_before),
                 _aware(row.not_after), row.max_uses, row.uses, GrantState(row.state),
                 _aware(row.created_at), bytes(row.token))
