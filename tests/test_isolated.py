"""Helper processes for hostile input: answers, time limits, crashes, memory, threads."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from certlib.isolated import run_isolated


def double(value: int) -> int:
    """A well-behaved piece of work."""
    return value * 2


def loop_forever() -> None:
    """Work that never ends."""
    while True:
        time.sleep(0.01)


def die() -> None:
    """Work that takes its process down."""
    os._exit(3)


def swell() -> int:
    """Work that wants far more memory than allowed."""
    return len(bytearray(4 << 30))


def fail() -> None:
    """Work that raises."""
    raise ValueError("no")


def pid() -> int:
    """The helper's process id."""
    return os.getpid()


def test_answers_and_reuses_its_helper() -> None:
    """A value comes back; the next call runs in the same helper."""
    assert run_isolated(double, (21,), 30).value == 42
    first = run_isolated(pid, (), 30).value
    assert first != os.getpid() and run_isolated(pid, (), 30).value == first


def test_overrun_is_stopped_and_the_helper_replaced() -> None:
    """A loop is stopped at its limit; the next call gets a fresh helper."""
    before = run_isolated(pid, (), 30).value
    started = time.monotonic()
    outcome = run_isolated(loop_forever, (), 0.5)
    assert outcome.problem is not None and "0.5 s" in outcome.problem
    assert time.monotonic() - started < 5
    after = run_isolated(pid, (), 30).value
    assert after != before


def test_crash_memory_and_exceptions_are_problems_not_failures() -> None:
    """A dead helper, a MemoryError and an exception each come back as a problem."""
    assert "without an answer" in (run_isolated(die, (), 30).problem or "")
    assert "memory" in (run_isolated(swell, (), 30).problem or "")
    assert run_isolated(fail, (), 30).problem == "ValueError"
    assert run_isolated(double, (1,), 30).value == 2


def test_many_threads_at_once_beside_other_threads() -> None:
    """Sixteen threads share the helpers while other threads keep running (as in certd)."""
    stop = threading.Event()
    busy = [threading.Thread(target=lambda: stop.wait(30)) for _ in range(8)]
    for thread in busy:
        thread.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda n: run_isolated(double, (n,), 30).value,
                                    range(64)))
    finally:
        stop.set()
        for thread in busy:
            thread.join()
    assert results == [n * 2 for n in range(64)]
