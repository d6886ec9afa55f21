"""A night of six alerts for one home whose daughter has a +86 number, through the
real escalation engine, the real ``twilio`` package and the local Twilio server
enforcing Twilio's China rules, on a manual clock (six hours in well under a
second of escalation work), on SQLite and on TimescaleDB.

What must hold: no SMS the rules reject (or hold for review) is ever sent; every
alert still reaches the family (an SMS, a voice call or the next contact); the
timeline says, at the moment it happened, why each SMS was skipped; a +86
number on Twilio is never asked to reply; repeats are never identical texts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.twilio_channels import TwilioSms, TwilioVoice
from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, Finding, Home, Outcome, Resident, Role, Severity, User
from eldercare.metrics import Metrics
from eldercare.store import Store
from simulators.twilio_server import TwilioServer
from tests.limits.conftest import T0

DAUGHTER, SON, SUPERVISOR = "+8613800000001", "+447700900002", "+8613900000009"


@dataclass(frozen=True)
class NightAlert:
    at_min: int
    """minutes after 23:00"""
    kind: AlertKind
    severity: Severity
    ack_s: int
    """staff acknowledge this long after the raise, arrive 7 min, resolve 9 min after it"""


NIGHT = [
    NightAlert(0, AlertKind.SOS, Severity.CRITICAL, 90),
    NightAlert(70, AlertKind.FALL, Severity.CRITICAL, 90),
    NightAlert(140, AlertKind.BED_EXIT_NOT_RETURNED, Severity.HIGH, 240),  # texted at +3 min
    NightAlert(210, AlertKind.SOS, Severity.CRITICAL, 90),
    NightAlert(280, AlertKind.HEART_RATE_LOW, Severity.CRITICAL, 90),
    NightAlert(350, AlertKind.GAS_LEAK, Severity.CRITICAL, 90),
]


@dataclass
class Night:
    store: Store
    clock: ManualClock
    engine: EscalationEngine
    alerts: AlertService
    bus: AlertBus
    ids: list[int]


async def play(store: Store, clock: ManualClock, sms: TwilioSms, voice: TwilioVoice) -> Night:
    bus, metrics = AlertBus(), Metrics()
    engine = EscalationEngine(
        store,
        clock,
        bus,
        metrics,
        load_policy(),
        sms,
        voice,
        care_centre_phone="+8657100000000",
        default_timezone="Asia/Shanghai",
        public_url=None,
    )
    alerts = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone="+8657100000000",
        escalation=engine,
    )
    # what happens when: raises, staff actions, and every 10 s the scheduler
    moments: dict[datetime, list[tuple[str, int]]] = {}
    for i, a in enumerate(NIGHT):
        start = T0 + timedelta(minutes=a.at_min)
        for s, what in ((0, "raise"), (a.ack_s, "ack"), (420, "arrive"), (540, "resolve")):
            moments.setdefault(start + timedelta(seconds=s), []).append((what, i))
        for s in range(0, 660, 10):
            moments.setdefault(start + timedelta(seconds=s), [])
    ids: list[int] = []
    for at in sorted(moments):
        clock.set(at)
        for what, i in moments[at]:
            a = NIGHT[i]
            if what == "raise":
                change = await alerts.handle_finding(
                    Finding("h1", "h1-r1", a.kind, a.severity, at, f"n{i}", resident_id="h1-r1")
                )
                assert change is not None
                ids.append(change.alert.id)
            elif what == "ack":
                await alerts.acknowledge(ids[i], "op")
            elif what == "arrive":
                await alerts.arrive(ids[i], "op")
            else:
                await alerts.resolve(ids[i], "op", Outcome.HANDLED)
        while await engine.run_due():  # steps added while running (next contact, a call)
            pass
    return Night(store, clock, engine, alerts, bus, ids)


async def provision(store: Store, *, son: bool) -> None:
    await store.create_home(Home("h1", "Chen home", "1 Road", "Asia/Shanghai"))
    await store.create_resident(Resident("h1-r1", "h1", "王秀英"))
    await store.create_contact("h1", "Daughter", DAUGHTER, "zh-CN", 1)
    if son:
        await store.create_contact("h1", "Son", SON, "zh-CN", 2)
    await store.create_user(User("sup", "x", Role.SUPERVISOR, SUPERVISOR))


def no_rule_broken(twilio: TwilioServer) -> None:
    assert twilio.refused == []
    assert [(m.to, m.broke, m.body) for m in twilio.broken] == []
    cn = [m.body for m in twilio.messages_to(DAUGHTER)]
    assert len(cn) == 4  # the four the 24 h allow, then none
    assert len(set(cn)) == len(cn)  # never the same text twice
    assert not any("回复" in b or "Reply" in b for b in cn)  # no reply asked: none can come


async def reached_family(night: Night, family: set[str]) -> list[list[tuple[str, str]]]:
    """Per alert, the family messages and calls that went out: (kind, phone)."""
    out = []
    for aid in night.ids:
        timeline = await night.store.get_timeline(aid)
        went = [
            (e.details["kind"], e.details["recipient"])
            for e in timeline
            if e.event == "notified"
            and e.details["recipient"] in family
            and e.details["status"] not in ("failed", "suppressed", "unknown")
        ]
        assert went, f"alert {aid} reached nobody in the family"
        out.append(went)
    return out


async def skipped_and_why(night: Night) -> list[list[str]]:
    """Per alert, the action taken for each SMS skipped; checks each skip has its why."""
    out = []
    for aid in night.ids:
        timeline = await night.store.get_timeline(aid)
        why = {e.details["key"]: e for e in timeline if e.event == "sms_limited"}
        skipped = [s for s in await night.store.list_sends(aid) if s.status == "limited"]
        assert {s.key for s in skipped} == set(why)
        for s in skipped:
            entry = why[s.key]
            assert entry.details["message"] == "family could not be reached by SMS: limit"
            assert entry.details["rule"] == "review_24h" and entry.details["provider"] == "twilio"
            assert "manual review" in entry.details["reason"]
            assert entry.details["recipient"] == s.to_phone
            assert s.updated_at == entry.at  # recorded when the SMS would have gone
        out.append([why[s.key].details["action"] for s in skipped])
    return out


async def test_a_night_alone_with_a_mainland_number_calls_instead(
    store: Store, clock: ManualClock, sms: TwilioSms, voice: TwilioVoice, twilio: TwilioServer
) -> None:
    await provision(store, son=False)
    night = await play(store, clock, sms, voice)
    await twilio.settle()
    no_rule_broken(twilio)
    reached = await reached_family(night, {DAUGHTER})
    assert reached[:2] == [[("sms", DAUGHTER)] * 2] * 2  # 0 s and +60 s, texts differ
    assert reached[2:] == [[("voice", DAUGHTER)]] * 4  # past the 4 a day: a call at once
    assert await skipped_and_why(night) == [
        [],
        [],
        # the high alert's +3 min SMS; its all-clear after resolve has no other way
        ["voice", "none"],
        # 0 s: call; +60 s: she was called a minute ago; the all-clear: none
        ["voice", "voice_already", "none"],
        ["voice", "voice_already", "none"],
        ["voice", "voice_already", "none"],
    ]
    calls = [c for c in twilio.calls if c.to == DAUGHTER]
    assert len(calls) == 4
    raised = [(await store.get_alert(i)).raised_at for i in night.ids]
    assert [c.created for c in calls] == [raised[2] + timedelta(minutes=3), *raised[3:]]
    # the screen is told at once: an sms_limited change on the live stream per skip
    changes = [e.change for e in night.bus.replay(0) or []]
    assert changes.count("sms_limited") == 11


async def test_a_night_with_a_second_contact_moves_on_to_him(
    store: Store, clock: ManualClock, sms: TwilioSms, voice: TwilioVoice, twilio: TwilioServer
) -> None:
    await provision(store, son=True)
    night = await play(store, clock, sms, voice)
    await twilio.settle()
    no_rule_broken(twilio)
    reached = await reached_family(night, {DAUGHTER, SON})
    assert [sorted(r) for r in reached[2:]] == [
        [("sms", SON), ("sms", SON)],  # the high alert's SMS to #1 goes to #2; his all-clear
        *[[("sms", SON), ("sms", SON), ("voice", DAUGHTER)]] * 3,
    ]
    assert await skipped_and_why(night) == [
        [],
        [],
        ["next_contact"],
        # +60 s is to everyone: the son has his, she is called; her all-clear: none
        ["next_contact", "voice", "none"],
        ["next_contact", "voice", "none"],
        ["next_contact", "voice", "none"],
    ]
    son = [m.body for m in twilio.messages_to(SON)]
    alert_texts = [b for b in son if "告警结束" not in b and "告警已结束" not in b]  # all-clears
    assert alert_texts and all("回复1" in b for b in alert_texts)  # a UK number can answer
    assert len(set(son)) == len(son)
