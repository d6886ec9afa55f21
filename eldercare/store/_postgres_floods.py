"""TimescaleDB backend: incidents and silences (eldercare/store/floods.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from eldercare.store._common import require_aware
from eldercare.store._postgres_base import Conn, PostgresBase, Row, _one, _row, _rows
from eldercare.store.floods import OPEN_INCIDENT, Incident, Silence


def _incident(r: Row, members: Sequence[int] = ()) -> Incident:
    return Incident(
        r["id"],
        r["organisation_id"],
        r["kind"],
        r["cause"],
        r["opened_at"],
        r["last_member_at"],
        r["members"],
        r["ended_at"],
        r["ended_by"],
        tuple(members),
    )


def _silence(r: Row) -> Silence:
    return Silence(
        r["id"],
        r["organisation_id"],
        r["home_id"],
        r["device_id"],
        r["starts_at"],
        r["ends_at"],
        r["reason"],
        r["created_by"],
        r["ended_at"],
        r["ended_by"],
    )


async def _member_ids(conn: Conn, incident_id: int) -> list[int]:
    rows = await _rows(
        conn,
        "SELECT alert_id FROM incident_members WHERE incident_id = %s ORDER BY alert_id",
        (incident_id,),
    )
    return [r["alert_id"] for r in rows]


class PostgresFloods(PostgresBase):
    async def open_incident(
        self, organisation_id: str, kind: str, cause: str, at: datetime
    ) -> tuple[Incident, bool]:
        key = (organisation_id, kind, cause)
        async with self._tx() as conn:
            # one opener at a time per centre, kind and cause, across processes
            lock = "\x1f".join(("incident", *key))
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
            found = await _row(conn, OPEN_INCIDENT, key)
            if found is not None:
                return _incident(found), False
            row = await _one(
                conn,
                "INSERT INTO incidents (organisation_id, kind, cause, opened_at, last_member_at)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING *",
                (*key, require_aware(at), at),
                "incident not written",
            )
        return _incident(row), True

    async def add_incident_members(
        self, incident_id: int, alert_ids: Sequence[int], at: datetime
    ) -> int:
        async with self._tx() as conn:
            cur = await conn.execute(
                "INSERT INTO incident_members (incident_id, alert_id, joined_at)"
                " SELECT %s, a, %s FROM unnest(%s::bigint[]) AS a ON CONFLICT DO NOTHING",
                (incident_id, require_aware(at), list(alert_ids)),
            )
            added = max(cur.rowcount, 0)
            await conn.execute(
                "UPDATE incidents SET members = members + %s,"
                " last_member_at = greatest(last_member_at, %s) WHERE id = %s",
                (added, at, incident_id),
            )
        return added

    async def end_incident(self, incident_id: int, at: datetime, actor: str | None) -> Incident:
        async with self._tx() as conn:
            await _one(
                conn,
                "SELECT 1 FROM incidents WHERE id = %s",
                (incident_id,),
                f"no incident {incident_id}",
            )
            await conn.execute(
                "UPDATE incidents SET ended_at = %s, ended_by = %s"
                " WHERE id = %s AND ended_at IS NULL",
                (require_aware(at), actor, incident_id),
            )
        return await self.get_incident(incident_id)

    async def get_incident(self, incident_id: int) -> Incident:
        async with self._tx() as conn:
            row = await _one(
                conn,
                "SELECT * FROM incidents WHERE id = %s",
                (incident_id,),
                f"no incident {incident_id}",
            )
            return _incident(row, await _member_ids(conn, incident_id))

    async def list_incidents(
        self, organisation_id: str | None, *, open_only: bool = False, limit: int = 50
    ) -> list[Incident]:
        async with self._tx() as conn:
            rows = await _rows(
                conn,
                "SELECT * FROM incidents WHERE (%(o)s::text IS NULL OR organisation_id = %(o)s)"
                " AND (NOT %(open)s OR ended_at IS NULL) ORDER BY id DESC LIMIT %(n)s",
                {"o": organisation_id, "open": open_only, "n": limit},
            )
            return [_incident(r, await _member_ids(conn, r["id"])) for r in rows]

    async def incident_of_alert(self, alert_id: int) -> int | None:
        async with self._tx() as conn:
            row = await _row(
                conn, "SELECT incident_id FROM incident_members WHERE alert_id = %s", (alert_id,)
            )
        return None if row is None else int(row["incident_id"])

    async def create_silence(self, silence: Silence) -> Silence:
        s = silence
        async with self._tx() as conn:
            row = await _one(
                conn,
                "INSERT INTO silences (organisation_id, home_id, device_id, starts_at, ends_at,"
                " reason, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (
                    s.organisation_id,
                    s.home_id,
                    s.device_id,
                    require_aware(s.starts_at),
                    require_aware(s.ends_at),
                    s.reason,
                    s.created_by,
                ),
                "silence not written",
            )
        return _silence(row)

    async def get_silence(self, silence_id: int) -> Silence:
        async with self._tx() as conn:
            row = await _one(
                conn,
                "SELECT * FROM silences WHERE id = %s",
                (silence_id,),
                f"no silence {silence_id}",
            )
        return _silence(row)

    async def list_silences(
        self, organisation_id: str | None, *, since: datetime | None = None, limit: int = 200
    ) -> list[Silence]:
        async with self._tx() as conn:
            rows = await _rows(
                conn,
                "SELECT * FROM silences WHERE (%(o)s::text IS NULL OR organisation_id = %(o)s)"
                " AND (%(s)s::timestamptz IS NULL OR least(ended_at, ends_at) >= %(s)s)"
                " ORDER BY id DESC LIMIT %(n)s",
                {"o": organisation_id, "s": since, "n": limit},
            )
        return [_silence(r) for r in rows]

    async def silences_at(self, home_id: str, at: datetime) -> list[Silence]:
        async with self._tx() as conn:
            rows = await _rows(
                conn,
                "SELECT * FROM silences WHERE home_id = %(h)s AND starts_at <= %(t)s"
                " AND ends_at > %(t)s AND (ended_at IS NULL OR ended_at > %(t)s)",
                {"h": home_id, "t": require_aware(at)},
            )
        return [_silence(r) for r in rows]

    async def end_silence(self, silence_id: int, at: datetime, actor: str | None) -> Silence:
        async with self._tx() as conn:
            await _one(
                conn,
                "SELECT 1 FROM silences WHERE id = %s",
                (silence_id,),
                f"no silence {silence_id}",
            )
            await conn.execute(
                "UPDATE silences SET ended_at = %s, ended_by = %s"
                " WHERE id = %s AND ended_at IS NULL AND ends_at > %s",
                (require_aware(at), actor, silence_id, at),
            )
        return await self.get_silence(silence_id)


def _no_silence(silence_id: int) -> str:
    return f"no silence {silence_id}"
