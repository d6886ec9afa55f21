"""The urgent MQTT session (gateway/urgent_session.py) over a real Mosquitto and
a real SQLite store: a critical device's event reaches the service while the
main session's queue in the broker is full of vitals, and every message is
processed once, from whichever session took it first."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiomqtt
import pytest

from eldercare.clock import WallClock
from eldercare.domain import Device, DeviceKind
from eldercare.metrics import Metrics
from eldercare.store import Store
from gateway.intake import M_COPIES, Gateway, GatewayConfig
from gateway.registry_cache import RegistryCache
from gateway.urgent_session import SeenMessages
from tests.gateway.test_intake import (  # noqa: F401 (fixtures)
    BED,
    HOME,
    OTHER_HOME,
    WATER_B,
    HoldingSink,
    Recorder,
    event_topic,
    eventually,
    publish,
    publisher,
    sqlite_store,
)
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

FAST = {"water": (b'"leak"',), "sos_button": (b'"action"',)}
WINDOW = 50
"""The main session's receive maximum here: a backlog past it waits in the broker."""


@dataclasses.dataclass
class Sessions:
    main: Gateway
    urgent: Gateway | None
    sink: Recorder
    main_metrics: Metrics
    urgent_metrics: Metrics
    registry: RegistryCache
    tasks: list[asyncio.Task[None]]


Start = Callable[..., Awaitable[Sessions]]


@pytest.fixture
async def start_sessions(mosquitto: Mosquitto, sqlite_store: Store) -> AsyncIterator[Start]:  # noqa: F811
    started: list[Sessions] = []
    client_id = f"gw-{uuid.uuid4().hex[:8]}"

    async def start(sink: Recorder, *, urgent: bool = True, **config: Any) -> Sessions:
        registry = RegistryCache(sqlite_store, miss_reload_interval=0.2)
        await registry.load()
        seen = SeenMessages() if urgent else None
        main_cfg = GatewayConfig(
            host=mosquitto.host,
            port=mosquitto.port,
            client_id=client_id,
            receive_maximum=WINDOW,
            batch_max=20,
            fast_lane=FAST,
            registry_refresh=0.2,
            **config,
        )
        metrics = (Metrics(), Metrics())

        def gateway(cfg: GatewayConfig, m: Metrics) -> Gateway:
            return Gateway(
                cfg,
                store=sqlite_store,
                registry=registry,
                clock=WallClock(),
                metrics=m,
                sink=sink,
                seen=seen,
            )

        main = gateway(main_cfg, metrics[0])
        second = (
            gateway(
                dataclasses.replace(main_cfg, client_id=client_id + "-urgent", urgent_session=True),
                metrics[1],
            )
            if urgent
            else None
        )
        gateways = [main] if second is None else [main, second]
        tasks = [asyncio.create_task(g.run()) for g in gateways]
        s = Sessions(main, second, sink, metrics[0], metrics[1], registry, tasks)
        started.append(s)

        async def ready() -> bool:
            for t in tasks:
                if t.done():
                    t.result()
            return all(g.connected for g in gateways)

        await eventually(ready, "both sessions connected and subscribed")
        return s

    yield start
    for s in started:
        for g in (s.main, s.urgent):
            if g is not None:
                await g.stop(timeout=5)
        await asyncio.gather(*s.tasks, return_exceptions=True)


async def _backlog_then_leak(publisher: aiomqtt.Client, sink: HoldingSink) -> None:  # noqa: F811
    """A batch of vitals held in the sink (nothing acked from then on), vitals
    past the receive window behind it, then a leak."""
    await publish(publisher, event_topic(BED), {"seq": 1, "hr": 60, "rr": 14, "in_bed": True})
    await asyncio.wait_for(sink.holding.wait(), 5)
    for seq in range(2, WINDOW * 10):
        await publish(publisher, event_topic(BED), {"seq": seq, "hr": 60, "rr": 14, "in_bed": True})
    await publish(publisher, event_topic(WATER_B, OTHER_HOME), {"seq": 1, "leak": True})


def _leaks(sink: Recorder) -> int:
    return sum(1 for r in sink.readings if r.device_id == WATER_B)


