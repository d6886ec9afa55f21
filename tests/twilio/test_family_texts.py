"""What families receive, as the local Twilio-compatible server records it (the
real ``twilio`` package sending, the real API taking its signed callbacks and
replies): an honest first SMS, how to answer, no text twice, the all-clear,
the voice call's number read as dialled, and names that cannot carry links.
(Issue 18 items 1-5, Issue 20 item 10.)"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from alerts.escalation import EscalationEngine
from alerts.messages import sms_encoding, sms_segments
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.twilio_channels import TwilioSms, TwilioVoice
from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from eldercare.domain import Alert, AlertKind, Finding, Home, Outcome, Resident, Severity
from eldercare.store import Store
from simulators.twilio_server import Recorded, TwilioServer

T0 = datetime(2026, 11, 26, 19, 5, tzinfo=UTC)  # 03:05 in Shanghai
CENTRE = "+8657100000000"
DAUGHTER, SON, NEIGHBOUR = "+8613800000001", "+447700900002", "+8613800000003"
HK_DAUGHTER = "+85291234567"


@dataclass
class Family:
    """One home's escalation over the real channels, on a manual clock."""

    store: Store
    clock: ManualClock
    engine: EscalationEngine
    alerts: AlertService
    twilio: TwilioServer
    public_url: str

    async def raise_sos(self, home_id: str = "h1") -> Alert:
        change = await self.alerts.handle_finding(
            Finding(
                home_id,
                f"{home_id}-r1",
                AlertKind.SOS,
                Severity.CRITICAL,
                self.clock.now(),
                f"{home_id}:sos",
                resident_id=f"{home_id}-r1",
            )
        )
        assert change is not None
        return change.alert

    async def until(self, seconds: float, step: float = 10.0) -> None:
        """Let time pass to T0 + seconds, running due steps; callbacks settle each time."""
        end = T0 + timedelta(seconds=seconds)
        while True:
            await self.engine.run_due()
            await self.twilio.settle()
            if self.clock.now() >= end:
                return
            self.clock.set(min(self.clock.now() + timedelta(seconds=step), end))

    def texts_to(self, phone: str) -> list[str]:
        return [m.body for m in self.twilio.messages_to(phone)]

    def calls_to(self, phone: str) -> list[Recorded]:
        return [c for c in self.twilio.calls if c.to == phone]

    def second_instance(self) -> EscalationEngine:
        """Another service instance on the same database and channels."""
        return _engine(self.store, self.clock, self.engine, worker="second")


def _engine(
    store: Store, clock: ManualClock, like: EscalationEngine, worker: str
) -> EscalationEngine:
    return EscalationEngine(
        store,
        clock,
        like.bus,
        like.metrics,
        like.policy,
        like.sms,
        like.voice,
        care_centre_phone=CENTRE,
        default_timezone="Asia/Shanghai",
        public_url=like.public_url,
        worker_id=worker,
    )


async def _home(store: Store, home_id: str, resident: str, *contacts: tuple[str, str]) -> None:
    await store.create_home(Home(home_id, f"{home_id} home", "1 Main St", "Asia/Shanghai"))
    await store.create_resident(Resident(f"{home_id}-r1", home_id, resident))
    for priority, (phone, lang) in enumerate(contacts, start=1):
        await store.create_contact(home_id, f"contact {priority}", phone, lang, priority)


@pytest.fixture
def family(
    api: AppContext, sms: TwilioSms, voice: TwilioVoice, twilio: TwilioServer, public_url: str
) -> Family:
    clock = ManualClock(T0)
    engine = EscalationEngine(
        api.store,
        clock,
        api.bus,
        api.metrics,
        load_policy(None),
        sms,
        voice,
        care_centre_phone=CENTRE,
        default_timezone="Asia/Shanghai",
        public_url=public_url,
        worker_id="first",
    )
    api.delivery = engine  # the API's Twilio webhooks feed this engine
    alerts = AlertService(
        api.store,
        clock,
        api.bus,
        api.metrics,
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone=CENTRE,
        escalation=engine,
    )
    return Family(api.store, clock, engine, alerts, twilio, public_url)


# --- 1. the all-clear -------------------------------------------------------------------


