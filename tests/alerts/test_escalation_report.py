"""GET /api/v1/reports/response: figures on a small known set, and its roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.events import AlertBus
from alerts.service import AlertService
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, Finding, Home, Outcome, Role, Severity, User
from eldercare.metrics import Metrics
from eldercare.passwords import hash_password
from eldercare.settings import Settings
from eldercare.store import open_store
from tests.alerts.escalation_fixtures import T0

PASSWORD = "report-password"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = await open_store(f"sqlite:///{tmp_path}/r.db")
    await store.migrate()
    await store.create_home(Home("h1", "Home one"))
    hashed = hash_password(PASSWORD)
    for role in Role:
        await store.create_user(User(role.value, hashed, role))
    clock, bus, metrics = ManualClock(T0), AlertBus(), Metrics()
    alerts = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone="+8657100000000",
    )

    async def raise_(kind: AlertKind, severity: Severity) -> int:
        change = await alerts.handle_finding(Finding("h1", f"s-{kind}", kind, severity, T0, kind))
        assert change is not None
        return change.alert.id

    sos = await raise_(AlertKind.SOS, Severity.CRITICAL)
    fall = await raise_(AlertKind.FALL, Severity.CRITICAL)
    leak = await raise_(AlertKind.WATER_LEAK, Severity.HIGH)
    await raise_(AlertKind.DOOR_LEFT_OPEN, Severity.WARNING)  # nobody ever answers it
    for at, action in [
        (30, alerts.resolve(leak, "op", Outcome.FALSE_ALARM)),  # by phone: nobody needed to go
        (60, alerts.acknowledge(sos, "op")),
        (120, alerts.acknowledge(fall, "op")),
        (300, alerts.arrive(sos, "op")),  # in the window
        (900, alerts.arrive(fall, "op")),  # 5 minutes late
    ]:
        clock.set(T0 + timedelta(seconds=at))
        await action
    clock.set(T0 + timedelta(hours=1))
    ctx = AppContext(
        settings=Settings(secret_key="k" * 40),
        store=store,
        alerts=alerts,
        bus=bus,
        clock=clock,
        metrics=metrics,
        readiness=_ready,
        on_registry_change=lambda: None,
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    await store.close()


async def _ready() -> dict[str, bool]:
    return {"store": True}


async def _headers(client: httpx.AsyncClient, role: Role) -> dict[str, str]:
    form = {"username": role.value, "password": PASSWORD}
    token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _report(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    headers = await _headers(client, Role.SUPERVISOR)
    response = await client.get("/api/v1/reports/response", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_figures_on_a_known_set(client: httpx.AsyncClient) -> None:
    report = await _report(client)
    overall = report["overall"]
    assert overall["alerts"] == 4
    assert overall["acknowledged"] == 3  # the resolve by phone counts as the answer
    assert overall["time_to_acknowledge_s"] == {
        "p50": 60.0,
        "p90": 108.0,
        "p99": 118.8,
        "max": 120.0,
    }
    assert overall["on_site"] == 2
    assert overall["time_to_on_site_s"]["p50"] == 600.0
    assert overall["time_to_on_site_s"]["max"] == 900.0
    # decided: the two arrivals and the door nobody answered; the false alarm is left out
    assert overall["window_decided"] == 3
    assert overall["on_site_within_window"] == 1
    assert overall["on_site_within_window_pct"] == 33.3
    assert report["by_severity"]["critical"]["on_site_within_window_pct"] == 50.0
    assert report["by_severity"]["high"]["on_site_within_window_pct"] is None
    assert report["by_severity"]["warning"]["on_site_within_window_pct"] == 0.0
    assert report["by_kind"]["sos"]["time_to_on_site_s"]["p50"] == 300.0
    assert set(report["by_kind"]) == {"sos", "fall", "water_leak", "door_left_open"}
    assert report["from"] < report["to"]


async def test_from_and_to_filter_by_raise_time(client: httpx.AsyncClient) -> None:
    later = (T0 + timedelta(seconds=1)).isoformat()
    assert (await _report(client, **{"from": later}))["overall"]["alerts"] == 0
    assert (await _report(client, to=T0.isoformat()))["overall"]["alerts"] == 0
    window = {"from": "2026-11-26T01:00:00", "to": "2026-11-26T03:00:00"}  # no offset: UTC
    assert (await _report(client, **window))["overall"]["alerts"] == 4


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-11-27T00:00:00Z", "to": "2026-11-26T00:00:00Z"},
        {"from": "yesterday"},
        {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    ],
)
async def test_bad_input_is_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    headers = await _headers(client, Role.SUPERVISOR)
    response = await client.get("/api/v1/reports/response", params=params, headers=headers)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


async def test_roles(client: httpx.AsyncClient) -> None:
    url = "/api/v1/reports/response"
    assert (await client.get(url)).status_code == 401
    operator = await client.get(url, headers=await _headers(client, Role.OPERATOR))
    assert operator.status_code == 403
    assert (await client.get(url, headers=await _headers(client, Role.ADMIN))).status_code == 200
