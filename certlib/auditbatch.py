"""Audit records from many threads written together: one transaction per burst."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from certlib.audit import AuditLog, AuditRecord, PendingRecord, check_details

__all__ = ["AuditBatcher", "PendingRecord"]


class _Entry:
    """One caller's records and what became of them."""

    def __init__(self, records: Sequence[PendingRecord]) -> None:
        self.records = records
        self.wake = threading.Event()
        self.done = False
        self.written: list[AuditRecord] = []
        self.error: BaseException | None = None


class AuditBatcher:
    """Group commit for audit records that change nothing else (verifications, reads).

    A caller returns only once its records are committed; if the shared transaction
    fails, every caller in it gets the error, so an action whose record cannot be
    written still fails. The first caller to find no transaction under way writes
    everything queued so far, then hands the turn to the next queued caller."""

    def __init__(self, audit: AuditLog, max_records: int = 512) -> None:
        self.audit = audit
        self.max_records = max_records
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []
        self._writing = False

    def record(self, record: PendingRecord) -> AuditRecord:
        """Append one record; returns when it is committed."""
        return self.record_all([record])[0]

    def record_all(self, records: Sequence[PendingRecord]) -> list[AuditRecord]:
        """Append records in order (in one transaction); returns when they are committed."""
        if not records:
            return []
        for record in records:
            check_details(record.details)  # a bad record must not fail its neighbours
        entry = _Entry(records)
        with self._lock:
            self._queue.append(entry)
            leading = not self._writing
            self._writing = True
        if not leading:
            entry.wake.wait()
        if not entry.done:
            self._write_turn()
        if entry.error is not None:
            raise entry.error
        return entry.written

    def _write_turn(self) -> None:
        with self._lock:
            batch: list[_Entry] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].records)
                                   <= self.max_records):
                entry = self._queue.pop(0)
                batch.append(entry)
                count += len(entry.records)
        try:
            with self.audit.store.transaction() as connection:
                written = self.audit.append_many(
                    connection, [record for entry in batch for record in entry.records])
            for entry in batch:
                entry.written, written = (written[:len(entry.records)],
                                          written[len(entry.records):])
        except BaseException as error:  # every caller in the transaction learns of it
            for entry in batch:
                entry.error = error
        for entry in batch:
            entry.done = True
            entry.wake.set()
        with self._lock:
            if self._queue:
                self._queue[0].wake.set()  # its caller writes the next turn
            else:
                self._writing = False
