"""Group commit of audit records: every caller's record lands once, in one chain, or every
caller in the failed transaction learns of it. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from certlib.audit import Actor, AuditRecord, AuditUnavailable, PendingRecord
from certlib.auditbatch import AuditBatcher
from certlib.errors import InputError
from certlib.platform import Platform
from certlib.store.schema import audit_head, audit_records

CALLERS = 24
EACH = 10


def _pending(caller: int, number: int) -> PendingRecord:
    return PendingRecord(actor=Actor("department", f"caller-{caller}"),
                         method="certificate.verify", objects=(f"object-{caller}-{number}",),
                         outcome="PASSED", request_id=f"{caller}-{number}")


def _count(platform: Platform) -> int:
    with platform.store.reading() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(audit_records))
                   .scalar_one())


def test_concurrent_callers_share_transactions(fresh_platform: Platform) -> None:
    """Many threads at once: each gets its own committed record back, the chain holds
    them all exactly once, and fewer transactions than records were needed."""
    batcher = AuditBatcher(fresh_platform.audit)
    start = threading.Barrier(CALLERS)

    def caller(number: int) -> list[AuditRecord]:
        start.wait()
        return [batcher.record(_pending(number, i)) for i in range(EACH)]

    with ThreadPoolExecutor(CALLERS) as pool:
        results = list(pool.map(caller, range(CALLERS)))
    written = [record for records in results for record in records]
    assert len({record.seq for record in written}) == CALLERS * EACH
    for number, records in enumerate(results):
        assert [r.objects for r in records] == [(f"object-{number}-{i}",) for i in range(EACH)]
    report = fresh_platform.audit.verify()
    assert report.ok and report.records == CALLERS * EACH, report.to_dict()
    times = {record.time for record in written}
    assert len(times) < CALLERS * EACH  # records shared a transaction's time


def test_a_batch_keeps_its_order(fresh_platform: Platform) -> None:
    """record_all: consecutive sequence numbers, in the order given."""
    batcher = AuditBatcher(fresh_platform.audit)
    records = batcher.record_all([_pending(1, i) for i in range(5)])
    assert [r.seq for r in records] == list(range(records[0].seq, records[0].seq + 5))
    assert batcher.record_all([]) == []


def test_failed_transaction_fails_every_caller(fresh_platform: Platform) -> None:
    """With the chain head gone nothing can be written: every waiting caller gets
    AuditUnavailable and no record appears; once it is back, records are written again."""
    batcher = AuditBatcher(fresh_platform.audit)
    batcher.record(_pending(0, 0))
    with fresh_platform.store.transaction() as connection:
        head = connection.execute(sa.select(audit_head)).one()
        connection.execute(sa.delete(audit_head))
    before = _count(fresh_platform)
    start = threading.Barrier(8)

    def caller(number: int) -> BaseException | None:
        start.wait()
        try:
            batcher.record(_pending(number, 1))
        except AuditUnavailable as error:
            return error
        return None

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(caller, range(8)))
    assert all(isinstance(outcome, AuditUnavailable) for outcome in outcomes)
    assert _count(fresh_platform) == before
    with fresh_platform.store.transaction() as connection:
        connection.execute(sa.insert(audit_head).values(**head._mapping))
    assert batcher.record(_pending(9, 9)).seq == head.seq + 1
    assert fresh_platform.audit.verify().ok


def test_bad_details_fail_only_their_caller(fresh_platform: Platform) -> None:
    """A record whose details are not storable is refused before it joins a transaction."""
    batcher = AuditBatcher(fresh_platform.audit)
    bad = PendingRecord(actor=Actor("department", "x"), method="m", details={"list": [1]})
    with pytest.raises(InputError):
        batcher.record(bad)
    assert batcher.record(_pending(1, 1)).seq >= 1
