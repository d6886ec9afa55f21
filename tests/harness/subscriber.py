"""A paho subscriber for tests: subscribed at QoS 1 before it is returned, it
records what ``record`` makes of every message it receives."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Generic, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

T = TypeVar("T")


class Subscriber(Generic[T]):
    """``cls`` (stock paho or a subclass) on 127.0.0.1:``port``, subscribed to ``topic``."""

    def __init__(
        self,
        port: int,
        topic: str,
        *,
        cls: type[mqtt.Client] = mqtt.Client,
        protocol: int = mqtt.MQTTv311,
    ) -> None:
        self.seen: list[T] = []
        self.subscribed = threading.Event()
        self.client = cls(
            CallbackAPIVersion.VERSION2,
            client_id=f"sub-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion(protocol),
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.before_connect()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert self.subscribed.wait(5), "no SUBACK in 5 s"

    def before_connect(self) -> None:
        """Set further callbacks on ``self.client`` (subclasses)."""

    def record(self, msg: mqtt.MQTTMessage) -> T:
        raise NotImplementedError

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.seen.append(self.record(msg))

    def wait_for(self, n: int, timeout: float = 10) -> list[T]:
        """What was seen once there are ``n`` (or when ``timeout`` seconds have passed)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
