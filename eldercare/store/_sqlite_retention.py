"""SQLite backend, retention: DELETE of old readings, vitals rollups and dead
letters (no chunks)."""

from __future__ import annotations

from datetime import datetime

from eldercare.store._retention_sql import COUNT_DEAD_LETTERS_SQL, DELETE_DEAD_LETTERS_SQL
from eldercare.store._sqlite_base import SQLiteBase, _ts
from eldercare.store.base import PruneResult

COUNT_READINGS_SQL = "SELECT count(*) AS n FROM readings WHERE ts < ?"
DELETE_READINGS_SQL = "DELETE FROM readings WHERE ts < ?"
COUNT_ROLLUPS_SQL = "SELECT count(*) AS n FROM vitals_minute WHERE minute < ?"
DELETE_ROLLUPS_SQL = "DELETE FROM vitals_minute WHERE minute < ?"


class SQLiteRetention(SQLiteBase):
    async def prune(
        self,
        readings_before: datetime | None,
        dead_letters_before: datetime | None,
        *,
        rollups_before: datetime | None = None,
        dry_run: bool = False,
    ) -> PruneResult:
        return await self._run(
            self._prune, readings_before, dead_letters_before, rollups_before, dry_run
        )

    def _prune(
        self,
        readings_before: datetime | None,
        dead_letters_before: datetime | None,
        rollups_before: datetime | None,
        dry_run: bool,
    ) -> PruneResult:
        with self._tx():
            rows = self._remove(readings_before, COUNT_READINGS_SQL, DELETE_READINGS_SQL, dry_run)
            rollups = self._remove(rollups_before, COUNT_ROLLUPS_SQL, DELETE_ROLLUPS_SQL, dry_run)
            dead = self._remove(
                dead_letters_before, COUNT_DEAD_LETTERS_SQL, DELETE_DEAD_LETTERS_SQL, dry_run
            )
        return PruneResult([], rows, dead, [], rollups)

    def _remove(self, cutoff: datetime | None, count_sql: str, delete_sql: str, dry: bool) -> int:
        if cutoff is None:
            return 0
        if dry:
            return int(self._conn.execute(count_sql, (_ts(cutoff),)).fetchone()[0])
        return int(self._conn.execute(delete_sql, (_ts(cutoff),)).rowcount)
