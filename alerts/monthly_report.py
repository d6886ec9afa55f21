"""The monthly response report (``GET /api/v1/reports/monthly``): the 10-minute
promise month by month.

Pure: takes the alerts' response times (``AlertResponse``) and who answered
them (``ResponsePeople``) from the store, the time zone the months are counted
in and the time of the report. For each month (by the alert's raise, in that
time zone), overall, by kind, per operator and per home:

- ``alerts``: raised in the month;
- ``acknowledged_within_60s`` / ``_180s``: the first staff action (as in the
  response report) at most 60 / 180 s after the raise; the share is of every
  alert raised (an alert nobody answered is not answered in time);
- ``on_site_within_window``: of the alerts whose window is decided (the
  response report's definition), those with somebody on site by the deadline.

An alert belongs to the operator of its first staff action; alerts no staff
member answered are under no operator (``unanswered`` counts them).
Percentages are rounded to one decimal, ``null`` with nothing to divide by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.escalation_report import window_decided, within_window
from eldercare.store._reports_sql import ResponsePeople
from eldercare.store.base import AlertResponse

ACK_FAST_S = 60.0
ACK_SLOW_S = 180.0


@dataclass(frozen=True, slots=True)
class Answered:
    """One alert's response with its home and first responder."""

    response: AlertResponse
    home_id: str
    operator: str | None


@dataclass(frozen=True, slots=True)
class MonthlyFigures:
    alerts: int
    acknowledged: int
    unanswered: int
    acknowledged_within_60s: int
    acknowledged_within_60s_pct: float | None
    acknowledged_within_180s: int
    acknowledged_within_180s_pct: float | None
    window_decided: int
    on_site_within_window: int
    on_site_within_window_pct: float | None


@dataclass(frozen=True, slots=True)
class MonthlyGroups:
    overall: MonthlyFigures
    by_kind: dict[str, MonthlyFigures]
    by_operator: dict[str, MonthlyFigures]
    by_home: dict[str, MonthlyFigures]


@dataclass(frozen=True, slots=True)
class Month:
    month: str
    """``YYYY-MM``"""
    figures: MonthlyGroups


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _ack_within(r: AlertResponse, seconds: float) -> bool:
    return r.acknowledged_at is not None and (
        (r.acknowledged_at - r.raised_at).total_seconds() <= seconds
    )


def figures(rows: Iterable[Answered], now: datetime) -> MonthlyFigures:
    responses = [a.response for a in rows]
    acked = sum(1 for r in responses if r.acknowledged_at is not None)
    fast = sum(1 for r in responses if _ack_within(r, ACK_FAST_S))
    slow = sum(1 for r in responses if _ack_within(r, ACK_SLOW_S))
    decided = [r for r in responses if window_decided(r, now)]
    within = sum(1 for r in decided if within_window(r))
    n = len(responses)
    return MonthlyFigures(
        alerts=n,
        acknowledged=acked,
        unanswered=n - acked,
        acknowledged_within_60s=fast,
        acknowledged_within_60s_pct=_pct(fast, n),
        acknowledged_within_180s=slow,
        acknowledged_within_180s_pct=_pct(slow, n),
        window_decided=len(decided),
        on_site_within_window=within,
        on_site_within_window_pct=_pct(within, len(decided)),
    )


def _grouped(
    rows: Sequence[Answered], key: Callable[[Answered], str | None], now: datetime
) -> dict[str, MonthlyFigures]:
    groups: dict[str, list[Answered]] = {}
    for a in rows:
        k = key(a)
        if k is not None:
            groups.setdefault(k, []).append(a)
    return {name: figures(group, now) for name, group in sorted(groups.items())}


def groups(rows: Sequence[Answered], now: datetime) -> MonthlyGroups:
    return MonthlyGroups(
        overall=figures(rows, now),
        by_kind=_grouped(rows, lambda a: a.response.kind.value, now),
        by_operator=_grouped(rows, lambda a: a.operator, now),
        by_home=_grouped(rows, lambda a: a.home_id, now),
    )


def join(responses: Sequence[AlertResponse], people: Sequence[ResponsePeople]) -> list[Answered]:
    """Pairs the two store lists by alert id (an alert in one only is dropped: it
    was raised between the two reads)."""
    by_id = {p.alert_id: p for p in people}
    return [
        Answered(r, by_id[r.alert_id].home_id, by_id[r.alert_id].acknowledged_by)
        for r in responses
        if r.alert_id in by_id
    ]


def months(
    rows: Sequence[Answered], month_keys: Sequence[str], tz: ZoneInfo, now: datetime
) -> list[Month]:
    """One entry per month of ``month_keys`` (empty months too), in that order."""
    by_month: dict[str, list[Answered]] = {m: [] for m in month_keys}
    for a in rows:
        key = a.response.raised_at.astimezone(tz).strftime("%Y-%m")
        if key in by_month:
            by_month[key].append(a)
    return [Month(m, groups(by_month[m], now)) for m in month_keys]


CSV_FIGURES = (
    "alerts",
    "acknowledged",
    "unanswered",
    "acknowledged_within_60s",
    "acknowledged_within_60s_pct",
    "acknowledged_within_180s",
    "acknowledged_within_180s_pct",
    "window_decided",
    "on_site_within_window",
    "on_site_within_window_pct",
)
CSV_HEADER = ("month", "group", "key", *CSV_FIGURES)


def csv_rows(month_list: Sequence[Month], total: MonthlyGroups) -> list[list[str]]:
    """Every figure of the report as rows of CSV_HEADER; ``month`` ``all`` is the
    whole span; ``group`` is overall / kind / operator / home."""
    out: list[list[str]] = []
    for label, g in [*((m.month, m.figures) for m in month_list), ("all", total)]:
        parts: list[tuple[str, str, MonthlyFigures]] = [("overall", "", g.overall)]
        parts += [("kind", k, f) for k, f in g.by_kind.items()]
        parts += [("operator", k, f) for k, f in g.by_operator.items()]
        parts += [("home", k, f) for k, f in g.by_home.items()]
        for group, key, f in parts:
            values = [getattr(f, name) for name in CSV_FIGURES]
            out.append([label, group, key, *("" if v is None else str(v) for v in values)])
    return out
