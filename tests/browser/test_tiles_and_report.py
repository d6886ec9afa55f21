"""The home tiles of a large centre and the monthly report's charts, in real
headless Chromium against a real service: 2,000 provisioned homes load from a
bounded number of requests (none per home), filter by state and search by home
id and resident name; the report's Chart.js canvases carry the API's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, Request

from eldercare.domain import AlertKind, Finding, Severity
from eldercare.provision import provision
from eldercare.store.base import LivenessUpdate
from simulators.publisher import DevicePublisher
from tests.browser.chromium import artifact, chromium
from tests.browser.conftest import ADMIN_PASSWORD, Running, log_in
from tests.e2e.helpers import eventually

HOMES = 2000
ALERTING = ("t0007", "t0123", "t1999")
OFFLINE = ("t0050", "t0051")


async def _provision(run: Running, tmp_path: Path) -> None:
    lines = ["type,id,home_id,name,kind,resident_id"]
    for n in range(HOMES):
        h = f"t{n:04d}"
        lines += [
            f"home,{h},,Tile home {n},,",
            f"resident,{h}-r1,{h},Resident {n:04d},,",
            f"device,{h}-door,{h},,door,",
            f"device,{h}-sos,{h},,sos_button,",
        ]
    path = tmp_path / "homes.csv"
    path.write_text("\n".join(lines) + "\n")
    await provision(path, run.service.store, "Asia/Shanghai")
    now = datetime.now(UTC)
    await run.service.store.update_liveness(
        [LivenessUpdate(f"{h}-door", last_seen=now, online=False) for h in OFFLINE]
    )
    for n, h in enumerate(ALERTING):
        finding = Finding(
            h, f"{h}-r1", AlertKind.SOS, Severity.CRITICAL, now, f"tiles:{n}", device_id=f"{h}-sos"
        )
        assert await run.service.store.record_finding(finding, 600) is not None


async def _press_sos(run: Running, home: str) -> None:
    async with DevicePublisher("127.0.0.1", run.mqtt_port) as pub:
        await pub.event(home, f"{home}-sos", {"action": "press"})


async def _headers(client: httpx.AsyncClient) -> dict[str, str]:
    form = {"username": "admin", "password": ADMIN_PASSWORD}
    token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _shown(page: Page) -> list[str]:
    ids: list[str] = await page.locator("#tiles .tile").evaluate_all(
        "(tiles) => tiles.map((t) => t.dataset.homeId)"
    )
    return ids


async def test_two_thousand_home_tiles_from_one_request_filtered_and_searched(
    running: Running, tmp_path: Path
) -> None:
    run = running
    await _provision(run, tmp_path)
    async with httpx.AsyncClient(base_url=run.api) as client:
        headers = await _headers(client)
        states = (await client.get("/api/v1/status/homes", headers=headers)).json()
    by_state: dict[str, set[str]] = {}
    for h in states["homes"]:
        by_state.setdefault(h["state"], set()).add(h["home_id"])
    assert set(ALERTING) <= by_state["alerting"]
    assert set(OFFLINE) <= by_state["device_offline"]
    total = HOMES + 2  # and the demo homes h1, h2

    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await log_in(page, run.api)
        requests: list[str] = []

        def seen(request: Request) -> None:
            requests.append(request.url)

        page.on("request", seen)
        await page.goto(f"{run.api}/static/tiles.html")

        async def all_tiles() -> bool | None:
            return True if len(await _shown(page)) == total else None

        await eventually(all_tiles, timeout=20)
        api_calls = [u for u in requests if "/api/v1/" in u]
        assert not [u for u in api_calls if "/homes/" in u], api_calls  # no request per home
        assert len(requests) <= 12, (
            requests
        )  # the page, its css and scripts, one status, the stream
        assert sum("/api/v1/status/homes" in u for u in api_calls) == 1
        counts = await page.locator("#tile-counts .count").all_inner_texts()
        assert counts == [
            f"有警报 {len(by_state['alerting'])}",
            f"设备离线 {len(by_state['device_offline'])}",
            f"一切正常 {len(by_state['all_well'])}",
        ]
        alerting = page.locator(".tile[data-home-id='t0123']")
        assert "st-alerting" in (await alerting.get_attribute("class") or "")
        assert "sos" in await alerting.inner_text()

        await page.select_option("#tile-state", "alerting")
        assert set(await _shown(page)) == by_state["alerting"]
        await page.select_option("#tile-state", "device_offline")
        assert set(await _shown(page)) == by_state["device_offline"]
        assert "1 台设备离线" in await page.locator(".tile[data-home-id='t0050']").inner_text()
        await page.select_option("#tile-state", "all_well")
        assert set(await _shown(page)) == by_state["all_well"]
        assert len(await _shown(page)) == total - len(by_state["alerting"]) - len(
            by_state["device_offline"]
        )

        await page.select_option("#tile-state", "")
        await page.fill("#tile-search", "Resident 1999")  # a resident's name
        assert await _shown(page) == ["t1999"]
        await page.fill("#tile-search", "t00")  # a part of home ids: t0000 … t0099
        assert sorted(await _shown(page)) == [f"t{n:04d}" for n in range(100)]
        await page.select_option("#tile-state", "device_offline")
        assert sorted(await _shown(page)) == list(OFFLINE)
        await page.screenshot(path=artifact("tiles-2000.png"))
        assert len([u for u in requests if "/api/v1/" in u]) == len(api_calls)  # filters: no calls

        # a new alert comes over the live stream: the tile turns, from one more request
        await page.fill("#tile-search", "")
        await page.select_option("#tile-state", "alerting")
        assert "h1" not in await _shown(page)
        await _press_sos(run, "h1")

        async def h1_alerting() -> bool | None:
            return True if "h1" in await _shown(page) else None

        await eventually(h1_alerting, timeout=5)
        reloads = sum("/api/v1/status/homes" in u for u in requests)
        assert 2 <= reloads <= 3, requests[len(api_calls) :]
        assert not [u for u in requests if "/homes/" in u]


async def test_the_monthly_report_draws_the_apis_figures(running: Running, tmp_path: Path) -> None:
    run = running
    now = datetime.now(UTC)
    ids = []
    for n, kind in enumerate((AlertKind.SOS, AlertKind.FALL, AlertKind.SOS)):
        finding = Finding("h1" if n else "h2", f"r{n}", kind, Severity.CRITICAL, now, f"rep:{n}")
        change = await run.service.store.record_finding(finding, 600)
        assert change is not None
        ids.append(change.alert.id)
    month = now.astimezone(run.service.settings.tz).strftime("%Y-%m")
    async with httpx.AsyncClient(base_url=run.api) as client:
        headers = await _headers(client)
        for alert_id in ids[:2]:
            done = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=headers)
            assert done.status_code == 200, done.text
        params = {"from": month, "to": month}
        report = (
            await client.get("/api/v1/reports/monthly", params=params, headers=headers)
        ).json()
    overall = report["months"][0]["overall"]
    assert overall["alerts"] == 3 and overall["acknowledged"] == 2

    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await log_in(page, run.api)
        await page.goto(f"{run.api}/static/report.html?from={month}&to={month}")

        async def drawn() -> dict[str, Any] | None:
            data: dict[str, Any] = await page.evaluate(
                """() => Object.fromEntries(
                   ["chart-month", "chart-kind", "chart-operator", "chart-home"].map((id) => {
                     const c = Chart.getChart(document.getElementById(id));
                       return [id, c ? { labels: c.data.labels,
                         data: c.data.datasets.map((d) => d.data) } : null]; }))"""
            )
            return data if all(data.values()) else None

        charts = await eventually(drawn, timeout=10)
        assert charts is not None

        def series(figures: list[dict[str, Any]]) -> list[list[float | None]]:
            fields = ("acknowledged_within_60s_pct", "acknowledged_within_180s_pct")
            return [[f[x] for f in figures] for x in (*fields, "on_site_within_window_pct")]

        total = report["total"]
        assert charts["chart-month"] == {"labels": [month], "data": series([overall])}
        assert charts["chart-kind"] == {
            "labels": list(total["by_kind"]),
            "data": series(list(total["by_kind"].values())),
        }
        assert charts["chart-operator"]["labels"] == ["admin"]
        assert charts["chart-operator"]["data"] == series([total["by_operator"]["admin"]])
        assert sorted(charts["chart-home"]["labels"]) == ["h1", "h2"]
        assert series([overall]) == [[66.7], [66.7], [None]]  # two of three acknowledged at once
        painted = await page.evaluate(
            """() => { const c = document.getElementById("chart-month");
                 const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) n++; return n; }"""
        )
        assert painted > 1000  # the canvas has bars and axes drawn on it
        rows = await page.locator(".report-table tbody tr").count()
        assert rows == 1 + len(total["by_kind"]) + len(total["by_operator"]) + len(total["by_home"])
        await page.screenshot(path=artifact("monthly-report.png"))
