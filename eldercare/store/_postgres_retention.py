"""TimescaleDB backend, retention: ``drop_chunks`` on the readings and vitals
rollup hypertables (the Apache edition has no retention policies, so the service
calls it itself) and a DELETE of old dead letters."""

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
        rollups_before: datetime | None = None,
        dry_run: bool = False,
    ) -> PruneResult:
        chunks = await self._drop_chunks("readings", readings_before, dry_run)
        rollup_chunks = await self._drop_chunks("vitals_minute", rollups_before, dry_run)
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
        return PruneResult(chunks, None, dead, rollup_chunks, None)

    async def _drop_chunks(self, table: str, before: datetime | None, dry_run: bool) -> list[str]:
        if before is None:
            return []
        function = "show_chunks" if dry_run else "drop_chunks"
        async with self._auto() as conn:
            rows = await _rows(
                conn,
                f"SELECT {function}('{table}', older_than => %s)::text AS chunk",
                (require_aware(before),),
            )
        return [str(r["chunk"]) for r in rows]
