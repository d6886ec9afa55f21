"""What care-centre staff see on the screen, in real headless Chromium against a
real service (Mosquitto, SQLite, the local Twilio-compatible server): device
dots, the sound banner, re-alarms, the alert text in Chinese and English, the
alert card's address, contacts and timeline. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from playwright.async_api import Page

from eldercare.domain import DeviceKind, Reading
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
    # polled from the test: the page's CSP (no eval) refuses wait_for_function's string
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(found := await _alarms(page) or []) < n:
        if loop.time() > deadline:
            raise AssertionError(f"wanted {n} alarms, got {found}")
        await asyncio.sleep(0.05)
    return found


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


async def test_alert_text_is_in_the_screens_language_and_counts_people(running: Running) -> None:
    run = running
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, run.api)
        await _press_sos(run, "h2")
        card = page.locator("li.alert").first
        await card.locator(".message:text('紧急按钮被按下')").wait_for()
        assert await card.locator(".message").inner_text() == "紧急按钮被按下（床边）"
        assert "SOS" not in await card.inner_text()  # no English left on a Chinese screen

        (alert,) = await run.service.store.list_alerts(AlertFilter(limit=5))
        run.clock.advance((alert.response_deadline - run.clock.now()).total_seconds() + 1)
        # the window breached: the only contact is texted a second time
        await card.locator(".timeline .ev-notified").nth(1).wait_for(timeout=8000)
        assert await card.locator(".note-notified").inner_text() == "已通知 1 人"  # one person

        await page.click("#screen .lang-toggle")
        await card.locator(".message:text('SOS button pressed')").wait_for()
        assert await card.locator(".message").inner_text() == "SOS button pressed (bedside)"
        assert await card.locator(".note-notified").inner_text() == "1 notified"
        assert errors == []


async def test_card_shows_address_contacts_replies_and_timeline(running: Running) -> None:
    run = running
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, run.api)
        await _press_sos(run, "h1")
        card = page.locator("li.alert").first
        await card.locator(".address").wait_for()
        assert await card.locator(".address").inner_text() == "地址 幸福路 1 号"
        assert "王秀英" in await card.locator(".who").inner_text()
        contact = card.locator(".contact")
        await contact.locator(".dstatus:text('已送达')").wait_for(timeout=8000)  # the callback
        assert "女儿" in await contact.inner_text()
        assert "+86 138 0000 0000" in await contact.inner_text()

        await run.twilio.send_inbound_sms(f"{run.api}/twilio/sms/inbound", "+8613800000000", "收到")
        await contact.locator(".reply").wait_for()
        assert await contact.locator(".reply").inner_text() == "“收到”（家属已在处理）"

        await card.locator("button[data-action='acknowledge']").click()
        await page.wait_for_selector("li.alert[data-status='acknowledged']")
        await card.locator("button[data-action='dispatch']").click()
        await page.fill("#responder", "张师傅")
        await page.click("#dispatch-ok")
        await card.locator(".timeline .ev-dispatched").wait_for()
        lines = await card.locator(".timeline li").all_inner_texts()
        texts = [line.split(" ", 1)[1] for line in lines if line[:2].isdigit()]
        assert texts[0] == "报警"
        assert "短信 → 女儿 已送达" in texts
        assert any(t.startswith("家属回复 女儿: “收到”") for t in texts)
        assert "已确认 — admin" in texts
        assert "已派人：张师傅 — admin" in texts
        await page.screenshot(path=str(artifact("screen-1920-alert-card.png")))
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.screenshot(path=str(artifact("screen-1280-alert-card.png")))
        overflow = "document.documentElement.scrollWidth - window.innerWidth"
        assert await page.evaluate(overflow) <= 0  # nothing cut off at the side on a laptop
        assert errors == []


async def _readings(run: Running, seconds: int, every: int) -> None:
    """Bed-band readings of h1's resident over the last ``seconds``."""
    now = run.service.clock.now()
    readings = [
        Reading("h1", "h1-bed", DeviceKind.BED_BAND, now - timedelta(seconds=s), now,
                200000 + s, 80, {"hr": 60 + s % 9, "rr": 13 + s % 3, "in_bed": True})
        for s in range(seconds, 0, -every)
    ]  # fmt: skip
    await run.service.store.insert_readings(readings)


async def _chart_span_s(page: Page) -> float:
    span: float = await page.evaluate(
        "(() => { const x = window.vitalsCharts.hr.scales.x; return x.max - x.min; })()"
    )
    return span


