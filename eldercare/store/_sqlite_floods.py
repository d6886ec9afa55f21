"""SQLite backend: incidents and silences (eldercare/store/floods.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from eldercare.store._sqlite_base import SQLiteBase, _dt, _opt_dt, _opt_ts, _ts
from eldercare.store.floods import OPEN_INCIDENT, Incident, Silence


def _incident(r: sqlite3.Row, members: Sequence[int] = ()) -> Incident:
    return Incident(
        r["id"],
        r["organisation_id"],
        r["kind"],
        r["cause"],
        _dt(r["opened_at"]),
        _dt(r["last_member_at"]),
        r["members"],
        _opt_dt(r["ended_at"]),
        r["ended_by"],
        tuple(members),
    )


def _silence(r: sqlite3.Row) -> Silence:
    return Silence(
        r["id"],
        r["organisation_id"],
        r["home_id"],
        r["device_id"],
        _dt(r["starts_at"]),
        _dt(r["ends_at"]),
        r["reason"],
        r["created_by"],
        _opt_dt(r["ended_at"]),
        r["ended_by"],
    )


class SQLiteFloods(SQLiteBase):
    async def open_incident(
        self, organisation_id: str, kind: str, cause: str, at: datetime
    ) -> tuple[Incident, bool]:
        return await self._run(self._open_incident, organisation_id, kind, cause, at)

    def _open_incident(
        self, organisation_id: str, kind: str, cause: str, at: datetime
    ) -> tuple[Incident, bool]:
        key = (organisation_id, kind, cause)
        with self._tx() as conn:  # BEGIN IMMEDIATE: one writer across processes
            found = conn.execute(OPEN_INCIDENT.replace("%s", "?"), key).fetchone()
            if found is not None:
                return _incident(found), False
            cur = conn.execute(
                "INSERT INTO incidents (organisation_id, kind, cause, opened_at, last_member_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (*key, _ts(at), _ts(at)),
            )
            row = conn.execute("SELECT * FROM incidents WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _incident(row), True

    async def add_incident_members(
        self, incident_id: int, alert_ids: Sequence[int], at: datetime
    ) -> int:
        return await self._run(self._add_members, incident_id, list(alert_ids), at)

    def _add_members(self, incident_id: int, alert_ids: list[int], at: datetime) -> int:
        with self._tx() as conn:
            added = 0
            for alert_id in alert_ids:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO incident_members (incident_id, alert_id, joined_at)"
                    " VALUES (?, ?, ?)",
                    (incident_id, alert_id, _ts(at)),
                )
                added += cur.rowcount
            conn.execute(
                "UPDATE incidents SET members = members + ?,"
                " last_member_at = max(last_member_at, ?) WHERE id = ?",
                (added, _ts(at), incident_id),
            )
        return added

    async def end_incident(self, incident_id: int, at: datetime, actor: str | None) -> Incident:
        await self._run(self._end_incident, incident_id, at, actor)
        return await self.get_incident(incident_id)

    def _end_incident(self, incident_id: int, at: datetime, actor: str | None) -> None:
        with self._tx() as conn:
            self._one(
                "SELECT 1 FROM incidents WHERE id = ?", (incident_id,), _no_incident(incident_id)
            )
            conn.execute(
                "UPDATE incidents SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
                (_ts(at), actor, incident_id),
            )

    async def get_incident(self, incident_id: int) -> Incident:
        return await self._run(self._get_incident, incident_id)

    def _get_incident(self, incident_id: int) -> Incident:
        row = self._one(
            "SELECT * FROM incidents WHERE id = ?", (incident_id,), _no_incident(incident_id)
        )
        return _incident(row, self._member_ids(incident_id))

    def _member_ids(self, incident_id: int) -> list[int]:
        rows = self._conn.execute(
            "SELECT alert_id FROM incident_members WHERE incident_id = ? ORDER BY alert_id",
            (incident_id,),
        ).fetchall()
        return [r["alert_id"] for r in rows]

    async def list_incidents(
        self, organisation_id: str | None, *, open_only: bool = False, limit: int = 50
    ) -> list[Incident]:
        return await self._run(self._list_incidents, organisation_id, open_only, limit)

    def _list_incidents(
        self, organisation_id: str | None, open_only: bool, limit: int
    ) -> list[Incident]:
        rows = self._conn.execute(
            "SELECT * FROM incidents WHERE (? IS NULL OR organisation_id = ?)"
            " AND (? = 0 OR ended_at IS NULL) ORDER BY id DESC LIMIT ?",
            (organisation_id, organisation_id, int(open_only), limit),
        ).fetchall()
        return [_incident(r, self._member_ids(r["id"])) for r in rows]

    async def incident_of_alert(self, alert_id: int) -> int | None:
        row = await self._run(
            lambda: self._conn.execute(
                "SELECT incident_id FROM incident_members WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        )
        return None if row is None else int(row["incident_id"])

    async def create_silence(self, silence: Silence) -> Silence:
        return await self._run(self._create_silence, silence)

    def _create_silence(self, s: Silence) -> Silence:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO silences (organisation_id, home_id, device_id, starts_at, ends_at,"
                " reason, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    s.organisation_id,
                    s.home_id,
                    s.device_id,
                    _ts(s.starts_at),
                    _ts(s.ends_at),
                    s.reason,
                    s.created_by,
                ),
            )
            row = conn.execute("SELECT * FROM silences WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _silence(row)

    async def get_silence(self, silence_id: int) -> Silence:
        row = await self._run(
            self._one,
            "SELECT * FROM silences WHERE id = ?",
            (silence_id,),
            f"no silence {silence_id}",
        )
        return _silence(row)

    async def list_silences(
        self, organisation_id: str | None, *, since: datetime | None = None, limit: int = 200
    ) -> list[Silence]:
        rows = await self._run(
            lambda: self._conn.execute(
                "SELECT * FROM silences WHERE (? IS NULL OR organisation_id = ?)"
                " AND (? IS NULL OR coalesce(min(ended_at, ends_at), ends_at) >= ?)"
                " ORDER BY id DESC LIMIT ?",
                (organisation_id, organisation_id, _opt_ts(since), _opt_ts(since), limit),
            ).fetchall()
        )
        return [_silence(r) for r in rows]

    async def silences_at(self, home_id: str, at: datetime) -> list[Silence]:
        rows = await self._run(
            lambda: self._conn.execute(
                "SELECT * FROM silences WHERE home_id = ? AND starts_at <= ? AND ends_at > ?"
                " AND (ended_at IS NULL OR ended_at > ?)",
                (home_id, _ts(at), _ts(at), _ts(at)),
            ).fetchall()
        )
        return [_silence(r) for r in rows]

    async def end_silence(self, silence_id: int, at: datetime, actor: str | None) -> Silence:
        await self._run(self._end_silence, silence_id, at, actor)
        return await self.get_silence(silence_id)

    def _end_silence(self, silence_id: int, at: datetime, actor: str | None) -> None:
        with self._tx() as conn:
            self._one(
                "SELECT 1 FROM silences WHERE id = ?", (silence_id,), f"no silence {silence_id}"
            )
            conn.execute(
                "UPDATE silences SET ended_at = ?, ended_by = ?"
                " WHERE id = ? AND ended_at IS NULL AND ends_at > ?",
                (_ts(at), actor, silence_id, _ts(at)),
            )


def _no_incident(incident_id: int) -> str:
    return f"no incident {incident_id}"
