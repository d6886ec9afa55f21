"""The gateway's subscriptions follow the device sources of the registry, without a
restart: a real Mosquitto and a real SQLite store (no mocks of either)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from eldercare.clock import WallClock
from eldercare.domain import Device, DeviceKind, Home, Reading, Resident
from eldercare.metrics import Metrics
from eldercare.store import Store, open_store
from gateway.intake import Gateway, GatewayConfig
from gateway.registry_cache import RegistryCache
from tests.gateway.test_intake import HoldingSink, Recorder, eventually
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


class World:
    def __init__(self, store: Store, registry: RegistryCache, sink: Recorder) -> None:
        self.store = store
        self.registry = registry
        self.sink = sink

    def readings(self, device_id: str) -> list[Reading]:
        return [r for r in self.sink.readings if r.device_id == device_id]


@contextlib.asynccontextmanager
async def running(
    broker: Mosquitto,
    tmp_path: Path,
    protocol: str = "5",
    sink: Recorder | None = None,
    fast_lane: dict[str, tuple[bytes, ...]] | None = None,
    devices: tuple[Device, ...] = (),
) -> AsyncIterator[World]:
    store = await open_store(f"sqlite:///{tmp_path}/t.db")
    await store.migrate()
    await store.create_home(Home("h1", "A"))
    await store.create_resident(Resident("r1", "h1", "Li"))
    for device in devices:
        await store.create_device(device)
    registry = RegistryCache(store, miss_reload_interval=0.2)
    await registry.load()
    sink = sink or Recorder()
    gateway = Gateway(
        GatewayConfig(
            host=broker.host,
            port=broker.port,
            client_id=f"gw-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
            registry_refresh=0.2,
            fast_lane=fast_lane or {},
        ),
        store=store,
        registry=registry,
        clock=WallClock(),
        metrics=Metrics(),
        sink=sink,
    )
    task = asyncio.create_task(gateway.run())

    async def connected() -> bool:
        return gateway.connected

    await eventually(connected, "gateway connected")
    try:
        yield World(store, registry, sink)
    finally:
        await gateway.stop(timeout=5)
        await task
        await store.close()


@pytest.fixture(params=["5", "3.1.1"])
async def world(
    request: pytest.FixtureRequest, mosquitto: Mosquitto, tmp_path: Path
) -> AsyncIterator[World]:
    async with running(mosquitto, tmp_path, request.param) as w:
        yield w


async def _publish(broker: Mosquitto, topic: str, payload: object) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, json.dumps(payload).encode(), qos=1)


async def test_a_changed_source_topic_is_followed_without_a_restart(
    world: World, mosquitto: Mosquitto
) -> None:
    old, new = "zigbee2mqtt/hall_door", "zigbee2mqtt/front_door"
    await world.store.create_device(
        Device("d1", "h1", DeviceKind.DOOR, source={"type": "zigbee2mqtt", "topic": old})
    )
    world.registry.invalidate()  # what the API does after a change

    async def door_open_taken() -> bool:
        await _publish(mosquitto, old, {"contact": False})
        await asyncio.sleep(0.05)
        return bool(world.readings("d1"))

    await eventually(door_open_taken, "the new device's topic subscribed")
    await world.store.update_device("d1", {"source": {"type": "zigbee2mqtt", "topic": new}})
    world.registry.invalidate()

    async def moved() -> bool:
        before = len(world.readings("d1"))
        await _publish(mosquitto, new, {"contact": True})
        await asyncio.sleep(0.05)
        return len(world.readings("d1")) > before

    await eventually(moved, "the changed topic subscribed")
    count = len(world.readings("d1"))
    # Published in this order by one client: had the old topic still been
    # subscribed, its message would have come before the new topic's.
    await _publish(mosquitto, old, {"contact": False})  # would be open
    await _publish(mosquitto, new, {"contact": True})  # closed

    async def next_one() -> bool:
        return len(world.readings("d1")) > count

    await eventually(next_one, "the message on the new topic")
    assert [r.fields for r in world.readings("d1")[count:]] == [{"open": False}]
    assert await world.store.list_dead_letters() == []


async def test_a_device_provisioned_by_another_process_is_subscribed_on_the_next_check(
    world: World, mosquitto: Mosquitto
) -> None:
    # Written straight to the store, as `eldercare provision` does: no invalidate().
    await world.store.create_device(
        Device("w1", "h1", DeviceKind.WATER, source={"type": "shelly", "id": "shellyflood-X"})
    )

    async def taken() -> bool:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.publish("shellies/shellyflood-X/sensor/flood", b"true", qos=1)
        await asyncio.sleep(0.05)
        return bool(world.readings("w1"))

    await eventually(taken, "the periodic check subscribed to the new device")
    assert world.readings("w1")[0].fields == {"leak": True}


@pytest.mark.parametrize("fast", [True, False], ids=["fast-lane", "one-lane"])
async def test_a_zigbee2mqtt_sos_press_takes_the_fast_lane_past_a_vitals_batch(
    mosquitto: Mosquitto, tmp_path: Path, fast: bool
) -> None:
    sink = HoldingSink("bed")
    devices = (
        Device("bed", "h1", DeviceKind.BED_BAND, "r1"),
        Device(
            "sos", "h1", DeviceKind.SOS_BUTTON, source={"type": "zigbee2mqtt", "topic": "z/sos"}
        ),
    )
    lane = {"sos_button": (b'"press"',)} if fast else None
    async with running(mosquitto, tmp_path, sink=sink, fast_lane=lane, devices=devices) as world:
        vitals = {"seq": 1, "hr": 60, "rr": 14, "in_bed": True}
        await _publish(mosquitto, "eldercare/v1/h1/bed/event", vitals)
        await asyncio.wait_for(sink.holding.wait(), 5)
        await _publish(mosquitto, "z/sos", {"action": "emergency", "battery": 90})

        async def pressed() -> bool:
            return bool(world.readings("sos"))

        try:
            if fast:
                await eventually(pressed, "the press delivered while the vitals batch waits")
                assert world.readings("sos")[0].fields == {"action": "press"}
                assert not world.readings("bed")
            else:  # one lane: the press waits for the batch before it
                await asyncio.sleep(0.3)
                assert not await pressed()
        finally:
            sink.release.set()
        await eventually(pressed, "the press delivered")
