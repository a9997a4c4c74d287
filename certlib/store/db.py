"""The database: SQLite (embedded default, WAL) or PostgreSQL, one code path for both."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from certlib.errors import UnavailableError
from certlib.store.schema import counters


def create_engine(url: str, *, for_reads: bool = False) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and immediate write transactions
    (`for_reads`: ordinary deferred transactions, which never wait for writers)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL: a commit survives a killed process (the log is
            # in the OS cache); only a power cut can lose the newest commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # Writers take the write lock up front: no deadlock when two processes upgrade
            # at once. Readers begin deferred: in WAL mode they never wait for a writer.
            connection.exec_driver_sql("BEGIN" if for_reads else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


WRITER_WAIT_SECONDS = 30.0
"""How long a writer waits for SQLite's write lock before the store reports it unavailable."""


class _WriterGate:
    """SQLite's single writer, taken in turn: a thread lock for this process and `flock` on
    a file beside the database for other processes. Waiters wake as soon as the holder
    leaves, where SQLite's own busy handler sleeps and retries (seconds at the tail)."""

    def __init__(self, database: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = (f"{database}.writer-lock"
                      if database and database != ":memory:" else None)
        self._descriptor: int | None = None
        self._pid = os.getpid()

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._descriptor is None or self._pid != os.getpid():
            # flock belongs to the open file: a forked child opens its own.
            self._descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._descriptor

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the write turn for the block."""
        if not self._thread_lock.acquire(timeout=WRITER_WAIT_SECONDS):
            raise UnavailableError("the database is busy: no write turn within "
                                   f"{WRITER_WAIT_SECONDS:.0f} s")
        try:
            descriptor = self._file()
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if descriptor is not None:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close the lock file."""
        if self._descriptor is not None and self._pid == os.getpid():
            os.close(self._descriptor)
        self._descriptor = None


class Store:
    """Transactions on the certlib database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        sqlite_file = url.startswith("sqlite")
        self.read_engine = create_engine(url, for_reads=True) if sqlite_file else self.engine
        self._writer_gate = _WriterGate(self.engine.url.database) if sqlite_file else None

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest version (Alembic `upgrade head`)."""
        config = Config()
        location = str(resources.files("certlib.store") / "migrations")
        config.set_main_option("script_location", location)
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except sa.exc.OperationalError as error:
            raise UnavailableError(f"the database is unavailable: {_reason(error)}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self._writer_gate is not None:
            with self._writer_gate.held(), self._transaction() as connection:
                yield connection
        else:
            with self._transaction() as connection:
                yield connection

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            raise UnavailableError(f"the database is unavailable: {_reason(error)}") from None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction (on SQLite it does not queue behind writers)."""
        try:
            with self.read_engine.begin() as connection:
                yield connection
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            raise UnavailableError(f"the database is unavailable: {_reason(error)}") from None

    def close(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
        if self._writer_gate is not None:
            self._writer_gate.close()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def next_counter(connection: Connection, name: str) -> int:
    """Increment and return the named counter (from 1) inside the caller's transaction."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(counters)
        .values(name=name, value=1)
        .on_conflict_do_update(
            index_elements=[counters.c.name], set_={"value": counters.c.value + 1}
        )
        .returning(counters.c.value)
    )
    return int(connection.execute(statement).scalar_one())


def _reason(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).splitlines()[0] if error.orig is not None else type(error).__name__