async def test_a_leak_behind_a_full_receive_window_arrives_on_the_urgent_session(
    start_sessions: Start,
    publisher: aiomqtt.Client,  # noqa: F811
    sqlite_store: Store,  # noqa: F811
) -> None:
    sink = HoldingSink(BED)
    s = await start_sessions(sink)
    await _backlog_then_leak(publisher, sink)

    async def leak_delivered() -> bool:
        return _leaks(sink) == 1

    try:
        await eventually(leak_delivered, "the leak delivered while the vitals wait", 10)
        assert not any(r.device_id == BED for r in sink.readings)
        assert await sqlite_store.count_readings(WATER_B) == 1
    finally:
        sink.release.set()

    async def main_caught_up() -> bool:
        return s.main_metrics.value(M_COPIES) == 1  # its copy of the leak, dropped

    await eventually(main_caught_up, "the main session's copy of the leak acked and dropped", 30)
    await eventually(
        lambda: _true(sqlite_store.count_readings(BED), WINDOW * 10 - 1),
        "every vital sign stored",
        30,
    )
    assert _leaks(sink) == 1  # processed once
    assert await sqlite_store.count_readings(WATER_B) == 1
    assert s.urgent_metrics.value(M_COPIES) in (None, 0)


async def _true(count: Awaitable[int], want: int) -> bool:
    return await count == want


async def test_with_one_session_the_same_leak_waits_in_the_broker(
    start_sessions: Start,
    publisher: aiomqtt.Client,  # noqa: F811
) -> None:
    """The control: what the urgent session is for (the test above would fail
    without it)."""
    sink = HoldingSink(BED)
    await start_sessions(sink, urgent=False)
    await _backlog_then_leak(publisher, sink)
    try:
        await asyncio.sleep(1.5)  # the leak is queued behind the window: it cannot come
        assert _leaks(sink) == 0
    finally:
        sink.release.set()

    async def leak_delivered() -> bool:
        return _leaks(sink) == 1

    await eventually(leak_delivered, "the leak after the backlog", 30)


async def test_two_identical_presses_are_both_processed_and_each_once(
    start_sessions: Start,
    publisher: aiomqtt.Client,  # noqa: F811
    sqlite_store: Store,  # noqa: F811
) -> None:
    """A button without ``ts`` or ``seq`` sends the same bytes for two presses:
    two messages, not one message's two copies."""
    await sqlite_store.create_device(Device(id="sos-1", home_id=HOME, kind=DeviceKind.SOS_BUTTON))
    sink = Recorder()
    s = await start_sessions(sink)
    s.registry.invalidate()

    async def subscribed() -> bool:
        assert s.urgent is not None
        return s.urgent._seen is not None and s.urgent._seen.tracks(event_topic("sos-1"))

    await eventually(subscribed, "the urgent session follows the new button")
    await asyncio.sleep(0.2)  # its SUBACK: a message before it reaches the main session only
    for _ in range(2):
        await publish(publisher, event_topic("sos-1"), {"action": "press"})

    def presses() -> int:
        return sum(1 for r in sink.readings if r.device_id == "sos-1")

    async def both() -> bool:
        copies = (s.main_metrics.value(M_COPIES) or 0) + (s.urgent_metrics.value(M_COPIES) or 0)
        return copies == 2 and presses() >= 2

    await eventually(both, "both presses processed, each one's second copy dropped")
    assert presses() == 2
    assert await sqlite_store.count_readings("sos-1") == 2


def test_seen_messages_counts_copies_per_session() -> None:
    now = [0.0]
    seen = SeenMessages(window_s=10, monotonic=lambda: now[0])
    topic, body = "eldercare/v1/h/sos/event", b'{"action":"press"}'
    assert seen.take(topic, body, urgent=True)  # urgent first: process
    assert not seen.take(topic, body, urgent=False)  # main's copy of it: drop
    assert seen.take(topic, body, urgent=False)  # a second press, main first
    assert not seen.take(topic, body, urgent=True)
    assert seen.take(topic, b'{"action":"cancel"}', urgent=False)  # another message


def test_seen_messages_forgets_a_copy_after_two_windows() -> None:
    now = [0.0]
    seen = SeenMessages(window_s=10, monotonic=lambda: now[0])
    a, b = b'{"seq":1,"action":"press"}', b'{"seq":2,"action":"press"}'
    topic = "eldercare/v1/h/sos/event"
    assert seen.take(topic, a, urgent=True) and seen.take(topic, b, urgent=True)
    now[0] = 12.0  # one window on: still known
    assert not seen.take(topic, a, urgent=False)
    now[0] = 24.0  # two windows on without a copy: forgotten, processed (harmless)
    assert seen.take(topic, b, urgent=False)
