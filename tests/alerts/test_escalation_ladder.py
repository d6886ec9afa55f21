"""The ladders of DOMAIN.md replayed with a manual clock: each step at its time,
to the right people, stopped by the right staff actions and family replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, Outcome, Severity
from eldercare.store import Store, open_store
from tests.alerts.escalation_fixtures import (
    DAUGHTER,
    SON,
    SUPERVISOR,
    T0,
    World,
    make_world,
    provision,
)

CRITICAL_LADDER = [
    (0, "sms", DAUGHTER),  # contact #1 at once
    (60, "sms", SON),  # +60 s: all family contacts (not the daughter: she has this text)
    (180, "voice", DAUGHTER),  # +3 min: voice call to contact #1 …
    (180, "sms", SUPERVISOR),  # … and the supervisor
    (420, "sms", SUPERVISOR),  # +7 min: window about to be missed
    (600, "sms", DAUGHTER),  # +10 min: breached, everyone told
    (600, "sms", SON),
    (600, "sms", SUPERVISOR),
    (900, "sms", DAUGHTER),  # and again every 5 minutes
    (900, "sms", SON),
    (900, "sms", SUPERVISOR),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path}/esc.db")
    await opened.migrate()
    await provision(opened)
    yield opened
    await opened.close()


@pytest.fixture
def world(store: Store) -> World:
    return make_world(store, ManualClock(T0))


async def events(world: World, alert_id: int) -> list[str]:
    return [e.event for e in await world.store.get_timeline(alert_id)]


async def test_critical_ladder_step_by_step(world: World) -> None:
    alert = await world.raise_()
    await world.until(16 * 60)
    assert world.channel.log() == sorted(CRITICAL_LADDER)
    by_time = {(int((s.at - T0).total_seconds()), s.to): s for s in world.channel.sent}
    assert "紧急呼叫" in by_time[0, DAUGHTER].body and "Wang" in by_time[0, DAUGHTER].body
    assert "颐养安督导" in by_time[180, SUPERVISOR].body  # the supervisor's own wording
    assert "即将超时" in by_time[420, SUPERVISOR].body
    son = [s for s in world.channel.sent if s.to == SON]
    assert son[0].body.startswith("Eldercare")  # the son reads English
    assert "Care centre" in son[1].body or "care centre" in son[1].body
    timeline = await world.store.get_timeline(alert.id)
    breaches = [e for e in timeline if e.event == "window_breached"]
    assert [e.at - T0 for e in breaches] == [timedelta(minutes=10), timedelta(minutes=15)]
    notified = [e for e in timeline if e.event == "notified"]
    assert len(notified) == len(CRITICAL_LADDER)
    assert {e.details["status"] for e in notified} == {"queued"}
    keys = [s.key for s in world.channel.sent]
    assert len(set(keys)) == len(keys)


async def test_high_ladder(world: World) -> None:
    alert = await world.raise_(AlertKind.WATER_LEAK, Severity.HIGH)
    await world.until(30 * 60)
    assert world.channel.log() == sorted([(180, "sms", DAUGHTER), (420, "sms", SUPERVISOR)])
    assert "仍无人到场" in world.channel.sent[1].body
    timeline = await world.store.get_timeline(alert.id)
    breaches = [e for e in timeline if e.event == "window_breached"]
    assert [e.at - T0 for e in breaches] == [timedelta(minutes=10)]  # recorded once


async def test_warning_reaches_the_screen_only(world: World) -> None:
    alert = await world.raise_(AlertKind.DOOR_LEFT_OPEN, Severity.WARNING)
    await world.until(60 * 60, step=60)
    assert world.channel.sent == []
    assert "window_breached" not in await events(world, alert.id)


async def test_acknowledgement_stops_only_the_not_acknowledged_steps(world: World) -> None:
    alert = await world.raise_()
    await world.until(30)
    await world.alerts.acknowledge(alert.id, "op")
    await world.until(12 * 60)
    assert world.channel.log() == sorted(
        [
            (0, "sms", DAUGHTER),
            (420, "sms", SUPERVISOR),  # not on site yet: these go on
            (600, "sms", DAUGHTER),
            (600, "sms", SON),
            (600, "sms", SUPERVISOR),
        ]
    )
    await world.alerts.arrive(alert.id, "op")
    await world.until(40 * 60, step=60)
    assert len(world.channel.sent) == 5


async def test_on_site_stops_the_rest(world: World) -> None:
    alert = await world.raise_()
    await world.until(30)
    await world.alerts.arrive(alert.id, "op")
    await world.until(40 * 60, step=30)
    assert world.channel.log() == sorted([(0, "sms", DAUGHTER)])
    steps = await world.store.list_steps(alert.id)
    assert {s.state for s in steps} == {"done", "cancelled"}


async def test_resolution_stops_everything(world: World) -> None:
    alert = await world.raise_()
    await world.until(30)
    await world.alerts.resolve(alert.id, "op", Outcome.FALSE_ALARM)
    await world.until(40 * 60, step=60)
    # the ladder stops; the one contact who was told gets the all-clear, the son nothing
    assert world.channel.log() == sorted([(0, "sms", DAUGHTER), (30, "sms", DAUGHTER)])
    assert "误报" in world.channel.sent[1].body


async def test_a_family_reply_stops_repeats_to_that_person_only(world: World) -> None:
    alert = await world.raise_()
    await world.until(30)
    await world.engine.on_family_reply(DAUGHTER, " ok ", world.clock.now())
    await world.engine.on_family_reply(SON, "who is this?", world.clock.now())
    await world.until(16 * 60)
    assert DAUGHTER not in [to for at, _, to in world.channel.log() if at > 0]  # no SMS, no call
    assert world.channel.log() == sorted(
        [
            (0, "sms", DAUGHTER),
            (60, "sms", SON),
            (180, "sms", SUPERVISOR),
            (420, "sms", SUPERVISOR),
            (600, "sms", SON),
            (600, "sms", SUPERVISOR),
            (900, "sms", SON),
            (900, "sms", SUPERVISOR),
        ]
    )
    replies = [e for e in await world.store.get_timeline(alert.id) if e.event == "family_reply"]
    assert [(r.details["contact_name"], r.details["handling"]) for r in replies] == [
        ("Daughter", True),
        ("Son", False),
    ]
    assert (await world.store.get_alert(alert.id)).status.value == "open"  # not closed by it


async def test_undelivered_moves_on_to_the_next_contact(world: World) -> None:
    alert = await world.raise_()
    await world.until(10)
    assert len(world.channel.sent) == 1
    (notified,) = [e for e in await world.store.get_timeline(alert.id) if e.event == "notified"]
    provider_id = notified.details["provider_id"]
    async with world.bus.watch() as queue:
        await world.engine.on_delivery_status(
            provider_id, "undelivered", world.clock.now(), {"ErrorCode": "30003"}
        )
        assert (await queue.get()) is not None  # the screen hears of it
    await world.engine.run_due()  # the next contact at once, not at the next step
    assert world.channel.log() == sorted([(0, "sms", DAUGHTER), (10, "sms", SON)])
    assert world.channel.sent[1].body.startswith("Eldercare")  # the son's language
    delivery = [e for e in await world.store.get_timeline(alert.id) if e.event == "delivery"]
    assert delivery[0].details["status"] == "undelivered"
    assert delivery[0].details["recipient"] == DAUGHTER
    assert delivery[0].details["ErrorCode"] == "30003"


async def test_a_refused_number_moves_on_and_the_end_of_the_list_is_noted(world: World) -> None:
    world.channel.fail_to = {DAUGHTER, SON}
    alert = await world.raise_()
    await world.until(20)
    assert world.channel.calls == 2  # the daughter, then the son; both refused
    timeline = await world.store.get_timeline(alert.id)
    failed = [e for e in timeline if e.event == "notified" and e.details["status"] == "failed"]
    assert [e.details["recipient"] for e in failed] == [DAUGHTER, SON]
    assert any(e.details.get("result") == "no further contact" for e in timeline)


async def test_unknown_delivery_and_strangers_change_nothing(world: World) -> None:
    alert = await world.raise_()
    await world.engine.on_delivery_status("SMnope", "delivered", world.clock.now(), {})
    await world.engine.on_family_reply("+8613999999999", "1", world.clock.now())
    assert "family_reply" not in await events(world, alert.id)


async def test_past_the_hourly_quota_one_summary_then_silence(store: Store) -> None:
    world = make_world(store, ManualClock(T0), quota=2)
    kinds = [AlertKind.SOS, AlertKind.FALL, AlertKind.BREATHING_STOPPED, AlertKind.HEART_RATE_LOW]
    alerts = [await world.raise_(kind, key=f"k-{kind}") for kind in kinds]
    await world.until(10)
    to_daughter = [s for s in world.channel.sent if s.to == DAUGHTER]
    assert len(to_daughter) == 3  # two alert texts, then one summary instead of a flood
    assert "另有" in to_daughter[2].body
    suppressed = [
        alert.id
        for alert in alerts
        for e in await store.get_timeline(alert.id)
        if e.event == "notified" and e.details["status"] == "suppressed"
    ]
    assert suppressed == [alerts[3].id]  # the care centre still sees it
    for alert in alerts:
        await world.alerts.resolve(alert.id, "op", Outcome.HANDLED)
    await world.engine.run_due()  # the all-clears: outside the quota, one per alert she got
    closing = [s.body for s in world.channel.sent[3:]]
    assert len(closing) == 3 and all("已处理完毕" in body for body in closing)
    world.clock.set(T0 + timedelta(hours=1, minutes=1))  # the hour has rolled on
    await world.raise_(AlertKind.GAS_LEAK, key="later")
    await world.engine.run_due()
    assert world.channel.sent[-1].to == DAUGHTER and "燃气" in world.channel.sent[-1].body
