"""SQLite backend, API half: vitals buckets (from the per-minute rollups where
the bucket allows, see ``_vitals_sql``), their backfill, latest vitals,
open-alert counts.

Buckets are computed in SQL on the epoch seconds of the text timestamps
(``strftime('%s', ts)``), the same alignment as ``time_bucket`` with a Unix
epoch origin on TimescaleDB.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from eldercare.domain import Severity
from eldercare.store._sqlite_base import SQLITE_VITALS, SQLiteBase, _dt, _ts
from eldercare.store._vitals_sql import (
    MINUTE,
    VitalsSpans,
    backfill_sql,
    backfill_steps,
    vitals_sql,
)
from eldercare.store.base import VITAL_METRICS, LatestVitals, VitalsBucket, VitalsQuery

_VITALS_SQL = {metric: vitals_sql(SQLITE_VITALS, metric) for metric in VITAL_METRICS}
_BACKFILL_SQL = backfill_sql(SQLITE_VITALS)


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class SQLiteApi(SQLiteBase):
    async def vitals_buckets(
        self, query: VitalsQuery, *, rollups: bool = True
    ) -> list[VitalsBucket]:
        if query.metric not in VITAL_METRICS:
            raise ValueError(f"metric must be one of {', '.join(VITAL_METRICS)}")
        spans = VitalsSpans.of(query, rollups=rollups)
        params = {
            "b": max(int(query.bucket_s), 1),
            "rid": query.resident_id,
            "start": _ts(spans.start),
            "mstart": _ts(spans.mstart),
            "mend": _ts(spans.mend),
            "end": _ts(spans.end),
        }
        sql = _VITALS_SQL[query.metric]
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

    async def backfill_vitals(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        return await self._run(self._backfill_vitals, start, end)

    def _backfill_vitals(self, start: datetime | None, end: datetime | None) -> int:
        row = self._conn.execute("SELECT min(ts) AS lo, max(ts) AS hi FROM readings").fetchone()
        if row is None or row["lo"] is None:
            return 0
        written = 0
        for a, z in backfill_steps(start or _dt(row["lo"]), end or _dt(row["hi"]) + MINUTE):
            with self._tx() as conn:  # BEGIN IMMEDIATE: intake waits for this hour
                written += conn.execute(_BACKFILL_SQL, {"a": _ts(a), "z": _ts(z)}).rowcount
        return written

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
