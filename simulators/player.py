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
from collections.abc import Callable, Iterable
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


MAX_OUTSTANDING = 20_000
"""Messages published but not yet acknowledged by the broker (paho's packet ids
wrap at 65,535: far more outstanding would collide)."""


def play(
    client: mqtt.Client,
    messages: Iterable[Message],
    speed: float = 0,
    *,
    processed: Callable[[], float] | None = None,
    max_lag: int = 20_000,
) -> PlayReport:
    """Publish every message; with ``speed`` > 0, keep their spacing scaled by it.
    Returns once the broker has acknowledged them all.

    ``processed`` (how many messages the service has processed so far) keeps the
    replay at most ``max_lag`` messages ahead of the service: a broker queues only
    so many messages for a subscriber (Mosquitto: ``max_queued_messages``, 1,000
    by default) and drops the rest."""
    base = processed() if processed is not None else 0.0
    window = threading.BoundedSemaphore(MAX_OUTSTANDING)
    client.on_publish = lambda c, u, mid, rc=None, p=None: window.release()
    started = time.monotonic()
    first = None
    count = 0
    for msg in messages:
        if speed > 0:
            if first is None:
                first = msg.ts
            due = started + (msg.ts - first).total_seconds() / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if processed is not None and count % 500 == 0:
            _wait_for_service(processed, base + count - max_lag)
        if not window.acquire(timeout=60):
            raise PlayError("the broker acknowledged nothing for 60 s")
        info = client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PlayError(f"publish failed: {mqtt.error_string(info.rc)}")
        count += 1
    for _ in range(MAX_OUTSTANDING):  # every acknowledgement back
        if not window.acquire(timeout=60):
            raise PlayError("the broker did not acknowledge every message")
    return PlayReport(count, time.monotonic() - started)


def _wait_for_service(processed: Callable[[], float], target: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while processed() < target:
        if time.monotonic() > deadline:
            raise PlayError(f"the service processed nothing new for {timeout:.0f} s")
        time.sleep(0.05)


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()
