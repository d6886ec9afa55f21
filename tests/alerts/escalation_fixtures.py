"""A small world for escalation tests: one home, three contacts, a supervisor,
a real store and a recording channel (the only fake: sending is pure I/O)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alerts.channels import Outbound, PermanentFailure, Receipt
from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.service import AlertService
from eldercare.clock import ManualClock
from eldercare.domain import Alert, AlertKind, Finding, Home, Resident, Role, Severity, User
from eldercare.metrics import Metrics
from eldercare.store import Store

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
DAUGHTER, SON, NEIGHBOUR = "+8613800000001", "+447700900002", "+8613800000003"
SUPERVISOR = "+8613900000009"


class Crash(BaseException):
    """The process dies here (not an Exception: nothing may catch it)."""


@dataclass(frozen=True)
class Sent:
    at: datetime
    kind: str
    """sms or voice"""
    to: str
    body: str
    key: str


@dataclass
class Recorder:
    """An SmsChannel and VoiceChannel that records; can fail or crash on cue."""

    clock: ManualClock
    name: str = "recorder"
    sent: list[Sent] = field(default_factory=list)
    fail_to: set[str] = field(default_factory=set)
    crash_on_call: int | None = None
    """crash during the n-th call (1-based), after the provider got it"""
    calls: int = 0

    async def _record(self, kind: str, m: Outbound) -> Receipt:
        await asyncio.sleep(0)  # a real provider call yields: let other workers interleave
        self.calls += 1
        if m.to in self.fail_to:
            raise PermanentFailure(f"{m.to} is not a mobile number", status=400)
        self.sent.append(Sent(self.clock.now(), kind, m.to, m.body, m.step_key))
        if self.crash_on_call == self.calls:
            raise Crash
        return Receipt(f"SM{self.calls:04d}", "queued")

    async def send_sms(self, message: Outbound) -> Receipt:
        return await self._record("sms", message)

    async def call(self, message: Outbound) -> Receipt:
        return await self._record("voice", message)

    def log(self) -> list[tuple[int, str, str]]:
        """(seconds after T0, sms/voice, phone), sorted: steps due at the same
        time run concurrently, so their order among themselves is not fixed."""
        return sorted((int((s.at - T0).total_seconds()), s.kind, s.to) for s in self.sent)


async def provision(store: Store, *, neighbour: bool = False) -> None:
    await store.create_home(Home("h1", "Home one", "1 Road", "Asia/Shanghai"))
    await store.create_resident(Resident("h1-r1", "h1", "Wang"))
    await store.create_contact("h1", "Daughter", DAUGHTER, "zh-CN", 1)
    await store.create_contact("h1", "Son", SON, "en", 2)
    if neighbour:
        await store.create_contact("h1", "Neighbour", NEIGHBOUR, "zh-CN", 3)
    await store.create_user(User("sup", "x", Role.SUPERVISOR, SUPERVISOR))
    await store.create_user(User("op", "x", Role.OPERATOR, "+8613900000008"))
    await store.create_user(User("sup2", "x", Role.SUPERVISOR, None))


@dataclass
class World:
    store: Store
    clock: ManualClock
    channel: Recorder
    engine: EscalationEngine
    alerts: AlertService
    bus: AlertBus

    async def raise_(
        self,
        kind: AlertKind = AlertKind.SOS,
        severity: Severity = Severity.CRITICAL,
        home_id: str = "h1",
        key: str = "k1",
    ) -> Alert:
        change = await self.alerts.handle_finding(
            Finding(
                home_id,
                f"{home_id}-r1",
                kind,
                severity,
                self.clock.now(),
                key,
                resident_id=f"{home_id}-r1",
            )
        )
        assert change is not None
        return change.alert

    async def until(self, seconds: float, step: float = 10.0) -> None:
        """Let time pass to T0 + seconds, running due steps every ``step`` s."""
        end = T0 + timedelta(seconds=seconds)
        while self.clock.now() < end:
            await self.engine.run_due()
            self.clock.set(min(self.clock.now() + timedelta(seconds=step), end))
        await self.engine.run_due()


def make_world(
    store: Store,
    clock: ManualClock,
    channel: Recorder | None = None,
    *,
    quota: int | None = 10,
    lease_s: float = 60.0,
    worker: str | None = None,
) -> World:
    channel = channel or Recorder(clock)
    bus, metrics = AlertBus(), Metrics()
    engine = EscalationEngine(
        store,
        clock,
        bus,
        metrics,
        load_policy(),
        channel,
        channel,
        care_centre_phone="+8657100000000",
        default_timezone="Asia/Shanghai",
        public_url="http://127.0.0.1:8000",
        sms_quota_per_hour=quota,
        lease_s=lease_s,
        worker_id=worker,
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
    return World(store, clock, channel, engine, alerts, bus)
