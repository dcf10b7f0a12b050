"""Latency statistics: nearest-rank percentiles and the per-hop summary of API.md §12."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

#: Percentiles reported per hop, as (JSON key, percentile).
HOP_PERCENTILES = (("p50_ms", 50.0), ("p95_ms", 95.0), ("p99_ms", 99.0))


def percentile(samples: Sequence[float], p: float, *, presorted: bool = False) -> float:
    """The nearest-rank ``p``-th percentile (0 ≤ p ≤ 100) of a non-empty sample.

    The smallest value with at least ``p`` percent of the sample at or below it; ``p = 0`` is the minimum
    and ``p = 100`` the maximum. Always one of the samples, never interpolated.
    """
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0.0 <= p <= 100.0 or math.isnan(p):
        raise ValueError(f"percentile must be within 0…100, not {p}")
    ordered = samples if presorted else sorted(samples)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def summarize(samples: Iterable[float]) -> dict[str, float | None]:
    """``{p50_ms, p95_ms, p99_ms, max_ms}`` of durations in seconds; every value None when empty."""
    ordered = sorted(samples)
    keys = [key for key, _ in HOP_PERCENTILES] + ["max_ms"]
    if not ordered:
        return dict.fromkeys(keys)
    out: dict[str, float | None] = {
        key: _ms(percentile(ordered, p, presorted=True)) for key, p in HOP_PERCENTILES
    }
    out["max_ms"] = _ms(ordered[-1])
    return out


def rate(count: int, seconds: float) -> float:
    """``count / seconds`` rounded to 0.1, 0 when no time passed."""
    return round(count / seconds, 1) if seconds > 0 else 0.0
