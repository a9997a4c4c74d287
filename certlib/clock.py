"""Time as certlib records it: UTC, whole seconds (as X.509 and CMS times carry it)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def whole_seconds(moment: datetime) -> datetime:
    """`moment` without its fraction of a second (windows are kept to the second)."""
    return moment.replace(microsecond=0)
