"""A care centre of many homes wired like ``eldercare serve``: the real
detectors and pipeline, the alert service with its flood guard and silences,
the escalation engine texting through the real ``twilio`` package to the local
Twilio look-alike, and a ManualClock that the tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.incidents import FloodGuard, FloodRules
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.silences import Silences
from alerts.twilio_channels import TwilioConfig, TwilioSms, TwilioTransport, TwilioVoice
from detectors.runtime import DetectorRuntime
from eldercare.clock import ManualClock
from eldercare.domain import (
    Device,
    DeviceKind,
    Home,
    Reading,
    Resident,
    Role,
    StatusChange,
    User,
)
from eldercare.metrics import Metrics
from eldercare.pipeline import Pipeline
from eldercare.store import Store
from eldercare.store.base import NotFound
from simulators.twilio_server import TwilioServer, new_sid

T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)  # 02:00 in Shanghai
SUPERVISOR = "+8613900000009"
AUTH_TOKEN = "local-test-auth-token-0123456789"


def family_phone(i: int) -> str:
    return f"+86138{i:08d}"


async def provision_homes(store: Store, homes: int) -> None:
    """Homes f0…f<n-1>, each with a resident, an SOS button (a critical device:
    its offline alert is ``high`` and texts the family at +180 s) and a daughter."""
    for i in range(homes):
        home = f"f{i}"
        await store.create_home(Home(home, f"Home {i}", f"{i} Flood Road", "Asia/Shanghai"))
        await store.create_resident(Resident(f"{home}-r1", home, f"Resident {i}"))
        await store.create_device(Device(f"{home}-sos", home, DeviceKind.SOS_BUTTON, None, "bed"))
        await store.create_contact(home, "Daughter", family_phone(i), "en", 1)
    await store.create_user(User("sup", "x", Role.SUPERVISOR, SUPERVISOR))


@dataclass
class Centre:
    store: Store
    clock: ManualClock
    twilio: TwilioServer
    alerts: AlertService
    engine: EscalationEngine
    pipeline: Pipeline
    floods: FloodGuard
    silences: Silences

    async def offline(self, homes: range, spread_s: float = 30.0) -> None:
        """The SOS buttons of these homes publish their last will within
        ``spread_s`` (a power cut): one status change each, in one batch."""
        n = max(len(homes), 1)
        changes = [
            StatusChange(
                f"f{i}", f"f{i}-sos", False, self.clock.now() + timedelta(seconds=spread_s * k / n)
            )
            for k, i in enumerate(homes)
        ]
        await self.pipeline([], changes)

    async def status(self, home: int, online: bool) -> None:
        await self.pipeline(
            [], [StatusChange(f"f{home}", f"f{home}-sos", online, self.clock.now())]
        )

    async def press_sos(self, home: int, seq: int = 1) -> None:
        at = self.clock.now()
        reading = Reading(
            f"f{home}",
            f"f{home}-sos",
            DeviceKind.SOS_BUTTON,
            at,
            at,
            seq,
            None,
            {"action": "press"},
        )
        await self.pipeline([reading], [])

    async def until(self, seconds: float, step: float = 30.0) -> None:
        """Let time pass to T0 + seconds: due escalation steps run, detectors tick."""
        end = T0 + timedelta(seconds=seconds)
        while self.clock.now() < end:
            await self.engine.run_due()
            self.clock.set(min(self.clock.now() + timedelta(seconds=step), end))
            await self.pipeline.tick()
        await self.engine.run_due()

    def family_texts(self) -> list[str]:
        return [m.to for m in self.twilio.messages if m.to != SUPERVISOR]

    def supervisor_texts(self) -> list[str]:
        return [m.body for m in self.twilio.messages_to(SUPERVISOR)]


@asynccontextmanager
async def care_centre(
    store: Store, twilio: TwilioServer, account_sid: str, rules: FloodRules | None = None
) -> AsyncIterator[Centre]:
    clock, bus, metrics = ManualClock(T0), AlertBus(), Metrics()
    transport = TwilioTransport(
        TwilioConfig(
            account_sid=account_sid,
            auth_token=AUTH_TOKEN,
            from_number="+15005550006",
            public_url="http://127.0.0.1:9",
            base_url=twilio.base_url,
            timeout_s=5.0,
            attempts=2,
            backoff_s=0.01,
            backoff_max_s=0.05,
        )
    )
    engine = EscalationEngine(
        store,
        clock,
        bus,
        metrics,
        load_policy(None),
        TwilioSms(transport),
        TwilioVoice(transport),
        care_centre_phone="+8657100000000",
        default_timezone="Asia/Shanghai",
        public_url="http://127.0.0.1:9",
        sms_quota_per_hour=None,
    )
    floods = FloodGuard(store, clock, bus, metrics, rules or FloodRules())
    silences = Silences(store, clock, metrics)
    alerts = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone="+8657100000000",
        escalation=engine,
        floods=floods,
        silences=silences,
    )
    runtime = DetectorRuntime(store, default_timezone="Asia/Shanghai")

    async def lookup(device_id: str) -> Device | None:
        try:
            return await store.get_device(device_id)
        except NotFound:
            return None

    pipeline = Pipeline([runtime.detectors], alerts, clock, lookup, metrics, runtime=runtime)
    await pipeline.start()
    try:
        yield Centre(store, clock, twilio, alerts, engine, pipeline, floods, silences)
    finally:
        await pipeline.stop()
        await transport.aclose()


def new_account() -> str:
    return new_sid("AC")
