"""What one number already received (``Store.list_sms_sent_to``), on SQLite and on
TimescaleDB: the SMS whose provider call began in the window, not calls, not
sends that never reached the provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eldercare.domain import AlertKind, Finding, Home, Severity
from eldercare.store import Store
from eldercare.store.base import EscalationSend, EscalationStep

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
CN, OTHER = "+8613800000001", "+8613800000002"


async def test_a_numbers_recent_sms_oldest_first(store: Store) -> None:
    await store.create_home(Home("h1", "Home"))
    change = await store.record_finding(
        Finding("h1", "r1", AlertKind.SOS, Severity.CRITICAL, T0, "k"), 600
    )
    assert change is not None
    aid = change.alert.id
    await store.add_steps([EscalationStep(aid, "s", 0, T0, "sms", "family_all", "none", "alert")])
    (step,) = await store.list_steps(aid)
    assert step.id is not None

    async def send(key: str, at_s: float, phone: str = CN, channel: str = "sms") -> None:
        at = T0 + timedelta(seconds=at_s)
        body = f"text {key}"
        s = EscalationSend(key, aid, step.id or 0, channel, "c1", "family", phone, "zh-CN", body)
        await store.plan_sends([s], at)
        assert await store.begin_send(key, at, None) == "send"
        await store.finish_send(key, "sent", at, provider_id=f"SM{key}", status="queued")

    await send("old", -7200)  # before the window
    await send("a", 0)
    await send("call", 10, channel="voice")  # a call is no SMS
    await send("b", 20)
    await send("elsewhere", 30, phone=OTHER)
    await send("c", 40)
    await store.finish_send("c", "failed", T0 + timedelta(seconds=41), error="refused")
    never = EscalationSend("planned", aid, step.id, "sms", "c1", "family", CN, "zh-CN", "x")
    await store.plan_sends([never], T0 + timedelta(seconds=50))  # planned, never begun

    got = await store.list_sms_sent_to(CN, T0 - timedelta(hours=1))
    assert [(s.key, s.body, s.alert_id) for s in got] == [
        ("a", "text a", aid),
        ("b", "text b", aid),
    ]
    assert [s.started_at for s in got] == [T0, T0 + timedelta(seconds=20)]
    assert await store.list_sms_sent_to(CN, T0 + timedelta(seconds=20)) == []
