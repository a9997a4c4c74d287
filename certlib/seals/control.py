"""Seal-use management (用印管理): who may apply a seal, approvals by a second person, daily
quotas, and the record of every use."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from certlib.audit import Actor
from certlib.clock import utc_now
from certlib.errors import InputError
from certlib.protect import DataProtector
from certlib.seals.errors import (
    ApprovalRequired,
    QuotaExceeded,
    RequestNotFound,
    SealUseRefused,
)
from certlib.seals.records import (
    DocumentKind,
    RequestState,
    SealPolicy,
    SealRecord,
    SealState,
    SealUse,
    UseRequest,
    admits,
    quota_day,
)
from certlib.seals.registry import SealRegistry
from certlib.store.schema import seal_use_requests, seal_uses, seals

APPROVAL_LIFETIME = timedelta(days=7)
"""How long an approval may wait to be used."""
MAX_PURPOSE = 200


class SealUseDesk:
    """Checks, approves and records the application of seals."""

    def __init__(self, registry: SealRegistry, protector: DataProtector,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.registry = registry
        self.protector = protector
        """Purposes and notes are free text that may name people: sealed at rest."""
        self.clock = clock

    # -- checking -----------------------------------------------------------------------------

    def check(self, es_id: str, actor: Actor, kind: DocumentKind, document_digest: str, *,
              request_id: str | None = None) -> SealRecord:
        """The seal, if `actor` may apply it to this document now; raises SealUseRefused
        (or a subclass) if not. Writes nothing."""
        record = self.registry.get(es_id)
        policy = self.registry.policy(es_id)
        self._check_rights(record, policy, actor, kind, self.clock())
        with self.registry.store.reading() as connection:
            self._check_quota(connection, record, policy, self.clock())
            self._check_approval(connection, policy, es_id=es_id, actor=actor, kind=kind,
                                 document_digest=document_digest, request_id=request_id)
        return record

    def _check_rights(self, record: SealRecord, policy: SealPolicy, actor: Actor,
                      kind: DocumentKind, now: datetime) -> None:
        if not admits(policy.users, actor):
            raise SealUseRefused(f"{actor.label} may not apply seal {record.es_id}")
        if kind not in policy.document_kinds:
            raise SealUseRefused(f"seal {record.es_id} may not be applied to {kind.value} "
                                 "documents")
        if record.state is not SealState.ACTIVE:
            raise SealUseRefused(f"seal {record.es_id} is {record.state.value}")
        if not record.valid_at(now):
            raise SealUseRefused(f"seal {record.es_id} is not valid now "
                                 f"({record.valid_from:%Y-%m-%d} to {record.valid_until:%Y-%m-%d})")

    def _check_quota(self, connection: Connection, record: SealRecord, policy: SealPolicy,
                     now: datetime) -> None:
        if policy.daily_quota is None:
            return
        used = connection.execute(sa.select(sa.func.count()).select_from(seal_uses).where(
            (seal_uses.c.es_id == record.es_id)
            & (seal_uses.c.day == quota_day(now).isoformat()))).scalar_one()
        if used >= policy.daily_quota:
            raise QuotaExceeded(f"seal {record.es_id} has been applied {used} times today, "
                                f"its daily quota")

    def _check_approval(self, connection: Connection, policy: SealPolicy, *, es_id: str,
                        actor: Actor, kind: DocumentKind, document_digest: str,
                        request_id: str | None) -> str | None:
        if not policy.needs_approval:
            return None
        if request_id is None:
            raise ApprovalRequired(f"seal {es_id} needs an approved request for each use")
        request = self._request(connection, request_id)
        if (request.es_id != es_id or request.requester != actor.label
                or request.document_kind is not kind
                or request.document_digest != document_digest):
            raise ApprovalRequired("the request was made for another seal, user or document")
        if request.state is not RequestState.APPROVED:
            raise ApprovalRequired(f"request {request_id} is {request.state.value}")
        if request.decided_at and self.clock() - request.decided_at > APPROVAL_LIFETIME:
            raise ApprovalRequired(f"the approval of request {request_id} has expired")
        return request.approver

    # -- approvals ------------------------------------------------------------------------------

    def request(self, es_id: str, actor: Actor, kind: DocumentKind, document_digest: str,
                purpose: str) -> UseRequest:
        """Ask for a second person's approval to apply a seal to one document."""
        _check_digest(document_digest)
        check_purpose(purpose)
        record = self.registry.get(es_id)
        policy = self.registry.policy(es_id)
        self._check_rights(record, policy, actor, kind, self.clock())
        if not policy.needs_approval:
            raise InputError(f"seal {es_id} needs no approval; apply it directly")
        request = UseRequest(uuid.uuid4().hex, es_id, actor.label, kind, document_digest,
                             purpose, RequestState.PENDING, self.clock())
        with self.registry.store.transaction() as connection:
            key_id, sealed = self.protector.seal(purpose.encode(), _context(request.id),
                                                 connection)
            connection.execute(sa.insert(seal_use_requests).values(
                id=request.id, es_id=es_id, requester=actor.label, document_kind=kind.value,
                document_digest=document_digest, purpose=sealed, purpose_key_id=key_id,
                state=RequestState.PENDING.value, created_at=request.created_at))
            self.registry.audit.append(connection, actor=actor, method="seal.request",
                                       objects=(es_id, request.id),
                                       details={"kind": kind.value})
        return request

    def decide(self, request_id: str, approver: Actor, *, approve: bool,
               note: str | None = None) -> UseRequest:
        """Approve or reject a pending request (never one's own)."""
        if note is not None:
            check_purpose(note, "note")
        with self.registry.store.reading() as connection:
            request = self._request(connection, request_id)
        policy = self.registry.policy(request.es_id)
        if not admits(policy.approvers, approver):
            raise SealUseRefused(f"{approver.label} may not approve uses of seal "
                                 f"{request.es_id}")
        if approver.label == request.requester:
            raise SealUseRefused("a second person must approve: the requester cannot")
        if request.state is not RequestState.PENDING:
            raise InputError(f"request {request_id} is {request.state.value} already")
        state = RequestState.APPROVED if approve else RequestState.REJECTED
        now = self.clock()
        with self.registry.store.transaction() as connection:
            note_key, sealed_note = (self.protector.seal(note.encode(), _context(request_id),
                                                         connection)
                                     if note is not None else (None, None))
            changed = connection.execute(
                sa.update(seal_use_requests).where(
                    (seal_use_requests.c.id == request_id)
                    & (seal_use_requests.c.state == RequestState.PENDING.value))
                .values(state=state.value, decided_at=now, approver=approver.label,
                        note=sealed_note, note_key_id=note_key)).rowcount
            if not changed:
                raise InputError(f"request {request_id} was decided meanwhile")
            self.registry.audit.append(
                connection, actor=approver, method=f"seal.{'approve' if approve else 'reject'}",
                objects=(request.es_id, request_id))
        with self.registry.store.reading() as connection:
            return self._request(connection, request_id)

    def requests(self, es_id: str | None = None,
                 state: RequestState | None = None) -> list[UseRequest]:
        """Use requests, newest first."""
        query = sa.select(seal_use_requests).order_by(seal_use_requests.c.created_at.desc())
        if es_id is not None:
            query = query.where(seal_use_requests.c.es_id == es_id)
        if state is not None:
            query = query.where(seal_use_requests.c.state == state.value)
        with self.registry.store.reading() as connection:
            return [self._request_of(row) for row in connection.execute(query.limit(1000))]

    # -- recording -------------------------------------------------------------------------------

    def record(self, es_id: str, actor: Actor, *, kind: DocumentKind, document_digest: str,
               sealed_digest: str, purpose: str, request_id: str | None = None,
               details: dict[str, object] | None = None) -> SealUse:
        """Record one use, checking again under the seal's row lock (quota races, a
        revocation or a used-up approval meanwhile): if this raises, nothing is recorded
        and the sealed document must not be handed out."""
        now = self.clock()
        with self.registry.store.transaction() as connection:
            connection.execute(sa.select(seals.c.es_id).where(seals.c.es_id == es_id)
                               .with_for_update()).first()
            record = self.registry.get(es_id)
            policy = self.registry.policy(es_id)
            self._check_rights(record, policy, actor, kind, now)
            self._check_quota(connection, record, policy, now)
            approver = self._check_approval(connection, policy, es_id=es_id, actor=actor,
                                            kind=kind, document_digest=document_digest,
                                            request_id=request_id)
            key_id, sealed = self.protector.seal(
                purpose.encode(), _context(f"{es_id}:{document_digest}"), connection)
            use_id = int(connection.execute(sa.insert(seal_uses).values(
                es_id=es_id, user=actor.label, approver=approver,
                request_id=request_id if policy.needs_approval else None,
                document_kind=kind.value, document_digest=document_digest,
                sealed_digest=sealed_digest, purpose=sealed, purpose_key_id=key_id, used_at=now,
                day=quota_day(now).isoformat()).returning(seal_uses.c.id)).scalar_one())
            if policy.needs_approval and request_id is not None:
                connection.execute(sa.update(seal_use_requests).where(
                    seal_use_requests.c.id == request_id).values(state=RequestState.USED.value))
            self.registry.audit.append(
                connection, actor=actor, method="seal.use",
                objects=(es_id, f"sha256:{document_digest}"),
                details={"kind": kind.value, "use": use_id, **(details or {}),
                         **({"approver": approver} if approver else {})})
        return SealUse(use_id, es_id, actor.label, approver,
                       request_id if policy.needs_approval else None, kind, document_digest,
                       sealed_digest, purpose, now)

    def refused(self, es_id: str, actor: Actor, kind: DocumentKind, reason: str) -> None:
        """Put a refused attempt in the audit log (it is not a use)."""
        self.registry.audit.record(actor=actor, method="seal.use.refused",
                                   objects=(es_id,), outcome=f"refused/{reason}",
                                   details={"kind": kind.value})

    def usage(self, *, es_id: str | None = None, user: str | None = None,
              since: datetime | None = None, until: datetime | None = None,
              limit: int = 1000) -> list[SealUse]:
        """Recorded uses, newest first."""
        query = sa.select(seal_uses).order_by(seal_uses.c.id.desc()).limit(
            max(1, min(limit, 100_000)))
        if es_id is not None:
            query = query.where(seal_uses.c.es_id == es_id)
        if user is not None:
            query = query.where(seal_uses.c.user == user)
        if since is not None:
            query = query.where(seal_uses.c.used_at >= since)
        if until is not None:
            query = query.where(seal_uses.c.used_at <= until)
        with self.registry.store.reading() as connection:
            rows = list(connection.execute(query))
        return [SealUse(row.id, row.es_id, row.user, row.approver, row.request_id,
                        DocumentKind(row.document_kind), row.document_digest,
                        row.sealed_digest,
                        self._open(row.purpose_key_id, row.purpose,
                                   f"{row.es_id}:{row.document_digest}"),
                        _aware(row.used_at)) for row in rows]

    def _open(self, key_id: int, sealed: bytes, context: str) -> str:
        return self.protector.open(key_id, bytes(sealed), _context(context)).decode()

    def _request(self, connection: Connection, request_id: str) -> UseRequest:
        if not isinstance(request_id, str) or not 1 <= len(request_id) <= 40:
            raise RequestNotFound("not a seal-use request id")
        row = connection.execute(sa.select(seal_use_requests).where(
            seal_use_requests.c.id == request_id)).first()
        if row is None:
            raise RequestNotFound(f"no seal-use request {request_id!r}")
        return self._request_of(row)

    def _request_of(self, row: sa.Row[tuple[object, ...]]) -> UseRequest:
        return UseRequest(
            row.id, row.es_id, row.requester, DocumentKind(row.document_kind),
            row.document_digest, self._open(row.purpose_key_id, row.purpose, row.id),
            RequestState(row.state), _aware(row.created_at),
            _aware(row.decided_at) if row.decided_at else None, row.approver,
            self._open(row.note_key_id, row.note, row.id) if row.note is not None else None)


def _context(name: str) -> bytes:
    return f"certlib-seal-use:{name}".encode()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_digest(digest: str) -> None:
    if not isinstance(digest, str) or len(digest) != 64 or any(
            c not in "0123456789abcdef" for c in digest):
        raise InputError("document_digest is the SHA-256 of the document, 64 hex digits")


def check_purpose(purpose: str, what: str = "purpose") -> None:
    """InputError unless `purpose` is 1 to 200 characters of text without control codes."""
    if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > MAX_PURPOSE:
        raise InputError(f"the {what} is 1 to {MAX_PURPOSE} characters")
    if any(ord(c) < 0x20 for c in purpose):
        raise InputError(f"the {what} holds control characters")
