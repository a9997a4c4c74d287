"""A private PostgreSQL server for tests that stop and restart it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.daemon_support import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(*command: str) -> list[str]:
    """Run as the postgres user when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


class PrivateServer:
    """initdb'd into a temporary directory, on its own port."""

    def __init__(self, binaries: Path, directory: Path) -> None:
        self.binaries = binaries
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `certlib` database."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/certlib"

    def _run(self, *command: str) -> None:
        subprocess.run(_as_postgres(*command), check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        """initdb, start, create the database."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-A", "trust",
                  "-U", "postgres", "--no-sync")
        self.start()
        self._run(str(self.binaries / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "certlib")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                  str(self.directory / "server.log"), "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}",
                  "start")

    def stop(self) -> None:
        """Stop the server at once (fast shutdown: connections are cut)."""
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast",
                  "stop")


@contextmanager
def private_postgres() -> Iterator[PrivateServer]:
    """A private PostgreSQL server, stopped and removed afterwards (skipped where the
    PostgreSQL server is not installed). It lives outside pytest's private temporary
    directory, which the postgres user cannot enter."""
    binaries = _binaries()
    if binaries is None:
        reason = "PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin)"
        if os.environ.get("CERTLIB_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="certlib-pg-"))
    directory.chmod(0o755)
    server = PrivateServer(binaries, directory)
    server.create()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            time.sleep(1)
        shutil.rmtree(directory, ignore_errors=True)
