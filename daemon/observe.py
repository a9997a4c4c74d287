"""Structured JSON logs with request ids, and Prometheus metrics shared by all workers.

Logs go to stdout, one JSON object per line, and never carry field values or identity
numbers: only methods, codes, department USCCs, request ids and durations. Metrics use
prometheus_client's multiprocess mode: every worker writes to the directory in
`PROMETHEUS_MULTIPROC_DIR`, and the supervisor serves their sum.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

REQUESTS = Counter("certd_requests_total", "RPCs handled", ["method", "code"])
LATENCY = Histogram("certd_request_seconds", "RPC latency", ["method"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                             5, 10))
ERRORS = Counter("certd_errors_total", "Failed RPCs by reason", ["reason"])
HSM_OPERATIONS = Counter("certd_hsm_operations_total", "Key-store operations",
                         ["operation", "outcome"])
HSM_SECONDS = Histogram("certd_hsm_seconds", "Key-store operation time", ["operation"],
                        buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
                                 0.1, 1))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the `extra` fields."""

    _SKIP = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        """Render the record."""
        body: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._SKIP and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout for this process."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pyhanko_certvalidator", "pyhanko"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


class HsmMetrics:
    """A key-store observer that counts and times HSM operations."""

    def __call__(self, operation: str, seconds: float, ok: bool) -> None:
        """Record one operation."""
        HSM_OPERATIONS.labels(operation, "ok" if ok else "error").inc()
        HSM_SECONDS.labels(operation).observe(seconds)


def monotonic() -> float:
    """A monotonic clock in seconds."""
    return time.monotonic()
