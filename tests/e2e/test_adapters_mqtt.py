"""Off-the-shelf ecosystems end to end on real parts: the harness's Mosquitto, the
whole service (gateway, SQLite store, detectors, alerts, API). Devices are added
through the REST API with a ``source`` while the service runs, so each test also
shows the gateway subscribing to a new device's topics without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from alerts.channels import ConsoleSms
from eldercare.app import Service
from eldercare.settings import Settings
from eldercare.store import open_store
from tests.e2e.helpers import eventually, free_port, token
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

PASSWORD = "adapters-admin-pw"


class Runner:
    """Starts the service, and starts it again (same database, same MQTT client id)."""

    def __init__(self, broker: Mosquitto, tmp_path: Path) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.db = f"sqlite:///{tmp_path}/adapters.db"
        self.settings = Settings.load(env={}).with_(
            mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
            database_url=self.db,
            api_port=self.port,
            admin_password=PASSWORD,
            mqtt_client_id=f"gw-adapters-{self.port}",
        )
        self._running: tuple[Service, asyncio.Task[None], contextlib.AsyncExitStack] | None = None

    async def start(self) -> str:
        await self.stop()
        console = ConsoleSms()
        service = Service(self.settings, sms=console, voice=console)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(service)
        self._running = (service, asyncio.create_task(service.run()), stack)
        async with httpx.AsyncClient(base_url=self.api) as client:

            async def ready() -> bool | None:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return True
                return None

            await eventually(ready, timeout=15)
        return self.api

    async def stop(self) -> None:
        if self._running is None:
            return
        service, task, stack = self._running
        self._running = None
        service.request_stop()
        await asyncio.wait_for(task, 15)
        await stack.aclose()


@pytest.fixture
async def runner(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Runner]:
    r = Runner(mosquitto, tmp_path)
    yield r
    await r.stop()


async def _client(api: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=api, timeout=5)
    client.headers["Authorization"] = f"Bearer {await token(api, 'admin', PASSWORD)}"
    return client


async def _home(client: httpx.AsyncClient) -> None:
    for path, body in (
        ("/api/v1/homes", {"id": "h1", "name": "Wang home"}),
        ("/api/v1/residents", {"id": "h1-r1", "home_id": "h1", "name": "Wang Li"}),
    ):
        resp = await client.post(path, json=body)
        assert resp.status_code in (201, 409), resp.text


async def _device(client: httpx.AsyncClient, device_id: str, kind: str, source: Any) -> None:
    body = {"id": device_id, "home_id": "h1", "kind": kind, "source": source}
    resp = await client.post("/api/v1/devices", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["source"] == source


async def _alerts(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/api/v1/alerts")).json()["items"]
    return [a for a in items if a["kind"] == kind]


async def _online(client: httpx.AsyncClient, device_id: str) -> bool | None:
    status = (await client.get("/api/v1/homes/h1/status")).json()
    return next(d["online"] for d in status["devices"] if d["device_id"] == device_id)


async def _publish(broker: Mosquitto, topic: str, payload: Any, *, retain: bool = False) -> None:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    async with aiomqtt.Client("127.0.0.1", broker.port) as pub:
        await pub.publish(topic, data, qos=1, retain=retain)


async def test_zigbee2mqtt_sos_press_raises_one_alert_and_offline_is_device_offline(
    runner: Runner, mosquitto: Mosquitto
) -> None:
    api = await runner.start()
    async with await _client(api) as client:
        await _home(client)
        topic = "zigbee2mqtt/h1_sos_button"
        await _device(client, "h1-sos", "sos_button", {"type": "zigbee2mqtt", "topic": topic})
        # Zigbee2MQTT retains availability: once the device shows online, the gateway
        # has subscribed to its topics (added while running, no restart).
        await _publish(mosquitto, f"{topic}/availability", {"state": "online"}, retain=True)

        async def online() -> bool | None:
            return True if await _online(client, "h1-sos") is True else None

        await eventually(online, timeout=10)
        await _publish(mosquitto, topic, {"action": "emergency", "battery": 96, "linkquality": 90})
        await _publish(mosquitto, topic, {"action": "", "battery": 96, "linkquality": 90})
        await _publish(mosquitto, f"{topic}/availability", {"state": "offline"}, retain=True)

        async def offline_alert() -> list[dict[str, Any]] | None:
            return await _alerts(client, "device_offline") or None

        (offline,) = await eventually(offline_alert, timeout=10)
        assert offline["device_id"] == "h1-sos"
        # Back online resolves device_offline; once it has, every message before it
        # went through the detectors (one device, one order).
        await _publish(mosquitto, f"{topic}/availability", "online", retain=True)

        async def resolved() -> bool | None:
            alert = (await client.get(f"/api/v1/alerts/{offline['id']}")).json()
            return True if alert["status"] == "resolved" else None

        await eventually(resolved, timeout=10)
        (sos,) = await _alerts(client, "sos")
        detail = (await client.get(f"/api/v1/alerts/{sos['id']}")).json()
        assert detail["count"] == 1, "the empty follow-up must not be a second press"
        assert [e["event"] for e in detail["timeline"]].count("repeated") == 0
    store = await open_store(runner.db)
    try:
        assert await store.count_readings("h1-sos") == 2  # the follow-up is stored as a heartbeat
        assert await store.list_dead_letters() == []
    finally:
        await store.close()


async def _wait_alert(client: httpx.AsyncClient, kind: str) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]] | None:
        return await _alerts(client, kind) or None

    (alert,) = await eventually(found, timeout=10)
    return alert


async def _readings(db: str, device_id: str) -> int:
    store = await open_store(db)
    try:
        return await store.count_readings(device_id)
    finally:
        await store.close()


async def test_esphome_retained_leak_seen_again_at_reconnect_is_still_one_alert(
    runner: Runner, mosquitto: Mosquitto
) -> None:
    api = await runner.start()
    node = "h1-kitchen-leak"
    await _publish(mosquitto, f"{node}/status", "online", retain=True)
    await _publish(mosquitto, f"{node}/binary_sensor/water_leak/state", "ON", retain=True)
    async with await _client(api) as client:
        await _home(client)
        await _device(client, "h1-water", "water", {"type": "esphome", "node": node})
        alert = await _wait_alert(client, "water_leak")
        assert alert["device_id"] == "h1-water"
        # Staff handle it, the floor is still wet: a new alert would need a dry reading first.
        resp = await client.post(
            f"/api/v1/alerts/{alert['id']}/resolve", json={"outcome": "handled", "note": "mopped"}
        )
        assert resp.status_code == 200, resp.text
    before = await _readings(runner.db, "h1-water")
    api = await runner.start()  # the gateway connects again and gets the retained state again

    async def seen_again() -> bool | None:
        return True if await _readings(runner.db, "h1-water") > before else None

    await eventually(seen_again, timeout=10)
    # Its batch is committed; one published now comes in a later batch, which the
    # gateway takes only after that batch went through the detectors.
    await _publish(mosquitto, f"{node}/sensor/battery_level/state", "77")
    async with await _client(api) as client:

        async def sentinel() -> bool | None:
            status = (await client.get("/api/v1/homes/h1/status")).json()
            battery = next(d["battery"] for d in status["devices"] if d["device_id"] == "h1-water")
            return True if battery == 77 else None

        await eventually(sentinel, timeout=10)
        leaks = await _alerts(client, "water_leak")
        assert [a["id"] for a in leaks] == [alert["id"]], "the retained state raised a second alert"


async def test_shelly_gas_self_test_raises_nothing_and_heavy_raises_gas_leak(
    runner: Runner, mosquitto: Mosquitto
) -> None:
    api = await runner.start()
    shelly = "shellygas-A1B2C3"
    await _publish(mosquitto, f"shellies/{shelly}/online", "true", retain=True)
    async with await _client(api) as client:
        await _home(client)
        await _device(client, "h1-gas", "gas", {"type": "shelly", "id": shelly})

        async def online() -> bool | None:
            return True if await _online(client, "h1-gas") is True else None

        await eventually(online, timeout=10)
        await _publish(mosquitto, f"shellies/{shelly}/sensor/gas", "test")

        async def stored() -> bool | None:
            return True if await _readings(runner.db, "h1-gas") >= 1 else None

        await eventually(stored, timeout=10)
        # Committed; one published now comes in a later batch of the same lane,
        # which the gateway takes only after the self-test went through the detectors.
        await _publish(mosquitto, f"shellies/{shelly}/sensor/battery", "90")

        async def sentinel() -> bool | None:
            status = (await client.get("/api/v1/homes/h1/status")).json()
            battery = next(d["battery"] for d in status["devices"] if d["device_id"] == "h1-gas")
            return True if battery == 90 else None

        await eventually(sentinel, timeout=10)
        assert await _alerts(client, "gas_leak") == [], "a self-test is not a gas alarm"
        await _publish(mosquitto, f"shellies/{shelly}/sensor/gas", "heavy")
        alert = await _wait_alert(client, "gas_leak")
        assert alert["device_id"] == "h1-gas" and alert["severity"] == "critical"


async def test_tasmota_contact_opens_the_door_and_a_bad_value_is_dead_lettered(
    runner: Runner, mosquitto: Mosquitto
) -> None:
    api = await runner.start()
    topic = "tele/h1-zbbridge/SENSOR"
    async with await _client(api) as client:
        await _home(client)
        await _device(
            client, "h1-door", "door", {"type": "tasmota", "topic": topic, "device": "0x1A2B"}
        )
        bad = {"ZbReceived": {"0x1A2B": {"Device": "0x1A2B", "Contact": "ajar"}}}
        good = {"ZbReceived": {"0x1A2B": {"Device": "0x1A2B", "Contact": 1, "LinkQuality": 70}}}

        async def taken() -> bool | None:
            # Published until the gateway has subscribed (the device was added just now).
            await _publish(mosquitto, topic, bad)
            store = await open_store(runner.db)
            try:
                return True if await store.list_dead_letters() else None
            finally:
                await store.close()

        await eventually(taken, timeout=10, interval=0.2)
        await _publish(mosquitto, topic, good)

        async def opened() -> bool | None:
            return True if await _readings(runner.db, "h1-door") >= 1 else None

        await eventually(opened, timeout=10)
    store = await open_store(runner.db)
    try:
        letter = (await store.list_dead_letters())[-1]
        assert letter.reason == "unmappable" and letter.topic == topic
        assert letter.detail.startswith("tasmota: field 'ZbReceived.0x1A2B.Contact'")
        (reading,) = await store.readings_since(datetime(2000, 1, 1, tzinfo=UTC))
        assert reading.device_id == "h1-door" and reading.fields == {"open": True}
    finally:
        await store.close()


async def test_sim_event_publishes_as_an_off_the_shelf_device(
    runner: Runner, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``eldercare sim event --source`` drives a device with a source end to end."""
    from eldercare.cli import main

    api = await runner.start()
    source = {"type": "tasmota", "topic": "tele/h1-zb/SENSOR", "device": "0x00C1"}
    async with await _client(api) as client:
        await _home(client)
        await _device(client, "h1-sos", "sos_button", source)
        monkeypatch.setenv("ELDERCARE_MQTT_URL", f"mqtt://127.0.0.1:{mosquitto.port}")
        argv = ["sim", "event", "--home", "h1", "--kind", "sos_button"]
        argv += ["--set", 'action="press"', "--source", json.dumps(source)]

        async def pressed() -> list[dict[str, Any]] | None:
            # Sent until the gateway has subscribed to the device added just now.
            assert await asyncio.to_thread(main, argv) == 0
            return await _alerts(client, "sos") or None

        (alert,) = await eventually(pressed, timeout=10, interval=0.2)
        assert alert["device_id"] == "h1-sos"
