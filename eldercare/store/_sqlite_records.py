"""SQLite backend: resident records and the audit log (migrations 0016, 0017)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Any

from eldercare.records import AuditEntry, AuditQuery, StoredRecord
from eldercare.store._records_sql import (
    ADD_AUDIT_SQL,
    GET_RECORD_SQL,
    PUT_RECORD_SQL,
    list_audit,
    resident_in_scope,
)
from eldercare.store._sqlite_base import SQLiteBase, _dt, _json, _ts


def _q(sql: str) -> str:
    return sql.replace("%s", "?")


def _record(row: sqlite3.Row) -> StoredRecord:
    return StoredRecord(
        row["resident_id"], json.loads(row["record"]), _dt(row["updated_at"]), row["updated_by"]
    )


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        at=_dt(row["at"]),
        actor=row["actor"],
        address=row["address"],
        action=row["action"],
        target=row["target"],
        organisation_id=row["organisation_id"],
        details=json.loads(row["details"]),
        id=row["id"],
    )


class SQLiteRecords(SQLiteBase):
    def _check_resident(self, resident_id: str, organisation_id: str | None) -> None:
        sql, params = resident_in_scope(organisation_id)
        self._one(_q(sql), (resident_id, *params), f"no resident {resident_id!r}")

    async def get_resident_record(
        self, resident_id: str, organisation_id: str | None = None
    ) -> StoredRecord | None:
        return await self._run(self._get_resident_record, resident_id, organisation_id)

    def _get_resident_record(
        self, resident_id: str, organisation_id: str | None
    ) -> StoredRecord | None:
        self._check_resident(resident_id, organisation_id)
        row = self._conn.execute(_q(GET_RECORD_SQL), (resident_id,)).fetchone()
        return None if row is None else _record(row)

    async def put_resident_record(self, stored: StoredRecord) -> StoredRecord:
        return await self._run(self._put_resident_record, stored)

    def _put_resident_record(self, s: StoredRecord) -> StoredRecord:
        with self._tx() as conn:
            self._check_resident(s.resident_id, None)
            conn.execute(
                _q(PUT_RECORD_SQL),
                (s.resident_id, _json(s.record), _ts(s.updated_at), s.updated_by),
            )
            row = conn.execute(_q(GET_RECORD_SQL), (s.resident_id,)).fetchone()
            return _record(row)

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        return await self._run(self._add_audit, entry)

    def _add_audit(self, e: AuditEntry) -> AuditEntry:
        values = (e.organisation_id, _ts(e.at), e.actor, e.address, e.action, e.target)
        with self._tx() as conn:
            (new_id,) = conn.execute(_q(ADD_AUDIT_SQL), (*values, _json(e.details))).fetchone()
        return replace(e, id=int(new_id))

    async def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._run(self._list_audit, query)

    def _list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        sql, params = list_audit(query, _ts)
        rows: list[Any] = self._conn.execute(_q(sql), params).fetchall()
        return [_entry(r) for r in rows]
