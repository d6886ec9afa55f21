"""Ladders survive restarts and run on several instances: no step skipped,
none repeated (SQLite and TimescaleDB)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, AlertStatus, Outcome
from eldercare.store import StatusUpdate, open_store
from tests.alerts.escalation_fixtures import (
    DAUGHTER,
    NEIGHBOUR,
    SON,
    SUPERVISOR,
    T0,
    Crash,
    Recorder,
    make_world,
    provision,
)
from tests.alerts.test_escalation_ladder import CRITICAL_LADDER


async def test_restart_in_the_middle_of_a_ladder(store_url: str) -> None:
    clock = ManualClock(T0)
    first = await open_store(store_url)
    await first.migrate()
    await provision(first)
    before = make_world(first, clock)
    await before.raise_()
    await before.until(90)  # contact #1 and then all contacts have been told
    await first.close()  # the process stops here

    second = await open_store(store_url)
    try:
        await second.migrate()
        after = make_world(second, clock)
        await after.until(16 * 60)
        assert sorted(before.channel.log() + after.channel.log()) == sorted(CRITICAL_LADDER)
    finally:
        await second.close()


async def test_a_crash_during_a_provider_call_never_sends_twice(store_url: str) -> None:
    clock = ManualClock(T0)
    first = await open_store(store_url)
    await first.migrate()
    await provision(first, neighbour=True)
    # calls: 1 = daughter at 0 s; at 60 s: 2 = son (dies during it); the daughter
    # already has that text, the neighbour's is still planned
    before = make_world(first, clock, Recorder(clock, crash_on_call=2))
    alert = await before.raise_()
    with pytest.raises(BaseExceptionGroup) as died:  # the run's TaskGroup wraps it
        await before.until(60)
    assert died.value.subgroup(Crash) is not None
    await first.close()

    second = await open_store(store_url)
    try:
        after = make_world(second, clock)
        await after.until(110)  # the dead worker's claim lasts its 60 s lease (to 120 s)
        assert after.channel.log() == []
        clock.set(T0 + timedelta(seconds=120))
        await after.until(200)
        assert before.channel.log() == sorted(
            [
                (0, "sms", DAUGHTER),
                (60, "sms", SON),
            ]
        )
        # the son's SMS may have gone out: not sent again; the neighbour's never was: sent now
        assert after.channel.log() == sorted(
            [
                (120, "sms", NEIGHBOUR),
                (180, "voice", DAUGHTER),
                (180, "sms", SUPERVISOR),
            ]
        )
        unknown = [
            e
            for e in await second.get_timeline(alert.id)
            if e.event == "notified" and e.details["status"] == "unknown"
        ]
        assert [e.details["recipient"] for e in unknown] == [SON]
    finally:
        await second.close()


@pytest.mark.postgres
async def test_two_schedulers_on_one_database_send_each_step_once(pg_url: str) -> None:
    clock = ManualClock(T0)
    channel = Recorder(clock)
    one, two = await open_store(pg_url), await open_store(pg_url)
    try:
        await one.migrate()
        await provision(one)
        a = make_world(one, clock, channel, quota=None, worker="a")
        b = make_world(two, clock, channel, quota=None, worker="b")
        a.engine.batch_size = b.engine.batch_size = 2
        kinds = [AlertKind.SOS, AlertKind.FALL, AlertKind.GAS_LEAK, AlertKind.HEART_RATE_LOW]
        alerts = [await a.raise_(kind, key=str(kind)) for kind in kinds]
        while clock.now() < T0 + timedelta(minutes=16):
            await asyncio.gather(a.engine.run_due(), b.engine.run_due(), a.engine.run_due())
            clock.set(clock.now() + timedelta(seconds=10))
        keys = Counter(s.key for s in channel.sent)
        assert max(keys.values()) == 1
        assert len(channel.sent) == len(kinds) * len(CRITICAL_LADDER)
        steps = [s for alert in alerts for s in await one.list_steps(alert.id)]
        workers = {s.claimed_by for s in steps if s.state == "done"}
        assert workers == {"a", "b"}  # both did work, neither twice
    finally:
        await one.close()
        await two.close()


async def test_the_all_clear_goes_once_across_a_restart_and_two_instances(store_url: str) -> None:
    clock = ManualClock(T0)
    first = await open_store(store_url)
    await first.migrate()
    await provision(first)
    before = make_world(first, clock)
    alert = await before.raise_()
    await before.until(90)  # the daughter and the son have the alert
    await before.alerts.resolve(alert.id, "op", Outcome.HANDLED)  # the all-clear's row ...
    await first.close()  # ... and the process stops before it runs

    second = await open_store(store_url)
    try:
        a, b = make_world(second, clock, worker="a"), make_world(second, clock, worker="b")
        await asyncio.gather(a.engine.run_due(), b.engine.run_due())
        await a.until(30 * 60, step=60)
        closing = sorted(s.to for s in a.channel.sent + b.channel.sent)
        assert closing == sorted([DAUGHTER, SON])
        assert all("handled" in s.body or "已处理完毕" in s.body for s in a.channel.sent)
    finally:
        await second.close()


async def test_a_resolve_that_died_before_its_all_clear_row_still_gets_one(
    store_url: str,
) -> None:
    clock = ManualClock(T0)
    store = await open_store(store_url)
    try:
        await store.migrate()
        await provision(store)
        world = make_world(store, clock)
        alert = await world.raise_()
        await world.until(30)
        # resolved in the store, and the process died before the engine heard of it
        await store.set_alert_status(
            StatusUpdate(
                alert.id,
                AlertStatus.OPEN,
                AlertStatus.RESOLVED,
                clock.now(),
                "op",
                outcome=Outcome.FALSE_ALARM,
            )
        )
        restarted = make_world(store, clock, worker="after")
        await restarted.until(70)  # the +60 s step comes due, finds it resolved
        assert [(s.to, "误报" in s.body) for s in restarted.channel.sent] == [(DAUGHTER, True)]
        await restarted.until(30 * 60, step=60)
        assert len(restarted.channel.sent) == 1
    finally:
        await store.close()
