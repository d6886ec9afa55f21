"""Simulated devices of the six kinds, speaking CONTRACT.md §1.

A ``SimDevice`` makes messages, it does not send them: events with ``seq``
and ``ts``, heartbeats at the kind's interval, a battery that drains, and its
status (``online``, and ``offline`` as the last will). ``Message`` streams are
played over MQTT by ``simulators.player``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eldercare.domain import DeviceKind
from simulators.home import device_id as default_device_id

MAINS: frozenset[DeviceKind] = frozenset(
    {DeviceKind.BED_BAND, DeviceKind.FALL_RADAR, DeviceKind.GAS}
)
"""Powered from the wall: heartbeat every 5 minutes (DOMAIN.md device supervision)."""

HEARTBEAT: dict[bool, timedelta] = {
    True: timedelta(minutes=5),  # mains
    False: timedelta(minutes=60),  # battery
}

BATTERY_DRAIN_PER_DAY = 0.3
"""Percent a day: a coin cell lasting about a year."""


def heartbeat_interval(kind: DeviceKind) -> timedelta:
    return HEARTBEAT[kind in MAINS]


@dataclass(frozen=True, slots=True)
class Message:
    ts: datetime
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(slots=True)
class SimDevice:
    home_id: str
    kind: DeviceKind
    device_id: str = ""
    battery: float | None = None
    """Percent; None for mains devices (they send no battery field)."""
    seq: int = 0
    last_sent: datetime | None = None
    state: dict[str, Any] = field(default_factory=dict)
    """The device's current fields (e.g. a bed band's in_bed, hr, rr)."""

    def __post_init__(self) -> None:
        if not self.device_id:
            self.device_id = default_device_id(self.home_id, self.kind)
        if self.battery is None and self.kind not in MAINS:
            self.battery = 100.0

    @property
    def event_topic(self) -> str:
        return f"eldercare/v1/{self.home_id}/{self.device_id}/event"

    @property
    def status_topic(self) -> str:
        return f"eldercare/v1/{self.home_id}/{self.device_id}/status"

    @property
    def heartbeat_every(self) -> timedelta:
        return heartbeat_interval(self.kind)

    def event(self, ts: datetime, fields: dict[str, Any]) -> Message:
        """An event with these fields (a heartbeat when ``fields`` is empty)."""
        if self.battery is not None and self.last_sent is not None:
            days = (ts - self.last_sent).total_seconds() / 86400
            self.battery = max(0.0, self.battery - BATTERY_DRAIN_PER_DAY * max(days, 0.0))
        payload: dict[str, Any] = {"ts": ts.isoformat(timespec="milliseconds"), "seq": self.seq}
        if self.battery is not None:
            payload["battery"] = round(self.battery, 1)
        payload.update(fields)
        self.seq += 1
        self.last_sent = ts
        return Message(ts, self.event_topic, json.dumps(payload, ensure_ascii=False).encode())

    def heartbeat(self, ts: datetime) -> Message:
        return self.event(ts, {})

    def heartbeat_due(self, ts: datetime) -> bool:
        return self.last_sent is None or ts - self.last_sent >= self.heartbeat_every

    def status(self, ts: datetime, online: bool) -> Message:
        """Retained ``online``; ``offline`` is what the broker publishes as the last will."""
        return Message(ts, self.status_topic, b"online" if online else b"offline", retain=True)


def home_devices(
    home_id: str, kinds: list[DeviceKind] | None = None
) -> dict[DeviceKind, SimDevice]:
    return {kind: SimDevice(home_id, kind) for kind in (kinds or list(DeviceKind))}
