"""Ladders survive restarts and run on several instances: no step skipped,
none repeated (SQLite and TimescaleDB)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from eldercare.clock import ManualClock
from eldercare.domain import AlertKind
from eldercare.store import open_store
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