async def test_chart_fits_its_range_to_the_data(running: Running) -> None:
    run = running
    await _readings(run, 120, 1)  # the resident has worn the band for two minutes
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await log_in(page, run.api)
        await page.click(".home[data-home-id='h1'] .vitals")
        await page.wait_for_selector("#chart .chart-hr canvas")
        assert await page.input_value("#chart-hours") == "6"
        assert 120 <= await _chart_span_s(page) <= 150  # not a sliver of a 6 h axis
        assert "最近 2 分钟" in await page.inner_text("#chart-title")
        points: int = await page.evaluate("window.vitalsCharts.hr.data[0].length")
        assert points >= 12  # finer buckets for a short span
        font: str = await page.evaluate("window.vitalsCharts.hr.axes[0].font[0]")
        assert int(font.split("px")[0].split()[-1]) >= 16, font  # legible on a wall screen
        await page.screenshot(path=str(artifact("screen-1920-chart-2min.png")))
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.screenshot(path=str(artifact("screen-1280-chart-2min.png")))

        await _readings(run, 6 * 3600, 60)  # six hours of history: the whole window
        await page.select_option("#chart-hours", "6")
        await page.click(".home[data-home-id='h1'] .vitals")
        await page.wait_for_function(
            "window.vitalsCharts.hr.scales.x.max - window.vitalsCharts.hr.scales.x.min > 3600"
        )
        assert 6 * 3600 - 5 <= await _chart_span_s(page) <= 6 * 3600 + 5
        assert "最近 6 小时" in await page.inner_text("#chart-title")


KINDS: list[tuple[str, dict[str, Any], str | None]] = [
    ("sos", {}, "sos_button"),
    ("fall", {"how": "detected"}, "fall_radar"),
    ("fall", {"how": "timeout"}, "fall_radar"),
    ("heart_rate_low", {"median": 36, "limit": 40, "window_s": 60}, "bed_band"),
    ("heart_rate_high", {"median": 141, "limit": 130, "window_s": 60}, "bed_band"),
    ("respiration_low", {"median": 7, "limit": 8, "window_s": 60}, "bed_band"),
    ("respiration_high", {"median": 28, "limit": 25, "window_s": 60}, "bed_band"),
    ("breathing_stopped", {"seconds": 24}, "bed_band"),
    ("gas_leak", {"lel": 12}, "gas"),
    ("gas_leak", {"alarm": True}, "gas"),
    ("water_leak", {"leak": True}, "water"),
    ("bed_exit_not_returned", {"out_since": "2026-01-10T18:10:00+00:00"}, "bed_band"),
    ("night_wandering", {"opened": "2026-01-10T16:05:00+00:00"}, "door"),
    ("door_left_open", {"opened": "2026-01-10T02:00:00+00:00"}, "door"),
    ("inactivity", {"last_activity": "2026-01-10T00:30:00+00:00"}, None),
    ("device_offline", {"by": "silence", "device_kind": "door"}, "door"),
    ("device_offline", {"by": "status", "device_kind": "gas"}, "gas"),
    ("battery_low", {"battery": 12}, "water"),
    ("sos", {"delayed_s": 95}, "sos_button"),
]


async def test_every_alert_kind_has_a_chinese_and_an_english_text(running: Running) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await log_in(page, running.api)
        texts: list[list[str]] = await page.evaluate(
            """(cases) => cases.map(([kind, details, deviceKind]) => {
                const device = deviceKind && { id: "x-1", kind: deviceKind, location: "kitchen" };
                const detail = { details, home: { timezone: "Asia/Shanghai" }, device };
                const alert = { kind, message: "the detector's English text" };
                return ["zh-CN", "en"].map((lang) => {
                    state.lang = lang;
                    return alertText(alert, detail);
                });
            })""",
            KINDS,
        )
    for (kind, _, _), (zh, en) in zip(KINDS, texts, strict=True):
        assert zh and en and zh != en, kind
        assert not re.search(r"[A-Za-z]{2,}", zh.replace("LEL", "")), (kind, zh)  # no English
        assert "English" not in en, (kind, en)  # built from the kind, not the message
    by_kind = {k: v for (k, *_), v in zip(KINDS, texts, strict=True)}
    assert by_kind["heart_rate_low"] == [
        "心率过低：60 秒中位数 36 次/分（下限 40）",
        "Heart rate low: median 36 bpm over 60 s (limit 40)",
    ]
    assert by_kind["bed_exit_not_returned"][0] == "02:10 离床，至今未回"  # the home's time
    assert by_kind["night_wandering"][1] == "Front door opened at 00:05 at night, nobody back"
    assert texts[-1] == [
        "紧急按钮被按下（厨房）（延迟 95 秒到达）",
        "SOS button pressed (kitchen) (arrived 95 s late)",
    ]
