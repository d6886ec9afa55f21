"""Store contract for escalation: ladders, claims, sends and their idempotency
keys, quotas, stops and response times, on SQLite and on TimescaleDB."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from eldercare.domain import AlertKind, AlertStatus, Finding, Home, Severity, TimelineEntry
from eldercare.store import StatusUpdate, Store
from eldercare.store.base import EscalationSend, EscalationStep, NotFound

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


async def alert_id(store: Store, kind: AlertKind = AlertKind.SOS) -> int:
    if not await store.list_homes():
        await store.create_home(Home("h1", "Home"))
    change = await store.record_finding(
        Finding("h1", "r1", kind, Severity.CRITICAL, T0, f"k-{kind}"), 600
    )
    assert change is not None
    return change.alert.id


def step(aid: int, name: str, after_s: float, unless: str = "acknowledged") -> EscalationStep:
    return EscalationStep(
        aid, name, 0, T0 + timedelta(seconds=after_s), "sms", "family_all", unless, "alert"
    )


def send(aid: int, step_id: int, key: str, phone: str = "+8613800000001") -> EscalationSend:
    return EscalationSend(key, aid, step_id, "sms", "c1", "family", phone, "zh-CN", "hello", 1)


async def test_a_ladder_is_given_once_and_a_worse_severity_replaces_it(store: Store) -> None:
    aid = await alert_id(store)
    steps = [step(aid, "high.a", 0), step(aid, "high.b", 60)]
    assert await store.schedule_ladder(aid, Severity.HIGH, steps, T0)
    assert not await store.schedule_ladder(aid, Severity.HIGH, steps, T0)
    assert not await store.schedule_ladder(aid, Severity.WARNING, [step(aid, "w", 0)], T0)
    assert await store.schedule_ladder(aid, Severity.CRITICAL, [step(aid, "critical.a", 0)], T0)
    states = {s.name: s.state for s in await store.list_steps(aid)}
    assert states == {"high.a": "cancelled", "high.b": "cancelled", "critical.a": "pending"}
    assert await store.list_alerts_without_ladder(10) == []
    other = await alert_id(store, AlertKind.FALL)
    assert [a.id for a in await store.list_alerts_without_ladder(10)] == [other]


async def test_due_steps_are_claimed_once_until_the_lease_ends(store: Store) -> None:
    aid = await alert_id(store)
    await store.schedule_ladder(aid, Severity.CRITICAL, [step(aid, "a", 0), step(aid, "b", 60)], T0)
    first = await store.claim_due_steps(T0, "w1", 10, 30)
    assert [(s.name, s.claimed_by, s.attempts) for s in first] == [("a", "w1", 1)]
    assert await store.claim_due_steps(T0 + timedelta(seconds=20), "w2", 10, 30) == []
    later = await store.claim_due_steps(T0 + timedelta(seconds=60), "w2", 10, 30)
    assert [(s.name, s.claimed_by, s.attempts) for s in later] == [("a", "w2", 2), ("b", "w2", 1)]
    assert first[0].id is not None
    await store.finish_step(first[0].id, "done", T0)
    resumed = await store.claim_due_steps(T0 + timedelta(hours=1), "w3", 10, 30)
    assert [(s.name, s.attempts) for s in resumed] == [("b", 2)]  # a is done; b's lease ended
    assert (await store.get_step(first[0].id)).state == "done"
    with pytest.raises(NotFound):
        await store.get_step(999_999)


async def test_concurrent_claims_never_share_a_step(store: Store) -> None:
    aid = await alert_id(store)
    await store.schedule_ladder(
        aid, Severity.CRITICAL, [step(aid, f"s{i}", 0) for i in range(20)], T0
    )
    batches = await asyncio.gather(*(store.claim_due_steps(T0, f"w{i}", 3, 60) for i in range(8)))
    names = [s.name for batch in batches for s in batch]
    assert len(names) == len(set(names)) == 20


async def test_cancel_by_condition(store: Store) -> None:
    aid = await alert_id(store)
    steps = [
        step(aid, "a", 60, "acknowledged"),
        step(aid, "b", 60, "on_site"),
        step(aid, "c", 0, "none"),
    ]
    await store.schedule_ladder(aid, Severity.CRITICAL, steps, T0)
    assert await store.cancel_steps(aid, ("acknowledged",), T0) == 1
    assert await store.cancel_steps(aid, (), T0) == 0
    assert await store.cancel_steps(aid, None, T0) == 2
    assert {s.state for s in await store.list_steps(aid)} == {"cancelled"}


async def test_a_send_key_reaches_the_provider_once(store: Store) -> None:
    aid = await alert_id(store)
    await store.schedule_ladder(aid, Severity.CRITICAL, [step(aid, "a", 0)], T0)
    (claimed,) = await store.claim_due_steps(T0, "w", 10, 60)
    assert claimed.id is not None
    planned = await store.plan_sends([send(aid, claimed.id, "k1")], T0)
    again = await store.plan_sends([send(aid, claimed.id, "k1")], T0)
    assert [s.state for s in planned] == [s.state for s in again] == ["planned"]
    decisions = await asyncio.gather(*(store.begin_send("k1", T0, None) for _ in range(5)))
    assert sorted(decisions) == ["send", "skip", "skip", "skip", "skip"]
    # A new key beside one planned before: each as stored, in the order asked.
    mixed = await store.plan_sends([send(aid, claimed.id, "k0"), send(aid, claimed.id, "k1")], T0)
    assert [(s.key, s.state) for s in mixed] == [("k0", "planned"), ("k1", "sending")]
    await store.finish_send("k1", "sent", T0, provider_id="SM1", status="queued")
    delivered = await store.record_delivery("SM1", "delivered", T0 + timedelta(seconds=3))
    assert delivered is not None and (delivered.state, delivered.status) == ("sent", "delivered")
    assert await store.record_delivery("SMnone", "delivered", T0) is None
    stored, _ = await store.list_sends(aid)  # in the order planned: k1, then k0
    assert (stored.key, stored.provider_id, stored.status) == ("k1", "SM1", "delivered")
    assert await store.begin_send("k1", T0, None) == "skip"


async def test_the_hourly_quota_gives_one_summary_then_suppresses(store: Store) -> None:
    aid = await alert_id(store)
    await store.schedule_ladder(aid, Severity.CRITICAL, [step(aid, "a", 0)], T0)
    (claimed,) = await store.claim_due_steps(T0, "w", 10, 60)
    assert claimed.id is not None
    keys = [f"k{i}" for i in range(5)]
    await store.plan_sends([send(aid, claimed.id, k) for k in keys], T0)
    decisions = [
        await store.begin_send(k, T0 + timedelta(minutes=i), 2) for i, k in enumerate(keys)
    ]
    assert decisions == ["send", "send", "summary", "suppressed", "suppressed"]
    other = await store.plan_sends([send(aid, claimed.id, "x", phone="+8613800000002")], T0)
    assert await store.begin_send(other[0].key, T0, 2) == "send"  # per recipient
    await store.plan_sends([send(aid, claimed.id, "late")], T0)
    assert await store.begin_send("late", T0 + timedelta(minutes=61), 2) == "send"


async def test_stops_contacts_by_phone_and_response_times(store: Store) -> None:
    aid = await alert_id(store)
    await store.add_escalation_stop(aid, "c1", T0)
    await store.add_escalation_stop(aid, "c1", T0)
    assert await store.list_escalation_stops(aid) == {"c1"}
    with pytest.raises(NotFound):
        await store.add_escalation_stop(999_999, "c1", T0)
    contact = await store.create_contact("h1", "Daughter", "+8613800000001", "zh-CN", 1)
    assert await store.find_contacts_by_phone("+8613800000001") == [contact]
    assert await store.find_contacts_by_phone("+8613800000009") == []

    for at, new, expected in [
        (60, AlertStatus.ACKNOWLEDGED, AlertStatus.OPEN),
        (300, AlertStatus.ON_SITE, AlertStatus.ACKNOWLEDGED),
    ]:
        await store.set_alert_status(
            StatusUpdate(aid, expected, new, T0 + timedelta(seconds=at), "op")
        )
    await store.add_timeline(TimelineEntry(aid, T0 + timedelta(seconds=600), "window_breached"))
    (row,) = await store.list_alert_responses(T0, T0 + timedelta(hours=1))
    assert row.acknowledged_at == T0 + timedelta(seconds=60)
    assert row.on_site_at == T0 + timedelta(seconds=300)
    assert row.resolved_at is None and row.breached
    assert (row.kind, row.severity, row.status) == (
        AlertKind.SOS,
        Severity.CRITICAL,
        AlertStatus.ON_SITE,
    )
    assert (
        await store.list_alert_responses(T0 + timedelta(seconds=1), T0 + timedelta(hours=1)) == []
    )
