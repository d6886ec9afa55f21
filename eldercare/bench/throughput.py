"""Bench parts (a) and (b): the broker's receive limit (its own C client,
``mosquitto_sub``), a bare paho subscriber's receive rate, and the full
pipeline's sustained rate, drained from the same queued messages on one broker.

N native ``bed_band`` messages (QoS 1) are queued for three persistent sessions;
each session is then drained and timed: ``mosquitto_sub`` and the bare paho
subscriber only count (their client libraries ack), the gateway decodes,
validates, persists on TimescaleDB by COPY, runs the detectors and alerts, and
acks after commit.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

if TYPE_CHECKING:
    from eldercare.settings import Settings

TOPIC = "eldercare/v1/+/+/event"
ADMIN_PASSWORD = "bench-admin-password"


@dataclass(frozen=True, slots=True)
class Throughput:
    messages: int
    publish_s: float
    bare_s: float
    pipeline_s: float
    batches: int
    mosquitto_sub_s: float | None = None
    """First to last message received by ``mosquitto_sub`` (None: not installed)."""

    @property
    def ratio(self) -> float:
        return self.bare_s / self.pipeline_s if self.pipeline_s else 0.0

    @property
    def share_of_mosquitto_sub(self) -> float | None:
        """The pipeline's rate as a share of mosquitto_sub's (the receive limit)."""
        if self.mosquitto_sub_s is None or not self.pipeline_s:
            return None
        return self.mosquitto_sub_s / self.pipeline_s


def _session(
    port: int,
    client_id: str,
    protocol: str,
    *,
    clean: bool = False,
    expiry: int = 3600,
    on_connect: Any = None,
) -> mqtt.Client:
    """A session, plain paho (auto-ack), on the gateway's MQTT version: persistent
    unless ``clean``; on MQTT 5 it lasts ``expiry`` seconds after a disconnect."""
    if protocol == "3.1.1":
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean,
        )
        client.on_connect = on_connect
        client.connect("127.0.0.1", port)
        return client
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry
    props.ReceiveMaximum = 4000
    client.connect("127.0.0.1", port, clean_start=clean, properties=props)
    return client


def register_session(port: int, client_id: str, protocol: str = "5") -> None:
    """Subscribe once and leave, so the broker queues messages for this session."""
    client = _session(port, client_id, protocol)
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.loop_start()
    client.subscribe(TOPIC, qos=1)
    done.wait(5)
    client.disconnect()
    client.loop_stop()


def end_session(port: int, client_id: str, protocol: str = "5") -> bool:
    """Discard the broker's session of ``client_id``; True if there was one.

    Left in place, the two drained sessions of (a) and (b) would have every
    message of the latency part queued for them (their subscription matches,
    the bench broker's queue is unlimited), and Mosquitto's once-a-second save
    of that growing queue (70 MB after 40 s at 10,000 msg/s) stalled its delivery
    to the service every two seconds: 150-240 ms added to every fifth probe."""
    present = _connect_once(port, client_id, protocol, clean=False)  # resumes it, if any
    if protocol == "3.1.1":
        _connect_once(port, client_id, protocol, clean=True)  # a clean session ends it
    return present  # MQTT 5: resumed with expiry 0, it ended at the disconnect


def _connect_once(port: int, client_id: str, protocol: str, *, clean: bool) -> bool:
    """Connect and disconnect; whether the broker had a session (session present)."""
    connected = threading.Event()
    present = False

    def on_connect(client: mqtt.Client, userdata: object, flags: Any, *rest: Any) -> None:
        nonlocal present
        present = bool(flags.session_present)
        connected.set()

    client = _session(port, client_id, protocol, clean=clean, expiry=0, on_connect=on_connect)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise RuntimeError(f"the broker did not answer {client_id}'s connection in 10 s")
    finally:
        client.disconnect()
        client.loop_stop()
    return present


def publish_vitals(port: int, n: int, homes: int, prefix: str) -> float:
    """Publish ``n`` bed-band readings over ``homes`` homes; seconds it took."""
    from simulators.devices import Message
    from simulators.player import close, connect, play

    # Spaced 1 ms apart and ending now: recent data, none ahead of the wall clock.
    t0 = datetime.now(UTC) - timedelta(milliseconds=n + 1000)

    def messages() -> Iterator[Message]:
        for i in range(n):
            h = i % homes
            ts = t0 + timedelta(milliseconds=i)
            payload = {
                "ts": ts.isoformat(timespec="milliseconds"),
                "seq": i,
                "hr": 60 + i % 15,
                "rr": 14 + i % 3,
                "in_bed": True,
                "movement": i % 20,
            }
            topic = f"eldercare/v1/{prefix}{h}/{prefix}{h}-bed/event"
            yield Message(ts, topic, json.dumps(payload).encode())

    client = connect("127.0.0.1", port)
    try:
        return play(client, messages()).seconds
    finally:
        close(client)


def drain_bare(port: int, n: int, client_id: str, protocol: str = "5") -> float:
    got = 0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal got
        got += 1
        if got >= n:
            done.set()

    client = _session(port, client_id, protocol)
    client.on_message = on_message
    start = time.perf_counter()
    client.loop_start()
    finished = done.wait(600)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    if not finished:
        raise RuntimeError(f"the bare subscriber got {got} of {n} messages")
    return elapsed


MOSQUITTO_SUB = "mosquitto_sub"


def _mosquitto_sub_args(port: int, client_id: str, protocol: str) -> list[str]:
    version = ["-V", "mqttv5", "-x", "3600"] if protocol == "5" else ["-V", "mqttv311"]
    # -c: a persistent session, so the broker queues the messages for it
    return [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-i", client_id, "-c", "-q", "1",
            *version, "-t", TOPIC]  # fmt: skip


def register_mosquitto_sub(port: int, client_id: str, protocol: str = "5") -> bool:
    """Subscribe ``mosquitto_sub``'s session once and leave (-E: exit once
    subscribed); False if ``mosquitto_sub`` is not installed."""
    if shutil.which(MOSQUITTO_SUB) is None:
        return False
    subprocess.run(
        [*_mosquitto_sub_args(port, client_id, protocol), "-E"],
        check=True,
        timeout=30,
        stdout=subprocess.DEVNULL,
    )
    return True


def drain_mosquitto_sub(port: int, n: int, client_id: str, protocol: str = "5") -> float:
    """The broker's own C client draining its session of ``n`` messages (QoS 1, it
    acks each), timed from the first message to the last by the receive times it
    prints (``-F %U``, to a file: no pipe for this process to keep up with)."""
    with tempfile.TemporaryDirectory(prefix="eldercare-bench-sub-") as tmp:
        out = Path(tmp) / "received"
        with out.open("wb") as fh:
            done = subprocess.run(
                [
                    *_mosquitto_sub_args(port, client_id, protocol),
                    "-C",
                    str(n),
                    "-F",
                    "%U",
                    "-W",
                    "600",
                ],
                stdout=fh,
                stderr=subprocess.PIPE,
                timeout=660,
                check=False,
            )
        lines = out.read_bytes().split()
    if done.returncode != 0 or len(lines) < n:
        raise RuntimeError(
            f"mosquitto_sub got {len(lines)} of {n} messages (exit {done.returncode}):"
            f" {done.stderr.decode(errors='replace')[-500:]}"
        )
    return float(lines[n - 1]) - float(lines[0])


def service_settings(port: int, db_url: str, client_id: str, **more: Any) -> Settings:
    """Settings of an in-process service on the bench's broker and database (an
    API on a free port, the bench's admin password), plus ``more``."""
    from eldercare.localservers import _free_port
    from eldercare.settings import Settings

    return Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        database_url=db_url,
        api_port=_free_port(),
        admin_password=ADMIN_PASSWORD,
        mqtt_client_id=client_id,
        **more,
    )


