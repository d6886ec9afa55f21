"""Fuzzed messages through the whole intake: a real Mosquitto, the gateway, a real
SQLite store. Every message sent is either stored (a reading or a status) or a
dead letter with the reason the pure decoders give it: none is lost, none is
dropped silently, none crashes a decoder (``internal_error``), and intake keeps
going.

Short mode (the test command): ``ELDERCARE_FUZZ_CASES`` messages, 3,000 unless
set. Long mode, by hand, printing its figures::

    ELDERCARE_FUZZ_CASES=1000000 .venv/bin/pytest tests/fuzz/test_gateway_fuzz.py -s

``ELDERCARE_FUZZ_SEED`` picks the draw (a failure prints the seed it used).
"""

from __future__ import annotations

import asyncio
import collections
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.clock import WallClock
from eldercare.domain import Home
from eldercare.metrics import Metrics
from eldercare.store import Store, open_store
from gateway.intake import Gateway, GatewayConfig
from gateway.registry_cache import RegistryCache
from tests.fuzz.payloads import HOME, OTHER_HOME, Fleet, Fuzzer, Oracle
from tests.gateway.test_intake import Recorder, eventually
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

CASES = int(os.environ.get("ELDERCARE_FUZZ_CASES", "3000"))
SEED = int(os.environ.get("ELDERCARE_FUZZ_SEED", str(int(time.time()) % 100_000)))
CHUNK = 20_000
"""Messages sent before waiting for the gateway to have received them (the
harness broker queues up to 100,000 for a slow subscriber)."""


class Publisher:
    """A stock paho client at QoS 1, many in flight; ``publish`` returns once the
    broker has acknowledged every message."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fuzz-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                raise AssertionError(f"broker did not acknowledge message {info.mid}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    the_store = await open_store(f"sqlite:///{tmp_path}/fuzz.db")
    await the_store.migrate()
    yield the_store
    await the_store.close()


async def _count(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    async def check() -> bool:
        return predicate()

    await eventually(check, what, timeout=timeout)


def _dead_letters(db: Path) -> collections.Counter[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
        return collections.Counter({reason: n for reason, n in rows})


async def test_every_fuzzed_message_is_stored_or_dead_lettered_with_its_reason(
    mosquitto: Mosquitto, store: Store, tmp_path: Path
) -> None:
    fleet, db = Fleet(), tmp_path / "fuzz.db"
    await store.create_home(Home(HOME, "Fuzz"))
    await store.create_home(Home(OTHER_HOME, "Other"))
    for device in fleet.devices:
        await store.create_device(device)
    registry = RegistryCache(store)
    await registry.load()
    metrics, sink = Metrics(), Recorder()
    gateway = Gateway(
        GatewayConfig(
            host=mosquitto.host,
            port=mosquitto.port,
            client_id=f"gw-{uuid.uuid4().hex[:8]}",
            batch_max=1000,
        ),
        store=store,
        registry=registry,
        clock=WallClock(),
        metrics=metrics,
        sink=sink,
    )
    task = asyncio.create_task(gateway.run())

    async def connected() -> bool:
        return gateway.connected

    await eventually(connected, "gateway connected")
    publisher = Publisher(mosquitto)
    fuzzer, oracle = Fuzzer(fleet, SEED), Oracle(fleet)
    expected_dead: collections.Counter[str] = collections.Counter()
    identities: set[object] = set()
    assigned = statuses = sent = 0
    began = time.monotonic()
    try:
        while sent < CASES:
            chunk = [fuzzer.draw() for _ in range(min(CHUNK, CASES - sent))]
            at = datetime.now(UTC)
            for topic, payload in chunk:
                outcome = oracle.outcome(topic, payload, at)
                if outcome.dead is not None:
                    expected_dead[outcome.dead] += 1
                statuses += outcome.statuses
                for identity in outcome.readings:
                    if identity is None:
                        assigned += 1
                    else:
                        identities.add(identity)
            await asyncio.to_thread(publisher.publish, chunk)
            sent += len(chunk)

            def received(n: int = sent) -> bool:
                return metrics.value("eldercare_messages_received_total") >= n

            await _count(received, f"gateway received {sent} messages", timeout=120)
            if CASES > CHUNK:
                print(f"fuzz: {sent:,} sent in {time.monotonic() - began:.0f} s", flush=True)
        dead_total = sum(expected_dead.values())
        readings_total = assigned + len(identities)

        def all_taken() -> bool:
            dead = sum(_dead_letters(db).values())
            return dead >= dead_total and len(sink.statuses) >= statuses

        await _count(all_taken, "every message stored or dead-lettered", timeout=120)
        elapsed = time.monotonic() - began
        stored = await store.count_readings()
        dead = _dead_letters(db)
    finally:
        publisher.close()
        await gateway.stop(timeout=10)
        await task

    rejected = sum(dead.values())
    print(
        f"\nfuzz seed {SEED}: {sent:,} messages in {elapsed:.1f} s ({sent / elapsed:,.0f}/s):"
        f" {stored:,} readings stored, {len(sink.statuses):,} statuses,"
        f" {rejected:,} dead letters by reason {dict(dead.most_common())}"
    )
    assert metrics.value("eldercare_messages_received_total") == sent, f"seed {SEED}"
    assert dead == expected_dead, f"seed {SEED}: dead letters by reason"
    assert "internal_error" not in dead, f"seed {SEED}: a decoder failed"
    assert stored == readings_total, f"seed {SEED}: readings stored"
    assert len(sink.statuses) == statuses, f"seed {SEED}: statuses"
