"""Plays a message stream over MQTT (QoS 1) in real time or accelerated.

``speed`` is simulated seconds per real second: 1 is real time, 3600 plays an
hour a second, 0 plays as fast as the broker takes it. Accelerated replays
need the service on ``ELDERCARE_CLOCK=event`` (its clock follows the event
timestamps). Uses paho's threaded client: publishing many thousands of
messages a second from one process, with a bounded in-flight window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.devices import Message


class PlayError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class PlayReport:
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def connect(
    host: str, port: int, username: str | None = None, password: str | None = None
) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)
    client.max_inflight_messages_set(500)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p=None: connected.set()
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise PlayError(f"cannot reach the MQTT broker at {host}:{port}: {exc}") from exc
    client.loop_start()
    if not connected.wait(10):
        client.loop_stop()
        raise PlayError(f"the MQTT broker at {host}:{port} did not accept the connection")
    return client


def play(client: mqtt.Client, messages: Iterable[Message], speed: float = 0) -> PlayReport:
    """Publish every message; with ``speed`` > 0, keep their spacing scaled by it."""
    started = time.monotonic()
    first = None
    count = 0
    last: mqtt.MQTTMessageInfo | None = None
    for msg in messages:
        if speed > 0:
            if first is None:
                first = msg.ts
            due = started + (msg.ts - first).total_seconds() / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        last = client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        if last.rc == mqtt.MQTT_ERR_NO_CONN:
            raise PlayError("lost the MQTT connection while playing")
        count += 1
    if last is not None:
        last.wait_for_publish(60)
    return PlayReport(count, time.monotonic() - started)


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()
