"""The audit log: append-only, hash-chained, with checkpoints signed by an HSM key.

Every record holds who (actor), what (method), on which objects, with what outcome, when,
and never personal data. Each record's hash covers the previous record's hash, so any
changed, deleted, inserted or reordered record breaks the chain; checkpoints signed by the
HSM audit key pin the chain so that rewriting it wholesale is detected too. A record is
appended inside the same transaction as the change it describes: if it cannot be written,
the change does not happen.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from certlib.algorithms import DEFAULT_ALGORITHM, verify_signature
from certlib.clock import utc_now
from certlib.errors import InputError, KeyNotFoundError, UnavailableError
from certlib.keys import CertlibKeyStore
from certlib.store import Store
from certlib.store.schema import audit_checkpoints, audit_head, audit_records

GENESIS = b"\x00" * 32
AUDIT_KEY = "platform-audit"
_RECORD_CONTEXT = b"certlib-audit-record-v1\x00"
_CHECKPOINT_CONTEXT = b"certlib-audit-checkpoint-v1\x00"
_MAX_DETAIL = 500


class AuditUnavailable(UnavailableError):
    """The audit record cannot be written, so the action it describes does not happen."""

    code = "AUDIT_UNAVAILABLE"


@dataclass(frozen=True)
class Actor:
    """Who acted: a department by USCC, a holder by pseudonym, an administrator, a process."""

    kind: str
    """`department`, `holder`, `admin` or `local`."""
    id: str

    @property
    def label(self) -> str:
        """`kind:id`, as stored."""
        return f"{self.kind}:{self.id}"

    @classmethod
    def local(cls) -> Actor:
        """The operating-system user running this process (library and CLI use)."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls("local", user)


@dataclass(frozen=True)
class PendingRecord:
    """A record to append: who did what to which objects, with what outcome."""

    actor: Actor
    method: str
    objects: Sequence[str] = ()
    outcome: str = "ok"
    request_id: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the log."""

    seq: int
    time: datetime
    actor: str
    method: str
    objects: tuple[str, ...]
    outcome: str
    request_id: str | None
    details: Mapping[str, str | int | bool]
    previous_hash: bytes
    record_hash: bytes

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "seq": self.seq, "time": self.time.isoformat(), "actor": self.actor,
            "method": self.method, "objects": list(self.objects), "outcome": self.outcome,
            "request_id": self.request_id, "details": dict(self.details),
            "record_hash": self.record_hash.hex(),
        }


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the chain up to `seq` ends in `record_hash`."""

    seq: int
    record_hash: bytes
    time: datetime
    key_label: str
    algorithm: str
    public_key: bytes
    signature: bytes


@dataclass
class ChainReport:
    """The outcome of checking the whole log."""

    ok: bool
    records: int
    checkpoints: int
    last_checkpoint: int | None
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {"ok": self.ok, "records": self.records, "checkpoints": self.checkpoints,
                "last_checkpoint": self.last_checkpoint, "first_bad_seq": self.first_bad_seq,
                "problems": list(self.problems)}