async def drain_pipeline(
    port: int, db_url: str, n: int, client_id: str, protocol: str = "5"
) -> tuple[float, int]:
    """The real gateway and pipeline (composition as in eldercare.app), timed to the
    last committed message."""
    from eldercare.app import Service

    settings = service_settings(port, db_url, client_id, mqtt_protocol=protocol, batch_max=5000)
    service = Service(settings)
    async with service:
        start = time.perf_counter()
        task = asyncio.create_task(service.run())
        while service.metrics.value("eldercare_messages_processed_total") < n:
            if task.done():
                task.result()
                raise RuntimeError("the service stopped before it processed everything")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        batches = int(service.metrics.value("eldercare_batches_total"))
        service.request_stop()
        await task
    return elapsed, batches


def measure(
    port: int, db_url: str, n: int, homes: int, prefix: str, protocol: str = "5"
) -> Throughput:
    with_sub = register_mosquitto_sub(port, "bench-sub", protocol)
    register_session(port, "bench-bare", protocol)
    register_session(port, "bench-gw", protocol)
    try:
        pub_s = publish_vitals(port, n, homes, prefix)
        sub_s = drain_mosquitto_sub(port, n, "bench-sub", protocol) if with_sub else None
        bare_s = drain_bare(port, n, "bench-bare", protocol)
        pipe_s, batches = asyncio.run(drain_pipeline(port, db_url, n, "bench-gw", protocol))
    finally:
        if with_sub:
            end_session(port, "bench-sub", protocol)
        end_session(port, "bench-bare", protocol)
        end_session(port, "bench-gw", protocol)
    return Throughput(n, pub_s, bare_s, pipe_s, batches, sub_s)
