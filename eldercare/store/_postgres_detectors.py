"""TimescaleDB backend, detectors half: saved detector state and the bounded
replay of recent readings at start (detectors/runtime.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from eldercare.domain import DeviceKind, Reading
from eldercare.store._common import NO_SEQ, require_aware
from eldercare.store._postgres_base import PostgresBase, _row, _rows
from eldercare.store.base import DetectorStateRow


class PostgresDetectors(PostgresBase):
    async def save_detector_state(self, rows: Sequence[DetectorStateRow], at: datetime) -> None:
        if not rows:
            return
        gone = [r for r in rows if r.state is None]
        kept = [r for r in rows if r.state is not None]
        # One statement each way for the checkpoint's chunk: an executemany costs
        # a psycopg round per row. Arrays in binary (%b): psycopg's text format
        # escapes every element with a regular expression, 10 ms for 500 states.
        async with self._tx() as conn:
            if gone:
                await conn.execute(
                    "DELETE FROM detector_state WHERE (detector, key) IN"
                    " (SELECT * FROM unnest(%b::text[], %b::text[]))",
                    ([r.detector for r in gone], [r.key for r in gone]),
                )
            if kept:
                await conn.execute(
                    "INSERT INTO detector_state (detector, key, state, updated_at)"
                    " SELECT d, k, s::jsonb, %s FROM unnest(%b::text[], %b::text[], %b::text[])"
                    " AS v(d, k, s) ON CONFLICT (detector, key) DO UPDATE"
                    " SET state = excluded.state, updated_at = excluded.updated_at",
                    (
                        require_aware(at),
                        [r.detector for r in kept],
                        [r.key for r in kept],
                        [json.dumps(r.state) for r in kept],
                    ),
                )

    async def load_detector_state(self) -> list[DetectorStateRow]:
        async with self._tx() as conn:
            rows = await _rows(
                conn, "SELECT detector, key, state FROM detector_state ORDER BY detector, key"
            )
        return [DetectorStateRow(r["detector"], r["key"], r["state"]) for r in rows]

    async def readings_since(self, since: datetime, limit: int = 500_000) -> list[Reading]:
        async with self._tx() as conn:
            rows = await _rows(
                conn,
                "SELECT * FROM (SELECT r.* FROM devices d CROSS JOIN LATERAL ("
                "  SELECT * FROM readings r WHERE r.device_id = d.id AND r.ts >= %s"
                "  ORDER BY r.ts DESC LIMIT %s) r) x"
                " ORDER BY ts DESC, seq DESC LIMIT %s",
                (require_aware(since), limit, limit),
            )
        rows.reverse()
        return [
            Reading(
                r["home_id"],
                r["device_id"],
                DeviceKind(r["kind"]),
                r["ts"],
                r["received_at"],
                None if r["seq"] == NO_SEQ else r["seq"],
                r["battery"],
                r["fields"],
            )
            for r in rows
        ]

    async def latest_reading_ts(self) -> datetime | None:
        async with self._tx() as conn:
            row = await _row(
                conn,
                "SELECT max(x.ts) AS ts FROM devices d CROSS JOIN LATERAL ("
                " SELECT ts FROM readings r WHERE r.device_id = d.id ORDER BY ts DESC LIMIT 1) x",
            )
        return None if row is None else row["ts"]
