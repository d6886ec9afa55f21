"""TimescaleDB backend, retention: ``drop_chunks`` on the readings hypertable (the
Apache edition has no retention policies, so the service calls it itself) and a
DELETE of old dead letters."""

from __future__ import annotations

from datetime import datetime

from eldercare.store._common import require_aware
from eldercare.store._postgres_base import PostgresBase, _row, _rows
from eldercare.store._retention_sql import COUNT_DEAD_LETTERS_SQL, DELETE_DEAD_LETTERS_SQL
from eldercare.store.base import PruneResult


class PostgresRetention(PostgresBase):
    async def prune(
        self,
        readings_before: datetime | None,
        dead_letters_before: datetime | None,
        *,
        dry_run: bool = False,
    ) -> PruneResult:
        chunks: list[str] = []
        if readings_before is not None:
            function = "show_chunks" if dry_run else "drop_chunks"
            async with self._auto() as conn:
                rows = await _rows(
                    conn,
                    f"SELECT {function}('readings', older_than => %s)::text AS chunk",
                    (require_aware(readings_before),),
                )
            chunks = [str(r["chunk"]) for r in rows]
        dead = 0
        if dead_letters_before is not None:
            cutoff = (require_aware(dead_letters_before),)
            async with self._tx() as conn:
                if dry_run:
                    row = await _row(conn, COUNT_DEAD_LETTERS_SQL.replace("?", "%s"), cutoff)
                    dead = 0 if row is None else int(row["n"])
                else:
                    cur = await conn.execute(DELETE_DEAD_LETTERS_SQL.replace("?", "%s"), cutoff)
                    dead = cur.rowcount
        return PruneResult(chunks, None, dead)
