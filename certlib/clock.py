"""Time as certlib records it: UTC, whole seconds (as X.509 and CMS times carry it)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)
