"""certd under faults: killed workers, concurrent changes, a database that restarts."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from certlib.client import RemoteUnavailable
from certlib.errors import CertlibError
from tests.conftest import _drop_postgres_database, _postgres_database
from tests.daemon_support import POLICE, RunningDaemon, launch
from tests.postgres_support import private_postgres
from tests.samples import SAMPLES

PERSON = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
          for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_daemon(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon of its own, for tests that kill it."""
    if request.param == "sqlite":
        yield from launch(tmp_path / "home", f"sqlite:///{tmp_path / 'certlib.db'}")
        return
    name = f"certlib_fault_{uuid.uuid4().hex[:12]}"
    url = _postgres_database(name)
    try:
        yield from launch(tmp_path / "home", url)
    finally:
        _drop_postgres_database(name)


def _issue_until(daemon: RunningDaemon, stop: threading.Event, acknowledged: list[str],
                 pending: list[str]) -> None:
    """Issue with request ids until told to stop; a failed request is retried later."""
    with daemon.client("police", timeout=20) as police:
        while not stop.is_set():
            request_id = uuid.uuid4().hex
            try:
                acknowledged.append(police.issue(POLICE, "resident-id-card", PERSON,
                                                 request_id=request_id).identifier)
            except CertlibError:
                pending.append(request_id)
                time.sleep(0.2)


def test_killed_worker_loses_no_acknowledged_issuance(fresh_daemon: RunningDaemon) -> None:
    """SIGKILL a worker mid-burst, then the whole daemon: every acknowledged issuance is
    there, retries issue nothing twice, no certificate lacks its audit record."""
    daemon = fresh_daemon
    stop, acknowledged, pending = threading.Event(), [], []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=_issue_until, args=(daemon, stop, acknowledged,
                                                           pending)) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    workers = daemon.worker_pids()
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    time.sleep(3)  # the supervisor restarts the worker; the burst goes on
    assert len(daemon.worker_pids()) == 2
    stop.set()
    for thread in threads:
        thread.join()
    assert daemon.process is not None
    os.killpg(os.getpgid(daemon.process.pid), 0)  # still there
    for pid in [daemon.process.pid, *daemon.worker_pids()]:
        os.kill(pid, signal.SIGKILL)
    daemon.process.wait()
    time.sleep(1)
    daemon.start()
    with daemon.client("police") as police, daemon.client("admin") as admin:
        for request_id in pending:  # retried after the crash: issued at most once
            acknowledged.append(police.issue(POLICE, "resident-id-card", PERSON,
                                             request_id=request_id).identifier)
        assert len(acknowledged) > 10
        for identifier in acknowledged:
            assert police.get(identifier).status == "valid"
        chain = admin.verify_audit_chain()
        assert chain.ok, list(chain.problems)
        issued = [r for r in admin.audit_records(method="certificate.issue", limit=100_000)]
    assert len(set(acknowledged)) == len(acknowledged)
    assert daemon.count("certificates") == len(acknowledged) == len(issued)


def test_many_clients_at_once_and_one_revocation(fresh_daemon: RunningDaemon) -> None:
    """Sixteen clients issuing and verifying on both workers: no error. Fifty concurrent
    revocations of one certificate: one change, one audit record."""
    daemon = fresh_daemon
    with daemon.client("police") as police:
        target = police.issue(POLICE, "resident-id-card", PERSON)

    def work(_: int) -> int:
        with daemon.client("police") as client:
            for _ in range(5):
                issued = client.issue(POLICE, "resident-id-card", PERSON)
                assert client.verify(issued.der).passed
            return 5

    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(work, range(16))) == 80

    def revoke(_: int) -> str:
        with daemon.client("police") as client:
            return client.revoke(target.identifier).status

    with ThreadPoolExecutor(50) as pool:
        assert set(pool.map(revoke, range(50))) == {"revoked"}
    with daemon.client("admin") as admin:
        changes = admin.audit_records(method="certificate.revoke", object_id=target.identifier)
        assert len(changes) == 1
        assert admin.verify_audit_chain().ok


def test_database_restart_gives_unavailable_then_recovers(tmp_path: Path) -> None:
    """PostgreSQL stops under load: clean UNAVAILABLE errors; it comes back: certd serves
    again without a restart."""
    with private_postgres() as server:
        for daemon in launch(tmp_path / "home", server.url):
            with daemon.client("police", timeout=10) as police:
                assert police.issue(POLICE, "resident-id-card", PERSON).identifier
                server.stop()
                errors = []
                for _ in range(4):
                    try:
                        police.issue(POLICE, "resident-id-card", PERSON)
                    except CertlibError as error:
                        errors.append(error)
                assert errors and all(isinstance(e, RemoteUnavailable) for e in errors), errors
                assert {e.code for e in errors} <= {"UNAVAILABLE", "AUDIT_UNAVAILABLE",
                                                    "HSM_UNAVAILABLE"}
                server.start()
                recovered = None
                for _ in range(40):
                    try:
                        recovered = police.issue(POLICE, "resident-id-card", PERSON)
                        break
                    except RemoteUnavailable:
                        time.sleep(0.5)
                assert recovered is not None
                assert daemon.process is not None and daemon.process.poll() is None
