"""The care-centre screen in real headless Chromium on a real service: log in,
an SOS published over MQTT appears within 2 seconds, acknowledge it, see the
state change. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Page

from eldercare.app import Service
from eldercare.domain import Alert, AlertStatus, DeviceKind, Reading
from eldercare.settings import Settings
from eldercare.store import AlertFilter
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from tests.browser.chromium import artifact, chromium
from tests.e2e.helpers import eventually, free_port

ADMIN_PASSWORD = "screen-admin-pw"


@pytest.fixture
async def running(mosquitto: Any, tmp_path: Any) -> AsyncIterator[tuple[Service, str]]:
    port = free_port()
    settings = Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=f"sqlite:///{tmp_path}/screen.db",
        api_port=port,
        admin_password=ADMIN_PASSWORD,
        mqtt_client_id=f"gw-{port}",
    )
    service = Service(settings)
    async with service:
        task = asyncio.create_task(service.run())

        async def ready() -> bool | None:
            checks = await service.readiness()
            return True if all(checks.values()) else None

        await eventually(ready, timeout=15)
        api = f"http://127.0.0.1:{port}"
        await provision_homes(api, "admin", ADMIN_PASSWORD, [DemoHome("h1", 0), DemoHome("h2", 1)])
        yield service, api
        service.request_stop()
        await asyncio.wait_for(task, 15)


async def _vitals_history(service: Service, resident_device: str, home: str) -> None:
    """Six hours of bed-band readings, one a minute, so the chart has a line to show."""
    now = service.clock.now()
    readings = [
        Reading(home, resident_device, DeviceKind.BED_BAND, now - timedelta(minutes=m), now,
                100000 + m, 76, {"hr": 62 + (m % 17) - (m % 5), "rr": 14 + (m % 4), "in_bed": True})
        for m in range(360, 0, -1)
    ]  # fmt: skip
    await service.store.insert_readings(readings)


async def _log_in(page: Page, api: str) -> None:
    await page.goto(api)
    await page.fill("#username", "admin")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#login-button")
    await page.wait_for_selector("#screen:not([hidden])")
    await page.wait_for_selector("#live.on", timeout=5000)  # the live stream is connected


async def test_sos_appears_on_the_screen_and_is_acknowledged(
    running: tuple[Service, str], mosquitto: Any
) -> None:
    service, api = running
    await _vitals_history(service, "h1-bed", "h1")
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await _log_in(page, api)
        assert await page.inner_text("#no-alerts") == "当前没有待处理的警报"  # Chinese by default

        async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
            await pub.event("h1", "h1-sos", {"action": "press"})
        await page.wait_for_selector("li.alert[data-status='open']", timeout=2000)
        card = page.locator("li.alert").first
        assert "紧急呼叫" in await card.inner_text()
        assert await card.get_attribute("data-severity") == "critical"
        countdown = await card.locator(".countdown").inner_text()
        assert countdown.startswith("剩余"), countdown  # time left to the response deadline
        assert await page.evaluate("window.beeps") == 1  # a sound for the new critical alert

        await page.click(".home[data-home-id='h1'] .vitals")
        await page.wait_for_selector("#chart .chart-hr canvas")
        assert await page.evaluate("window.vitalsCharts.hr.data[0].length") >= 300  # 6 h of data
        await page.screenshot(path=str(artifact("screen-1920-sos-open.png")))

        await card.locator("button[data-action='acknowledge']").click()
        await page.wait_for_selector("li.alert[data-status='acknowledged']", timeout=3000)
        assert await page.locator("li.alert .status").inner_text() == "已确认"
        (alert,) = await _alerts(service)
        assert alert.status is AlertStatus.ACKNOWLEDGED
        await page.screenshot(path=str(artifact("screen-1920-sos-acknowledged.png")))

        await page.click("#screen .lang-toggle")
        await page.wait_for_selector("li.alert .status:text('Acknowledged')")
        await page.set_viewport_size({"width": 1024, "height": 768})  # a tablet
        await page.screenshot(path=str(artifact("screen-tablet-en.png")), full_page=True)
        assert errors == []


async def _alerts(service: Service) -> list[Alert]:
    return await service.store.list_alerts(AlertFilter(limit=10))
