"""Publishes native device traffic (CONTRACT.md §1) over MQTT with aiomqtt, QoS 1."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiomqtt


def event_topic(home_id: str, device_id: str) -> str:
    return f"eldercare/v1/{home_id}/{device_id}/event"


def status_topic(home_id: str, device_id: str) -> str:
    return f"eldercare/v1/{home_id}/{device_id}/status"


class DevicePublisher:
    """One MQTT connection publishing for any number of simulated devices.

    ``seq`` starts from the current epoch milliseconds, so it keeps increasing
    per device across separate runs of the simulator.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self._client = aiomqtt.Client(
            host,
            port,
            username=username,
            password=password,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V311,
            timeout=10,
        )
        self._seq = itertools.count(int(time.time() * 1000))

    async def __aenter__(self) -> DevicePublisher:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, tb)

    async def event(
        self,
        home_id: str,
        device_id: str,
        fields: dict[str, Any],
        *,
        ts: datetime | None = None,
        battery: float | None = None,
        seq: int | None = None,
    ) -> dict[str, Any]:
        """Publish one event; return the payload sent."""
        payload: dict[str, Any] = {
            "ts": (ts or datetime.now(UTC)).isoformat(timespec="milliseconds"),
            "seq": next(self._seq) if seq is None else seq,
            **fields,
        }
        if battery is not None:
            payload["battery"] = battery
        await self._client.publish(
            event_topic(home_id, device_id), json.dumps(payload).encode(), qos=1
        )
        return payload

    async def status(self, home_id: str, device_id: str, online: bool) -> None:
        await self._client.publish(
            status_topic(home_id, device_id),
            b"online" if online else b"offline",
            qos=1,
            retain=True,
        )

    async def raw(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        await self._client.publish(topic, payload, qos=1, retain=retain)
