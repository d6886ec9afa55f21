"""TimescaleDB backend: resident records and the audit log (migrations 0016, 0017)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from eldercare.records import AuditEntry, AuditQuery, StoredRecord
from eldercare.store._common import require_aware
from eldercare.store._postgres_base import Conn, PostgresBase, _one, _row, _rows
from eldercare.store._records_sql import (
    ADD_AUDIT_SQL,
    GET_RECORD_SQL,
    PUT_RECORD_SQL,
    list_audit,
    resident_in_scope,
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _record(row: dict[str, Any]) -> StoredRecord:
    return StoredRecord(
        row["resident_id"], json.loads(row["record"]), row["updated_at"], row["updated_by"]
    )


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        at=row["at"],
        actor=row["actor"],
        address=row["address"],
        action=row["action"],
        target=row["target"],
        organisation_id=row["organisation_id"],
        details=json.loads(row["details"]),
        id=row["id"],
    )


async def _check_resident(conn: Conn, resident_id: str, organisation_id: str | None) -> None:
    sql, params = resident_in_scope(organisation_id)
    await _one(conn, sql, (resident_id, *params), f"no resident {resident_id!r}")


class PostgresRecords(PostgresBase):
    async def get_resident_record(
        self, resident_id: str, organisation_id: str | None = None
    ) -> StoredRecord | None:
        async with self._tx() as conn:
            await _check_resident(conn, resident_id, organisation_id)
            row = await _row(conn, GET_RECORD_SQL, (resident_id,))
        return None if row is None else _record(row)

    async def put_resident_record(self, stored: StoredRecord) -> StoredRecord:
        s = stored
        async with self._tx() as conn:
            await _check_resident(conn, s.resident_id, None)
            await conn.execute(
                PUT_RECORD_SQL,
                (s.resident_id, _json(s.record), require_aware(s.updated_at), s.updated_by),
            )
            row = await _row(conn, GET_RECORD_SQL, (s.resident_id,))
        assert row is not None, "the record was just written"
        return _record(row)

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        e = entry
        values = (e.organisation_id, require_aware(e.at), e.actor, e.address, e.action, e.target)
        async with self._tx() as conn:
            row = await _row(conn, ADD_AUDIT_SQL, (*values, _json(e.details)))
        assert row is not None, "INSERT ... RETURNING gives the row"
        return replace(e, id=int(row["id"]))

    async def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        sql, params = list_audit(query, require_aware)
        async with self._tx() as conn:
            rows = await _rows(conn, sql, params)
        return [_entry(r) for r in rows]
