"""The care-centre screen's session in real headless Chromium on a real service:
it stays signed in across a restart of the service (no ELDERCARE_SECRET_KEY: the
key is kept in the store), and it renews its token before the token expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
from playwright.async_api import Page

from eldercare.app import Service
from eldercare.settings import Settings
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from tests.browser.chromium import artifact, chromium
from tests.e2e.helpers import eventually, free_port

ADMIN_PASSWORD = "session-admin-pw"
KEY = "screen-session-test-key-0123456789abcdef"


def _settings(mosquitto: Any, tmp_path: Path, port: int, **more: Any) -> Settings:
    return Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=f"sqlite:///{tmp_path}/session.db",
        api_port=port,
        admin_password=ADMIN_PASSWORD,
        mqtt_client_id=f"gw-{port}",
        **more,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Service]:
    service = Service(settings)
    async with service:
        task = asyncio.create_task(service.run())

        async def ready() -> bool | None:
            return True if all((await service.readiness()).values()) else None

        await eventually(ready, timeout=15)
        try:
            yield service
        finally:
            service.request_stop()
            await asyncio.wait_for(task, 15)


async def _log_in(page: Page, api: str) -> None:
    await page.goto(api)
    await page.fill("#username", "admin")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#login-button")
    await page.wait_for_selector("#screen:not([hidden])")
    await page.wait_for_selector("#live.on", timeout=5000)


async def test_the_screen_stays_signed_in_across_a_service_restart(
    mosquitto: Any, tmp_path: Path
) -> None:
    port = free_port()
    settings = _settings(mosquitto, tmp_path, port)
    assert settings.secret_key is None
    api = f"http://127.0.0.1:{port}"
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        async with running(settings):
            await provision_homes(api, "admin", ADMIN_PASSWORD, [DemoHome("h1", 0)])
            await _log_in(page, api)
        await page.wait_for_selector("#live.off", timeout=10000)  # the service is gone
        async with running(settings):  # a new service on the same store
            await page.wait_for_selector("#live.on", timeout=15000)  # reconnected
            assert await page.is_hidden("#login")
            async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
                await pub.event("h1", "h1-sos", {"action": "press"})
            await page.wait_for_selector("li.alert[data-status='open']", timeout=5000)
            assert await page.is_hidden("#login")
            await page.screenshot(path=str(artifact("screen-after-restart.png")))


async def test_the_screen_renews_its_token_before_it_expires(
    mosquitto: Any, tmp_path: Path
) -> None:
    port = free_port()
    settings = _settings(mosquitto, tmp_path, port, secret_key=KEY, token_ttl=3600.0)
    api = f"http://127.0.0.1:{port}"
    async with running(settings) as service, chromium() as browser:
        admin = await service.store.get_user("admin")
        now = int(time.time())
        claims = {"sub": "admin", "ver": admin.token_version, "sid": "wall-1", "exp": now + 60}
        ending = jwt.encode(claims, KEY, algorithm="HS256")  # a minute left
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await page.clock.install()
        await page.add_init_script(f"sessionStorage.setItem('token', {ending!r})")
        await page.goto(api)
        await page.wait_for_selector("#live.on", timeout=5000)  # signed in with it

        async with page.expect_response("**/api/v1/auth/renew") as renewal:
            await page.clock.run_for(31_000)  # half of its life, on the page's clock
        assert (await renewal.value).status == 200
        token = await page.evaluate("sessionStorage.getItem('token')")
        renewed = jwt.decode(token, KEY, algorithms=["HS256"])
        assert renewed["sid"] == "wall-1"
        assert renewed["exp"] >= now + 3600  # the session was extended
        async with httpx.AsyncClient(base_url=api) as client:
            response = await client.get(
                "/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 200
        assert await page.is_hidden("#login")
