"""The escalation's supervisor SMS goes to the supervisor on duty (Issue 15
item 2), through the real twilio package and the local Twilio look-alike; with
nobody on the roster, to every supervisor of the centre (as before)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.escalation import EscalationEngine
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.twilio_channels import TwilioSms, TwilioVoice
from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from eldercare.domain import (
    DEFAULT_ORGANISATION,
    AlertKind,
    Finding,
    Home,
    Resident,
    Role,
    Severity,
    User,
)
from eldercare.roster import Shift
from simulators.twilio_server import TwilioServer

T0 = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
FAMILY, DAY_SUP, NIGHT_SUP = "+8613800000001", "+8613900000011", "+8613900000022"


async def _sos_left_alone(
    api: AppContext, sms: TwilioSms, voice: TwilioVoice, public_url: str
) -> None:
    """An SOS nobody acknowledges, its ladder run to 5 minutes (supervisor SMS at 3)."""
    store, clock = api.store, ManualClock(T0)
    engine = EscalationEngine(
        store,
        clock,
        api.bus,
        api.metrics,
        load_policy(None),
        sms,
        voice,
        care_centre_phone="+8657100000000",
        default_timezone="Asia/Shanghai",
        public_url=public_url,
    )
    alerts = AlertService(
        store,
        clock,
        api.bus,
        api.metrics,
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone="+8657100000000",
        escalation=engine,
    )
    change = await alerts.handle_finding(
        Finding("h1", "h1-r1", AlertKind.SOS, Severity.CRITICAL, T0, "t:1")
    )
    assert change is not None
    for s in range(0, 301, 30):
        await engine.run_due(T0 + timedelta(seconds=s))


async def _centre(api: AppContext) -> None:
    store = api.store
    await store.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    await store.create_resident(Resident("h1-r1", "h1", "王秀英"))
    await store.create_contact("h1", "Son", FAMILY, "zh-CN", 1)
    await store.create_user(User("day-sup", "x", Role.SUPERVISOR, DAY_SUP))
    await store.create_user(User("night-sup", "x", Role.SUPERVISOR, NIGHT_SUP))


async def test_the_supervisor_sms_goes_to_the_supervisor_on_duty(
    api: AppContext, sms: TwilioSms, voice: TwilioVoice, twilio: TwilioServer, public_url: str
) -> None:
    await _centre(api)
    org = DEFAULT_ORGANISATION
    await api.store.add_shift(Shift(org, "night-sup", T0 - timedelta(hours=12), T0))
    await api.store.add_shift(
        Shift(org, "day-sup", T0 - timedelta(hours=1), T0 + timedelta(hours=7))
    )
    await _sos_left_alone(api, sms, voice, public_url)
    assert len(twilio.messages_to(FAMILY)) >= 1
    (to_day,) = twilio.messages_to(DAY_SUP)
    assert "supervisor" in to_day.body or "督导" in to_day.body
    assert twilio.messages_to(NIGHT_SUP) == []  # her shift ended at T0


async def test_with_nobody_on_the_roster_every_supervisor_is_told(
    api: AppContext, sms: TwilioSms, voice: TwilioVoice, twilio: TwilioServer, public_url: str
) -> None:
    await _centre(api)
    await _sos_left_alone(api, sms, voice, public_url)
    assert len(twilio.messages_to(DAY_SUP)) == 1
    assert len(twilio.messages_to(NIGHT_SUP)) == 1
