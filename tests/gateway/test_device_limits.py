"""Per-device rate limit and bounded dead letters, over a real Mosquitto and SQLite
(issue 20 item 7: one client sent 414,500 QoS 1 messages in 9 s for one device;
8 MiB junk payloads were stored whole as dead letters)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest

from eldercare.domain import Device, DeviceKind
from eldercare.metrics import Metrics
from eldercare.store import Store
from tests.gateway.test_intake import (
    BED,
    DOOR,
    HOME,
    StartGateway,
    event_topic,
    eventually,
    publish,
    publisher,
    sqlite_store,
    start_gateway,
    wait_readings,
)

pytestmark = pytest.mark.mosquitto

__all__ = ["publisher", "sqlite_store", "start_gateway"]  # fixtures used by name

RATE, BURST = 5.0, 20.0


async def test_a_flood_from_one_device_is_cut_to_its_rate_and_the_excess_is_acked(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    first = await start_gateway(device_rate=RATE, device_burst=BURST)
    flood = 300
    began = time.monotonic()
    await asyncio.gather(
        *(publish(publisher, event_topic(DOOR), {"seq": i, "open": True}) for i in range(flood))
    )
    await publish(publisher, event_topic(BED), {"seq": 1})  # another device: not limited
    await wait_readings(sqlite_store, 1, BED)
    elapsed = time.monotonic() - began

    stored = await sqlite_store.count_readings(DOOR)
    assert BURST <= stored <= BURST + RATE * elapsed + 1
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert metrics.value("eldercare_rate_limited_total") == flood - stored
    # One dead letter for the window, not one per message over the limit.
    letters = await sqlite_store.list_dead_letters(limit=1000)
    assert [d.reason for d in letters] == ["rate_limited"]
    assert letters[0].topic == event_topic(DOOR)
    assert f"more than {RATE:g} messages/s" in letters[0].detail
    assert metrics.value("eldercare_dead_letters_total", reason="rate_limited") == 1

    # Everything was acked: a new session of the same gateway gets nothing again.
    await first.stop()
    await start_gateway(device_rate=RATE, device_burst=BURST)
    await publish(publisher, event_topic(BED), {"seq": 2})
    await wait_readings(sqlite_store, 2, BED)
    assert metrics.value("eldercare_messages_received_total") == flood + 2


async def test_a_backlog_made_at_the_devices_pace_is_not_limited(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    """Readings the broker kept while the service was away arrive at once, but were
    made a second apart: they pass (the bucket runs on the device's time)."""
    first = await start_gateway(device_rate=RATE, device_burst=BURST)
    await first.stop()
    n = 120
    t0 = datetime.now(UTC) - timedelta(seconds=n + 5)
    for i in range(n):
        ts = (t0 + timedelta(seconds=i)).isoformat()
        await publish(publisher, event_topic(DOOR), {"seq": i, "ts": ts, "open": i % 2 == 0})
    await start_gateway(device_rate=RATE, device_burst=BURST)
    await wait_readings(sqlite_store, n, DOOR)
    assert await sqlite_store.list_dead_letters() == []


async def test_a_huge_junk_payload_is_dead_lettered_truncated_with_its_length(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    await start_gateway(dead_letter_max_payload=4096)
    junk = bytes(range(256)) * (8 * 1024 * 4)  # 8 MiB
    for _ in range(2):
        await publish(publisher, event_topic(DOOR), junk)

    async def both() -> bool:
        return len(await sqlite_store.list_dead_letters()) == 2

    await eventually(both, "two junk payloads dead-lettered", timeout=20)
    for letter in await sqlite_store.list_dead_letters():
        assert letter.reason == "too_large"
        assert letter.payload == junk[:4096]
        assert letter.payload_length == 8 * 1024 * 1024


Z2M_DOOR, Z2M_TOPIC = "zdoor-1", "zigbee2mqtt/hall_door"


async def _source_device_taken(sqlite_store: Store, publisher: aiomqtt.Client) -> int:
    """Registers a Zigbee2MQTT door, waits until the gateway takes its topic; the
    readings it took to get there."""
    await sqlite_store.create_device(
        Device(Z2M_DOOR, HOME, DeviceKind.DOOR, source={"type": "zigbee2mqtt", "topic": Z2M_TOPIC})
    )

    async def taken() -> bool:
        await publish(publisher, Z2M_TOPIC, {"contact": True})
        await asyncio.sleep(0.05)
        return await sqlite_store.count_readings(Z2M_DOOR) > 0

    await eventually(taken, "the Zigbee2MQTT topic subscribed")
    return await sqlite_store.count_readings(Z2M_DOOR)


async def test_a_flood_from_a_zigbee2mqtt_device_is_cut_to_its_rate_as_a_native_one(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    """Issue 20 item 7 for the adapters' topics: a device bought off the shelf is
    limited like a native one (its readings, not its topic, count)."""
    await start_gateway(device_rate=RATE, device_burst=BURST, registry_refresh=0.2)
    began = time.monotonic()
    primed = await _source_device_taken(sqlite_store, publisher)
    flood = 300
    await asyncio.gather(
        *(publish(publisher, Z2M_TOPIC, {"contact": i % 2 == 0}) for i in range(flood))
    )
    await publish(publisher, event_topic(BED), {"seq": 1})  # another device: not limited
    await wait_readings(sqlite_store, 1, BED)
    elapsed = time.monotonic() - began

    stored = await sqlite_store.count_readings(Z2M_DOOR)
    assert stored - primed < flood
    assert stored <= BURST + RATE * elapsed + 1
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert metrics.value("eldercare_rate_limited_total") == flood + primed - stored
    letters = await sqlite_store.list_dead_letters(limit=1000)
    assert [(d.reason, d.topic) for d in letters] == [("rate_limited", Z2M_TOPIC)]
    assert f"device {Z2M_DOOR} sent more than {RATE:g} messages/s" in letters[0].detail


async def test_junk_on_a_zigbee2mqtt_topic_fills_no_more_dead_letters_than_the_limit(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    """Rejected messages of a registered ecosystem device count against its limit
    too: a flood of junk leaves a bounded number of dead letters, and the rest
    is counted."""
    await start_gateway(device_rate=RATE, device_burst=BURST, registry_refresh=0.2)
    began = time.monotonic()
    await _source_device_taken(sqlite_store, publisher)
    flood = 300
    await asyncio.gather(*(publish(publisher, Z2M_TOPIC, b"{not json") for _ in range(flood)))
    await publish(publisher, event_topic(BED), {"seq": 1})
    await wait_readings(sqlite_store, 1, BED)
    elapsed = time.monotonic() - began

    letters = await sqlite_store.list_dead_letters(limit=1000)
    reasons = [d.reason for d in letters]
    assert reasons.count("rate_limited") == 1
    rejected = len(letters) - 1
    assert 1 <= rejected <= BURST + RATE * elapsed
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert metrics.value("eldercare_rate_limited_total") == flood - rejected
