"""Helpers shared by the benchmarks: timing and a throw-away state directory."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from certlib.config import Settings, load_settings


def temporary_settings() -> Settings:
    """Settings of a fresh state directory (with its own SoftHSM2 token)."""
    return load_settings(Path(tempfile.mkdtemp(prefix="certlib-bench-")))


def rate(operation: Callable[[int], object], count: int) -> float:
    """Operations per second for `count` calls of `operation(i)`."""
    start = time.perf_counter()
    for i in range(count):
        operation(i)
    return count / (time.perf_counter() - start)


def interleaved(
    first: Callable[[int], object], second: Callable[[int], object], count: int, rounds: int = 5
) -> tuple[float, float]:
    """Median rates of two operations measured in alternating rounds."""
    first_rates, second_rates = [], []
    for _ in range(rounds):
        first_rates.append(rate(first, count))
        second_rates.append(rate(second, count))
    return statistics.median(first_rates), statistics.median(second_rates)
