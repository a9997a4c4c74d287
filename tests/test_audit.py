"""The audit log: every change recorded with it, any tampering detected, on both databases."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from certlib.audit import AUDIT_KEY, Actor, AuditUnavailable
from certlib.errors import CertlibError
from certlib.ids import uscc_with_check
from certlib.platform import Platform
from certlib.store.schema import audit_checkpoints, audit_head, audit_records, certificates
from tests.samples import PERSON_NUMBERS, SAMPLES

DEPARTMENT = uscc_with_check("11630000000000550")


def _set_up(platform: Platform) -> None:
    platform.authority.init_region("630000", "青海省政务服务平台", actor=Actor("admin", "ops"))
    platform.authority.add_issuer(DEPARTMENT, "青海省审计测试厅", "630000",
                                  [platform.types.get("resident-id-card").code],
                                  actor=Actor("admin", "ops"))


def _issue(platform: Platform, actor: Actor, request_id: str | None = None) -> str:
    return platform.office.issue(issuer_uscc=DEPARTMENT, type_id="resident-id-card",
                                 data=SAMPLES["resident-id-card"], actor=actor,
                                 request_id=request_id or uuid.uuid4().hex).identifier


def test_changes_are_recorded_with_their_actor(fresh_platform: Platform) -> None:
    """Region, department, issue and revoke each leave one record; no personal data."""
    _set_up(fresh_platform)
    clerk = Actor("department", DEPARTMENT)
    identifier = _issue(fresh_platform, clerk, "req-1")
    assert _issue(fresh_platform, clerk, "req-1") == identifier  # a retry issues nothing new
    fresh_platform.office.revoke(identifier, actor=clerk, reason="lost")
    fresh_platform.office.revoke(identifier, actor=clerk)  # already revoked: no new record
    records = fresh_platform.audit.query()
    assert [r.method for r in records] == ["region.init", "issuer.add", "certificate.issue",
                                           "certificate.revoke"]
    issue = records[2]
    assert issue.actor == f"department:{DEPARTMENT}" and issue.request_id == "req-1"
    assert identifier in issue.objects
    assert fresh_platform.audit.query(object_id=identifier)[-1].method == "certificate.revoke"
    text = " ".join(str(r.to_dict()) for r in records)
    assert not any(number in text for number in PERSON_NUMBERS) and "张三" not in text
    assert fresh_platform.audit.verify().ok


def test_no_audit_record_no_change(fresh_platform: Platform) -> None:
    """When the audit record cannot be written, the issuance does not happen."""
    _set_up(fresh_platform)
    with fresh_platform.store.transaction() as connection:
        connection.execute(sa.delete(audit_head))
        before = connection.execute(sa.select(sa.func.count()).select_from(certificates)).scalar()
    with pytest.raises(AuditUnavailable):  # the chain head is gone: no record, no issuance
        _issue(fresh_platform, Actor("department", DEPARTMENT))
    with fresh_platform.store.transaction() as connection:
        after = connection.execute(sa.select(sa.func.count()).select_from(certificates)).scalar()
    assert after == before


@pytest.mark.parametrize("tamper", ["change", "delete", "insert", "reorder", "truncate",
                                    "forge-checkpoint"])
def test_tampering_is_detected(fresh_platform: Platform, tamper: str) -> None:
    """Any changed, deleted, inserted or reordered record, or a forged checkpoint, fails."""
    _set_up(fresh_platform)
    for _ in range(4):
        _issue(fresh_platform, Actor("department", DEPARTMENT))
    checkpoint = fresh_platform.audit.checkpoint()
    assert checkpoint is not None and checkpoint.seq == 6
    _issue(fresh_platform, Actor("department", DEPARTMENT))
    assert fresh_platform.audit.verify().ok
    with fresh_platform.store.transaction() as connection:
        table = audit_records
        if tamper == "change":
            connection.execute(sa.update(table).where(table.c.seq == 3)
                               .values(actor="department:91110000600037341L"))
        elif tamper == "delete":
            connection.execute(sa.delete(table).where(table.c.seq == 4))
        elif tamper == "insert":
            row = connection.execute(sa.select(table).where(table.c.seq == 7)).one()
            connection.execute(sa.insert(table).values({**row._mapping, "seq": 8}))
        elif tamper == "reorder":
            three = connection.execute(sa.select(table).where(table.c.seq == 3)).one()
            four = connection.execute(sa.select(table).where(table.c.seq == 4)).one()
            connection.execute(sa.delete(table).where(table.c.seq.in_([3, 4])))
            connection.execute(sa.insert(table).values({**three._mapping, "seq": 4}))
            connection.execute(sa.insert(table).values({**four._mapping, "seq": 3}))
        elif tamper == "truncate":
            connection.execute(sa.delete(table).where(table.c.seq >= 5))
            last = connection.execute(sa.select(table).where(table.c.seq == 4)).one()
            connection.execute(sa.update(audit_head).values(seq=4,
                                                            record_hash=last.record_hash))
        else:
            connection.execute(sa.update(audit_checkpoints).values(
                signature=b"\x30\x06\x02\x01\x01\x02\x01\x01"))
    result = fresh_platform.audit.verify()
    assert not result.ok and result.problems, result.to_dict()
    assert result.first_bad_seq is not None


def test_concurrent_appends_keep_one_chain(fresh_platform: Platform) -> None:
    """Threads issuing at once: every record lands once, in one unbroken chain."""
    _set_up(fresh_platform)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                _issue(fresh_platform, Actor("department", DEPARTMENT))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = fresh_platform.audit.verify()
    assert result.ok and result.records == 2 + 30, result.to_dict()


def test_checkpoint_key_lives_in_the_hsm(fresh_platform: Platform) -> None:
    """Checkpoints are signed by the HSM audit key; an empty log gives no checkpoint."""
    assert fresh_platform.audit.checkpoint() is None  # an empty log: nothing to sign
    _set_up(fresh_platform)
    checkpoint = fresh_platform.audit.checkpoint()
    assert checkpoint is not None
    key = fresh_platform.keystore.get(AUDIT_KEY)
    assert checkpoint.public_key == key.public_key
    assert fresh_platform.audit.checkpoint() is None  # nothing new since
    with pytest.raises(CertlibError):
        fresh_platform.audit.query(limit=0)
