"""Fixtures for the Aliyun and Tencent Cloud tests: each provider's local look-alike
server, its channel through the official SDK pointed at it, the real API (uvicorn
on a free port) receiving the providers' pushes, and the real escalation engine.

``Rig.advance(seconds)`` moves the engine's clock and the look-alike's
flow-control clock together: the tests replay time, never sleep. The channel's
retry waits go through it too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from alerts.aliyun_channels import AliyunConfig, AliyunSms, AliyunVoice
from alerts.channels import ConsoleSms, SmsChannel, VoiceChannel
from alerts.cn_sms import Endpoint, RetryPolicy, SendRecord
from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.service import AlertService
from alerts.sms_templates import load_templates
from alerts.tencent_channels import TencentConfig, TencentSms
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from eldercare.domain import Alert, AlertKind, Finding, Home, Resident, Severity
from eldercare.metrics import Metrics
from eldercare.settings import Settings
from eldercare.store import open_store
from eldercare.store.base import Store
from simulators.aliyun_server import AliyunServer
from simulators.cn_lookalike import LookAlike
from simulators.tencent_server import TencentServer
from tests.e2e.helpers import eventually, free_port

TOKEN = "callback-token-for-tests-0123456789"
ALIYUN_KEY, ALIYUN_SECRET = "LTAI5tTestAccessKey", "aliyun-test-secret-0123456789"
TENCENT_ID, TENCENT_KEY, TENCENT_APP = (
    "AKIDtestSecretId",
    "tencent-test-key-0123456789",
    "1400000001",
)
FIRST, SECOND = "+8613800000001", "+8613800000002"
CENTRE = "+8657100000000"


@dataclass
class Rig:
    provider: str
    server: LookAlike
    sms: SmsChannel
    voice: VoiceChannel
    record: SendRecord
    engine: EscalationEngine
    alerts: AlertService
    store: Store
    clock: ManualClock
    api: AppContext
    public_url: str

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.server.advance(seconds)

    async def wait(self, seconds: float) -> None:
        """The channel's retry sleep: time passes for everyone, nobody sleeps."""
        self.advance(seconds)

    async def home(self) -> None:
        await self.store.create_home(Home("h1", "王家", "1 Main St", "Asia/Shanghai"))
        await self.store.create_resident(Resident("h1-r1", "h1", "王秀英"))
        await self.store.create_contact("h1", "Son", FIRST, "zh-CN", 1)
        await self.store.create_contact("h1", "Daughter", SECOND, "zh-CN", 2)

    async def raise_alert(self, kind: AlertKind = AlertKind.SOS) -> Alert:
        change = await self.alerts.handle_finding(
            Finding("h1", "h1-r1", kind, Severity.CRITICAL, self.clock.now(), f"t:{kind.value}")
        )
        assert change is not None
        return change.alert

    async def settle(self) -> None:
        """Every push of the look-alike posted and answered by the API."""
        await self.server.settle()

    async def timeline(self, alert_id: int, event: str) -> list[dict[str, object]]:
        return [e.details for e in await self.store.get_timeline(alert_id) if e.event == event]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(provider: str, public_url: str) -> LookAlike:
    if provider == "aliyun":
        return AliyunServer(
            ALIYUN_KEY,
            ALIYUN_SECRET,
            report_url=f"{public_url}/aliyun/sms/report/{TOKEN}",
            reply_url=f"{public_url}/aliyun/sms/up/{TOKEN}",
            voice_report_url=f"{public_url}/aliyun/voice/report/{TOKEN}",
        )
    return TencentServer(
        TENCENT_ID,
        TENCENT_KEY,
        TENCENT_APP,
        report_url=f"{public_url}/tencent/sms/status/{TOKEN}",
        reply_url=f"{public_url}/tencent/sms/reply/{TOKEN}",
    )


def channels(
    provider: str, server: LookAlike, record: SendRecord, secret: str | None = None
) -> tuple[SmsChannel, VoiceChannel]:
    templates = load_templates()
    endpoint = Endpoint.parse(server.base_url)
    if provider == "aliyun":
        config = AliyunConfig(
            ALIYUN_KEY, secret or ALIYUN_SECRET, endpoint, endpoint, "057100000000", record.policy
        )
        return AliyunSms(config, templates, record), AliyunVoice(config, templates, record)
    tconfig = TencentConfig(
        TENCENT_ID, secret or TENCENT_KEY, TENCENT_APP, endpoint, retry=record.policy
    )
    return TencentSms(tconfig, templates, record), ConsoleSms()


@pytest.fixture(params=["aliyun", "tencent"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    provider: str = request.param
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    store = await open_store(f"sqlite:///{tmp_path}/t.db")
    await store.migrate()
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    bus, metrics = AlertBus(), Metrics()
    settings = Settings(
        public_url=public_url,
        sms_callback_token=TOKEN,
        secret_key="test-secret-key-long-enough-for-hs256-0123456789",
    )
    async with _server(provider, public_url) as server:
        holder: list[Rig] = []

        async def wait(seconds: float) -> None:
            await holder[0].wait(seconds)

        policy = RetryPolicy(timeout_s=1.0, backoff_s=0.01, backoff_max_s=0.05)
        record = SendRecord(provider, policy, sleep=wait)
        sms, voice = channels(provider, server, record)
        engine = EscalationEngine(
            store,
            clock,
            bus,
            metrics,
            load_policy(None),
            sms,
            voice,
            care_centre_phone=CENTRE,
            default_timezone="Asia/Shanghai",
            public_url=public_url,
        )
        alerts = AlertService(
            store,
            clock,
            bus,
            metrics,
            response_window_s=600,
            default_timezone="Asia/Shanghai",
            care_centre_phone=CENTRE,
            escalation=engine,
        )

        async def readiness() -> dict[str, bool]:
            return {"store": True}

        ctx = AppContext(
            settings=settings,
            store=store,
            alerts=alerts,
            bus=bus,
            clock=clock,
            metrics=metrics,
            readiness=readiness,
            on_registry_change=lambda: None,
            delivery=engine,
        )
        api = _Server(
            uvicorn.Config(
                create_app(ctx), host="127.0.0.1", port=port, log_config=None, lifespan="off"
            )
        )
        task = asyncio.create_task(api.serve())

        async def started() -> bool | None:
            return True if api.started else None

        await eventually(started)
        rig = Rig(
            provider, server, sms, voice, record, engine, alerts, store, clock, ctx, public_url
        )
        holder.append(rig)
        try:
            yield rig
        finally:
            await server.settle()  # pushes under way reach the API before it stops
            close = getattr(sms, "aclose", None)
            if close is not None:
                await close()
            api.should_exit = True
            await task
            await store.close()
