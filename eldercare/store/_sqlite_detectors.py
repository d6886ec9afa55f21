"""SQLite backend, detectors half: saved detector state and the bounded replay
of recent readings at start (detectors/runtime.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from eldercare.domain import DeviceKind, Reading
from eldercare.store._common import NO_SEQ
from eldercare.store._sqlite_base import SQLiteBase, _dt, _json, _ts
from eldercare.store.base import DetectorStateRow


class SQLiteDetectors(SQLiteBase):
    async def save_detector_state(self, rows: Sequence[DetectorStateRow], at: datetime) -> None:
        if rows:
            await self._run(self._save_detector_state, rows, _ts(at))

    def _save_detector_state(self, rows: Sequence[DetectorStateRow], at: str) -> None:
        with self._tx() as conn:
            gone = [(r.detector, r.key) for r in rows if r.state is None]
            kept = [(r.detector, r.key, _json(r.state), at) for r in rows if r.state is not None]
            conn.executemany("DELETE FROM detector_state WHERE detector = ? AND key = ?", gone)
            conn.executemany(
                "INSERT INTO detector_state (detector, key, state, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (detector, key) DO UPDATE"
                " SET state = excluded.state, updated_at = excluded.updated_at",
                kept,
            )

    async def load_detector_state(self) -> list[DetectorStateRow]:
        sql = "SELECT detector, key, state FROM detector_state ORDER BY detector, key"
        rows = await self._run(lambda: self._conn.execute(sql).fetchall())
        return [DetectorStateRow(r[0], r[1], json.loads(r[2])) for r in rows]

    async def readings_since(self, since: datetime, limit: int = 500_000) -> list[Reading]:
        return await self._run(self._readings_since, _ts(since), limit)

    def _readings_since(self, since: str, limit: int) -> list[Reading]:
        conn = self._conn
        out: list[Reading] = []
        for (device_id,) in conn.execute("SELECT id FROM devices").fetchall():
            rows = conn.execute(
                "SELECT * FROM readings WHERE device_id = ? AND ts >= ? ORDER BY ts DESC LIMIT ?",
                (device_id, since, limit),
            ).fetchall()
            out.extend(
                Reading(
                    r["home_id"],
                    r["device_id"],
                    DeviceKind(r["kind"]),
                    _dt(r["ts"]),
                    _dt(r["received_at"]),
                    None if r["seq"] == NO_SEQ else r["seq"],
                    r["battery"],
                    json.loads(r["fields"]),
                )
                for r in rows
            )
        out.sort(key=lambda r: (r.ts, -1 if r.seq is None else r.seq))
        return out[-limit:] if limit > 0 else []

    async def latest_reading_ts(self) -> datetime | None:
        sql = (
            "SELECT max((SELECT ts FROM readings r WHERE r.device_id = d.id"
            " ORDER BY ts DESC LIMIT 1)) FROM devices d"
        )
        row = await self._run(lambda: self._conn.execute(sql).fetchone())
        return None if row is None or row[0] is None else _dt(row[0])
