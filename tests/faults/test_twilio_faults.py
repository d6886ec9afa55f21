"""Fault suite, scenario 3: Twilio answers 500, then 429 with ``Retry-After``, then
hangs, then works, for every SMS step of an SOS ladder; each step ends with
exactly one accepted SMS (the real escalation engine on TimescaleDB, the real
``twilio`` client, the local Twilio server).

The hang: the server records the message and answers late, so the client's
timeout fires after the message was made (the ambiguous case); the retry
carries the same idempotency token and is answered with that message. The
request timeout is ``TwilioConfig.timeout_s`` (10 s by default; not an
``ELDERCARE_`` setting): short mode builds the channel with 0.5 s against a
1.5 s hang, ``ELDERCARE_FAULTS_MINUTES`` (any value) the default 10 s against
the full 20 s hang. Backoff waits go to an injected sleep that records them
(it does not wait), so the test checks that the Retry-After was honoured.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.twilio_channels import TwilioConfig, TwilioSms, TwilioTransport, TwilioVoice
from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, Finding, Home, Resident, Severity
from eldercare.metrics import Metrics
from eldercare.store import Store, open_store
from simulators.twilio_server import TwilioServer
from tests.faults.conftest import Figures, long_minutes
from tests.faults.service import AUTH_TOKEN, FROM

FIRST, SECOND = "+14155550101", "+14155550102"
RETRY_AFTER = 7.0


async def test_500_429_hang_then_success_give_one_sms_per_step(
    pg_url: str, figures: Figures
) -> None:
    store = await open_store(pg_url)
    await store.migrate()
    try:
        await _scenario(store, figures)
    finally:
        await store.close()


async def _scenario(store: Store, figures: Figures) -> None:
    hang, timeout = (1.5, 0.5) if long_minutes() is None else (20.0, 10.0)
    async with TwilioServer("AC" + "2" * 32, AUTH_TOKEN) as twilio:
        waits: list[float] = []

        async def recorded_sleep(seconds: float) -> None:
            waits.append(seconds)

        config = TwilioConfig(
            account_sid=twilio.account_sid,
            auth_token=AUTH_TOKEN,
            from_number=FROM,
            public_url="http://127.0.0.1:9",
            base_url=twilio.base_url,
            timeout_s=timeout,
        )
        transport = TwilioTransport(config, sleep=recorded_sleep)
        clock = ManualClock(datetime.now(UTC))
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
        await store.create_contact("h1", "Son", FIRST, "en", 1)
        await store.create_contact("h1", "Daughter", SECOND, "zh-CN", 2)
        step_seconds: dict[str, float] = {}
        try:
            change = await alerts.handle_finding(
                Finding("h1", "h1-r1", AlertKind.SOS, Severity.CRITICAL, clock.now(), "t:1")
            )
            assert change is not None
            for step, at in (("family_first", 0), ("family_all", 60)):
                twilio.fail_next(1, 500)
                twilio.fail_next(1, 429, retry_after=RETRY_AFTER)
                twilio.delay_next(1, hang)
                clock.set(change.alert.raised_at + timedelta(seconds=at))
                t0 = time.monotonic()
                await engine.run_due()
                step_seconds[step] = time.monotonic() - t0
        finally:
            await transport.aclose()
        await asyncio.sleep(0)
        sends = await store.list_sends(change.alert.id)
        statuses = [status for _, path, status in twilio.requests if path.endswith("Messages.json")]
    per_key = {
        s.key: [m for m in twilio.messages if m.idempotency_token == f"sms:{s.key}"] for s in sends
    }
    figures(
        "Twilio 500, 429 with Retry-After, hang, then success",
        {
            "hang (s) / request timeout (s)": f"{hang:g} / {timeout:g}",
            "Messages API answers, in order": statuses,
            "tries made by the channel": transport.requests,
            "backoff waits (s)": [round(w, 2) for w in waits],
            "SMS accepted": len(twilio.messages),
            "sends by key": {s.key: s.state for s in sends},
            "step run time, family_first (s)": step_seconds["family_first"],
            "step run time, family_all (s)": step_seconds["family_all"],
        },
    )
    sent = {s.key: s for s in sends if s.state == "sent"}
    assert [s.to_phone for s in sent.values()] == [FIRST, SECOND]
    assert all(len(per_key[key]) == 1 for key in sent), "each step: exactly one SMS"
    assert len(twilio.messages) == 2
    # the hung create made its message but its answer never came (the client gave up
    # and the server dropped the late answer); the fourth try is answered with it
    assert statuses == [500, 429, 201] * 2
    assert transport.requests == 8, "four tries per step: 500, 429, timeout, success"
    assert sum(1 for w in waits if w >= RETRY_AFTER) == 2, "Retry-After honoured on each 429"
