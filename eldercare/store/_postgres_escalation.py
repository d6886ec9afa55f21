"""TimescaleDB backend, escalation half: ladders, step rows, sends, stops, response times.

Several service instances may share the database: due steps are claimed with
``FOR UPDATE SKIP LOCKED`` (each claimed by one instance only), a send moves
from ``planned`` to ``sending`` by compare-and-set (only one caller ever calls
the provider for a key), and the hourly SMS quota of one phone is decided under
a transaction-scoped advisory lock on that phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from eldercare.domain import Alert, AlertKind, AlertStatus, Contact, Severity
from eldercare.store._common import (
    FIND_SEND_SQL,
    RESPONSES_IN_ORGANISATION_SQL,
    RESPONSES_SQL,
    SMS_SENT_TO_SQL,
)
from eldercare.store._postgres_base import (
    ALERT_COLS,
    PostgresBase,
    Row,
    _alert,
    _contact,
    _one,
    _row,
    _rows,
)
from eldercare.store._sqlite_escalation import COUNTED, QUOTA_WINDOW, SEND_COLS, STEP_COLS
from eldercare.store.base import (
    AlertResponse,
    EscalationSend,
    EscalationStep,
    NotFound,
    SentSms,
)


def _step(r: Row) -> EscalationStep:
    return EscalationStep(
        alert_id=r["alert_id"],
        name=r["name"],
        round=r["round"],
        due_at=r["due_at"],
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


def _send(r: Row) -> EscalationSend:
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
        updated_at=r["updated_at"],
    )


def _step_params(s: EscalationStep) -> tuple[object, ...]:
    return (
        s.alert_id,
        s.name,
        s.round,
        s.due_at,
        s.action,
        s.target,
        s.unless,
        s.message,
        s.repeat_every_s,
    )


INSERT_STEP = (
    "INSERT INTO escalation_steps (alert_id, name, round, due_at, action, target,"
    " unless_status, message, repeat_every_s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (alert_id, name, round) DO NOTHING"
)

PLAN_SENDS = f"""
WITH planned AS (
    INSERT INTO escalation_sends (key, alert_id, step_id, channel, recipient,
        recipient_kind, to_phone, language, body, contact_id, updated_at)
    SELECT *, %(at)s FROM unnest(%(key)s::text[], %(alert)s::bigint[], %(step)s::bigint[],
        %(channel)s::text[], %(recipient)s::text[], %(kind)s::text[], %(phone)s::text[],
        %(language)s::text[], %(body)s::text[], %(contact)s::bigint[])
    ON CONFLICT (key) DO NOTHING
    RETURNING {SEND_COLS}
)
SELECT {SEND_COLS} FROM planned
UNION ALL
SELECT {SEND_COLS} FROM escalation_sends
WHERE key = ANY(%(key)s::text[]) AND key NOT IN (SELECT key FROM planned)
"""

CLAIM = f"""
UPDATE escalation_steps s SET state = 'claimed', claimed_by = %(worker)s,
    claimed_until = %(until)s, attempts = s.attempts + 1
FROM (SELECT id FROM escalation_steps
      WHERE state IN ('pending', 'claimed') AND due_at <= %(now)s
        AND (state = 'pending' OR claimed_until <= %(now)s)
      ORDER BY due_at, id LIMIT %(limit)s
      FOR UPDATE SKIP LOCKED) due
