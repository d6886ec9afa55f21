"""The response protocol, notes and calls on the alert card, and the shift
handover page (Issue 15 items 3, 4 and 6), in real headless Chromium against a
real service (Mosquitto, SQLite, the local Twilio-compatible server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, Page

from alerts.protocols import load_default_protocols
from eldercare.domain import AlertKind, AlertStatus, Organisation, Role, User
from eldercare.passwords import hash_password
from eldercare.store import AlertFilter, LivenessUpdate
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from tests.browser.chromium import artifact, chromium
from tests.browser.conftest import ADMIN_PASSWORD, Running, log_in
from tests.e2e.helpers import eventually

BEE_PASSWORD = "bee-centre-password-42"
SOS = load_default_protocols()[AlertKind.SOS]


async def _press_sos(run: Running, home: str) -> None:
    async with DevicePublisher("127.0.0.1", run.mqtt_port) as pub:
        await pub.event(home, f"{home}-sos", {"action": "press"})


async def _token(run: Running, username: str, password: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=run.api) as client:
        got = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert got.status_code == 200, got.text
        return {"Authorization": f"Bearer {got.json()['access_token']}"}


async def _log_in_as(page: Page, api: str, username: str, password: str) -> None:
    await page.goto(api)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-button")
    await page.wait_for_selector("#screen:not([hidden])")
    await page.wait_for_selector("#live.on", timeout=5000)


async def _screen(browser: Browser, run: Running, errors: list[str]) -> Page:
    page = await browser.new_page(viewport={"width": 1600, "height": 1000})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await log_in(page, run.api)
    return page


async def _open_alert(run: Running, home: str) -> int:
    async def raised() -> int | None:
        found = await run.service.store.list_alerts(
            AlertFilter(home_id=home, status=[AlertStatus.OPEN])
        )
        return found[0].id if found else None

    alert_id: int = await eventually(raised, timeout=8)
    return alert_id


async def test_a_ticked_step_a_note_and_a_call_are_on_the_timeline_with_who_and_when(
    running: Running,
) -> None:
    run = running
    errors: list[str] = []
    async with chromium() as browser:
        page = await _screen(browser, run, errors)
        other = await _screen(browser, run, errors)  # a second screen of the centre
        started = datetime.now(UTC)
        await _press_sos(run, "h1")
        alert_id = await _open_alert(run, "h1")
        card = page.locator(f"li.alert[data-alert-id='{alert_id}']")
        await card.locator(".protocol .step").first.wait_for(timeout=8000)
        steps = await card.locator(".protocol .step .step-text").all_inner_texts()
        assert steps == [s.text["zh-CN"] for s in SOS]

        await card.locator(".step-box[data-step='call_resident']").check()
        await card.locator(".protocol .step.done[data-step='call_resident']").wait_for()
        by = await card.locator(".step.done[data-step='call_resident'] .step-by").inner_text()
        assert by.strip().startswith("admin ")
        line = card.locator(".timeline .ev-protocol_step")
        await line.wait_for()
        assert f"流程 ✓ {SOS[0].text['zh-CN']} — admin" in await line.inner_text()
        theirs = other.locator(f"li.alert[data-alert-id='{alert_id}']")
        await theirs.locator(".step.done[data-step='call_resident']").wait_for(timeout=2000)

        await card.locator("button[data-action='note']").click()
        await page.fill("#note-text", "门锁着，邻居有钥匙")
        await page.click("#note-ok")
        await card.locator(".timeline .ev-note").wait_for()
        assert "备注: 门锁着，邻居有钥匙 — admin" in await card.locator(".ev-note").inner_text()

        await card.locator("button[data-action='call']").click()
        contact = await run.service.store.list_contacts("h1")
        await page.select_option("#call-who", f"contact:{contact[0].id}")
        await page.select_option("#call-outcome", "no_answer")
        await page.fill("#call-note", "关机")
        await page.click("#call-ok")
        await card.locator(".timeline .ev-call").wait_for()
        call_text = await card.locator(".ev-call").inner_text()
        assert "通话 → 女儿: 无人接听 (关机) — admin" in call_text
        await theirs.locator(".timeline .ev-call").wait_for(timeout=2000)
        await page.screenshot(path=str(artifact("screen-protocol-note-call.png")))

        timeline = await run.service.store.get_timeline(alert_id)
        done = [
            (
                e.event,
                e.actor,
                e.details.get("step") or e.details.get("text") or e.details["outcome"],
            )
            for e in timeline
            if e.event in ("protocol_step", "note", "call")
        ]
        assert done == [
            ("protocol_step", "admin", "call_resident"),
            ("note", "admin", "门锁着，邻居有钥匙"),
            ("call", "admin", "no_answer"),
        ]
        shown_at = await card.locator(".ev-call time").get_attribute("datetime")
        call_entry = next(e for e in timeline if e.event == "call")
        assert shown_at is not None
        assert datetime.fromisoformat(shown_at) == call_entry.at
        assert started - timedelta(seconds=1) <= call_entry.at <= run.clock.now()
        assert errors == []


async def test_a_centres_changed_protocol_shows_and_another_centre_sees_its_own(
    running: Running,
) -> None:
    run = running
    store = run.service.store
    await store.create_organisation(Organisation("bee", "Centre Bee"))
    await store.create_user(
        User("bee-admin", hash_password(BEE_PASSWORD), Role.ADMIN, organisation_id="bee")
    )
    await provision_homes(run.api, "bee-admin", BEE_PASSWORD, [DemoHome("b1", 2)])
    assert (await store.get_home("b1")).organisation_id == "bee"
    own = {
        "sos": {
            "steps": [
                {"id": "ring_warden", "zh-CN": "打电话给楼长王师傅", "en": "Ring warden Wang"},
                {"id": "ambulance_120", "zh-CN": "需要时拨打 120", "en": "Call 120 if needed"},
            ]
        }
    }
    admin = await _token(run, "admin", ADMIN_PASSWORD)
    async with httpx.AsyncClient(base_url=run.api) as client:
        put = await client.put("/api/v1/protocols", json=own, headers=admin)
        assert put.status_code == 200, put.text
    errors: list[str] = []
    async with chromium() as browser:
        page = await _screen(browser, run, errors)
        bee = await browser.new_page(viewport={"width": 1600, "height": 1000})
        bee.on("pageerror", lambda exc: errors.append(str(exc)))
        await _log_in_as(bee, run.api, "bee-admin", BEE_PASSWORD)
        await _press_sos(run, "h1")
        await _press_sos(run, "b1")
        a_alert = await _open_alert(run, "h1")
        b_alert = await _open_alert(run, "b1")

        card = page.locator(f"li.alert[data-alert-id='{a_alert}']")
        await card.locator(".protocol-block[data-source='centre']").wait_for(timeout=8000)
        assert await card.locator(".protocol .step-text").all_inner_texts() == [
            "打电话给楼长王师傅",
            "需要时拨打 120",
        ]
        assert "本中心流程" in await card.locator(".protocol-block h4").inner_text()

        bee_card = bee.locator(f"li.alert[data-alert-id='{b_alert}']")
        await bee_card.locator(".protocol-block[data-source='default']").wait_for(timeout=8000)
        assert await bee_card.locator(".protocol .step-text").all_inner_texts() == [
            s.text["zh-CN"] for s in SOS
        ]
        assert await bee.locator(f"li.alert[data-alert-id='{a_alert}']").count() == 0
        assert await page.locator(f"li.alert[data-alert-id='{b_alert}']").count() == 0
        await bee.screenshot(path=str(artifact("screen-protocol-other-centre.png")))
        assert errors == []


def _rows(found: list[dict[str, Any]], attribute: str) -> list[str]:
    return [str(r[attribute]) for r in found]


async def _table(page: Page, table: str, attribute: str) -> list[str]:
    got: list[str] = []
    for row in await page.locator(f"#{table} tbody tr[{attribute}]").all():
        got.append(str(await row.get_attribute(attribute)))
    return got


async def test_the_handover_page_lists_exactly_what_the_store_holds(running: Running) -> None:
    run = running
    store = run.service.store
    admin = await _token(run, "admin", ADMIN_PASSWORD)
    await _press_sos(run, "h1")
    open_id = await _open_alert(run, "h1")
    await _press_sos(run, "h2")
    resolved_id = await _open_alert(run, "h2")
    async with httpx.AsyncClient(base_url=run.api) as client:
        done = await client.post(
            f"/api/v1/alerts/{resolved_id}/resolve",
            json={"outcome": "false_alarm", "note": "按错了"},
            headers=admin,
        )
        assert done.status_code == 200, done.text
        for text in ("摔过一次，明早再打电话", "夜里不安"):
            note = await client.post(
                f"/api/v1/alerts/{open_id}/notes", json={"text": text, "watch": True}, headers=admin
            )
            assert note.status_code == 201, note.text
    await store.update_liveness(
        [LivenessUpdate("h2-door", last_seen=run.clock.now() - timedelta(minutes=40), online=False)]
    )

    errors: list[str] = []
    async with chromium() as browser:
        page = await _screen(browser, run, errors)
        await page.click("#handover-link")
        await page.wait_for_selector("#open-n:not(:empty)")
        await page.wait_for_selector("#watch-n:not(:empty)")

        # what the store holds, read past the API
        active = await store.list_alerts(
            AlertFilter(
                status=[
                    AlertStatus.OPEN,
                    AlertStatus.ACKNOWLEDGED,
                    AlertStatus.DISPATCHED,
                    AlertStatus.ON_SITE,
                ],
                limit=1000,
            )
        )
        end = run.clock.now()
        resolved = await store.list_timeline_window(["resolved"], end - timedelta(hours=8), end)
        devices: set[str] = set()
        down: list[str] = []
        for home in ("h1", "h2"):
            devices |= {d.id for d in await store.list_devices(home_id=home)}
            down += [d.device_id for d in await store.list_liveness(home) if d.online is False]
        down_alerts = {a.device_id for a in active if a.kind is AlertKind.DEVICE_OFFLINE}
        assert sorted(await _table(page, "open", "data-alert-id")) == sorted(
            str(a.id) for a in active
        )
        assert str(open_id) in await _table(page, "open", "data-alert-id")
        assert await _table(page, "resolved", "data-alert-id") == [
            str(e.alert_id) for e in resolved
        ]
        assert [e.alert_id for e in resolved] == [resolved_id]
        resolved_row = await page.locator(
            f"#resolved tr[data-alert-id='{resolved_id}']"
        ).inner_text()
        assert "误报" in resolved_row and "按错了" in resolved_row and "admin" in resolved_row
        offline = sorted(await _table(page, "offline", "data-device-id"))
        assert offline == sorted(set(down) | {d for d in down_alerts if d in devices})
        assert "h2-door" in offline
        watch = await _table(page, "watch", "data-resident-id")
        assert watch == ["h1-r1"]
        watch_row = await page.locator("#watch tr[data-resident-id='h1-r1']").inner_text()
        assert "摔过一次，明早再打电话" in watch_row and "夜里不安" in watch_row
        await page.screenshot(path=str(artifact("handover-screen.png")), full_page=True)

        await page.emulate_media(media="print")
        assert not await page.locator("#window-form").is_visible()  # the form is not printed
        pdf = await page.pdf(format="A4")
        assert pdf.startswith(b"%PDF")
        (artifact("handover.pdf")).write_bytes(pdf)
        assert errors == []
