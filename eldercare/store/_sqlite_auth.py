"""SQLite backend, sign-in half: token revocation, the stored signing key, and
the Twilio webhooks already handled (migration 0008)."""

from __future__ import annotations

from datetime import datetime, timedelta

from eldercare.domain import User
from eldercare.store._common import SESSION_USER_SQL
from eldercare.store._sqlite_base import SQLiteBase, _ts, _user
from eldercare.store.base import NotFound

_SESSION_USER_SQL = SESSION_USER_SQL.replace("%s", "?")


class SQLiteAuth(SQLiteBase):
    async def revoke_tokens(self, username: str) -> User:
        return await self._run(self._revoke_tokens, username)

    def _revoke_tokens(self, username: str) -> User:
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE users SET token_version = token_version + 1 WHERE username = ? RETURNING *",
                (username,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no user {username!r}")
            return _user(row)

    async def end_session(self, sid: str, username: str, at: datetime, until: datetime) -> None:
        await self._run(self._end_session, sid, username, _ts(at), _ts(until))

    def _end_session(self, sid: str, username: str, at: str, until: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM ended_sessions WHERE expires_at < ?", (at,))
            conn.execute(
                "INSERT INTO ended_sessions (sid, username, ended_at, expires_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING",
                (sid, username, at, until),
            )

    async def get_session_user(self, username: str, sid: str) -> tuple[User, bool]:
        return await self._run(self._get_session_user, username, sid)

    def _get_session_user(self, username: str, sid: str) -> tuple[User, bool]:
        row = self._one(_SESSION_USER_SQL, (sid, username), f"no user {username!r}")
        return _user(row), bool(row["session_ended"])

    async def get_or_create_secret(self, name: str, candidate: str, at: datetime) -> str:
        return await self._run(self._get_or_create_secret, name, candidate, _ts(at))

    def _get_or_create_secret(self, name: str, candidate: str, at: str) -> str:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO service_secrets (name, value, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO NOTHING",
                (name, candidate, at),
            )
            (value,) = conn.execute(
                "SELECT value FROM service_secrets WHERE name = ?", (name,)
            ).fetchone()
            return str(value)

    async def claim_webhook(self, key: str, at: datetime, keep_s: float) -> bool:
        return await self._run(self._claim_webhook, key, at, keep_s)

    def _claim_webhook(self, key: str, at: datetime, keep_s: float) -> bool:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM webhook_receipts WHERE received_at < ?",
                (_ts(at - timedelta(seconds=keep_s)),),
            )
            cur = conn.execute(
                "INSERT INTO webhook_receipts (key, received_at) VALUES (?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, _ts(at)),
            )
            return cur.rowcount == 1

    async def release_webhook(self, key: str) -> None:
        await self._run(self._release_webhook, key)

    def _release_webhook(self, key: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM webhook_receipts WHERE key = ?", (key,))
