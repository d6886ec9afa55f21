"""SQLite backend: duty roster and alert assignments (migration 0018; SQL in
``_roster_sql``)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from eldercare.roster import Assignment, Shift
from eldercare.store import _roster_sql as q
from eldercare.store._sqlite_base import SQLiteBase, _dt, _ts
from eldercare.store.base import NotFound


def _q(sql: str) -> str:
    return sql.replace("%s", "?")


def _shift(r: sqlite3.Row) -> Shift:
    return Shift(
        r["organisation_id"], r["username"], _dt(r["starts_at"]), _dt(r["ends_at"]), r["id"]
    )


def _assignment(r: sqlite3.Row) -> Assignment:
    return Assignment(r["alert_id"], r["username"], _dt(r["assigned_at"]), r["assigned_by"])


class SQLiteRoster(SQLiteBase):
    async def add_shift(self, shift: Shift) -> Shift:
        return await self._run(self._add_shift, shift)

    def _add_shift(self, s: Shift) -> Shift:
        with self._tx() as conn:
            row = conn.execute(
                _q(q.SHIFT_ADD), (s.organisation_id, s.username, _ts(s.starts_at), _ts(s.ends_at))
            ).fetchone()
        return _shift(row)

    async def list_shifts(self, organisation_id: str, ending_after: datetime) -> list[Shift]:
        return await self._run(self._list_shifts, organisation_id, _ts(ending_after))

    def _list_shifts(self, organisation_id: str, after: str) -> list[Shift]:
        rows = self._conn.execute(_q(q.SHIFTS_ENDING_AFTER), (organisation_id, after)).fetchall()
        return [_shift(r) for r in rows]

    async def delete_shift(self, shift_id: int, organisation_id: str) -> None:
        await self._run(self._delete_shift, shift_id, organisation_id)

    def _delete_shift(self, shift_id: int, organisation_id: str) -> None:
        with self._tx() as conn:
            if conn.execute(_q(q.SHIFT_DELETE), (shift_id, organisation_id)).rowcount == 0:
                raise NotFound(f"no shift {shift_id}")

    async def assign_alert(self, assignment: Assignment) -> Assignment:
        return await self._run(self._assign_alert, assignment)

    def _assign_alert(self, a: Assignment) -> Assignment:
        with self._tx() as conn:
            conn.execute(_q(q.ASSIGN), (a.alert_id, a.username, _ts(a.assigned_at), a.assigned_by))
        return a

    async def get_assignment(self, alert_id: int) -> Assignment | None:
        return await self._run(self._get_assignment, alert_id)

    def _get_assignment(self, alert_id: int) -> Assignment | None:
        row = self._conn.execute(_q(q.ASSIGNMENT_GET), (alert_id,)).fetchone()
        return None if row is None else _assignment(row)

    async def active_assignments(self, organisation_id: str) -> list[Assignment]:
        return await self._run(self._active_assignments, organisation_id)

    def _active_assignments(self, organisation_id: str) -> list[Assignment]:
        rows = self._conn.execute(_q(q.ASSIGNMENTS_ACTIVE), (organisation_id,)).fetchall()
        return [_assignment(r) for r in rows]
