"""The live stream's Last-Event-ID replay, and /metrics (failed logins: test_login_throttle.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from alerts.events import AlertBus
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from dashboard_api.routes_alerts import event_stream
from eldercare.clock import ManualClock
from eldercare.domain import Alert, AlertKind, AlertStatus, Severity
from tests.api.conftest import RaiseAlert, TokenFor

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
async def clocked(ctx: AppContext) -> AsyncIterator[tuple[httpx.AsyncClient, ManualClock]]:
    clock = ManualClock(T0)
    ctx.clock = clock
    transport = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://test"
    )
    async with transport as client:
        yield client, clock


# --- SSE replay --------------------------------------------------------------------


def _alert(n: int) -> Alert:
    return Alert(
        n, "h1", f"s{n}", AlertKind.SOS, Severity.CRITICAL, AlertStatus.OPEN, T0, T0, T0, 1,
        "", None, None,
    )  # fmt: skip


async def _events(bus: AlertBus, last_event_id: str | None, count: int) -> list[dict[str, str]]:
    """The first ``count`` events the stream sends (comments skipped)."""
    events: list[dict[str, str]] = []
    stream = event_stream(bus, keepalive_s=60, last_event_id=last_event_id)
    async for chunk in stream:
        text = chunk.decode()
        if text.startswith(":"):
            continue
        fields = dict(line.split(": ", 1) for line in text.strip().splitlines())
        events.append(fields)
        if len(events) == count:
            break
    await stream.aclose()
    return events


async def test_reconnect_with_last_event_id_replays_what_was_missed() -> None:
    bus = AlertBus(history=10)
    for n in range(1, 4):
        bus.publish("raised", _alert(n))
    (ready,) = await _events(bus, None, 1)
    assert ready["event"] == "ready" and ready["id"] == f"{bus.epoch}-3"
    # the client saw event 1, then lost the connection while 2 and 3 happened
    replayed = await _events(bus, f"{bus.epoch}-1", 2)
    assert [e["id"] for e in replayed] == [f"{bus.epoch}-2", f"{bus.epoch}-3"]
    assert [json.loads(e["data"])["id"] for e in replayed] == [2, 3]
    assert all(e["event"] == "alert" for e in replayed)


async def test_reconnect_after_too_long_or_a_restart_says_reload() -> None:
    bus = AlertBus(history=3)
    for n in range(1, 10):
        bus.publish("raised", _alert(n))
    (too_old,) = await _events(bus, f"{bus.epoch}-2", 1)
    assert too_old["event"] == "reload"
    assert too_old["id"] == f"{bus.epoch}-9"  # the next reconnect starts from here
    (other_run,) = await _events(bus, "deadbeef-5", 1)
    assert other_run["event"] == "reload"
    (garbage,) = await _events(bus, "not-an-id", 1)
    assert garbage["event"] == "reload"
    kept = await _events(bus, f"{bus.epoch}-6", 3)  # 7, 8, 9 are still kept
    assert [e["id"] for e in kept] == [f"{bus.epoch}-{n}" for n in (7, 8, 9)]


# --- metrics -----------------------------------------------------------------------


async def test_metrics_show_open_alerts_by_severity_and_latency(
    client: httpx.AsyncClient,
    ctx: AppContext,
    raise_alert: RaiseAlert,
    token_for: TokenFor,
) -> None:
    await raise_alert(kind=AlertKind.SOS)
    await raise_alert(kind=AlertKind.WATER_LEAK, severity=Severity.HIGH)
    ctx.metrics.observe("eldercare_pipeline_seconds", 0.003)
    ctx.metrics.inc("eldercare_escalation_steps_total", step="family_sms")
    text = (await client.get("/metrics")).text
    assert 'eldercare_open_alerts{severity="critical"} 1' in text
    assert 'eldercare_open_alerts{severity="high"} 1' in text
    assert 'eldercare_open_alerts{severity="warning"} 0' in text
    assert "# TYPE eldercare_pipeline_seconds histogram" in text
    assert 'eldercare_pipeline_seconds_bucket{le="0.005"} 1' in text
    assert 'eldercare_pipeline_seconds_bucket{le="0.001"} 0' in text
    assert "eldercare_pipeline_seconds_count 1" in text
    assert 'eldercare_escalation_steps_total{step="family_sms"} 1' in text
    assert 'eldercare_alerts_raised_total{kind="sos",severity="critical"} 1' in text


async def test_the_screen_is_served_at_the_root(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text
    for asset in ("app.js", "i18n.js", "chart.js", "style.css"):
        assert (await client.get(f"/static/{asset}")).status_code == 200, asset
    assert (await client.get("/static/nope.js")).status_code == 404
