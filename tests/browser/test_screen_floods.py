"""Issue 15 item 5 on the screen, in real headless Chromium against a real
service (Mosquitto, the gateway, detectors, SQLite, the local Twilio server):
300 homes' SOS buttons go offline at once (their last will over MQTT) and the
screen shows one incident tile with its 300 members instead of 300 cards, and
no family is texted; a maintenance silence is shown with its end time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from eldercare.domain import Device, DeviceKind, Home, Resident
from simulators.publisher import DevicePublisher, status_topic
from tests.browser.chromium import artifact, chromium
from tests.browser.conftest import ADMIN_PASSWORD, Running, log_in
from tests.e2e.helpers import eventually

HOMES = 300


def _family(i: int) -> str:
    return f"+86138{i:08d}"


async def _admin(api: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=api) as client:
        got = await client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        return {"Authorization": f"Bearer {got.json()['access_token']}"}


async def test_a_flood_of_300_offline_alerts_is_one_incident_tile_and_no_family_sms(
    running: Running,
) -> None:
    run, store = running, running.service.store
    for i in range(HOMES):
        await store.create_home(Home(f"f{i}", f"楼{i}", f"{i} 号", "Asia/Shanghai"))
        await store.create_resident(Resident(f"f{i}-r1", f"f{i}", f"住户{i}"))
        await store.create_device(Device(f"f{i}-sos", f"f{i}", DeviceKind.SOS_BUTTON))
        await store.create_contact(f"f{i}", "女儿", _family(i), "zh-CN", 1)
    headers = await _admin(run.api)
    async with httpx.AsyncClient(base_url=run.api, headers=headers) as client:
        # any registry write through the API: the gateway and detectors reload the registry
        assert (await client.patch("/api/v1/homes/f0", json={"name": "楼0"})).status_code == 200
    async with DevicePublisher("127.0.0.1", run.mqtt_port) as pub:
        try:
            for i in range(HOMES):
                await pub.status(f"f{i}", f"f{i}-sos", online=False)

            async def grouped() -> int | None:
                found = await store.list_incidents("default")
                return found[0].members if found and found[0].members == HOMES else None

            await eventually(grouped, timeout=60)  # 300 statuses on 2 shared cores
            async with chromium() as browser:
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await log_in(page, run.api)
                tile = page.locator("#incidents .incident")
                await tile.first.wait_for(timeout=60_000)
                assert await tile.count() == 1
                assert await tile.get_attribute("data-members") == str(HOMES)
                assert "300 户" in await tile.inner_text()
                assert "家属短信已暂停" in await tile.inner_text()
                await tile.locator("summary").click()
                assert await tile.locator(".incident-members li").count() == HOMES
                assert await page.locator("#alerts .alert").count() == 0  # no 300 cards
                await page.screenshot(path=str(artifact("screen-1920-incident.png")))
            run.clock.advance(200)  # past the +180 s family step of a high alert
            assert run.service.escalation is not None
            await run.service.escalation.run_due()
            assert [m.to for m in run.twilio.messages if m.to.startswith("+86138")] == []
        finally:
            for i in range(HOMES):  # the broker is the session's: leave no retained status
                await pub.raw(status_topic(f"f{i}", f"f{i}-sos"), b"", retain=True)


async def test_a_silence_is_on_the_screen_with_its_end_time(running: Running) -> None:
    headers = await _admin(running.api)
    ends = datetime.now(UTC) + timedelta(hours=2)
    async with httpx.AsyncClient(base_url=running.api, headers=headers) as client:
        made = await client.post(
            "/api/v1/silences",
            json={
                "home_id": "h1",
                "device_id": "h1-door",
                "ends_at": ends.isoformat(),
                "reason": "换门磁",
            },
        )
        assert made.status_code == 201, made.text
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await log_in(page, running.api)
        row = page.locator("#silences .silence[data-home-id='h1']")
        await row.wait_for()
        text = await row.inner_text()
        local = ends.astimezone().strftime("%H:%M")
        assert "h1-door" in text and "换门磁" in text and "静默至" in text, text
        assert local in text, text
