"""The gateway over a real Mosquitto and a real SQLite store (no mocks of either).

Tests never sleep a fixed time to pass: they poll for the expected state with a
deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from eldercare.clock import WallClock
from eldercare.domain import Device, DeviceKind, Home, Reading, Resident, StatusChange
from eldercare.metrics import Metrics
from eldercare.store import Store, open_store
from gateway.intake import Gateway, GatewayConfig
from gateway.registry_cache import RegistryCache
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

HOME = "home-a"
OTHER_HOME = "home-b"
DOOR = "door-1"
BED = "bed-1"
WATER_B = "water-b"  # registered in OTHER_HOME
_ids = itertools.count()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 5.0) -> None:
    """Poll ``check`` until it is true, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for: {what}")
        await asyncio.sleep(0.02)


class Recorder:
    """The sink: remembers every batch it was given."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.statuses: list[StatusChange] = []
        self.calls = 0

    async def __call__(self, readings: Sequence[Reading], statuses: Sequence[StatusChange]) -> None:
        self.calls += 1
        self.readings.extend(readings)
        self.statuses.extend(statuses)


class FlakyStore:
    """The real store, whose insert_readings fails the first ``failures`` times."""

    def __init__(self, inner: Store, failures: int) -> None:
        self._inner = inner
        self.failures = failures
        self.attempts = 0

    async def insert_readings(self, readings: Sequence[Reading]) -> int:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise OSError("database is away")
        return await self._inner.insert_readings(readings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path}/t.db")
    await store.migrate()
    await store.create_home(Home(id=HOME, name="A"))
    await store.create_home(Home(id=OTHER_HOME, name="B"))
    await store.create_resident(Resident(id="res-1", home_id=HOME, name="Li"))
    await store.create_device(Device(id=DOOR, home_id=HOME, kind=DeviceKind.DOOR))
    await store.create_device(
        Device(id=BED, home_id=HOME, kind=DeviceKind.BED_BAND, resident_id="res-1")
    )
    await store.create_device(Device(id=WATER_B, home_id=OTHER_HOME, kind=DeviceKind.WATER))
    try:
        yield store
    finally:
        await store.close()


class Running:
    """A gateway running in a task, with what it was built with."""

    def __init__(self, gateway: Gateway, task: asyncio.Task[None], sink: Recorder) -> None:
        self.gateway = gateway
        self.task = task
        self.sink = sink

    async def stop(self) -> None:
        await self.gateway.stop(timeout=5)
        await self.task

    async def crash(self) -> None:
        """Cancel run() without draining, as a killed process would."""
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


StartGateway = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_gateway(mosquitto: Mosquitto, sqlite_store: Store) -> AsyncIterator[StartGateway]:
    running: list[Running] = []
    metrics = Metrics()
    client_id = f"gw-{uuid.uuid4().hex[:8]}"

    async def start(
        *,
        store: Any = None,
        protocol: str = "5",
        sink: Recorder | None = None,
        batch_max: int = 500,
        fast_lane: dict[str, tuple[bytes, ...]] | None = None,
        **config: Any,
    ) -> Running:
        the_store = store if store is not None else sqlite_store
        recorder = sink if sink is not None else Recorder()
        registry = RegistryCache(the_store, miss_reload_interval=0.2)
        await registry.load()  # as the service does before it starts the gateway
        gw = Gateway(
            GatewayConfig(
                host=mosquitto.host,
                port=mosquitto.port,
                client_id=client_id,
                protocol=protocol,
                batch_max=batch_max,
                fast_lane=fast_lane or {},
                **config,
            ),
            store=the_store,
            registry=registry,
            clock=WallClock(),
            metrics=metrics,
            sink=recorder,
        )
        task = asyncio.create_task(gw.run(), name="gateway")
        r = Running(gw, task, recorder)
        running.append(r)

        async def ready() -> bool:
            if task.done():
                task.result()
            return gw.connected

        await eventually(ready, "gateway connected and subscribed")
        return r

    start.metrics = metrics  # type: ignore[attr-defined]
    start.client_id = client_id  # type: ignore[attr-defined]
    yield start
    for r in running:
        if not r.task.done():
            await r.stop()


@pytest.fixture
async def publisher(mosquitto: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        mosquitto.host, mosquitto.port, identifier=f"pub-{next(_ids)}-{uuid.uuid4().hex[:6]}"
    ) as client:
        yield client


def event_topic(device: str, home: str = HOME) -> str:
    return f"eldercare/v1/{home}/{device}/event"


def status_topic(device: str, home: str = HOME) -> str:
    return f"eldercare/v1/{home}/{device}/status"


async def publish(client: aiomqtt.Client, topic: str, body: Any, *, retain: bool = False) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    await client.publish(topic, payload, qos=1, retain=retain)


async def wait_readings(store: Store, n: int, device: str | None = None) -> None:
    async def check() -> bool:
        return await store.count_readings(device) >= n

    await eventually(check, f"{n} reading(s) stored for {device or 'all devices'}")


# --- tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_valid_events_are_stored_with_liveness_and_sink(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store, protocol: str
) -> None:
    gw = await start_gateway(protocol=protocol)
    before = datetime.now(UTC)
    await publish(publisher, event_topic(DOOR), {"seq": 1, "battery": 77, "open": True})
    await publish(
        publisher,
        event_topic(BED),
        {"seq": 1, "ts": "2025-03-01T20:00:00+08:00", "hr": 61, "rr": 13, "in_bed": True},
    )
    await publish(publisher, event_topic(DOOR), {"seq": 2, "battery": 76})  # heartbeat
    await wait_readings(sqlite_store, 3)

    door = await sqlite_store.get_liveness(DOOR)
    assert door.battery == 76
    assert door.last_seen is not None and door.last_seen >= before - timedelta(seconds=1)
    bed = await sqlite_store.get_liveness(BED)
    assert bed.last_seen is not None and bed.battery is None

    async def sink_saw_all() -> bool:
        return len(gw.sink.readings) == 3

    await eventually(sink_saw_all, "sink got 3 readings")
    by_seq = {(r.device_id, r.seq): r for r in gw.sink.readings}
    assert by_seq[(DOOR, 1)].fields == {"open": True}
    assert by_seq[(DOOR, 2)].is_heartbeat
    assert by_seq[(BED, 1)].ts == datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert by_seq[(BED, 1)].fields == {"hr": 61, "rr": 13, "in_bed": True}

    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert metrics.value("eldercare_messages_received_total") == 3
    assert metrics.value("eldercare_readings_stored_total") == 3
    assert metrics.value("eldercare_batches_total") >= 1


async def test_every_rejection_is_dead_lettered_and_intake_keeps_going(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    await start_gateway()
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    bad: list[tuple[str, bytes | dict[str, Any], str]] = [
        (event_topic(DOOR), b'{"open": tru', "bad_json"),
        (event_topic(DOOR), {"open": "yes"}, "bad_type"),
        (event_topic(BED), {"hr": 400, "rr": 12, "in_bed": True}, "out_of_range"),
        (event_topic("ghost-7"), {"open": True}, "unknown_device"),
        (event_topic(WATER_B), {"leak": True}, "wrong_home"),
        (event_topic(DOOR), {"open": True, "ts": future}, "future_timestamp"),
        (event_topic(DOOR), {"open": True, "pad": "x" * 5000}, "too_large"),
        (event_topic(DOOR), b"\xff\xfe", "bad_encoding"),
        (event_topic(DOOR), [1, 2], "not_object"),  # type: ignore[list-item]
        (event_topic(DOOR), {"kind": "gas", "lel": 3}, "kind_mismatch"),
        (event_topic(DOOR), {"rssi": -80}, "missing_field"),
        (event_topic(DOOR), {"open": True, "ts": "2025-03-01T12:00:00"}, "bad_timestamp"),
        (status_topic(DOOR), b"sleeping", "bad_status"),
    ]
    for topic, body, _ in bad:
        await publish(publisher, topic, body)
    await publish(publisher, event_topic(DOOR), {"seq": 99, "open": False})

    await wait_readings(sqlite_store, 1, DOOR)
    letters = await sqlite_store.list_dead_letters(limit=100)
    assert sorted(d.reason for d in letters) == sorted(reason for _, _, reason in bad)
    by_reason = {d.reason: d for d in letters}
    assert by_reason["bad_type"].detail == ("""field 'open' must be a boolean, got string "yes\"""")
    assert by_reason["unknown_device"].topic == event_topic("ghost-7")
    assert by_reason["bad_encoding"].payload == b"\xff\xfe"
    assert await sqlite_store.count_readings() == 1

    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    for _, _, reason in bad:
        assert metrics.value("eldercare_dead_letters_total", reason=reason) == 1, reason
    assert metrics.value("eldercare_messages_received_total") == len(bad) + 1


