"""TimescaleDB backend, API half: vitals with ``time_bucket`` (from the
per-minute rollups where the bucket allows, see ``_vitals_sql``), their
backfill, latest vitals, open-alert counts.

``time_bucket`` gets an explicit Unix-epoch origin so buckets line up with the
SQLite backend's for every width.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eldercare.domain import Severity
from eldercare.store._common import require_aware
from eldercare.store._postgres_base import PG_VITALS, PostgresBase, _row, _rows
from eldercare.store._vitals_sql import (
    MINUTE,
    VitalsSpans,
    backfill_sql,
    backfill_steps,
    vitals_sql,
)
from eldercare.store.base import (
    VITAL_METRICS,
    LatestVitals,
    VitalsBucket,
    VitalsQuery,
)

_VITALS_SQL = {metric: vitals_sql(PG_VITALS, metric) for metric in VITAL_METRICS}
_BACKFILL_SQL = backfill_sql(PG_VITALS)

_LATEST_SQL = (
    "SELECT d.id AS device_id, d.resident_id, l.ts, l.fields FROM devices d"
    " CROSS JOIN LATERAL (SELECT r.ts, r.fields FROM readings r WHERE r.device_id = d.id"
    "  AND (r.fields ? 'hr' OR r.fields ? 'rr') ORDER BY r.ts DESC LIMIT 1) l"
    " WHERE d.home_id = %s AND d.kind = 'bed_band' AND d.resident_id IS NOT NULL"
    " ORDER BY d.id"
)


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class PostgresApi(PostgresBase):
    async def vitals_buckets(
        self, query: VitalsQuery, *, rollups: bool = True
    ) -> list[VitalsBucket]:
        if query.metric not in VITAL_METRICS:
            raise ValueError(f"metric must be one of {', '.join(VITAL_METRICS)}")
        spans = VitalsSpans.of(query, rollups=rollups)
        params = {
            "b": timedelta(seconds=max(int(query.bucket_s), 1)),
            "rid": query.resident_id,
            "start": require_aware(spans.start),
            "mstart": spans.mstart,
            "mend": spans.mend,
            "end": spans.end,
        }
        async with self._tx() as conn:
            # Tuples in binary: a day of 1,440 buckets parsed as text into dicts cost
            # more than the query.
            cur = await conn.execute(_VITALS_SQL[query.metric], params, binary=True)
            rows = await cur.fetchall()
        return [VitalsBucket(b, int(n), lo, mean, hi) for b, n, lo, mean, hi in rows]

    async def backfill_vitals(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        async with self._tx() as conn:
            row = await _row(conn, "SELECT min(ts) AS lo, max(ts) AS hi FROM readings")
        if row is None or row["lo"] is None:
            return 0
        written = 0
        for a, z in backfill_steps(start or row["lo"], end or row["hi"] + MINUTE):
            async with self._tx() as conn:
                # Intake waits for this hour (its upserts would race the recount).
                await conn.execute("LOCK TABLE vitals_minute IN SHARE ROW EXCLUSIVE MODE")
                cur = await conn.execute(_BACKFILL_SQL, {"a": a, "z": z})
                written += cur.rowcount
        return written

    async def latest_vitals(self, home_id: str) -> list[LatestVitals]:
        async with self._tx() as conn:
            rows = await _rows(conn, _LATEST_SQL, (home_id,))
        found = []
        for r in rows:
            fields = r["fields"]
            in_bed = fields.get("in_bed")
            found.append(
                LatestVitals(
                    r["device_id"],
                    r["resident_id"],
                    r["ts"],
                    _opt_float(fields.get("hr")),
                    _opt_float(fields.get("rr")),
                    in_bed if isinstance(in_bed, bool) else None,
                )
            )
        return found

    async def count_open_alerts(self) -> dict[Severity, int]:
        query = "SELECT severity, count(*) AS n FROM alerts WHERE status <> 'resolved' GROUP BY 1"
        async with self._tx() as conn:
            rows = await _rows(conn, query)
        return {Severity(r["severity"]): int(r["n"]) for r in rows}
