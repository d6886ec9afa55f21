"""GET /api/v1/status/homes: every home's tile in one request, on SQLite and on
TimescaleDB: its state (alerting, device offline, all well), its open alerts,
the devices offline and last seen; searched by home id, name and resident
name, filtered by state; a bad state is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from alerts.events import AlertBus
from alerts.service import AlertService
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from eldercare.domain import (
    AlertKind,
    Device,
    DeviceKind,
    Finding,
    Home,
    Organisation,
    Outcome,
    Resident,
    Role,
    Severity,
    User,
)
from eldercare.metrics import Metrics
from eldercare.settings import Settings
from eldercare.store import open_store
from eldercare.store.base import LivenessUpdate
from tests.api.conftest import PASSWORD

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def client(store_url: str, hashes: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    store = await open_store(store_url)
    await store.migrate()
    await store.create_organisation(Organisation("bee", "Centre Bee"))
    await store.create_user(User("op", hashes[PASSWORD], Role.OPERATOR))
    for n in range(1, 6):
        await store.create_home(Home(f"h{n}", f"Home {n}"))
        await store.create_resident(Resident(f"h{n}-r1", f"h{n}", f"Resident {n}"))
        await store.create_device(Device(f"h{n}-door", f"h{n}", DeviceKind.DOOR))
        await store.create_device(Device(f"h{n}-sos", f"h{n}", DeviceKind.SOS_BUTTON))
    await store.create_home(Home("bee-home", "Bumble House", organisation_id="bee"))
    await store.create_device(Device("bee-door", "bee-home", DeviceKind.DOOR))
    seen = NOW - timedelta(minutes=2)
    await store.update_liveness(
        [
            LivenessUpdate("h1-door", last_seen=seen),
            LivenessUpdate("h2-door", last_seen=seen, online=False),  # said offline
            LivenessUpdate("h3-door", last_seen=NOW - timedelta(hours=4)),  # silent > 3 h
            LivenessUpdate("h4-door", last_seen=seen),
            LivenessUpdate("h4-sos", last_seen=seen),
            LivenessUpdate("bee-door", last_seen=seen, online=False),
        ]
    )
    clock, bus, metrics = ManualClock(NOW - timedelta(minutes=1)), AlertBus(), Metrics()
    alerts = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=600,
        default_timezone="UTC",
        care_centre_phone="+8657100000000",
    )
    at = NOW - timedelta(minutes=1)
    for home, kind, severity in [
        ("h1", AlertKind.SOS, Severity.CRITICAL),
        ("h1", AlertKind.WATER_LEAK, Severity.HIGH),
        ("h2", AlertKind.DOOR_LEFT_OPEN, Severity.WARNING),
        ("h5", AlertKind.FALL, Severity.CRITICAL),
    ]:
        change = await alerts.handle_finding(
            Finding(home, home, kind, severity, at, f"{home}{kind}")
        )
        assert change is not None
    h5 = change.alert.id
    await alerts.resolve(h5, "op", Outcome.FALSE_ALARM)  # resolved: h5 is well again
    clock.set(NOW)
    ctx = AppContext(
        settings=Settings(secret_key="k" * 40, timezone="UTC"),
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
        form = {"username": "op", "password": PASSWORD}
        token = (await c.post("/api/v1/auth/token", data=form)).json()["access_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c
    await store.close()


async def _ready() -> dict[str, bool]:
    return {"store": True}


async def test_every_home_with_its_state_in_one_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/status/homes")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"alerting": 2, "device_offline": 1, "all_well": 2}
    tiles = {t["home_id"]: t for t in body["homes"]}
    assert [t["home_id"] for t in body["homes"]] == ["h1", "h2", "h3", "h4", "h5"]
    h1 = tiles["h1"]
    assert h1["state"] == "alerting" and h1["severity"] == "critical"
    assert [(a["kind"], a["severity"], a["status"]) for a in h1["alerts"]] == [
        ("sos", "critical", "open"),
        ("water_leak", "high", "open"),
    ]
    assert h1["residents"] == ["Resident 1"] and h1["name"] == "Home 1"
    assert h1["devices"] == 2 and h1["devices_offline"] == [] and h1["devices_unknown"] == 1
    assert h1["last_seen"] == (NOW - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    h2 = tiles["h2"]  # alerting wins over its offline door
    assert h2["state"] == "alerting" and h2["severity"] == "warning"
    assert h2["devices_offline"] == ["h2-door"]
    h3 = tiles["h3"]
    assert h3["state"] == "device_offline" and h3["devices_offline"] == ["h3-door"]
    assert h3["alerts"] == [] and h3["severity"] is None
    assert tiles["h4"]["state"] == "all_well" and tiles["h4"]["devices_unknown"] == 0
    assert tiles["h5"]["state"] == "all_well" and tiles["h5"]["alerts"] == []
    assert tiles["h5"]["last_seen"] is None
    assert "bee" not in response.text


@pytest.mark.parametrize(
    ("params", "homes"),
    [
        ({"state": "alerting"}, ["h1", "h2"]),
        ({"state": "device_offline"}, ["h3"]),
        ({"state": "all_well"}, ["h4", "h5"]),
        ({"q": "h4"}, ["h4"]),
        ({"q": "resident 3"}, ["h3"]),
        ({"q": "HOME 5"}, ["h5"]),
        ({"q": "resident", "state": "all_well"}, ["h4", "h5"]),
        ({"q": "Bumble"}, []),
    ],
)
async def test_searched_and_filtered(
    client: httpx.AsyncClient, params: dict[str, str], homes: list[str]
) -> None:
    body = (await client.get("/api/v1/status/homes", params=params)).json()
    assert [t["home_id"] for t in body["homes"]] == homes
    assert sum(body["counts"].values()) == 5  # the counts are of every home


async def test_an_unknown_state_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/status/homes", params={"state": "burning"})
    assert response.status_code == 422
    assert "`state` must be alerting, device_offline or all_well" in response.json()["detail"]
