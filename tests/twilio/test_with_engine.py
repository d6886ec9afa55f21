"""The whole Twilio loop with the real escalation engine: an SOS, the SMS to family
contact #1 through the local Twilio server, its signed ``undelivered`` callback
through the real webhook into the engine, which tries contact #2."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.escalation import EscalationEngine
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.twilio_channels import TwilioSms, TwilioVoice
from dashboard_api.context import AppContext
from eldercare.domain import AlertKind, Finding, Home, Resident, Severity
from simulators.twilio_server import TwilioServer
from tests.e2e.helpers import eventually

FIRST, SECOND = "+8613800000001", "+8613800000002"


async def test_undelivered_to_contact_1_moves_on_to_contact_2(
    api: AppContext, sms: TwilioSms, voice: TwilioVoice, twilio: TwilioServer, public_url: str
) -> None:
    store = api.store
    await store.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    await store.create_resident(Resident("h1-r1", "h1", "王秀英"))
    await store.create_contact("h1", "Son", FIRST, "zh-CN", 1)
    await store.create_contact("h1", "Daughter", SECOND, "en", 2)
    engine = EscalationEngine(
        store,
        api.clock,
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
        api.clock,
        api.bus,
        api.metrics,
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone="+8657100000000",
        escalation=engine,
    )
    twilio.fail_number(FIRST, "undelivered")
    change = await alerts.handle_finding(
        Finding("h1", "h1-r1", AlertKind.SOS, Severity.CRITICAL, datetime.now(UTC), "t:1")
    )
    assert change is not None

    async def second_contact_texted() -> bool | None:
        await engine.run_due()
        return True if twilio.messages_to(SECOND) else None

    await eventually(second_contact_texted)
    assert len(twilio.messages_to(FIRST)) == 1
    assert len(twilio.messages_to(SECOND)) == 1
    assert "SOS button pressed" in twilio.messages_to(SECOND)[0].body  # contact 2 reads English
    timeline = await store.get_timeline(change.alert.id)
    deliveries = [e.details for e in timeline if e.event == "delivery"]
    assert any(d["status"] == "undelivered" and d["recipient"] == FIRST for d in deliveries)
