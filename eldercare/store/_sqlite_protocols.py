"""SQLite backend: a care centre's protocols and the handover's reads (Issue 15)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eldercare.domain import TimelineEntry
from eldercare.store._protocols_sql import (
    DELETE_PROTOCOLS,
    GET_PROTOCOLS,
    SAVE_PROTOCOLS,
    StoredProtocols,
    timeline_window_sql,
)
from eldercare.store._sqlite_base import SQLiteBase, _dt, _timeline, _ts


class SQLiteProtocols(SQLiteBase):
    async def get_protocols(self, organisation_id: str) -> StoredProtocols | None:
        sql = GET_PROTOCOLS.format(p="?")
        row = await self._run(lambda: self._conn.execute(sql, (organisation_id,)).fetchone())
        if row is None:
            return None
        return StoredProtocols(
            row["organisation_id"],
            json.loads(row["document"]),
            _dt(row["updated_at"]),
            row["updated_by"],
        )

    async def save_protocols(
        self, organisation_id: str, document: dict[str, Any], at: datetime, actor: str | None
    ) -> None:
        sql = SAVE_PROTOCOLS.format(p="?")
        params = (organisation_id, json.dumps(document, ensure_ascii=False), _ts(at), actor)
        await self._run(lambda: self._conn.execute(sql, params))

    async def delete_protocols(self, organisation_id: str) -> bool:
        sql = DELETE_PROTOCOLS.format(p="?")
        cur = await self._run(lambda: self._conn.execute(sql, (organisation_id,)))
        return cur.rowcount > 0

    async def list_timeline_window(
        self,
        events: Sequence[str],
        start: datetime,
        end: datetime,
        organisation_id: str | None = None,
    ) -> list[TimelineEntry]:
        if not events:
            return []
        sql = timeline_window_sql("?", len(events), organisation_id is not None)
        params: list[Any] = [*events, _ts(start), _ts(end)]
        if organisation_id is not None:
            params.append(organisation_id)
        rows = await self._run(lambda: self._conn.execute(sql, params).fetchall())
        return [_timeline(r) for r in rows]
