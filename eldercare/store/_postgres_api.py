"""TimescaleDB backend, API half: vitals with ``time_bucket``, latest vitals,
open-alert counts.

``time_bucket`` gets an explicit Unix-epoch origin so buckets line up with the
SQLite backend's for every width.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eldercare.domain import Severity
from eldercare.store._common import require_aware
from eldercare.store._postgres_base import PostgresBase, _rows
from eldercare.store.base import VITAL_METRICS, LatestVitals, VitalsBucket, VitalsQuery

_VITALS_SQL = {
    metric: (
        "SELECT time_bucket(%(b)s, r.ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,"
        " count(*) AS n, min(v) AS lo, avg(v) AS mean, max(v) AS hi"
        f" FROM (SELECT r.ts, (r.fields->>'{metric}')::double precision AS v"
        "  FROM readings r WHERE r.device_id = ANY (SELECT id FROM devices"
        "   WHERE resident_id = %(rid)s AND kind = 'bed_band')"
        "  AND r.ts >= %(start)s AND r.ts < %(end)s"
        f"  AND jsonb_typeof(r.fields->'{metric}') = 'number') r"
        " GROUP BY bucket ORDER BY bucket"
    )
    for metric in VITAL_METRICS
}

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
    async def vitals_buckets(self, query: VitalsQuery) -> list[VitalsBucket]:
        if query.metric not in VITAL_METRICS:
            raise ValueError(f"metric must be one of {', '.join(VITAL_METRICS)}")
        params = {
            "b": timedelta(seconds=max(int(query.bucket_s), 1)),
            "rid": query.resident_id,
            "start": require_aware(query.start),
            "end": require_aware(query.end),
        }
        async with self._tx() as conn:
            rows = await _rows(conn, _VITALS_SQL[query.metric], params)
        return [
            VitalsBucket(r["bucket"], int(r["n"]), float(r["lo"]), float(r["mean"]), float(r["hi"]))
            for r in rows
        ]

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
