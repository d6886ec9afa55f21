"""A real service for the screen's tests: Mosquitto (the harness's), SQLite, the
local Twilio-compatible server (real delivery callbacks), the wall clock plus an
offset the test moves forward (the escalation loop reads it every second), demo
homes h1 and h2."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page

from eldercare.app import Service
from eldercare.settings import Settings
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.twilio_server import TwilioServer, new_sid
from tests.e2e.helpers import eventually, free_port

ADMIN_PASSWORD = "screen-admin-pw"
AUTH_TOKEN = "screen-test-auth-token-0123456789"


class JumpClock:
    """The wall clock, moved forward by ``advance`` (the ladder's +60 s at once)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def observe(self, event_ts: datetime) -> None:
        return None

    def advance(self, seconds: float) -> datetime:
        self.offset += timedelta(seconds=seconds)
        return self.now()


@dataclass
class Running:
    service: Service
    api: str
    clock: JumpClock
    twilio: TwilioServer
    mqtt_port: int


@pytest.fixture
async def running(mosquitto: Any, tmp_path: Any) -> AsyncIterator[Running]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    account = new_sid("AC")
    async with TwilioServer(account, AUTH_TOKEN, callback_interval=0.01) as twilio:
        settings = Settings.load(env={}).with_(
            mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
            database_url=f"sqlite:///{tmp_path}/screen.db",
            api_port=port,
            public_url=api,
            admin_password=ADMIN_PASSWORD,
            mqtt_client_id=f"gw-{port}",
            twilio_account_sid=account,
            twilio_auth_token=AUTH_TOKEN,
            twilio_from="+15005550006",
            twilio_base_url=twilio.base_url,
        )
        clock = JumpClock()
        service = Service(settings, clock=clock)
        async with service:
            task = asyncio.create_task(service.run())

            async def ready() -> bool | None:
                checks = await service.readiness()
                return True if all(checks.values()) else None

            await eventually(ready, timeout=15)
            await provision_homes(
                api, "admin", ADMIN_PASSWORD, [DemoHome("h1", 0), DemoHome("h2", 1)]
            )
            yield Running(service, api, clock, twilio, mosquitto.port)
            service.request_stop()
            await asyncio.wait_for(task, 15)


async def log_in(page: Page, api: str) -> None:
    await log_in_as(page, api, "admin", ADMIN_PASSWORD)


async def log_in_as(page: Page, api: str, username: str, password: str) -> None:
    await page.goto(api)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-button")
    await page.wait_for_selector("#screen:not([hidden])")
    await page.wait_for_selector("#live.on", timeout=5000)  # the live stream is connected
