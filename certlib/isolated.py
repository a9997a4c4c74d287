"""Work on hostile input in helper processes, with a time limit and a memory limit.

A PDF built to make a parser loop or swell must not hang or exhaust the caller, which may be
a certd worker serving other requests. The work runs in a small pool of helper processes
started with `spawn` (never `fork`: forking a process whose other threads hold locks, such
as a gRPC server's, can leave the child stuck or crashing). A helper that overruns its time
limit is killed and replaced; a helper's memory is capped at what it started with plus
MEMORY_LIMIT. Functions and arguments travel by pickling: functions must be importable.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

MEMORY_LIMIT = 1 << 30
"""Address space a helper may add to what it started with (1 GiB)."""
HELPERS = 2
"""Helper processes per calling process (more callers wait for one)."""
START_SECONDS = 60.0
"""How long a helper may take to start (imports included)."""


@dataclass(frozen=True)
class Outcome:
    """What became of the work: `value` if it returned, else `problem` says why not."""

    value: Any = None
    problem: str | None = None


class _Helper:
    """One spawned helper process and the pipe to it."""

    def __init__(self, preload: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_end, preload), daemon=True,
                                       name="certlib-isolated")
        self.process.start()
        child_end.close()
        # The imports are not the work: wait for them before any time limit starts.
        if not self.connection.poll(START_SECONDS) or self.connection.recv() != "ready":
            self.stop()
            raise OSError(0, "the helper process did not start")

    def run(self, function: Callable[..., Any], arguments: tuple[Any, ...],
            time_limit: float) -> Outcome:
        self.connection.send((function, arguments))
        if not self.connection.poll(time_limit):
            self.stop()
            return Outcome(problem=f"did not finish within {time_limit:g} s")
        try:
            kind, value = self.connection.recv()
        except (EOFError, OSError):
            self.stop()
            return Outcome(problem="the helper process ended without an answer")
        if kind == "value":
            return Outcome(value=value)
        if kind == "memory":
            self.stop()  # its heap may be fragmented beyond use: start afresh
        return Outcome(problem=str(value))

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.connection.close()


class _Pool:
    """Idle helpers of this process, started on demand, at most HELPERS at once."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: list[_Helper] = []
        self.slots = threading.BoundedSemaphore(HELPERS)
        self.lock = threading.Lock()

    def take(self, preload: str) -> _Helper:
        with self.lock:
            while self.idle:
                helper = self.idle.pop()
                if helper.alive:
                    return helper
                helper.stop()
        return _Helper(preload)

    def give_back(self, helper: _Helper) -> None:
        if helper.alive and not helper.connection.closed:
            with self.lock:
                self.idle.append(helper)


_pools: dict[int, _Pool] = {}
_pools_lock = threading.Lock()


def _current_pool() -> _Pool:
    with _pools_lock:  # by process id: a forked child starts helpers of its own
        pool = _pools.get(os.getpid())
        if pool is None:
            pool = _pools[os.getpid()] = _Pool()
        return pool


def run_isolated(function: Callable[..., Any], arguments: tuple[Any, ...],
                 time_limit: float) -> Outcome:
    """`function(*arguments)` in a helper process, stopped after `time_limit` seconds."""
    pool = _current_pool()
    with pool.slots:
        try:
            helper = pool.take(function.__module__)
        except (OSError, EOFError) as error:
            return Outcome(problem=f"no helper process could be started ({error})")
        outcome = helper.run(function, arguments, time_limit)
        pool.give_back(helper)
        return outcome


def _serve(connection: Connection, preload: str) -> None:
    """A helper's whole life: no logging (records may name certificate subjects), bounded
    memory, one piece of work at a time until the pipe closes."""
    logging.disable(logging.CRITICAL)
    importlib.import_module(preload)
    _limit_memory()
    connection.send("ready")
    while True:
        try:
            function, arguments = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send(("value", function(*arguments)))
        except MemoryError:
            connection.send(("memory", "the work needs more memory than allowed"))
        except BaseException as error:  # the caller reports it; the helper goes on
            connection.send(("error", type(error).__name__))


def _limit_memory() -> None:
    """Cap the address space at what the helper has now plus MEMORY_LIMIT (Linux)."""
    try:
        import resource  # noqa: PLC0415 - POSIX only

        with open("/proc/self/statm", encoding="ascii") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + MEMORY_LIMIT
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):  # pragma: no cover - not Linux
        return