async def test_retained_offline_status_sets_online_false(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    # Published before the gateway subscribes, retained, as a last will would be.
    await publish(publisher, status_topic(BED), b"offline", retain=True)
    gw = await start_gateway()

    async def offline() -> bool:
        return (await sqlite_store.get_liveness(BED)).online is False

    await eventually(offline, "bed band marked offline")
    assert (await sqlite_store.get_liveness(BED)).last_seen is None  # a will is not a sign of life
    assert [s.online for s in gw.sink.statuses if s.device_id == BED] == [False]

    await publish(publisher, status_topic(BED), b"online", retain=True)

    async def online() -> bool:
        return (await sqlite_store.get_liveness(BED)).online is True

    await eventually(online, "bed band back online")
    assert (await sqlite_store.get_liveness(BED)).last_seen is not None


async def test_same_message_twice_is_stored_once(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    await start_gateway()
    body = {"seq": 5, "ts": "2025-03-01T12:00:00Z", "open": True}
    await publish(publisher, event_topic(DOOR), body)
    await publish(publisher, event_topic(DOOR), body)
    await publish(publisher, event_topic(BED), {"seq": 1})  # marker: processed after both
    await wait_readings(sqlite_store, 1, BED)
    assert await sqlite_store.count_readings(DOOR) == 1
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert metrics.value("eldercare_messages_received_total") == 3
    assert metrics.value("eldercare_readings_stored_total") == 2


async def test_store_failure_is_retried_and_nothing_is_lost(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    flaky = FlakyStore(sqlite_store, failures=2)
    await start_gateway(store=flaky)
    await publish(publisher, event_topic(DOOR), {"seq": 1, "open": True})
    await wait_readings(sqlite_store, 1, DOOR)
    assert flaky.attempts == 3
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert metrics.value("eldercare_gateway_store_errors_total") == 2


async def test_uncommitted_messages_are_redelivered_after_a_crash(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    """Nothing is acked before commit: a crash mid-retry loses nothing."""
    down = FlakyStore(sqlite_store, failures=10**9)
    first = await start_gateway(store=down)
    await publish(publisher, event_topic(DOOR), {"seq": 1, "open": True})

    async def tried() -> bool:
        return down.attempts >= 1

    await eventually(tried, "first gateway tried to store")
    await first.crash()
    assert await sqlite_store.count_readings() == 0

    second = await start_gateway()  # same client id: the broker resumes the session
    await wait_readings(sqlite_store, 1, DOOR)
    assert [r.seq for r in second.sink.readings] == [1]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_persistent_session_keeps_messages_while_the_gateway_is_away(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store, protocol: str
) -> None:
    first = await start_gateway(protocol=protocol)
    await publish(publisher, event_topic(DOOR), {"seq": 1, "open": True})
    await wait_readings(sqlite_store, 1, DOOR)
    await first.stop()
    assert not first.gateway.connected

    for seq in range(2, 12):
        await publish(publisher, event_topic(DOOR), {"seq": seq, "open": seq % 2 == 0})
    second = await start_gateway(protocol=protocol)
    await wait_readings(sqlite_store, 11, DOOR)
    assert sorted(r.seq or 0 for r in second.sink.readings) == list(range(2, 12))


async def test_gateway_reconnects_after_a_broker_restart(
    start_gateway: StartGateway,
    mosquitto: Mosquitto,
    sqlite_store: Store,
) -> None:
    gw = await start_gateway()
    mosquitto.restart()

    async def reconnected() -> bool:
        return gw.gateway.connected

    await eventually(reconnected, "gateway reconnected", timeout=10)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="pub-after") as client:
        await publish(client, event_topic(DOOR), {"seq": 1, "open": True})
    await wait_readings(sqlite_store, 1, DOOR)


async def test_a_device_provisioned_later_is_found(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    await start_gateway()
    await publish(publisher, event_topic("sos-new"), {"action": "press"})

    async def dead_lettered() -> bool:
        return len(await sqlite_store.list_dead_letters()) == 1

    await eventually(dead_lettered, "unknown device dead-lettered")
    await sqlite_store.create_device(Device(id="sos-new", home_id=HOME, kind=DeviceKind.SOS_BUTTON))
    # The cache reloads on a miss at most every 0.2 s here; keep publishing until found.
    for seq in range(1, 200):
        await publish(publisher, event_topic("sos-new"), {"seq": seq, "action": "press"})
        if await sqlite_store.count_readings("sos-new") > 0:
            break
        await asyncio.sleep(0.02)
    await wait_readings(sqlite_store, 1, "sos-new")


async def test_a_burst_is_committed_in_batches(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    await start_gateway(batch_max=100)
    n = 1000
    await asyncio.gather(
        *(publish(publisher, event_topic(DOOR), {"seq": i, "open": True}) for i in range(n))
    )
    await wait_readings(sqlite_store, n, DOOR)
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert 10 <= metrics.value("eldercare_batches_total") < n


class HoldingSink(Recorder):
    """A sink that keeps the first batch with a reading of ``device`` waiting
    until released: a slow batch of vitals under way."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, readings: Sequence[Reading], statuses: Sequence[StatusChange]) -> None:
        if not self.holding.is_set() and any(r.device_id == self.device for r in readings):
            self.holding.set()
            await self.release.wait()
        await super().__call__(readings, statuses)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-lane", "one-lane"])
async def test_a_fast_lane_message_does_not_wait_behind_a_batch_under_way(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store, fast: bool
) -> None:
    sink = HoldingSink(BED)
    await start_gateway(sink=sink, fast_lane={"water": (b'"leak"',)} if fast else None)
    await publish(publisher, event_topic(BED), {"seq": 1, "hr": 60, "rr": 14, "in_bed": True})
    await asyncio.wait_for(sink.holding.wait(), 5)
    await publish(publisher, event_topic(WATER_B, OTHER_HOME), {"seq": 1, "leak": True})

    async def water_delivered() -> bool:
        return any(r.device_id == WATER_B for r in sink.readings)

    try:
        if fast:
            await eventually(water_delivered, "the leak delivered while the vitals batch waits")
            await wait_readings(sqlite_store, 1, WATER_B)
            assert not any(r.device_id == BED for r in sink.readings)
        else:  # one lane: strictly in order, the leak waits for the batch before it
            await asyncio.sleep(0.3)
            assert not await water_delivered()
    finally:
        sink.release.set()  # a failed assertion must not leave the gateway stuck
    await eventually(water_delivered, "the leak delivered")
    await wait_readings(sqlite_store, 1, BED)
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]

    async def all_acked() -> bool:
        return metrics.value("eldercare_messages_processed_total") == 2

    await eventually(all_acked, "both messages processed and acked")


class HeldStore:
    """The real store, whose insert_readings of a batch with ``device`` in it waits
    until released: a slow write under way."""

    def __init__(self, inner: Store, device: str) -> None:
        self._inner = inner
        self.device = device
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def insert_readings(self, readings: Sequence[Reading]) -> int:
        if any(r.device_id == self.device for r in readings):
            self.holding.set()
            await self.release.wait()
        return await self._inner.insert_readings(readings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-lane", "one-lane"])
async def test_a_fast_lane_alert_does_not_wait_for_its_reading_to_be_written(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store, fast: bool
) -> None:
    store = HeldStore(sqlite_store, WATER_B)
    running = await start_gateway(store=store, fast_lane={"water": (b'"leak"',)} if fast else None)
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    await publish(publisher, event_topic(WATER_B, OTHER_HOME), {"seq": 1, "leak": True})
    await asyncio.wait_for(store.holding.wait(), 5)

    async def leak_delivered() -> bool:
        return any(r.device_id == WATER_B for r in running.sink.readings)

    try:
        if fast:  # the detectors (and so the alert) have it while its row is being written
            await eventually(leak_delivered, "the leak delivered while its write waits")
        else:  # one lane: the sink after the commit
            await asyncio.sleep(0.3)
            assert not await leak_delivered()
        assert metrics.value("eldercare_messages_processed_total") == 0  # nothing acked yet
        assert await sqlite_store.count_readings(WATER_B) == 0
    finally:
        store.release.set()

    async def acked() -> bool:
        return metrics.value("eldercare_messages_processed_total") == 1

    await eventually(acked, "the leak acked once written")
    assert await sqlite_store.count_readings(WATER_B) == 1
    assert [r.device_id for r in running.sink.readings] == [WATER_B]  # delivered once


async def test_a_device_with_a_message_in_the_fast_lane_keeps_its_order(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    sink = HoldingSink(WATER_B)
    await start_gateway(sink=sink, fast_lane={"water": (b'"leak"',)})
    await publish(publisher, event_topic(WATER_B, OTHER_HOME), {"seq": 1, "leak": True})
    await asyncio.wait_for(sink.holding.wait(), 5)  # the leak is in the fast lane, held
    # A heartbeat has no marker, but its device's leak is not done yet: it follows it.
    await publish(publisher, event_topic(WATER_B, OTHER_HOME), {"seq": 2, "battery": 80})
    await publish(publisher, event_topic(DOOR), {"seq": 1, "open": True})  # normal lane

    async def door_delivered() -> bool:
        return any(r.device_id == DOOR for r in sink.readings)

    try:
        await eventually(door_delivered, "the normal lane goes on meanwhile")
        assert not any(r.device_id == WATER_B for r in sink.readings)
    finally:
        sink.release.set()

    async def both_delivered() -> bool:
        return sum(r.device_id == WATER_B for r in sink.readings) == 2

    await eventually(both_delivered, "the leak and then its heartbeat delivered")
    assert [r.seq for r in sink.readings if r.device_id == WATER_B] == [1, 2]


async def test_last_seen_is_rewritten_only_when_it_moved_on_by_ten_seconds(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    await start_gateway()
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]

    async def processed(n: int) -> None:
        async def done() -> bool:  # committed, liveness included, and acked
            return metrics.value("eldercare_messages_processed_total") >= n

        await eventually(done, f"{n} message(s) processed")

    await publish(publisher, event_topic(DOOR), {"seq": 1, "open": True, "battery": 80})
    await processed(1)
    first = await sqlite_store.get_liveness(DOOR)
    assert first.last_seen is not None and first.battery == 80
    await publish(publisher, event_topic(DOOR), {"seq": 2, "open": False, "battery": 80})
    await processed(2)
    assert await sqlite_store.get_liveness(DOOR) == first  # moments later: no row update
    await publish(publisher, event_topic(DOOR), {"seq": 3, "open": True, "battery": 79})
    await processed(3)
    now = await sqlite_store.get_liveness(DOOR)
    assert now.battery == 79  # a new battery level is written at once
    assert now.last_seen is not None and now.last_seen >= first.last_seen


async def test_a_leak_behind_thousands_of_unacked_vitals_is_taken_at_once(
    start_gateway: StartGateway, publisher: aiomqtt.Client, sqlite_store: Store
) -> None:
    """A backlog (the service slowed down by a busy machine) is held by the gateway,
    not by the broker: with only a few thousand messages in flight the broker
    queues the rest in order, and a leak published behind them reaches the fast
    lane only when the vitals before it are committed and acked."""
    sink = HoldingSink(BED)
    await start_gateway(sink=sink, fast_lane={"water": (b'"leak"',)})
    await publish(publisher, event_topic(BED), {"seq": 1, "hr": 60, "rr": 14, "in_bed": True})
    await asyncio.wait_for(sink.holding.wait(), 5)  # nothing is acked from now on
    backlog = 3000  # more than the 2,000 in flight the old rule gave batch_max 500
    for seq in range(2, backlog + 2):
        await publish(publisher, event_topic(BED), {"seq": seq, "hr": 60, "rr": 14, "in_bed": True})
    await publish(publisher, event_topic(WATER_B, OTHER_HOME), {"seq": 1, "leak": True})

    async def leak_delivered() -> bool:
        return any(r.device_id == WATER_B for r in sink.readings)

    try:
        await eventually(leak_delivered, "the leak delivered while the vitals wait", 10)
        assert not any(r.device_id == BED for r in sink.readings)
    finally:
        sink.release.set()
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]

    async def all_acked() -> bool:
        return metrics.value("eldercare_messages_processed_total") == backlog + 2

    await eventually(all_acked, "the backlog committed and acked after it", 30)
    assert await sqlite_store.count_readings(BED) == backlog + 1
