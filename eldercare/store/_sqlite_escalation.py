"""SQLite backend, escalation half: ladders, step rows, sends, stops, response times.

One service instance per SQLite file: ``BEGIN IMMEDIATE`` makes every claim and
every send decision atomic, which is all a single scheduler needs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from eldercare.domain import Alert, AlertKind, AlertStatus, Contact, Severity
from eldercare.store._common import (
    FIND_SEND_SQL,
    RESPONSES_IN_ORGANISATION_SQL,
    RESPONSES_SQL,
    SMS_SENT_TO_SQL,
)
from eldercare.store._sqlite_base import (
    ALERT_COLS,
    SQLiteBase,
    _alert,
    _contact,
    _dt,
    _opt_dt,
    _ts,
)
from eldercare.store.base import (
    AlertResponse,
    EscalationSend,
    EscalationStep,
    NotFound,
    SentSms,
)

QUOTA_WINDOW = timedelta(hours=1)
COUNTED = ("sending", "sent", "unknown")
"""Send states counted by the hourly SMS quota (the provider was, or may have been, called)."""

STEP_COLS = (
    "id, alert_id, name, round, due_at, action, target, unless_status, message,"
    " repeat_every_s, state, claimed_by, attempts"
)
SEND_COLS = (
    "key, alert_id, step_id, channel, recipient, recipient_kind, to_phone, language, body,"
    " contact_id, state, quota, provider_id, status, error, updated_at"
)


def _step(r: sqlite3.Row) -> EscalationStep:
    return EscalationStep(
        alert_id=r["alert_id"],
        name=r["name"],
        round=r["round"],
        due_at=_dt(r["due_at"]),
        action=r["action"],
        target=r["target"],
        unless=r["unless_status"],
        message=r["message"],
        repeat_every_s=r["repeat_every_s"],
        state=r["state"],
        id=r["id"],
        claimed_by=r["claimed_by"],
        attempts=r["attempts"],
    )


def _send(r: sqlite3.Row) -> EscalationSend:
    return EscalationSend(
        key=r["key"],
        alert_id=r["alert_id"],
        step_id=r["step_id"],
        channel=r["channel"],
        recipient=r["recipient"],
        recipient_kind=r["recipient_kind"],
        to_phone=r["to_phone"],
        language=r["language"],
        body=r["body"],
        contact_id=r["contact_id"],
        state=r["state"],
        quota=r["quota"],
        provider_id=r["provider_id"],
        status=r["status"],
        error=r["error"],
        updated_at=_opt_dt(r["updated_at"]),
    )


def _step_params(s: EscalationStep) -> tuple[object, ...]:
    return (
        s.alert_id,
        s.name,
        s.round,
        _ts(s.due_at),
        s.action,
        s.target,
        s.unless,
        s.message,
        s.repeat_every_s,
    )


INSERT_STEP = (
    "INSERT OR IGNORE INTO escalation_steps (alert_id, name, round, due_at, action, target,"
    " unless_status, message, repeat_every_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteEscalation(SQLiteBase):
    async def schedule_ladder(
        self, alert_id: int, severity: Severity, steps: Sequence[EscalationStep], at: datetime
    ) -> bool:
        return await self._run(self._schedule_ladder, alert_id, severity, steps, at)

    def _schedule_ladder(
        self, alert_id: int, severity: Severity, steps: Sequence[EscalationStep], at: datetime
    ) -> bool:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT severity FROM escalation_ladders WHERE alert_id = ?", (alert_id,)
            ).fetchone()
            if row is not None:
                if Severity(row["severity"]).rank <= severity.rank:
                    return False
                conn.execute(
                    "UPDATE escalation_ladders SET severity = ?, scheduled_at = ?"
                    " WHERE alert_id = ?",
                    (severity.value, _ts(at), alert_id),
                )
                conn.execute(
                    "UPDATE escalation_steps SET state = 'cancelled', finished_at = ?"
                    " WHERE alert_id = ? AND state = 'pending'",
                    (_ts(at), alert_id),
                )
            else:
                conn.execute(
                    "INSERT INTO escalation_ladders (alert_id, severity, scheduled_at)"
                    " VALUES (?, ?, ?)",
                    (alert_id, severity.value, _ts(at)),
                )
            conn.executemany(INSERT_STEP, [_step_params(s) for s in steps])
            return True

    async def add_steps(self, steps: Sequence[EscalationStep]) -> int:
        if not steps:
            return 0
        return await self._run(self._add_steps, steps)

    def _add_steps(self, steps: Sequence[EscalationStep]) -> int:
        with self._tx() as conn:
            before = conn.total_changes
            conn.executemany(INSERT_STEP, [_step_params(s) for s in steps])
            return conn.total_changes - before

    async def claim_due_steps(
        self, now: datetime, worker: str, limit: int, lease_s: float
    ) -> list[EscalationStep]:
        return await self._run(self._claim_due_steps, now, worker, limit, lease_s)

    def _claim_due_steps(
        self, now: datetime, worker: str, limit: int, lease_s: float
    ) -> list[EscalationStep]:
        t = _ts(now)
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {STEP_COLS} FROM escalation_steps WHERE state IN ('pending', 'claimed')"
                " AND due_at <= ? AND (state = 'pending' OR claimed_until <= ?)"
                " ORDER BY due_at, id LIMIT ?",
                (t, t, max(limit, 0)),
            ).fetchall()
            ids = [r["id"] for r in rows]
            conn.executemany(
                "UPDATE escalation_steps SET state = 'claimed', claimed_by = ?,"
                " claimed_until = ?, attempts = attempts + 1 WHERE id = ?",
                [(worker, _ts(now + timedelta(seconds=lease_s)), i) for i in ids],
            )
            if not ids:
                return []
            marks = ", ".join("?" for _ in ids)
            claimed = conn.execute(
                f"SELECT {STEP_COLS} FROM escalation_steps WHERE id IN ({marks})"
                " ORDER BY due_at, id",
                ids,
            ).fetchall()
            return [_step(r) for r in claimed]

    async def finish_step(self, step_id: int, state: str, at: datetime) -> None:
        await self._run(self._finish_step, step_id, state, at)

    def _finish_step(self, step_id: int, state: str, at: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE escalation_steps SET state = ?, finished_at = ?, claimed_until = NULL"
                " WHERE id = ? AND state IN ('pending', 'claimed')",
                (state, _ts(at), step_id),
            )

    async def cancel_steps(self, alert_id: int, unless: Sequence[str] | None, at: datetime) -> int:
        return await self._run(self._cancel_steps, alert_id, unless, at)

    def _cancel_steps(self, alert_id: int, unless: Sequence[str] | None, at: datetime) -> int:
        sql = (
            "UPDATE escalation_steps SET state = 'cancelled', finished_at = ?"
            " WHERE alert_id = ? AND state = 'pending'"
        )
        params: list[object] = [_ts(at), alert_id]
        if unless is not None:
            if not unless:
                return 0
            sql += f" AND unless_status IN ({', '.join('?' for _ in unless)})"
            params.extend(unless)
        with self._tx() as conn:
            return conn.execute(sql, params).rowcount

    async def list_steps(self, alert_id: int) -> list[EscalationStep]:
        sql = f"SELECT {STEP_COLS} FROM escalation_steps WHERE alert_id = ? ORDER BY due_at, id"
        rows = await self._run(lambda: self._conn.execute(sql, (alert_id,)).fetchall())
        return [_step(r) for r in rows]

    async def get_step(self, step_id: int) -> EscalationStep:
        sql = f"SELECT {STEP_COLS} FROM escalation_steps WHERE id = ?"
        return _step(await self._run(self._one, sql, (step_id,), f"no escalation step {step_id}"))

    async def plan_sends(
        self, sends: Sequence[EscalationSend], at: datetime
    ) -> list[EscalationSend]:
        if not sends:
            return []
        return await self._run(self._plan_sends, sends, at)

    def _plan_sends(self, sends: Sequence[EscalationSend], at: datetime) -> list[EscalationSend]:
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO escalation_sends (key, alert_id, step_id, channel,"
                " recipient, recipient_kind, to_phone, language, body, contact_id, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.key,
                        s.alert_id,
                        s.step_id,
                        s.channel,
                        s.recipient,
                        s.recipient_kind,
                        s.to_phone,
                        s.language,
                        s.body,
                        s.contact_id,
                        _ts(at),
                    )
                    for s in sends
                ],
            )
            marks = ", ".join("?" for _ in sends)
            rows = conn.execute(
                f"SELECT {SEND_COLS} FROM escalation_sends WHERE key IN ({marks})",
                [s.key for s in sends],
            ).fetchall()
        by_key = {r["key"]: _send(r) for r in rows}
        return [by_key[s.key] for s in sends]

    async def begin_send(self, key: str, at: datetime, sms_quota_per_hour: int | None) -> str:
        return await self._run(self._begin_send, key, at, sms_quota_per_hour)

    def _begin_send(self, key: str, at: datetime, quota: int | None) -> str:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT channel, to_phone, state FROM escalation_sends WHERE key = ?", (key,)
            ).fetchone()
            if row is None or row["state"] != "planned":
                return "skip"
            decision, mark = "send", "normal"
            if row["channel"] == "sms" and quota is not None:
                since = _ts(at - QUOTA_WINDOW)
                counts = conn.execute(
                    "SELECT quota, count(*) AS n FROM escalation_sends WHERE to_phone = ?"
                    " AND channel = 'sms' AND started_at > ? AND state IN (?, ?, ?)"
                    " GROUP BY quota",
                    (row["to_phone"], since, *COUNTED),
                ).fetchall()
                n = {r["quota"]: r["n"] for r in counts}
                if n.get("normal", 0) >= quota:
                    decision = mark = "summary" if n.get("summary", 0) == 0 else "suppressed"
            state = "suppressed" if decision == "suppressed" else "sending"
            conn.execute(
                "UPDATE escalation_sends SET state = ?, quota = ?, started_at = ?, updated_at = ?"
                " WHERE key = ?",
                (state, mark, _ts(at), _ts(at), key),
            )
            return decision

    async def finish_send(
        self,
        key: str,
        state: str,
        at: datetime,
        *,
        provider_id: str | None = None,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        await self._run(self._finish_send, key, state, at, provider_id, status, error)

    def _finish_send(
        self,
        key: str,
        state: str,
        at: datetime,
        provider_id: str | None,
        status: str | None,
        error: str | None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE escalation_sends SET state = ?, provider_id = COALESCE(?, provider_id),"
                " status = COALESCE(?, status), error = COALESCE(?, error), updated_at = ?"
                " WHERE key = ?",
                (state, provider_id, status, error, _ts(at), key),
            )

    async def record_delivery(
        self, provider_id: str, status: str, at: datetime
    ) -> EscalationSend | None:
        return await self._run(self._record_delivery, provider_id, status, at)

    def _record_delivery(
        self, provider_id: str, status: str, at: datetime
    ) -> EscalationSend | None:
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {SEND_COLS} FROM escalation_sends WHERE provider_id = ?"
                " ORDER BY seq DESC LIMIT 1",
                (provider_id,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE escalation_sends SET status = ?, updated_at = ? WHERE key = ?",
                (status, _ts(at), row["key"]),
            )
            return _send(
                conn.execute(
                    f"SELECT {SEND_COLS} FROM escalation_sends WHERE key = ?", (row["key"],)
                ).fetchone()
            )

    async def list_sends(self, alert_id: int) -> list[EscalationSend]:
        sql = f"SELECT {SEND_COLS} FROM escalation_sends WHERE alert_id = ? ORDER BY seq"
        rows = await self._run(lambda: self._conn.execute(sql, (alert_id,)).fetchall())
        return [_send(r) for r in rows]

    async def find_send(self, provider_id: str) -> EscalationSend | None:
        sql = FIND_SEND_SQL.format(cols=SEND_COLS)
        row = await self._run(lambda: self._conn.execute(sql, (provider_id,)).fetchone())
        return None if row is None else _send(row)

    async def list_sms_sent_to(self, phone: str, since: datetime) -> list[SentSms]:
        params = (phone, _ts(since), *COUNTED)
        rows = await self._run(lambda: self._conn.execute(SMS_SENT_TO_SQL, params).fetchall())
        return [SentSms(r["key"], r["alert_id"], r["body"], _dt(r["started_at"])) for r in rows]

    async def add_escalation_stop(self, alert_id: int, recipient: str, at: datetime) -> None:
        await self._run(self._add_stop, alert_id, recipient, at)

    def _add_stop(self, alert_id: int, recipient: str, at: datetime) -> None:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is None:
                raise NotFound(f"no alert {alert_id}")
            conn.execute(
                "INSERT OR IGNORE INTO escalation_stops (alert_id, recipient, at) VALUES (?, ?, ?)",
                (alert_id, recipient, _ts(at)),
            )

    async def list_escalation_stops(self, alert_id: int) -> set[str]:
        sql = "SELECT recipient FROM escalation_stops WHERE alert_id = ?"
        rows = await self._run(lambda: self._conn.execute(sql, (alert_id,)).fetchall())
        return {r["recipient"] for r in rows}

    async def find_contacts_by_phone(self, phone: str) -> list[Contact]:
        sql = "SELECT * FROM contacts WHERE phone = ? ORDER BY home_id, priority, id"
        rows = await self._run(lambda: self._conn.execute(sql, (phone,)).fetchall())
        return [_contact(r) for r in rows]

    async def list_alerts_without_ladder(self, limit: int) -> list[Alert]:
        sql = (
            f"SELECT {ALERT_COLS} FROM alerts a WHERE status <> 'resolved' AND NOT EXISTS"
            " (SELECT 1 FROM escalation_ladders l WHERE l.alert_id = a.id) ORDER BY id LIMIT ?"
        )
        rows = await self._run(lambda: self._conn.execute(sql, (max(limit, 0),)).fetchall())
        return [_alert(r) for r in rows]

    async def list_alert_responses(
        self, since: datetime, until: datetime, organisation_id: str | None = None
    ) -> list[AlertResponse]:
        query = RESPONSES_SQL if organisation_id is None else RESPONSES_IN_ORGANISATION_SQL
        params = (_ts(since), _ts(until), *([] if organisation_id is None else [organisation_id]))
        rows = await self._run(lambda: self._conn.execute(query, params).fetchall())
        return [
            AlertResponse(
                alert_id=r["id"],
                kind=AlertKind(r["kind"]),
                severity=Severity(r["severity"]),
                status=AlertStatus(r["status"]),
                raised_at=_dt(r["raised_at"]),
                response_deadline=_dt(r["response_deadline"]),
                acknowledged_at=_opt_dt(r["acknowledged_at"]),
                on_site_at=_opt_dt(r["on_site_at"]),
                resolved_at=_opt_dt(r["resolved_at"]),
                breached=bool(r["breached"]),
            )
            for r in rows
        ]
