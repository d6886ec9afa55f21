"""TimescaleDB backend: a care centre's protocols and the handover's reads (Issue 15)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from eldercare.domain import TimelineEntry
from eldercare.store._common import require_aware
from eldercare.store._postgres_base import PostgresBase, _row, _rows, _timeline
from eldercare.store._protocols_sql import (
    DELETE_PROTOCOLS,
    GET_PROTOCOLS,
    SAVE_PROTOCOLS,
    StoredProtocols,
    timeline_window_sql,
)


class PostgresProtocols(PostgresBase):
    async def get_protocols(self, organisation_id: str) -> StoredProtocols | None:
        async with self._tx() as conn:
            row = await _row(conn, GET_PROTOCOLS.format(p="%s"), (organisation_id,))
        if row is None:
            return None
        return StoredProtocols(
            row["organisation_id"], row["document"], row["updated_at"], row["updated_by"]
        )

    async def save_protocols(
        self, organisation_id: str, document: dict[str, Any], at: datetime, actor: str | None
    ) -> None:
        params = (organisation_id, Jsonb(document), require_aware(at), actor)
        async with self._tx() as conn:
            await conn.execute(SAVE_PROTOCOLS.format(p="%s"), params)

    async def delete_protocols(self, organisation_id: str) -> bool:
        async with self._tx() as conn:
            cur = await conn.execute(DELETE_PROTOCOLS.format(p="%s"), (organisation_id,))
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
        sql = timeline_window_sql("%s", len(events), organisation_id is not None)
        params: list[Any] = [*events, require_aware(start), require_aware(end)]
        if organisation_id is not None:
            params.append(organisation_id)
        async with self._tx() as conn:
            return [_timeline(r) for r in await _rows(conn, sql, params)]
