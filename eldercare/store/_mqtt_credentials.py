"""Both backends, broker accounts (``eldercare broker-config``): one statement
set for both, ``?`` placeholders (PostgreSQL's half swaps in ``%s``)."""

from __future__ import annotations

from collections.abc import Sequence

from eldercare.store._common import require_aware
from eldercare.store._postgres_base import PostgresBase, _rows
from eldercare.store._sqlite_base import SQLiteBase, _dt, _ts
from eldercare.store.base import MqttCredential

LIST_SQL = (
    "SELECT username, role, password_hash, created_at FROM mqtt_credentials ORDER BY username"
)
UPSERT_SQL = (
    "INSERT INTO mqtt_credentials (username, role, password_hash, created_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET role = excluded.role,"
    " password_hash = excluded.password_hash, created_at = excluded.created_at"
)
DELETE_SQL = "DELETE FROM mqtt_credentials WHERE username = ?"


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class SQLiteMqttCredentials(SQLiteBase):
    async def list_mqtt_credentials(self) -> list[MqttCredential]:
        rows = await self._run(lambda: self._conn.execute(LIST_SQL).fetchall())
        return [
            MqttCredential(r["username"], r["role"], r["password_hash"], _dt(r["created_at"]))
            for r in rows
        ]

    async def save_mqtt_credentials(
        self, save: Sequence[MqttCredential], delete: Sequence[str] = ()
    ) -> None:
        await self._run(self._save_mqtt_credentials, save, delete)

    def _save_mqtt_credentials(self, save: Sequence[MqttCredential], delete: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.executemany(DELETE_SQL, [(name,) for name in delete])
            conn.executemany(
                UPSERT_SQL,
                [(c.username, c.role, c.password_hash, _ts(c.created_at)) for c in save],
            )


class PostgresMqttCredentials(PostgresBase):
    async def list_mqtt_credentials(self) -> list[MqttCredential]:
        async with self._tx() as conn:
            rows = await _rows(conn, LIST_SQL)
        return [
            MqttCredential(r["username"], r["role"], r["password_hash"], r["created_at"])
            for r in rows
        ]

    async def save_mqtt_credentials(
        self, save: Sequence[MqttCredential], delete: Sequence[str] = ()
    ) -> None:
        async with self._tx() as conn, conn.cursor() as cur:
            if delete:
                await cur.executemany(_pg(DELETE_SQL), [(name,) for name in delete])
            if save:
                await cur.executemany(
                    _pg(UPSERT_SQL),
                    [
                        (c.username, c.role, c.password_hash, require_aware(c.created_at))
                        for c in save
                    ],
                )
