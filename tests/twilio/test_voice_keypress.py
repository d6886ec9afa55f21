"""A +86 family cannot answer an SMS through Twilio, so the call asks them to press
1: the keypress comes back through the real signed webhook into the engine, is on
the timeline as the family's answer, and stops later messages to that person,
like the SMS reply ``1`` would (escalation on a manual clock, local Twilio server
with Twilio's China rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.escalation import EscalationEngine
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.twilio_channels import TwilioSms, TwilioVoice
from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, Finding, Home, Resident, Role, Severity, User
from simulators.twilio_server import CHINA_RULES, TwilioServer
from tests.e2e.helpers import eventually

DAUGHTER, SUPERVISOR = "+8613800000001", "+8613900000009"
T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


async def test_pressing_1_in_the_call_stops_her_messages(
    api: AppContext, sms: TwilioSms, voice: TwilioVoice, twilio: TwilioServer, public_url: str
) -> None:
    twilio.rules = list(CHINA_RULES)
    store = api.store
    await store.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    await store.create_resident(Resident("h1-r1", "h1", "王秀英"))
    await store.create_contact("h1", "Daughter", DAUGHTER, "zh-CN", 1)
    await store.create_user(User("sup", "x", Role.SUPERVISOR, SUPERVISOR))
    clock = ManualClock(T0)
    twilio.clock = clock.now
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
    api.delivery = engine
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
        Finding("h1", "h1-r1", AlertKind.SOS, Severity.CRITICAL, T0, "k:1", resident_id="h1-r1")
    )
    assert change is not None
    for s in range(0, 190, 10):  # to +3 min: two SMS, then the ladder's call
        clock.set(T0 + timedelta(seconds=s))
        await engine.run_due()
    (call,) = twilio.calls
    assert call.to == DAUGHTER and "请按1" in call.twiml
    assert not any("回复" in m.body for m in twilio.messages_to(DAUGHTER))  # no reply asked
    answer = await twilio.press_key(call.sid, "1")
    assert answer.answer == 200

    async def recorded() -> list[dict[str, object]] | None:
        timeline = await store.get_timeline(change.alert.id)
        got = [e.details for e in timeline if e.event == "family_reply"]
        return got or None

    (reply,) = await eventually(recorded)
    assert reply["via"] == "voice" and reply["handling"] is True
    assert reply["contact_name"] == "Daughter" and reply["body"] == "1"
    texts_before = len(twilio.messages_to(DAUGHTER))
    for s in range(190, 960, 10):  # the breach at +10 and +15 min: to everyone else
        clock.set(T0 + timedelta(seconds=s))
        await engine.run_due()
    assert len(twilio.messages_to(DAUGHTER)) == texts_before
    assert len(twilio.calls) == 1
    assert len(twilio.messages_to(SUPERVISOR)) >= 2  # the supervisor is still told
    assert twilio.broken == []
