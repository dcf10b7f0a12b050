"""Time as integer epoch milliseconds, and its RFC 3339 rendering."""

from __future__ import annotations

import datetime as dt
import time


def now_ms() -> int:
    """The current UTC time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rfc3339(ms: int) -> str:
    """``1764190800000`` → ``2025-11-26T21:00:00Z`` (whole seconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def from_datetime(value: dt.datetime) -> int:
    """An aware datetime in milliseconds since the epoch (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)
