"""SQLite backend, API half: vitals buckets, latest vitals, open-alert counts.

Buckets are computed in SQL on the epoch seconds of the text timestamps
(``strftime('%s', ts)``), the same alignment as ``time_bucket`` with a Unix
epoch origin on TimescaleDB.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from eldercare.domain import Severity
from eldercare.store._sqlite_base import SQLiteBase, _dt, _ts
from eldercare.store.base import VITAL_METRICS, LatestVitals, VitalsBucket, VitalsQuery


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class SQLiteApi(SQLiteBase):
    async def vitals_buckets(self, query: VitalsQuery) -> list[VitalsBucket]:
        if query.metric not in VITAL_METRICS:
            raise ValueError(f"metric must be one of {', '.join(VITAL_METRICS)}")
        bucket = max(int(query.bucket_s), 1)
        path = f"$.{query.metric}"
        sql = (
            "SELECT (CAST(strftime('%s', r.ts) AS INTEGER) / :b) * :b AS bucket,"
            " count(*) AS n, min(v) AS lo, avg(v) AS mean, max(v) AS hi"
            " FROM (SELECT r.ts AS ts, json_extract(r.fields, :path) AS v FROM readings r"
            "  WHERE r.device_id IN (SELECT id FROM devices WHERE resident_id = :rid"
            "   AND kind = 'bed_band') AND r.ts >= :start AND r.ts < :end) r"
            " WHERE typeof(v) IN ('integer', 'real')"
            " GROUP BY bucket ORDER BY bucket"
        )
        params = {
            "b": bucket,
            "path": path,
            "rid": query.resident_id,
            "start": _ts(query.start),
            "end": _ts(query.end),
        }
        rows = await self._run(lambda: self._conn.execute(sql, params).fetchall())
        return [
            VitalsBucket(
                datetime.fromtimestamp(r["bucket"], UTC),
                int(r["n"]),
                float(r["lo"]),
                float(r["mean"]),
                float(r["hi"]),
            )
            for r in rows
        ]

    async def latest_vitals(self, home_id: str) -> list[LatestVitals]:
        return await self._run(self._latest_vitals, home_id)

    def _latest_vitals(self, home_id: str) -> list[LatestVitals]:
        devices = self._conn.execute(
            "SELECT id, resident_id FROM devices WHERE home_id = ? AND kind = 'bed_band'"
            " AND resident_id IS NOT NULL ORDER BY id",
            (home_id,),
        ).fetchall()
        found: list[LatestVitals] = []
        for device in devices:
            row = self._conn.execute(
                "SELECT ts, fields FROM readings WHERE device_id = ?"
                " AND (json_type(fields, '$.hr') IS NOT NULL"
                "  OR json_type(fields, '$.rr') IS NOT NULL)"
                " ORDER BY ts DESC LIMIT 1",
                (device["id"],),
            ).fetchone()
            if row is None:
                continue
            fields = json.loads(row["fields"])
            in_bed = fields.get("in_bed")
            found.append(
                LatestVitals(
                    device["id"],
                    device["resident_id"],
                    _dt(row["ts"]),
                    _opt_float(fields.get("hr")),
                    _opt_float(fields.get("rr")),
                    in_bed if isinstance(in_bed, bool) else None,
                )
            )
        return found

    async def count_open_alerts(self) -> dict[Severity, int]:
        sql = "SELECT severity, count(*) AS n FROM alerts WHERE status <> 'resolved' GROUP BY 1"
        rows = await self._run(lambda: self._conn.execute(sql).fetchall())
        return {Severity(r["severity"]): int(r["n"]) for r in rows}
