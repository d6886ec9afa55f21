"""Fault suite, scenario 4: the wall clock set forward and back by minutes under a
running SOS ladder (what ``date -s`` does to ``eldercare serve``): no step is
skipped and none fires twice (the real escalation engine on TimescaleDB, the
local Twilio server for its SMS and calls).

The engine schedules on the wall clock: every step's ``due_at`` is a wall time
(raised_at + after, in the store, so it survives restarts) and each tick runs
what is due at the clock's now. A jump forward therefore runs the steps it
passes at once (early, once each; a repeating step's missed rounds collapse
into one, ``_next_round``); a jump back delays every later step by the jump.
The test prints each step's lateness in elapsed time. Time is simulated
(a clock whose wall time is elapsed time plus a jumping offset), so both modes
run the same ~20 simulated minutes in seconds.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.twilio_channels import TwilioConfig, TwilioSms, TwilioTransport, TwilioVoice
from eldercare.domain import AlertKind, Finding, Home, Resident, Severity
from eldercare.metrics import Metrics
from eldercare.store import Store, open_store
from simulators.twilio_server import TwilioServer
from tests.faults.conftest import Figures
from tests.faults.service import AUTH_TOKEN, FROM

TICK_S = 2
JUMPS = {30: +300, 40: -600, 1000: +1200}
"""Elapsed second -> the wall clock set forward (+) or back (-) by that many seconds."""
END_S = 1300
NOMINAL = {
    ("critical.family_first", 0): 0,
    ("critical.family_all", 0): 60,
    ("critical.voice_first", 0): 180,
    ("critical.supervisor", 0): 180,
    ("critical.window_warning", 0): 420,
    ("critical.window_breached", 0): 600,
    ("critical.window_breached", 1): 900,
    ("critical.window_breached", 2): 1200,
}
"""Every step the ladder runs in END_S elapsed seconds, and when it would without jumps."""


class JumpingClock:
    """Wall time = a start + elapsed seconds + an offset that jumps."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.elapsed = 0.0
        self.offset = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed + self.offset)

    def observe(self, event_ts: datetime) -> None:
        return None


async def test_wall_clock_jumps_skip_no_step_and_repeat_none(pg_url: str, figures: Figures) -> None:
    store = await open_store(pg_url)
    await store.migrate()
    try:
        await _scenario(store, figures)
    finally:
        await store.close()


async def _scenario(store: Store, figures: Figures) -> None:
    async with TwilioServer("AC" + "3" * 32, AUTH_TOKEN) as twilio:
        config = TwilioConfig(
            account_sid=twilio.account_sid,
            auth_token=AUTH_TOKEN,
            from_number=FROM,
            public_url="http://127.0.0.1:9",
            base_url=twilio.base_url,
        )
        transport = TwilioTransport(config)
        clock = JumpingClock(datetime.now(UTC).replace(microsecond=0))
        bus, metrics = AlertBus(), Metrics()
        engine = EscalationEngine(
            store,
            clock,
            bus,
            metrics,
            load_policy(None),
            TwilioSms(transport),
            TwilioVoice(transport),
            care_centre_phone="+14155550100",
            default_timezone="UTC",
            sms_quota_per_hour=None,
        )
        alerts = AlertService(
            store,
            clock,
            bus,
            metrics,
            response_window_s=600,
            default_timezone="UTC",
            care_centre_phone="+14155550100",
            escalation=engine,
        )
        await store.create_home(Home("h1", "Home one", "1 Main St", "UTC"))
        await store.create_resident(Resident("h1-r1", "h1", "Ada"))
        await store.create_contact("h1", "Son", "+14155550201", "en", 1)
        await store.create_contact("h1", "Daughter", "+14155550202", "zh-CN", 2)
        ran_at: dict[tuple[str, int], float] = {}
        try:
            change = await alerts.handle_finding(
                Finding("h1", "h1-r1", AlertKind.SOS, Severity.CRITICAL, clock.now(), "t:1")
            )
            assert change is not None
            alert_id = change.alert.id
            while clock.elapsed <= END_S:
                clock.offset += JUMPS.get(int(clock.elapsed), 0)
                await engine.run_due()
                for step in await store.list_steps(alert_id):
                    if step.state == "done":
                        ran_at.setdefault((step.name, step.round), clock.elapsed)
                clock.elapsed += TICK_S
        finally:
            await transport.aclose()
        steps = await store.list_steps(alert_id)
        timeline = await store.get_timeline(alert_id)
        sends = await store.list_sends(alert_id)
        provider = Counter(
            r.idempotency_token for r in [*twilio.messages, *twilio.calls] if r.idempotency_token
        )
    escalated = Counter(
        (e.details["step"], e.details["round"]) for e in timeline if e.event == "escalated"
    )
    rows = Counter((s.name, s.round) for s in steps if s.state != "pending")
    late = {f"{n} r{r}": ran_at[(n, r)] - at for (n, r), at in NOMINAL.items() if (n, r) in ran_at}
    figures(
        "wall clock jumps under an SOS ladder",
        {
            "jumps (elapsed s: wall s)": JUMPS,
            "steps run": len(ran_at),
            "SMS accepted": len(twilio.messages),
            "calls made": len(twilio.calls),
            "step lateness in elapsed s (- early)": late,
            "states of steps": dict(Counter(s.state for s in steps)),
        },
    )
    assert set(ran_at) >= set(NOMINAL), f"steps skipped: {set(NOMINAL) - set(ran_at)}"
    assert all(s.state in ("done", "pending") for s in steps), "no step skipped or cancelled"
    assert all(n == 1 for n in rows.values()), "no step row twice"
    assert all(n == 1 for n in escalated.values()), f"a step ran twice: {escalated}"
    assert all(n == 1 for n in provider.values()), "no SMS or call twice"
    assert {s.key for s in sends if s.state == "sent"} <= {t.split(":", 1)[1] for t in provider}, (
        "every sent message reached the provider"
    )
