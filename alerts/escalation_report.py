"""The response report (``GET /api/v1/reports/response``): how fast staff answered.

Pure: takes the alerts' response times from the store and the time of the
report. Definitions, for the people who read the figures:

- time to acknowledge: raise → the first staff action (acknowledge, dispatch,
  arrive, or a resolve not made by the system);
- time to on-site: raise → arrival (``on_site``);
- on site within the window: arrival at or before the alert's
  ``response_deadline``. Counted among the alerts whose window is decided: an
  arrival, or the deadline passed, except alerts resolved before their deadline
  without an arrival (a false alarm cleared by phone needs nobody at the door);
- percentiles interpolate linearly between the two nearest values (numpy's
  default); ``null`` when there is no value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from eldercare.store.base import AlertResponse


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Seconds."""

    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class ResponseFigures:
    alerts: int
    acknowledged: int
    time_to_acknowledge_s: Percentiles
    on_site: int
    time_to_on_site_s: Percentiles
    window_decided: int
    """alerts counted for the window percentage (see the module docstring)"""
    on_site_within_window: int
    on_site_within_window_pct: float | None
    window_breached: int


def _percentiles(values: Sequence[float]) -> Percentiles:
    if not values:
        return Percentiles(None, None, None, None)
    p50, p90, p99 = (round(float(v), 1) for v in np.percentile(values, [50, 90, 99]))
    return Percentiles(p50, p90, p99, round(max(values), 1))


def within_window(r: AlertResponse) -> bool:
    return r.on_site_at is not None and r.on_site_at <= r.response_deadline


def window_decided(r: AlertResponse, now: datetime) -> bool:
    if r.on_site_at is not None:
        return True
    if r.resolved_at is not None and r.resolved_at <= r.response_deadline:
        return False  # closed before the deadline without anyone going: not a miss
    return r.response_deadline <= now


def figures(rows: Iterable[AlertResponse], now: datetime) -> ResponseFigures:
    rows = list(rows)
    ack = [
        (r.acknowledged_at - r.raised_at).total_seconds()
        for r in rows
        if r.acknowledged_at is not None
    ]
    site = [(r.on_site_at - r.raised_at).total_seconds() for r in rows if r.on_site_at is not None]
    decided = [r for r in rows if window_decided(r, now)]
    within = sum(1 for r in decided if within_window(r))
    return ResponseFigures(
        alerts=len(rows),
        acknowledged=len(ack),
        time_to_acknowledge_s=_percentiles(ack),
        on_site=len(site),
        time_to_on_site_s=_percentiles(site),
        window_decided=len(decided),
        on_site_within_window=within,
        on_site_within_window_pct=round(100.0 * within / len(decided), 1) if decided else None,
        window_breached=sum(1 for r in rows if r.breached),
    )


def grouped(
    rows: Sequence[AlertResponse], key: Callable[[AlertResponse], str], now: datetime
) -> dict[str, ResponseFigures]:
    groups: dict[str, list[AlertResponse]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {name: figures(group, now) for name, group in sorted(groups.items())}
