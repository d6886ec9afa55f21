"""What the engine does instead of an SMS a provider would reject, for rules other
than Twilio's China ones: wait for a short window, and leave supervisors to the
screen (a logic test with the recording channel of tests/alerts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.provider_limits import ProviderLimits, SmsLimitGuard, parse_limits
from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, Home, Outcome, Resident
from eldercare.store import Store, open_store
from tests.alerts.escalation_fixtures import (
    DAUGHTER,
    SON,
    SUPERVISOR,
    T0,
    Recorder,
    make_world,
    provision,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path}/actions.db")
    await opened.migrate()
    await provision(opened)
    yield opened
    await opened.close()


def one_per(window_s: int) -> ProviderLimits:
    rule = {"name": "one_per_window", "max": 1, "window": window_s, "reason": "test rule"}
    return ProviderLimits(parse_limits({"tencent": {"*": {"rules": [rule]}}}))


async def test_a_short_window_sends_the_same_message_when_it_frees(store: Store) -> None:
    """One SMS per 330 s: the breach's first repeat (+15 min) comes 300 s after the
    breach (+10 min), 30 s too early: it goes when the window frees, at +15:30."""
    clock = ManualClock(T0)
    world = make_world(store, clock, Recorder(clock, name="tencent_sms"))
    world.engine.sms_limits = SmsLimitGuard(one_per(330))
    alert = await world.raise_()
    await world.until(16 * 60)
    sms = [(t, to) for t, kind, to in world.channel.log() if kind == "sms" and to != SUPERVISOR]
    assert sms == sorted(
        [
            (0, DAUGHTER),
            (60, SON),
            (600, DAUGHTER),
            (600, SON),
            (930, DAUGHTER),
            (930, SON),
        ]
    )
    limited = [e for e in await store.get_timeline(alert.id) if e.event == "sms_limited"]
    family = [(e.details["recipient"], e.details["action"]) for e in limited]
    assert sorted(x for x in family if x[0] != SUPERVISOR) == [(SON, "later"), (DAUGHTER, "later")]
    free_at = {e.details["recipient"]: e.details["allowed_at"] for e in limited}
    assert free_at[DAUGHTER] == (T0 + timedelta(seconds=930)).isoformat()
    late = [s.body for s in world.channel.sent if s.to == DAUGHTER][-1]
    assert "10:15" in late  # the message of the repeat it stands for


async def test_a_limited_supervisor_sms_is_left_to_the_screen(store: Store) -> None:
    clock = ManualClock(T0)
    world = make_world(store, clock, Recorder(clock, name="tencent_sms"))
    world.engine.sms_limits = SmsLimitGuard(one_per(3600))
    alert = await world.raise_()
    await world.until(430)
    to_supervisor = [t for t, kind, to in world.channel.log() if to == SUPERVISOR]
    assert to_supervisor == [180]  # the +7 min warning would be the second within the hour
    limited = [e for e in await store.get_timeline(alert.id) if e.event == "sms_limited"]
    by_phone = {e.details["recipient"]: e.details["action"] for e in limited}
    assert by_phone[SUPERVISOR] == "none"


async def test_two_alerts_at_once_cannot_both_take_the_last_allowed_sms(store: Store) -> None:
    """Two homes share the daughter's +86 number; she had three SMS today: of two
    alerts raised at the same moment (their steps run concurrently) one is texted,
    the other reaches the next contact (home one) or her by a call (home two)."""
    await store.create_home(Home("h2", "Home two", "2 Road", "Asia/Shanghai"))
    await store.create_resident(Resident("h2-r1", "h2", "Li"))
    await store.create_contact("h2", "Daughter", DAUGHTER, "zh-CN", 1)
    clock = ManualClock(T0)
    world = make_world(store, clock, Recorder(clock, name="twilio_sms"))
    # three SMS earlier: a fall texted and resolved (its all-clear), another texted
    early = await world.raise_(home_id="h2", key="early1", kind=AlertKind.FALL)
    await world.engine.run_due()
    await world.alerts.resolve(early.id, "op", Outcome.FALSE_ALARM)
    await world.engine.run_due()
    clock.advance(600)
    early = await world.raise_(home_id="h2", key="early2", kind=AlertKind.FALL)
    await world.engine.run_due()
    await world.alerts.arrive(early.id, "op")  # on site: no breach later
    clock.advance(600)
    assert len([s for s in world.channel.sent if s.to == DAUGHTER]) == 3
    start = clock.now()
    first = await world.raise_(key="now1")
    second = await world.raise_(home_id="h2", key="now2")
    while await world.engine.run_due():
        pass
    texts = [s for s in world.channel.sent if s.kind == "sms" and s.at == start]
    calls = [s for s in world.channel.sent if s.kind == "voice" and s.at == start]
    to_her = [s for s in texts if s.to == DAUGHTER]
    assert len(to_her) == 1  # not two: the fifth would be held for review
    limited = [
        e.details["action"]
        for a in (first, second)
        for e in await store.get_timeline(a.id)
        if e.event == "sms_limited"
    ]
    assert len(limited) == 1 and limited[0] in ("next_contact", "voice")
    assert len(texts) + len(calls) == 2  # both alerts reached someone at once