async def test_after_resolve_each_contact_told_gets_one_all_clear_in_their_language(
    family: Family,
) -> None:
    await _home(
        family.store, "h1", "王秀英", (DAUGHTER, "zh-CN"), (SON, "en"), (NEIGHBOUR, "zh-CN")
    )
    alert = await family.raise_sos()
    await family.until(90)  # the daughter at 0 s, the son and the neighbour at 60 s
    reply = await family.twilio.send_inbound_sms(
        family.public_url + "/twilio/sms/inbound", DAUGHTER, "收到"
    )
    assert reply.answer == 200  # she is handling it: no more alert texts to her ...
    await family.alerts.resolve(alert.id, "op", Outcome.TRANSFERRED, "ambulance")
    await family.until(100)
    await family.second_instance().run_due()  # a second instance finds nothing left to send
    await family.until(30 * 60, step=60)

    # ... but the all-clear reaches her too: once each, in each one's language
    assert family.texts_to(DAUGHTER)[-1].count("已送医院") == 1
    assert (
        "王秀英" in family.texts_to(DAUGHTER)[-1] and "告警已结束" in family.texts_to(DAUGHTER)[-1]
    )
    assert "taken to hospital" in family.texts_to(SON)[-1]
    assert "已送医院" in family.texts_to(NEIGHBOUR)[-1]
    for phone in (DAUGHTER, SON, NEIGHBOUR):
        closing = [t for t in family.texts_to(phone) if "已送医院" in t or "hospital" in t]
        assert len(closing) == 1, family.texts_to(phone)
        assert len(family.texts_to(phone)) == 2  # the alert, then the all-clear
    timeline = await family.store.get_timeline(alert.id)
    (entry,) = [e for e in timeline if e.event == "all_clear"]
    assert entry.details["results"] == ["sent", "sent", "sent"]


async def test_only_the_contacts_who_were_told_get_the_all_clear(family: Family) -> None:
    await _home(family.store, "h1", "Wang Xiuying", (DAUGHTER, "en"), (SON, "en"))
    alert = await family.raise_sos()
    await family.until(30)  # only contact #1 has been told
    await family.alerts.acknowledge(alert.id, "op")
    await family.alerts.resolve(alert.id, "op", Outcome.FALSE_ALARM)
    await family.until(20 * 60, step=60)
    assert len(family.texts_to(DAUGHTER)) == 2
    assert "false alarm" in family.texts_to(DAUGHTER)[1]
    assert family.texts_to(SON) == []


async def test_no_all_clear_for_a_contact_the_alert_never_reached(family: Family) -> None:
    await _home(family.store, "h1", "王秀英", (DAUGHTER, "zh-CN"), (SON, "en"))
    family.twilio.fail_number(DAUGHTER, "undelivered")
    alert = await family.raise_sos()
    await family.until(20)  # undelivered to the daughter: the son instead
    await family.alerts.resolve(alert.id, "op", Outcome.HANDLED)
    await family.until(60)
    assert len(family.texts_to(DAUGHTER)) == 1  # the undelivered alert text only
    assert len(family.texts_to(SON)) == 2 and "handled" in family.texts_to(SON)[1]


# --- 2. no over-promise -----------------------------------------------------------------


async def test_first_sms_says_the_centre_is_being_alerted_and_on_their_way_only_after_dispatch(
    family: Family,
) -> None:
    await _home(family.store, "h1", "王秀英", (DAUGHTER, "zh-CN"), (SON, "en"))
    alert = await family.raise_sos()
    await family.until(10)
    (first,) = family.texts_to(DAUGHTER)
    assert "已接警" not in first and "正在赶往" not in first
    assert "正在通知护理中心" in first
    await family.alerts.acknowledge(alert.id, "op")
    await family.alerts.dispatch(alert.id, "op", "Li Wei")
    await family.until(10 * 60 + 10)  # nobody on site by the deadline: everyone is told
    breached_zh, breached_en = family.texts_to(DAUGHTER)[-1], family.texts_to(SON)[-1]
    assert "无人到场" in breached_zh and "工作人员正在赶往" in breached_zh
    assert "nobody" in breached_en.lower() and "Staff on the way" in breached_en


# --- 3. no identical SMS twice ----------------------------------------------------------


async def test_one_contact_gets_the_alert_text_once_and_the_timeline_says_why(
    family: Family,
) -> None:
    await _home(family.store, "h1", "王秀英", (DAUGHTER, "zh-CN"))
    alert = await family.raise_sos()
    await family.until(70)  # +60 s: the "all contacts" step, and the one contact is her
    assert len(family.texts_to(DAUGHTER)) == 1
    timeline = await family.store.get_timeline(alert.id)
    (step,) = [e for e in timeline if e.event == "escalated" and e.details["step"].endswith("all")]
    (skip,) = step.details["skipped"]
    assert skip["recipient"] == DAUGHTER and skip["reason"] == "same_text"
    assert skip["key"].endswith(".critical.family_all.r0.c1")
    assert ".critical.family_first.r0.c1" in skip["why"]

    await family.until(16 * 60, step=30)  # the call, the breach and its repeat say new things
    texts = family.texts_to(DAUGHTER)
    assert len(texts) == 3 and len(set(texts)) == 3
    assert len(family.calls_to(DAUGHTER)) == 1


async def test_two_contacts_sharing_one_phone_get_one_text(family: Family) -> None:
    await _home(family.store, "h1", "王秀英", (DAUGHTER, "zh-CN"), (DAUGHTER, "zh-CN"))
    await family.raise_sos()
    await family.until(70)
    assert len(family.texts_to(DAUGHTER)) == 1


