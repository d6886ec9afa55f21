"""Fixtures for the Twilio tests: the local Twilio-compatible server, channels
pointed at it, and the real API (uvicorn on a free port) receiving its webhooks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn

from alerts.events import AlertBus
from alerts.service import AlertService
from alerts.twilio_channels import TwilioConfig, TwilioSms, TwilioTransport, TwilioVoice
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import WallClock
from eldercare.metrics import Metrics
from eldercare.settings import Settings
from eldercare.store import open_store
from simulators.twilio_server import TwilioServer, new_sid
from tests.e2e.helpers import eventually, free_port

AUTH_TOKEN = "local-test-auth-token-0123456789"
FROM = "+15005550006"


@dataclass
class RecordingDelivery:
    """A stand-in for the escalation engine's DeliveryEvents: records what arrives."""

    statuses: list[tuple[str, str, datetime, dict[str, str]]] = field(default_factory=list)
    replies: list[tuple[str, str, datetime]] = field(default_factory=list)

    async def on_delivery_status(
        self, provider_id: str, status: str, at: datetime, details: dict[str, str]
    ) -> None:
        self.statuses.append((provider_id, status, at, details))

    async def on_family_reply(self, from_phone: str, body: str, at: datetime) -> None:
        self.replies.append((from_phone, body, at))

    async def on_call_keypress(self, provider_id: str, digits: str, at: datetime) -> None:
        self.replies.append((provider_id, digits, at))

    def statuses_of(self, provider_id: str) -> list[str]:
        return [s for sid, s, _, _ in self.statuses if sid == provider_id]


@pytest.fixture
def account_sid() -> str:
    return new_sid("AC")


@pytest.fixture
async def twilio(account_sid: str) -> AsyncIterator[TwilioServer]:
    async with TwilioServer(account_sid, AUTH_TOKEN, callback_interval=0.01) as server:
        yield server


@pytest.fixture
def api_port() -> int:
    return free_port()


@pytest.fixture
def public_url(api_port: int) -> str:
    return f"http://127.0.0.1:{api_port}"


@pytest.fixture
def config(twilio: TwilioServer, account_sid: str, public_url: str) -> TwilioConfig:
    """Short timeouts and backoff so failure tests stay fast."""
    return TwilioConfig(
        account_sid=account_sid,
        auth_token=AUTH_TOKEN,
        from_number=FROM,
        public_url=public_url,
        base_url=twilio.base_url,
        timeout_s=2.0,
        attempts=3,
        backoff_s=0.01,
        backoff_max_s=0.05,
    )


@pytest.fixture
async def transport(config: TwilioConfig) -> AsyncIterator[TwilioTransport]:
    t = TwilioTransport(config)
    yield t
    await t.aclose()


@pytest.fixture
def sms(transport: TwilioTransport) -> TwilioSms:
    return TwilioSms(transport)


@pytest.fixture
def voice(transport: TwilioTransport) -> TwilioVoice:
    return TwilioVoice(transport)


@pytest.fixture
def delivery() -> RecordingDelivery:
    return RecordingDelivery()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def api(
    tmp_path: Path, api_port: int, public_url: str, delivery: RecordingDelivery
) -> AsyncIterator[AppContext]:
    """The real API over a real SQLite store, listening on ``public_url``."""
    settings = Settings(
        twilio_auth_token=AUTH_TOKEN,
        public_url=public_url,
        secret_key="test-secret-key-long-enough-for-hs256-0123456789",
    )
    store = await open_store(f"sqlite:///{tmp_path}/t.db")
    await store.migrate()
    clock, bus, metrics = WallClock(), AlertBus(), Metrics()
    service = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=settings.response_window,
        default_timezone=settings.timezone,
        care_centre_phone=settings.care_centre_phone,
    )

    async def readiness() -> dict[str, bool]:
        return {"store": True}

    ctx = AppContext(
        settings=settings,
        store=store,
        alerts=service,
        bus=bus,
        clock=clock,
        metrics=metrics,
        readiness=readiness,
        on_registry_change=lambda: None,
        delivery=delivery,
    )
    server = _Server(
        uvicorn.Config(
            create_app(ctx), host="127.0.0.1", port=api_port, log_config=None, lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool | None:
        return True if server.started else None

    await eventually(started)
    try:
        yield ctx
    finally:
        server.should_exit = True
        await task
        await store.close()
