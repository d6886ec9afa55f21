"""TimescaleDB backend, sign-in half: token revocation, the stored signing key,
and the Twilio webhooks already handled (migration 0008)."""

from __future__ import annotations

from datetime import datetime, timedelta

from eldercare.domain import User
from eldercare.store._common import SESSION_USER_SQL, require_aware
from eldercare.store._postgres_base import PostgresBase, _one, _row, _user
from eldercare.store.base import NotFound

_SECRET_SQL = (
    "WITH made AS (INSERT INTO service_secrets (name, value, created_at) VALUES (%s, %s, %s)"
    " ON CONFLICT (name) DO NOTHING RETURNING value)"
    " SELECT value FROM made UNION ALL SELECT value FROM service_secrets WHERE name = %s"
)


class PostgresAuth(PostgresBase):
    async def revoke_tokens(self, username: str) -> User:
        async with self._tx() as conn:
            row = await _row(
                conn,
                "UPDATE users SET token_version = token_version + 1 WHERE username = %s"
                " RETURNING *",
                (username,),
            )
        if row is None:
            raise NotFound(f"no user {username!r}")
        return _user(row)

    async def end_session(self, sid: str, username: str, at: datetime, until: datetime) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "DELETE FROM ended_sessions WHERE expires_at < %s", (require_aware(at),)
            )
            await conn.execute(
                "INSERT INTO ended_sessions (sid, username, ended_at, expires_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (sid) DO NOTHING",
                (sid, username, at, require_aware(until)),
            )

    async def get_session_user(self, username: str, sid: str) -> tuple[User, bool]:
        async with self._tx() as conn:
            row = await _one(conn, SESSION_USER_SQL, (sid, username), f"no user {username!r}")
        return _user(row), bool(row["session_ended"])

    async def get_or_create_secret(self, name: str, candidate: str, at: datetime) -> str:
        async with self._tx() as conn:
            row = await _row(conn, _SECRET_SQL, (name, candidate, require_aware(at), name))
        assert row is not None, "the secret was inserted or is there"
        return str(row["value"])

    async def claim_webhook(self, key: str, at: datetime, keep_s: float) -> bool:
        at = require_aware(at)
        async with self._tx() as conn:
            await conn.execute(
                "DELETE FROM webhook_receipts WHERE received_at < %s",
                (at - timedelta(seconds=keep_s),),
            )
            cur = await conn.execute(
                "INSERT INTO webhook_receipts (key, received_at) VALUES (%s, %s)"
                " ON CONFLICT (key) DO NOTHING",
                (key, at),
            )
            return cur.rowcount == 1

    async def release_webhook(self, key: str) -> None:
        async with self._tx() as conn:
            await conn.execute("DELETE FROM webhook_receipts WHERE key = %s", (key,))
