"""What care-centre staff see on the screen, in real headless Chromium against a
real service (Mosquitto, SQLite, the local Twilio-compatible server): device
dots, the sound banner, re-alarms, the alert text in Chinese and English, the
alert card's address, contacts and timeline. Screenshots go to test-artifacts/."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from eldercare.store import AlertFilter
from simulators.publisher import DevicePublisher
from tests.browser.chromium import artifact, chromium
from tests.browser.conftest import Running, log_in
from tests.e2e.helpers import eventually


async def _press_sos(run: Running, home: str) -> None:
    async with DevicePublisher("127.0.0.1", run.mqtt_port) as pub:
        await pub.event(home, f"{home}-sos", {"action": "press"})


async def _alarms(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.alarms")
    return found


async def _wait_alarms(page: Page, n: int, timeout: float = 8) -> list[dict[str, Any]]:
    """The screen's alarms once there are at least ``n`` (fails showing them)."""
    try:
        await page.wait_for_function(f"window.alarms.length >= {n}", timeout=timeout * 1000)
    except Exception as exc:
        raise AssertionError(f"wanted {n} alarms, got {await _alarms(page)}") from exc
    return await _alarms(page)


async def test_device_dots_are_green_for_devices_that_report_without_a_status(
    running: Running,
) -> None:
    run = running
    async with DevicePublisher("127.0.0.1", run.mqtt_port) as pub:  # data, never a status
        await pub.event("h1", "h1-bed", {"hr": 64, "rr": 14, "in_bed": True})
        await pub.event("h1", "h1-door", {"open": False})

    async def written() -> bool | None:
        seen = {lv.device_id for lv in await run.service.store.list_liveness("h1") if lv.last_seen}
        return True if {"h1-bed", "h1-door"} <= seen else None

    await eventually(written)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await log_in(page, run.api)
        tile = page.locator(".home[data-home-id='h1']")
        await tile.locator(".device.on").first.wait_for()
        on = await tile.locator(".device.on").all_inner_texts()
        unknown = await tile.locator(".device.unknown").all_inner_texts()
        assert sorted(on) == ["睡眠带", "门磁"], on
        assert len(unknown) == 4  # the other four never said anything
        assert await page.locator(".home[data-home-id='h2'] .device.on").count() == 0


async def test_sound_banner_until_a_click_turns_sound_on(running: Running) -> None:
    async with chromium(autoplay=False) as browser:  # a desktop browser's autoplay rule
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await log_in(page, running.api)
        await page.reload()  # a wall screen reloads: no click on this page yet
        await page.wait_for_selector("#screen:not([hidden])")
        banner = page.locator("#sound-banner")
        await banner.wait_for(state="visible")
        assert "警报声音已关闭" in await banner.inner_text()
        box = await banner.bounding_box()
        assert box is not None and box["width"] >= 1900 and box["height"] >= 60  # across the top
        size = await banner.evaluate("b => parseFloat(getComputedStyle(b).fontSize)")
        assert size >= 36, size  # readable from across the room
        assert await page.evaluate("document.body.dataset.sound") == "off"
        await page.screenshot(path=str(artifact("screen-1920-sound-banner.png")))

        await _press_sos(running, "h1")  # sound is off: the alarm is seen, not heard
        await page.wait_for_selector("li.alert.flash")
        assert [a["sound"] for a in await _alarms(page)] == [False]

        await banner.click()
        await banner.wait_for(state="hidden")
        assert await page.evaluate("document.body.dataset.sound") == "on"


async def test_re_alarm_when_pressed_again_escalated_and_breached(running: Running) -> None:
    run = running
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await log_in(page, run.api)
        await _press_sos(run, "h1")
        await page.wait_for_selector("li.alert[data-status='open']")
        await _wait_alarms(page, 1)

        await _press_sos(run, "h1")  # pressed again: the same alert, ×2
        await page.wait_for_selector("li.alert .count:text('第 2 次')")
        await _wait_alarms(page, 2)

        (alert,) = await run.service.store.list_alerts(AlertFilter(limit=5))
        run.clock.advance(61)  # +60 s and nobody acknowledged: the ladder's next step
        await _wait_alarms(page, 3)
        await page.click("li.alert button[data-action='acknowledge']")
        await page.wait_for_selector("li.alert[data-status='acknowledged']")
        breach_in = (alert.response_deadline - run.clock.now()).total_seconds()
        run.clock.advance(breach_in + 1)  # the window runs out, nobody on site
        # the +7 min warning to supervisors (acknowledged, nobody on site) and the breach
        reasons = [a["reason"] for a in await _wait_alarms(page, 5)]
        assert reasons[:3] == ["new", "repeated", "escalated"]
        assert sorted(reasons[3:]) == ["breached", "escalated"]
        assert await page.evaluate("window.beeps") == 5  # each one heard
        assert await page.locator("li.alert.flash").count() == 1  # and seen
        await page.screenshot(path=str(artifact("screen-1920-re-alarm.png")))
