"""What the engine does instead of an SMS a provider would reject, for rules other
than Twilio's China ones: wait for a short window, and leave supervisors to the
screen (a logic test with the recording channel of tests/alerts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alerts.provider_limits import ProviderLimits, SmsLimitGuard, parse_limits
from eldercare.clock import ManualClock
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
    clock = ManualClock(T0)
    world = make_world(store, clock, Recorder(clock, name="tencent_sms"))
    world.engine.sms_limits = SmsLimitGuard(one_per(100))
    alert = await world.raise_()
    await world.until(170)
    sms = [(t, to) for t, kind, to in world.channel.log() if kind == "sms"]
    # +60 s is 40 s too early for the daughter: it goes at +100 s; the son's first is free
    assert sms == [(0, DAUGHTER), (60, SON), (100, DAUGHTER)]
    limited = [e for e in await store.get_timeline(alert.id) if e.event == "sms_limited"]
    assert [(e.details["recipient"], e.details["action"]) for e in limited] == [(DAUGHTER, "later")]
    assert limited[0].details["allowed_at"] == (T0.replace(second=40, minute=1)).isoformat()
    assert "（1分钟前）" in world.channel.sent[-1].body  # it says how long ago


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
