"""Gateway throughput next to a bare paho subscriber, in one run, on one broker.

    .venv/bin/python -m benchmarks.gateway_rate [--messages 50000] [--devices 500]

Starts its own Mosquitto and TimescaleDB (eldercare/localservers.py), queues
N native ``bed_band`` messages (QoS 1) for two persistent sessions, then drains
each session and times it:

- bare: a paho subscriber that only counts (paho acks automatically);
- gateway: the real Gateway (decode, validate, persist on TimescaleDB by COPY,
  SOS detector, ack after commit), timed until every reading is committed.

Prints a table and the ratio gateway/bare. Figures, not a test: the machine is
shared, so compare the two numbers of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerts.events import AlertBus
from alerts.notifiers import ConsoleNotifier
from alerts.service import AlertService
from detectors.sos import SosDetector
from eldercare.clock import WallClock
from eldercare.domain import Device, DeviceKind, Home, Resident
from eldercare.localservers import TempMosquitto, start_postgres, stop_postgres
from eldercare.metrics import Metrics
from eldercare.pipeline import Pipeline
from eldercare.store import open_store
from gateway import Gateway, GatewayConfig, RegistryCache

TOPIC = "eldercare/v1/+/+/event"


def _session(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 4000
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    return client


def register_session(port: int, client_id: str) -> None:
    """Subscribe once and leave, so the broker queues messages for this session."""
    client = _session(port, client_id)
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.loop_start()
    client.subscribe(TOPIC, qos=1)
    done.wait(5)
    client.disconnect()
    client.loop_stop()


def publish(port: int, n: int, devices: int) -> float:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    t0 = datetime.now(UTC) - timedelta(hours=1)
    start = time.perf_counter()
    last = None
    for i in range(n):
        d = i % devices
        payload = {
            "ts": (t0 + timedelta(milliseconds=i)).isoformat(timespec="milliseconds"),
            "seq": i,
            "hr": 60 + i % 15,
            "rr": 14 + i % 3,
            "in_bed": True,
            "movement": i % 20,
            "battery": 88,
        }
        last = client.publish(f"eldercare/v1/h{d}/h{d}-bed/event", json.dumps(payload), qos=1)
    assert last is not None
    last.wait_for_publish(120)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


def drain_bare(port: int, n: int) -> float:
    got = 0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal got
        got += 1
        if got >= n:
            done.set()

    client = _session(port, "bench-bare")
    client.on_message = on_message
    start = time.perf_counter()
    client.loop_start()
    if not done.wait(300):
        raise RuntimeError(f"bare subscriber got {got} of {n}")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


async def drain_gateway(port: int, db_url: str, n: int, devices: int) -> tuple[float, int]:
    store = await open_store(db_url)
    metrics = Metrics()
    clock = WallClock()
    registry = RegistryCache(store)
    await registry.load()
    alerts = AlertService(
        store,
        clock,
        AlertBus(),
        [ConsoleNotifier()],
        metrics,
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone="+8657100000000",
    )
    pipeline = Pipeline([SosDetector()], alerts, clock, registry.lookup, metrics)
    gateway = Gateway(
        GatewayConfig(port=port, client_id="bench-gw", protocol="5", batch_max=5000),
        store=store,
        registry=registry,
        clock=clock,
        metrics=metrics,
        sink=pipeline,
    )
    start = time.perf_counter()
    task = asyncio.create_task(gateway.run())
    while metrics.value("eldercare_readings_stored_total") < n:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    batches = int(metrics.value("eldercare_batches_total"))
    await gateway.stop()
    await task
    stored = await store.count_readings()
    await store.close()
    if stored != n:
        raise RuntimeError(f"stored {stored} readings, expected {n}")
    return elapsed, batches


async def provision(db_url: str, devices: int) -> None:
    store = await open_store(db_url)
    await store.migrate()
    for d in range(devices):
        await store.create_home(Home(f"h{d}", f"Home {d}"))
        await store.create_resident(Resident(f"h{d}-r1", f"h{d}", "R"))
        await store.create_device(
            Device(f"h{d}-bed", f"h{d}", DeviceKind.BED_BAND, f"h{d}-r1", "bedroom")
        )
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=500)
    args = parser.parse_args()
    n, devices = args.messages, args.devices

    work = Path(tempfile.mkdtemp(prefix="eldercare-bench-"))
    broker = TempMosquitto(work)
    broker.start()
    pg = start_postgres()
    try:
        import psycopg

        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        db_url = pg.url("bench")
        asyncio.run(provision(db_url, devices))
        register_session(broker.port, "bench-bare")
        register_session(broker.port, "bench-gw")
        pub_s = publish(broker.port, n, devices)
        bare_s = drain_bare(broker.port, n)
        gw_s, batches = asyncio.run(drain_gateway(broker.port, db_url, n, devices))
    finally:
        broker.stop()
        stop_postgres(pg)
    rows = [
        ("publisher (QoS 1)", n / pub_s, pub_s),
        ("bare paho subscriber", n / bare_s, bare_s),
        ("gateway → TimescaleDB", n / gw_s, gw_s),
    ]
    print(f"{n} bed_band messages from {devices} devices, cpus={os.cpu_count()}")
    print(f"{'consumer':<24}{'msg/s':>10}{'seconds':>10}")
    for name, rate, secs in rows:
        print(f"{name:<24}{rate:>10,.0f}{secs:>10.2f}")
    print(
        f"gateway / bare = {bare_s / gw_s:.2f}   (gateway batches: {batches}, "
        f"mean {n / max(batches, 1):.0f} messages each)"
    )


if __name__ == "__main__":
    main()