WHERE s.id = due.id
RETURNING {", ".join("s." + c.strip() for c in STEP_COLS.split(","))}
"""


class PostgresEscalation(PostgresBase):
    async def schedule_ladder(
        self, alert_id: int, severity: Severity, steps: Sequence[EscalationStep], at: datetime
    ) -> bool:
        # One round trip (migration 0005): on the path from a new alert to its first SMS.
        async with self._auto() as conn:
            row = await _row(
                conn,
                "SELECT eldercare_schedule_ladder(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " AS written",
                (
                    alert_id,
                    severity.value,
                    at,
                    [s.name for s in steps],
                    [s.round for s in steps],
                    [s.due_at for s in steps],
                    [s.action for s in steps],
                    [s.target for s in steps],
                    [s.unless for s in steps],
                    [s.message for s in steps],
                    [s.repeat_every_s for s in steps],
                ),
            )
        assert row is not None
        return bool(row["written"])

    async def add_steps(self, steps: Sequence[EscalationStep]) -> int:
        added = 0
        if not steps:
            return added
        async with self._tx() as conn:
            for s in steps:
                cur = await conn.execute(INSERT_STEP, _step_params(s))
                added += max(cur.rowcount, 0)
        return added

    async def claim_due_steps(
        self, now: datetime, worker: str, limit: int, lease_s: float
    ) -> list[EscalationStep]:
        params = {
            "worker": worker,
            "until": now + timedelta(seconds=lease_s),
            "now": now,
            "limit": max(limit, 0),
        }
        async with self._auto() as conn:  # one statement
            rows = await _rows(conn, CLAIM, params)
        return sorted((_step(r) for r in rows), key=lambda s: (s.due_at, s.id or 0))

    async def finish_step(self, step_id: int, state: str, at: datetime) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE escalation_steps SET state = %s, finished_at = %s, claimed_until = NULL"
                " WHERE id = %s AND state IN ('pending', 'claimed')",
                (state, at, step_id),
            )

    async def cancel_steps(self, alert_id: int, unless: Sequence[str] | None, at: datetime) -> int:
        query = (
            "UPDATE escalation_steps SET state = 'cancelled', finished_at = %s"
            " WHERE alert_id = %s AND state = 'pending'"
        )
        params: list[object] = [at, alert_id]
        if unless is not None:
            if not unless:
                return 0
            query += " AND unless_status = ANY(%s)"
            params.append(list(unless))
        async with self._tx() as conn:
            cur = await conn.execute(query, params)
            return cur.rowcount

    async def list_steps(self, alert_id: int) -> list[EscalationStep]:
        query = f"SELECT {STEP_COLS} FROM escalation_steps WHERE alert_id = %s ORDER BY due_at, id"
        async with self._tx() as conn:
            return [_step(r) for r in await _rows(conn, query, (alert_id,))]

    async def get_step(self, step_id: int) -> EscalationStep:
        query = f"SELECT {STEP_COLS} FROM escalation_steps WHERE id = %s"
        async with self._tx() as conn:
            return _step(await _one(conn, query, (step_id,), f"no escalation step {step_id}"))

    async def plan_sends(
        self, sends: Sequence[EscalationSend], at: datetime
    ) -> list[EscalationSend]:
        if not sends:
            return []
        # One statement: the new rows from the INSERT, the existing ones (a step run
        # again) from the table as it was before it.
        async with self._auto() as conn:
            rows = await _rows(
                conn,
                PLAN_SENDS,
                {
                    "key": [s.key for s in sends],
                    "alert": [s.alert_id for s in sends],
                    "step": [s.step_id for s in sends],
                    "channel": [s.channel for s in sends],
                    "recipient": [s.recipient for s in sends],
                    "kind": [s.recipient_kind for s in sends],
                    "phone": [s.to_phone for s in sends],
                    "language": [s.language for s in sends],
                    "body": [s.body for s in sends],
                    "contact": [s.contact_id for s in sends],
                    "at": at,
                },
            )
        by_key = {r["key"]: _send(r) for r in rows}
        missing = [s.key for s in sends if s.key not in by_key]
        if missing:  # planned meanwhile by another instance, after the statement began
            query = f"SELECT {SEND_COLS} FROM escalation_sends WHERE key = ANY(%s)"
            async with self._auto() as conn:
                by_key |= {r["key"]: _send(r) for r in await _rows(conn, query, (missing,))}
        return [by_key[s.key] for s in sends]

    async def begin_send(self, key: str, at: datetime, sms_quota_per_hour: int | None) -> str:
        # One round trip (migration 0005): on the path from a new alert to its first SMS.
        async with self._auto() as conn:
            row = await _row(
                conn,
                "SELECT eldercare_begin_send(%s, %s, %s, %s, %s) AS decision",
                (key, at, sms_quota_per_hour, at - QUOTA_WINDOW, list(COUNTED)),
            )
        assert row is not None
        return str(row["decision"])

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
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE escalation_sends SET state = %s,"
                " provider_id = COALESCE(%s, provider_id), status = COALESCE(%s, status),"
                " error = COALESCE(%s, error), updated_at = %s WHERE key = %s",
                (state, provider_id, status, error, at, key),
            )

    async def record_delivery(
        self, provider_id: str, status: str, at: datetime
    ) -> EscalationSend | None:
        async with self._tx() as conn:
            row = await _row(
                conn,
                f"UPDATE escalation_sends SET status = %s, updated_at = %s WHERE seq ="
                " (SELECT seq FROM escalation_sends WHERE provider_id = %s"
                f" ORDER BY seq DESC LIMIT 1) RETURNING {SEND_COLS}",
                (status, at, provider_id),
            )
        return None if row is None else _send(row)

    async def list_sends(self, alert_id: int) -> list[EscalationSend]:
        query = f"SELECT {SEND_COLS} FROM escalation_sends WHERE alert_id = %s ORDER BY seq"
        async with self._tx() as conn:
            return [_send(r) for r in await _rows(conn, query, (alert_id,))]

    async def add_escalation_stop(self, alert_id: int, recipient: str, at: datetime) -> None:
        async with self._tx() as conn:
            if await _row(conn, "SELECT 1 FROM alerts WHERE id = %s", (alert_id,)) is None:
                raise NotFound(f"no alert {alert_id}")
            await conn.execute(
                "INSERT INTO escalation_stops (alert_id, recipient, at) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (alert_id, recipient, at),
            )

    async def find_send(self, provider_id: str) -> EscalationSend | None:
        query = FIND_SEND_SQL.format(cols=SEND_COLS).replace("?", "%s")
        async with self._auto() as conn:
            row = await _row(conn, query, (provider_id,))
        return None if row is None else _send(row)

    async def list_sms_sent_to(self, phone: str, since: datetime) -> list[SentSms]:
        query = SMS_SENT_TO_SQL.replace("?", "%s")
        async with self._auto() as conn:
            rows = await _rows(conn, query, (phone, since, *COUNTED))
        return [SentSms(r["key"], r["alert_id"], r["body"], r["started_at"]) for r in rows]

    async def list_escalation_stops(self, alert_id: int) -> set[str]:
        query = "SELECT recipient FROM escalation_stops WHERE alert_id = %s"
        async with self._auto() as conn:
            return {r["recipient"] for r in await _rows(conn, query, (alert_id,))}

    async def find_contacts_by_phone(self, phone: str) -> list[Contact]:
        query = "SELECT * FROM contacts WHERE phone = %s ORDER BY home_id, priority, id"
        async with self._tx() as conn:
            return [_contact(r) for r in await _rows(conn, query, (phone,))]

    async def list_alerts_without_ladder(self, limit: int) -> list[Alert]:
        query = (
            f"SELECT {ALERT_COLS} FROM alerts a WHERE status <> 'resolved' AND NOT EXISTS"
            " (SELECT 1 FROM escalation_ladders l WHERE l.alert_id = a.id) ORDER BY id LIMIT %s"
        )
        async with self._tx() as conn:
            return [_alert(r) for r in await _rows(conn, query, (max(limit, 0),))]

    async def list_alert_responses(
        self, since: datetime, until: datetime, organisation_id: str | None = None
    ) -> list[AlertResponse]:
        query = RESPONSES_SQL if organisation_id is None else RESPONSES_IN_ORGANISATION_SQL
        params = (since, until, *([] if organisation_id is None else [organisation_id]))
        async with self._tx() as conn:
            rows = await _rows(conn, query.replace("?", "%s"), params)
        return [
            AlertResponse(
                alert_id=r["id"],
                kind=AlertKind(r["kind"]),
                severity=Severity(r["severity"]),
                status=AlertStatus(r["status"]),
                raised_at=r["raised_at"],
                response_deadline=r["response_deadline"],
                acknowledged_at=r["acknowledged_at"],
                on_site_at=r["on_site_at"],
                resolved_at=r["resolved_at"],
                breached=bool(r["breached"]),
            )
            for r in rows
        ]
