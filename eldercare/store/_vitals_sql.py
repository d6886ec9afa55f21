"""Vitals SQL both backends share: the per-minute rollups and the bucket query.

``vitals_minute`` holds, per bed band and UTC minute, the count, sum, min and
max of heart rate and respiration of the readings stored for that minute. The
intake adds to it in the transaction that inserts the readings, from the rows
actually inserted (a redelivery the store drops is not counted twice);
``eldercare db backfill-vitals`` recomputes it from the readings.

A bucket query whose width is a whole number of minutes reads the rollups for
the whole minutes of the range and the readings for the partial minutes at its
two ends, so its answer is the one the readings alone give. Other widths (the
chart's 5 s buckets) read the readings only.

Each backend gives its ``Dialect``: its bucket, minute and metric expressions
and its placeholders (``:name`` on SQLite, ``%(name)s`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eldercare.store.base import VITAL_METRICS, VitalsQuery

MINUTE = timedelta(minutes=1)

ROLLUP_COLUMNS = "device_id, minute, hr_n, hr_sum, hr_min, hr_max, rr_n, rr_sum, rr_min, rr_max"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the backends' vitals SQL."""

    minute: str
    """the UTC minute of ``s.ts``, of the type of ``ts``"""
    bucket: str
    """the epoch-aligned bucket of ``p.t``, ``{b}`` seconds wide"""
    value: Callable[[str, str], str]
    """(alias, metric) → the metric of ``alias.fields`` as a float, NULL unless a number"""
    param: Callable[[str], str]
    """a named placeholder"""


ROLLUP_SELECT = """
SELECT device_id, minute, count(hr), sum(hr), min(hr), max(hr), count(rr), sum(rr), min(rr), max(rr)
FROM (SELECT s.device_id, {minute} AS minute, {hr} AS hr, {rr} AS rr FROM {source} s) v
WHERE hr IS NOT NULL OR rr IS NOT NULL
GROUP BY device_id, minute
ORDER BY device_id, minute
"""
"""Per (device, minute) of ``{source}`` (columns device_id, ts, fields): the rollup row.
In key order, so two batches upserting the same minutes lock them in the same
order (no deadlock between gateway instances)."""


def _add(metric: str) -> str:
    old, new = f"vitals_minute.{metric}", f"excluded.{metric}"
    return (
        f"{metric}_n = {old}_n + {new}_n,"
        f" {metric}_sum = coalesce({old}_sum + {new}_sum, {old}_sum, {new}_sum),"
        f" {metric}_min = CASE WHEN {old}_min <= {new}_min THEN {old}_min"
        f" ELSE coalesce({new}_min, {old}_min) END,"
        f" {metric}_max = CASE WHEN {old}_max >= {new}_max THEN {old}_max"
        f" ELSE coalesce({new}_max, {old}_max) END"
    )


ADD_ON_CONFLICT = " ON CONFLICT (device_id, minute) DO UPDATE SET " + ", ".join(
    _add(m) for m in VITAL_METRICS
)
"""New readings add to a minute's row (min / max of the two, sums and counts added)."""

REPLACE_ON_CONFLICT = " ON CONFLICT (device_id, minute) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in ROLLUP_COLUMNS.split(", ")[2:]
)
"""The backfill: a minute's row becomes what its readings give."""


def rollup_upsert(dialect: Dialect, source: str, *, replace: bool = False) -> str:
    """``INSERT INTO vitals_minute`` the rollup of ``source``, added or replacing."""
    select = ROLLUP_SELECT.format(
        source=source,
        minute=dialect.minute,
        hr=dialect.value("s", "hr"),
        rr=dialect.value("s", "rr"),
    )
    on_conflict = REPLACE_ON_CONFLICT if replace else ADD_ON_CONFLICT
    return f"INSERT INTO vitals_minute ({ROLLUP_COLUMNS}) {select} {on_conflict}"


def backfill_sql(dialect: Dialect) -> str:
    """The backfill of the readings in [``a``, ``z``): their minutes replaced."""
    a, z = dialect.param("a"), dialect.param("z")
    source = f"(SELECT device_id, ts, fields FROM readings WHERE ts >= {a} AND ts < {z})"
    return rollup_upsert(dialect, source, replace=True)


RESIDENT_BANDS = "SELECT id FROM devices WHERE resident_id = {rid} AND kind = 'bed_band'"

RAW_POINTS = """
SELECT t, v FROM (SELECT r.ts AS t, {value} AS v FROM readings r
  WHERE r.device_id IN ({bands}) AND r.ts >= {start} AND r.ts < {end}) x
WHERE v IS NOT NULL
"""

VITALS_SQL = """
SELECT {bucket} AS bucket, sum(n) AS n, min(lo) AS lo, sum(s) / sum(n) AS mean, max(hi) AS hi
FROM (
  SELECT m.minute AS t, m.{m}_n AS n, m.{m}_sum AS s, m.{m}_min AS lo, m.{m}_max AS hi
  FROM vitals_minute m
  WHERE m.device_id IN ({bands}) AND m.minute >= {mstart} AND m.minute < {mend} AND m.{m}_n > 0
  UNION ALL SELECT t, 1, v, v, v FROM ({head}) h
  UNION ALL SELECT t, 1, v, v, v FROM ({tail}) e
) p
GROUP BY 1 ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class VitalsSpans:
    """Where each part of a bucket query comes from: readings in [start, mstart)
    and [mend, end), rollups in [mstart, mend)."""

    start: datetime
    mstart: datetime
    mend: datetime
    end: datetime

    @classmethod
    def of(cls, query: VitalsQuery, *, rollups: bool = True) -> VitalsSpans:
        start, end = query.start.astimezone(UTC), query.end.astimezone(UTC)
        if rollups and query.bucket_s % 60 == 0:
            mstart = floor_minute(start)
            if mstart < start:
                mstart += MINUTE
            mend = floor_minute(end)
            if mstart < mend:
                return cls(start, mstart, mend, end)
        return cls(start, end, end, end)


def floor_minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def vitals_sql(dialect: Dialect, metric: str) -> str:
    """The bucket query of one metric (parameters rid, start, mstart, mend, end, b)."""
    if metric not in VITAL_METRICS:
        raise ValueError(f"metric must be one of {', '.join(VITAL_METRICS)}")
    p = dialect.param
    bands = RESIDENT_BANDS.format(rid=p("rid"))
    value = dialect.value("r", metric)

    def raw(start: str, end: str) -> str:
        return RAW_POINTS.format(value=value, bands=bands, start=p(start), end=p(end))

    return VITALS_SQL.format(
        bucket=dialect.bucket.format(b=p("b")),
        m=metric,
        bands=bands,
        mstart=p("mstart"),
        mend=p("mend"),
        head=raw("start", "mstart"),
        tail=raw("mend", "end"),
    )


BACKFILL_STEP = timedelta(hours=1)
"""The backfill recounts an hour per transaction (intake waits at most that long)."""


def backfill_steps(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Whole hours covering [start, end), so no minute is split between two steps."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    steps = []
    while first < end:
        steps.append((first, first + BACKFILL_STEP))
        first += BACKFILL_STEP
    return steps
