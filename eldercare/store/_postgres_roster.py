"""TimescaleDB backend: duty roster and alert assignments (migration 0018; SQL
in ``_roster_sql``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eldercare.roster import Assignment, Shift
from eldercare.store import _roster_sql as q
from eldercare.store._common import require_aware
from eldercare.store._postgres_base import PostgresBase, _row, _rows
from eldercare.store.base import NotFound


def _shift(r: Any) -> Shift:
    return Shift(r["organisation_id"], r["username"], r["starts_at"], r["ends_at"], r["id"])


def _assignment(r: Any) -> Assignment:
    return Assignment(r["alert_id"], r["username"], r["assigned_at"], r["assigned_by"])


class PostgresRoster(PostgresBase):
    async def add_shift(self, shift: Shift) -> Shift:
        s = shift
        params = (s.organisation_id, s.username, require_aware(s.starts_at), s.ends_at)
        async with self._tx() as conn:
            row = await _row(conn, q.SHIFT_ADD, params)
        assert row is not None, "INSERT ... RETURNING gives the row"
        return _shift(row)

    async def list_shifts(self, organisation_id: str, ending_after: datetime) -> list[Shift]:
        params = (organisation_id, require_aware(ending_after))
        async with self._tx() as conn:
            rows = await _rows(conn, q.SHIFTS_ENDING_AFTER, params)
        return [_shift(r) for r in rows]

    async def delete_shift(self, shift_id: int, organisation_id: str) -> None:
        async with self._tx() as conn:
            cur = await conn.execute(q.SHIFT_DELETE, (shift_id, organisation_id))
            if cur.rowcount == 0:
                raise NotFound(f"no shift {shift_id}")

    async def assign_alert(self, assignment: Assignment) -> Assignment:
        a = assignment
        params = (a.alert_id, a.username, require_aware(a.assigned_at), a.assigned_by)
        async with self._tx() as conn:
            await conn.execute(q.ASSIGN, params)
        return a

    async def get_assignment(self, alert_id: int) -> Assignment | None:
        async with self._tx() as conn:
            row = await _row(conn, q.ASSIGNMENT_GET, (alert_id,))
        return None if row is None else _assignment(row)

    async def active_assignments(self, organisation_id: str) -> list[Assignment]:
        async with self._tx() as conn:
            rows = await _rows(conn, q.ASSIGNMENTS_ACTIVE, (organisation_id,))
        return [_assignment(r) for r in rows]
