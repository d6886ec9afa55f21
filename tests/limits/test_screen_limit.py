"""The care-centre screen says at once when the family could not be texted because
of a provider limit: a real service (Mosquitto, SQLite, Twilio through the local
server with Twilio's China rules) whose centre file allows one SMS a day to +86
numbers, an SOS (texted) then a gas alarm (not texted: a call instead), and the
gas alert's card in headless Chromium shows the limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from eldercare.app import Service
from eldercare.settings import Settings
from eldercare.store import AlertFilter
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from simulators.twilio_server import CHINA_RULES, TwilioServer, new_sid
from tests.browser.chromium import artifact, chromium
from tests.e2e.helpers import eventually, free_port

ADMIN_PASSWORD = "limits-admin-pw"
TOKEN = "local-test-auth-token-0123456789"
ONE_A_DAY = """
[twilio."+86"]
two_way = false
[[twilio."+86".rules]]
name = "one_a_day"
max = 1
window = 86400
outcome = "review"
reason = "one SMS a day to this number (centre contract)"
"""


async def log_in(page: Page, api: str, password: str) -> None:
    await page.goto(api)
    await page.fill("#username", "admin")
    await page.fill("#password", password)
    await page.click("#login-button")
    await page.wait_for_selector("#live.on", timeout=5000)  # the live stream is connected


@pytest.fixture
async def running(
    mosquitto: Any, tmp_path: Path
) -> AsyncIterator[tuple[Service, str, TwilioServer]]:
    limits = tmp_path / "limits.toml"
    limits.write_text(ONE_A_DAY, encoding="utf-8")
    account = new_sid("AC")
    async with TwilioServer(account, TOKEN, callback_interval=0.01, rules=CHINA_RULES) as twilio:
        port = free_port()
        settings = Settings.load(env={}).with_(
            mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
            database_url=f"sqlite:///{tmp_path}/limits.db",
            api_port=port,
            public_url=f"http://127.0.0.1:{port}",
            admin_password=ADMIN_PASSWORD,
            mqtt_client_id=f"gw-{port}",
            twilio_account_sid=account,
            twilio_auth_token=TOKEN,
            twilio_from="+15005550006",
            twilio_base_url=twilio.base_url,
            sms_limits=str(limits),
        )
        service = Service(settings)
        async with service:
            task = asyncio.create_task(service.run())

            async def ready() -> bool | None:
                return True if all((await service.readiness()).values()) else None

            await eventually(ready, timeout=15)
            api = f"http://127.0.0.1:{port}"
            await provision_homes(api, "admin", ADMIN_PASSWORD, [DemoHome("h1", 0)])
            yield service, api, twilio
            service.request_stop()
            await asyncio.wait_for(task, 15)


async def test_the_screen_shows_family_not_reached_by_sms_because_of_a_limit(
    running: tuple[Service, str, TwilioServer], mosquitto: Any
) -> None:
    service, api, twilio = running
    phone = DemoHome("h1", 0).contact_doc()["phone"]
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, api, ADMIN_PASSWORD)
        async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
            await pub.event("h1", "h1-sos", {"action": "press"})

            async def texted() -> bool | None:
                return True if twilio.messages_to(str(phone)) else None

            await eventually(texted)
            await pub.event("h1", "h1-gas", {"alarm": True})
        gas = page.locator("li.alert", has_text="燃气")
        await gas.locator(".sms-limited").wait_for(timeout=3000)
        assert "短信受服务商限制，未能联系家属" in await gas.locator(".sms-limited").inner_text()
        await page.screenshot(path=str(artifact("screen-1920-sms-limited.png")))
        await page.click("#screen .lang-toggle")
        note = page.locator("li.alert", has_text="Gas leak").locator(".sms-limited")
        assert "family could not be reached by SMS: limit" in await note.inner_text()
        assert errors == []

    async def called() -> bool | None:
        return True if [c for c in twilio.calls if c.to == phone] else None

    await eventually(called)  # the gas alert reached her by voice instead
    assert len(twilio.messages_to(str(phone))) == 1
    assert twilio.broken == []
    alerts = await service.store.list_alerts(AlertFilter(limit=10))
    assert sorted(a.kind.value for a in alerts) == ["gas_leak", "sos"]
