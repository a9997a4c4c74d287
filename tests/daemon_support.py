"""A real certd on 127.0.0.1 for tests: its own state directory, token and database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certlib.client import CertlibClient, ClientCredentials
from daemon.bootstrap import DEMO_DEPARTMENTS
from daemon.identity import Policy, write_policy

if TYPE_CHECKING:
    from tests.idp import LocalIdentityProvider

POLICE = DEMO_DEPARTMENTS["police"][0]
MARKET = DEMO_DEPARTMENTS["market"][0]
ADMIN = DEMO_DEPARTMENTS["admin"][0]
NOBODY = "11630000MB0000099T"
"""A department the policy knows but gives no role."""
HOLDER_AUDIENCE = "certd-test"
"""certd's client id at the test identity provider: holder tokens are minted for it."""
ID_NUMBER_CLAIM = "id_card"
"""The claim of holder tokens that carries the identity number."""


DAEMON_LOGS: list[Path] = []
"""Every test daemon's log, scanned for personal data at the end of the run."""


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_certd(home: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a certd command (init, client-cert) against `home`."""
    return subprocess.run([sys.executable, "-m", "daemon", *args],
                          env={**os.environ, "CERTLIB_HOME": str(home),
                               "CERTLIB_DATABASE_URL": database_url},
                          capture_output=True, text=True, check=False, timeout=300)


@dataclass
class RunningDaemon:
    """A certd process and how to reach it."""

    home: Path
    database_url: str
    listen: str
    health: str
    metrics: str
    workers: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home / "run" / "certd.test.log"
        DAEMON_LOGS.append(self.log)

    def environment(self) -> dict[str, str]:
        """The daemon's environment."""
        return {**os.environ, "CERTLIB_HOME": str(self.home),
                "CERTLIB_DATABASE_URL": self.database_url, "CERTD_LISTEN": self.listen,
                "CERTD_HEALTH_LISTEN": self.health, "CERTD_METRICS_LISTEN": self.metrics,
                "CERTD_WORKERS": str(self.workers), "CERTD_GRACE_SECONDS": "5"}

    def start(self) -> None:
        """Start certd and wait until it answers health checks."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "daemon", "serve"],
                                            env=self.environment(), stdout=log,
                                            stderr=subprocess.STDOUT)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Block until health says SERVING."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_text()
            with grpc.insecure_channel(self.health) as channel:
                try:
                    stub = health_pb2_grpc.HealthStub(channel)
                    answer = stub.Check(health_pb2.HealthCheckRequest(),  # type: ignore[attr-defined]
                                        timeout=2)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
            time.sleep(0.25)
        raise TimeoutError(self.log_text())

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def credentials(self, label: str) -> ClientCredentials:
        """The TLS client files `certd init` (or client-cert) wrote for `label`."""
        clients = self.home / "tls" / "clients"
        return ClientCredentials.from_files(clients / f"{label}.pem", clients / f"{label}.key",
                                            self.home / "tls" / "ca.pem")

    def client(self, label: str, timeout: float = 30.0) -> CertlibClient:
        """A client acting as the department with these credentials."""
        return CertlibClient(self.listen, self.credentials(label), timeout=timeout)

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (children of the supervisor)."""
        assert self.process is not None
        output = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                text=True, check=False).stdout
        workers = []
        for pid in output.split():
            try:  # the supervisor's other child is multiprocessing's resource tracker
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                workers.append(int(pid))
        return workers

    def count(self, table: str) -> int:
        """Rows in one of the daemon's tables, read directly from its database."""
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}"))
                           .scalar_one())
        finally:
            engine.dispose()

    def log_text(self) -> str:
        """The daemon's log so far (for failure messages)."""
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def configure_oidc(home: Path, idp: LocalIdentityProvider) -> None:
    """Point certd's `[oidc]` at a test identity provider (holder tokens for
    HOLDER_AUDIENCE, identity number in ID_NUMBER_CLAIM)."""
    with (home / "certlib.toml").open("a") as config:
        config.write(f'''
[oidc]
issuer = "{idp.issuer}"
audience = "{HOLDER_AUDIENCE}"
jwks_url = "{idp.jwks_url}"
id_number_claim = "{ID_NUMBER_CLAIM}"
''')


def add_duties(home: Path, duties: Mapping[str, list[str]]) -> None:
    """Give departments (by USCC) duties in the policy file, keeping everything else."""
    policy = Policy(home / "policy.toml")
    write_policy(policy.path, policy.departments(), {**policy.duties(), **duties})


def launch(home: Path, database_url: str, workers: int = 2, *,
           idp: LocalIdentityProvider | None = None,
           duties: Mapping[str, list[str]] | None = None) -> Iterator[RunningDaemon]:
    """Set up a home (region, departments, TLS files) and run certd on free ports; with
    `idp`, holder tokens are checked against it; `duties` go into the policy file."""
    initialised = run_certd(home, database_url, "init")
    assert initialised.returncode == 0, initialised.stderr
    nobody = run_certd(home, database_url, "client-cert", "--region", "630000",
                       "--uscc", NOBODY, "--name", "无权限测试单位",
                       "--label", "nobody", "--roles", "")
    assert nobody.returncode == 0, nobody.stderr
    if idp is not None:
        configure_oidc(home, idp)
    if duties:
        add_duties(home, duties)
    daemon = RunningDaemon(home, database_url, f"127.0.0.1:{free_port()}",
                           f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", workers)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