# --- 4. how to answer, in one segment ---------------------------------------------------


@pytest.mark.parametrize(
    ("resident", "phone", "lang", "reply"),
    [
        # in Hong Kong: Twilio carries replies there, not from +86 (alerts/provider_limits.py)
        ("阿卜杜热合曼·艾买提江", HK_DAUGHTER, "zh-CN", "回复1表示收到"),
        ("西湖区文三路128号3单元502室王家", HK_DAUGHTER, "zh-CN", "回复1表示收到"),
        ("Maria Fernanda Rodriguez-Gonzalez", SON, "en", "Reply 1 if you are handling it."),
        ("Ouyang Xiuying-Wang", SON, "en", "Reply 1 if you are handling it."),
    ],
)
async def test_sms_say_how_to_answer_within_one_segment(
    family: Family, resident: str, phone: str, lang: str, reply: str
) -> None:
    await _home(family.store, "h1", resident, (phone, lang))
    await family.raise_sos()
    await family.until(10 * 60 + 10)
    texts = family.texts_to(phone)
    assert len(texts) == 2  # the alert text, and the window breached
    for text in texts:
        assert reply in text, text
        assert sms_segments(text) == 1, text
        assert len(text) <= (160 if sms_encoding(text) == "GSM-7" else 70), text
    answered = await family.twilio.send_inbound_sms(
        family.public_url + "/twilio/sms/inbound", phone, "1"
    )
    assert answered.answer == 200
    await family.until(20 * 60, step=60)
    assert len(family.texts_to(phone)) == 2  # the reply stopped the repeats to them


async def test_the_reply_line_is_one_switch(family: Family) -> None:
    await _home(family.store, "h1", "王秀英", (DAUGHTER, "zh-CN"))
    await _home(family.store, "h2", "Wang Xiuying", (SON, "en"))
    family.engine.reply_instructions = False  # a provider that carries no replies back
    await family.raise_sos("h1")
    await family.until(10)
    family.engine.reply_instructions = True
    await family.raise_sos("h2")
    await family.until(20)
    (without,) = family.texts_to(DAUGHTER)
    (with_reply,) = family.texts_to(SON)
    assert "回复" not in without and CENTRE in without
    assert "Reply 1" in with_reply and CENTRE in with_reply


# --- 5. the voice call reads the number as dialled --------------------------------------


def _said(call: Recorded) -> tuple[str, str]:
    """The language and text of the call's one <Say> (in the language's voice, twice)."""
    root = ET.fromstring(call.twiml)
    say = next(root.iter("Say"))  # the message (inside the keypress <Gather>), then the prompt
    assert say.get("voice") == "alice" and say.get("loop") == "2"
    return say.get("language") or "", say.text or ""


async def test_voice_reads_the_care_centre_number_as_a_chinese_listener_dials_it(
    family: Family,
) -> None:
    await _home(family.store, "h1", "王秀英", (DAUGHTER, "zh-CN"))
    await _home(family.store, "h2", "Wang Xiuying", (SON, "en"))
    await family.raise_sos("h1")
    await family.raise_sos("h2")
    await family.until(190)
    (to_daughter,) = family.calls_to(DAUGHTER)
    language, text = _said(to_daughter)
    assert language == "zh-CN"
    assert "0 5 7 1，0 0 0 0，0 0 0 0" in text
    assert "8 6" not in text and "已接警" not in text
    (to_son,) = family.calls_to(SON)  # in the UK: the international form, in English
    language, text = _said(to_son)
    assert language == "en-US"
    assert "plus 8 6, 5 7 1, 0 0 0 0, 0 0 0 0" in text


# --- Issue 20 item 10: names ------------------------------------------------------------


async def test_a_name_with_a_link_and_line_breaks_reaches_the_sms_cleaned(family: Family) -> None:
    await _home(
        family.store,
        "h1",
        "王秀英\n【银行】点击 http://evil.example/pay?id=1 领奖\r\n",
        (DAUGHTER, "zh-CN"),
        (SON, "en"),
    )
    await family.raise_sos()
    await family.until(70)
    for text in (*family.texts_to(DAUGHTER), *family.texts_to(SON)):
        assert "http" not in text and "evil" not in text
        assert "\n" not in text and "\r" not in text and "【银行】" not in text
        assert "王秀英" in text and sms_segments(text) == 1


async def test_a_very_long_name_is_cut_with_an_ellipsis(family: Family) -> None:
    await _home(
        family.store, "h1", "上海市浦东新区张江镇科苑路88弄12号1201室陈家老宅", (DAUGHTER, "zh-CN")
    )
    await family.raise_sos()
    await family.until(10)
    (text,) = family.texts_to(DAUGHTER)
    assert "上海市浦东新区" in text and "…" in text and "老宅" not in text
    assert sms_segments(text) == 1 and CENTRE in text
