"""One SOS press travels the whole way on real parts: Mosquitto → gateway →
store → detector → alert → API, then staff acknowledge and resolve it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from alerts.channels import ConsoleSms
from eldercare.app import Service
from eldercare.settings import Settings
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from tests.e2e.helpers import eventually, free_port

ADMIN_PASSWORD = "s3cret-admin-pw"


@pytest.fixture(params=["sqlite", "postgres"])
async def running(
    request: pytest.FixtureRequest, mosquitto: Any, tmp_path: Any
) -> AsyncIterator[tuple[Service, str, ConsoleSms]]:
    if request.param == "postgres":
        db = request.getfixturevalue("pg_url")
    else:
        db = f"sqlite:///{tmp_path}/e2e.db"
    port = free_port()
    settings = Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=db,
        api_port=port,
        admin_password=ADMIN_PASSWORD,
        mqtt_client_id=f"gw-{port}",
        spool_path=f"{tmp_path}/spool.db",
    )
    console = ConsoleSms()
    service = Service(settings, sms=console, voice=console)
    async with service:
        task = asyncio.create_task(service.run())
        api = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=api) as client:

            async def ready() -> bool | None:
                try:
                    return True if (await client.get("/readyz")).status_code == 200 else None
                except httpx.HTTPError:
                    return None

            await eventually(ready, timeout=15)
        yield service, api, console
        service.request_stop()
        await asyncio.wait_for(task, 15)


async def test_sos_press_becomes_alert_in_api_within_one_second(
    running: tuple[Service, str, ConsoleSms], mosquitto: Any
) -> None:
    service, api, console = running
    await provision_homes(api, "admin", ADMIN_PASSWORD, [DemoHome("h1", 0)])
    async with httpx.AsyncClient(base_url=api, timeout=5) as client:
        resp = await client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

        async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
            sent_at = time.monotonic()
            await pub.event("h1", "h1-sos", {"action": "press"})

            async def alert_listed() -> dict[str, Any] | None:
                items = (await client.get("/api/v1/alerts")).json()["items"]
                return items[0] if items else None

            alert = await eventually(alert_listed, timeout=5, interval=0.01)
            elapsed = time.monotonic() - sent_at
        assert elapsed < 1.0, f"SOS took {elapsed:.3f} s to reach the API"
        assert alert["kind"] == "sos"
        assert alert["severity"] == "critical"
        assert alert["status"] == "open"
        assert alert["home_id"] == "h1"

        # in the store too, with its timeline
        stored = await service.store.get_alert(alert["id"])
        assert stored.kind.value == "sos"

        # family contact #1 is told, in Chinese by default
        async def notified() -> bool | None:
            return True if console.sent else None

        await eventually(notified, timeout=5)
        assert console.sent[0].to == "+8613800000000"
        assert "紧急呼叫" in console.sent[0].body

        # a second press within 2 minutes updates the same alert
        async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
            await pub.event("h1", "h1-sos", {"action": "press"})

        async def counted_twice() -> dict[str, Any] | None:
            items = (await client.get("/api/v1/alerts")).json()["items"]
            return items[0] if items and items[0]["count"] == 2 else None

        again = await eventually(counted_twice, timeout=5)
        assert again["id"] == alert["id"]
        assert len((await client.get("/api/v1/alerts")).json()["items"]) == 1

        # staff acknowledge, then resolve with an outcome
        resp = await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "acknowledged"
        resp = await client.post(
            f"/api/v1/alerts/{alert['id']}/resolve", json={"outcome": "handled", "note": "ok"}
        )
        assert resp.status_code == 200, resp.text
        detail = (await client.get(f"/api/v1/alerts/{alert['id']}")).json()
        events = [e["event"] for e in detail["timeline"]]
        assert events[0] == "raised"
        assert "acknowledged" in events and "resolved" in events
        assert any(e["event"] == "notified" for e in detail["timeline"])