def _aware(moment: datetime) -> datetime:
    """`moment` in UTC (stores return naive UTC or aware local times)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def compute_hash(previous_hash: bytes, *, seq: int, time: datetime, actor: str, method: str,
                 objects: Sequence[str], outcome: str, request_id: str | None,
                 details: Mapping[str, object]) -> bytes:
    """SHA-256 over the previous hash and the record's canonical JSON."""
    body = json.dumps(
        {"seq": seq, "time": _aware(time).isoformat(), "actor": actor, "method": method,
         "objects": list(objects), "outcome": outcome, "request_id": request_id,
         "details": dict(details)},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(_RECORD_CONTEXT + previous_hash + body).digest()


def _checkpoint_payload(seq: int, record_hash: bytes, time: datetime) -> bytes:
    return (_CHECKPOINT_CONTEXT + seq.to_bytes(8, "big") + record_hash
            + _aware(time).isoformat().encode())


def check_details(details: Mapping[str, object]) -> dict[str, str | int | bool]:
    """The details as stored; InputError if a value is not a short string, number or bool."""
    checked: dict[str, str | int | bool] = {}
    for key, value in details.items():
        if not isinstance(key, str) or not isinstance(value, str | int | bool):
            raise InputError("audit details are short strings, numbers or booleans")
        if isinstance(value, str) and len(value) > _MAX_DETAIL:
            raise InputError("an audit detail is too long")
        checked[key] = value
    return checked


class AuditLog:
    """Append, checkpoint, query and verify the audit log in the store."""

    def __init__(self, store: Store, keystore: CertlibKeyStore | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 algorithm: str = DEFAULT_ALGORITHM) -> None:
        self.store = store
        self.keystore = keystore
        self.clock = clock
        self.algorithm = algorithm

    def append(self, connection: Connection, *, actor: Actor, method: str,
               objects: Sequence[str] = (), outcome: str = "ok",
               request_id: str | None = None,
               details: Mapping[str, object] | None = None) -> AuditRecord:
        """Add a record inside the caller's transaction (it commits with the change)."""
        return self.append_many(connection, [PendingRecord(
            actor, method, objects, outcome, request_id, details or {})])[0]

    def append_many(self, connection: Connection,
                    pending: Sequence[PendingRecord]) -> list[AuditRecord]:
        """Add records in order inside the caller's transaction."""
        checked = [check_details(entry.details) for entry in pending]
        head = connection.execute(
            sa.select(audit_head.c.seq, audit_head.c.record_hash)
            .where(audit_head.c.id == 1).with_for_update()).one_or_none()
        if head is None:
            raise AuditUnavailable("the audit log's chain head is missing; nothing is changed")
        seq, previous = int(head.seq), bytes(head.record_hash)
        time = self.clock()
        written: list[AuditRecord] = []
        for entry, details in zip(pending, checked, strict=True):
            seq += 1
            objects = tuple(entry.objects)
            digest = compute_hash(previous, seq=seq, time=time, actor=entry.actor.label,
                                  method=entry.method, objects=objects,
                                  outcome=entry.outcome, request_id=entry.request_id,
                                  details=details)
            written.append(AuditRecord(seq, time, entry.actor.label, entry.method, objects,
                                       entry.outcome, entry.request_id, details, previous,
                                       digest))
            previous = digest
        if not written:
            return written
        connection.execute(sa.insert(audit_records), [{
            "seq": record.seq, "time": record.time, "actor": record.actor,
            "method": record.method,
            "objects": json.dumps(list(record.objects), ensure_ascii=False),
            "outcome": record.outcome, "request_id": record.request_id,
            "details": json.dumps(record.details, ensure_ascii=False),
            "previous_hash": record.previous_hash, "record_hash": record.record_hash,
        } for record in written])
        connection.execute(sa.update(audit_head).where(audit_head.c.id == 1)
                           .values(seq=seq, record_hash=previous))
        return written

    def record(self, **fields: object) -> AuditRecord:
        """Append in a transaction of its own (for actions that change nothing else)."""
        with self.store.transaction() as connection:
            return self.append(connection, **fields)  # type: ignore[arg-type]

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head with the HSM audit key; None if the log is empty."""
        if self.keystore is None:
            raise InputError("signing checkpoints needs the HSM key store")
        try:
            key = self.keystore.get(AUDIT_KEY)
        except KeyNotFoundError:
            key = self.keystore.generate(self.algorithm, AUDIT_KEY)
        with self.store.transaction() as connection:
            head = connection.execute(
                sa.select(audit_head.c.seq, audit_head.c.record_hash)
                .where(audit_head.c.id == 1).with_for_update()).one()
            if head.seq == 0:
                return None
            existing = connection.execute(sa.select(audit_checkpoints.c.seq).where(
                audit_checkpoints.c.seq == head.seq)).first()
            if existing is not None:
                return None
            time = self.clock()
            signature = self.keystore.sign(
                key, _checkpoint_payload(int(head.seq), bytes(head.record_hash), time))
            checkpoint = Checkpoint(int(head.seq), bytes(head.record_hash), time, key.label,
                                    key.algorithm, key.public_key, signature)
            connection.execute(sa.insert(audit_checkpoints).values(
                seq=checkpoint.seq, record_hash=checkpoint.record_hash, time=time,
                key_label=checkpoint.key_label, algorithm=checkpoint.algorithm,
                public_key=checkpoint.public_key, signature=signature))
        return checkpoint

    # -- reading ---------------------------------------------------------------------------

    def query(self, *, since: datetime | None = None, until: datetime | None = None,
              actor: str | None = None, method: str | None = None,
              object_id: str | None = None, after_seq: int = 0,
              limit: int = 100) -> list[AuditRecord]:
        """Records in order, filtered; page with `after_seq` = the last seq seen."""
        if not 1 <= limit <= 5000:
            raise InputError("page size must be between 1 and 5000")
        statement = sa.select(audit_records).where(audit_records.c.seq > after_seq)
        if since is not None:
            statement = statement.where(audit_records.c.time >= since)
        if until is not None:
            statement = statement.where(audit_records.c.time < until)
        if actor is not None:
            statement = statement.where(audit_records.c.actor == actor)
        if method is not None:
            statement = statement.where(audit_records.c.method == method)
        if object_id is not None:
            statement = statement.where(audit_records.c.objects.contains(
                json.dumps(object_id, ensure_ascii=False)))
        statement = statement.order_by(audit_records.c.seq).limit(limit)
        with self.store.reading() as connection:
            return [_record(row) for row in connection.execute(statement)]

    def verify(self) -> ChainReport:
        """Check every link, every hash, the head and every checkpoint signature."""
        report = ChainReport(ok=True, records=0, checkpoints=0, last_checkpoint=None)
        trusted_keys = self._audit_public_keys()
        with self.store.reading() as connection:
            head = connection.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one()
            checkpoints = {int(row.seq): row for row in connection.execute(
                sa.select(audit_checkpoints).order_by(audit_checkpoints.c.seq))}
            previous, expected_seq = GENESIS, 1
            hashes: dict[int, bytes] = {}
            for row in _rows(connection):
                record = _record(row)
                report.records += 1
                if record.seq != expected_seq:
                    _problem(report, expected_seq,
                             f"records {expected_seq}..{record.seq - 1} are missing"
                             if record.seq > expected_seq else f"record {record.seq} repeats")
                if record.previous_hash != previous:
                    _problem(report, record.seq, f"record {record.seq} does not follow "
                             "the record before it")
                recomputed = compute_hash(
                    record.previous_hash, seq=record.seq, time=record.time,
                    actor=record.actor, method=record.method, objects=record.objects,
                    outcome=record.outcome, request_id=record.request_id,
                    details=record.details)
                if recomputed != record.record_hash:
                    _problem(report, record.seq, f"record {record.seq} was changed")
                hashes[record.seq] = record.record_hash
                previous, expected_seq = record.record_hash, record.seq + 1
        if int(head.seq) != expected_seq - 1 or bytes(head.record_hash) != previous:
            _problem(report, expected_seq, "the chain head does not match the last record "
                     "(records removed from the end, or the head rewritten)")
        for seq, row in checkpoints.items():
            report.checkpoints += 1
            payload = _checkpoint_payload(seq, bytes(row.record_hash), _aware(row.time))
            if bytes(row.public_key) not in trusted_keys or not verify_signature(
                    bytes(row.public_key), row.algorithm, payload, bytes(row.signature)):
                _problem(report, seq, f"checkpoint {seq} is not signed by the HSM audit key")
            elif hashes.get(seq) != bytes(row.record_hash):
                _problem(report, seq, f"the chain no longer matches checkpoint {seq}")
            report.last_checkpoint = seq
        return report

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest signed checkpoint, if any."""
        with self.store.reading() as connection:
            row = connection.execute(sa.select(audit_checkpoints).order_by(
                audit_checkpoints.c.seq.desc()).limit(1)).first()
        if row is None:
            return None
        return Checkpoint(int(row.seq), bytes(row.record_hash), _aware(row.time), row.key_label,
                          row.algorithm, bytes(row.public_key), bytes(row.signature))

    def _audit_public_keys(self) -> set[bytes]:
        if self.keystore is None:
            return set()
        return {ref.public_key for ref in self.keystore.list() if ref.name == AUDIT_KEY}


def _rows(connection: Connection) -> Iterator[sa.Row[tuple[object, ...]]]:
    last = 0
    while True:
        batch = connection.execute(
            sa.select(audit_records).where(audit_records.c.seq > last)
            .order_by(audit_records.c.seq).limit(5000)).fetchall()
        if not batch:
            return
        yield from batch
        last = int(batch[-1].seq)


def _record(row: sa.Row[tuple[object, ...]]) -> AuditRecord:
    return AuditRecord(
        seq=int(row.seq), time=_aware(row.time), actor=row.actor, method=row.method,
        objects=tuple(json.loads(row.objects)), outcome=row.outcome,
        request_id=row.request_id, details=json.loads(row.details),
        previous_hash=bytes(row.previous_hash), record_hash=bytes(row.record_hash))


def _problem(report: ChainReport, seq: int, text: str) -> None:
    report.ok = False
    report.problems.append(text)
    if report.first_bad_seq is None or seq < report.first_bad_seq:
        report.first_bad_seq = seq
