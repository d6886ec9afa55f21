"""``eldercare sim load --homes N``: thousands of homes' normal traffic, in real time.

Every resident's bed band reports vitals once a second, the homes spread over
the second in 20 slices (real bands are not synchronised); the other five
devices send heartbeats at their intervals (spread over the interval by home,
so they do not all come in the same second). Memory is bounded: per home only a few
counters, no message is kept. Returns what was sent and how well the pace held.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from eldercare.domain import DeviceKind
from simulators.devices import heartbeat_interval
from simulators.home import DEVICE_SUFFIX


@dataclass(frozen=True, slots=True)
class LoadReport:
    homes: int
    seconds: float
    vitals: int
    heartbeats: int
    late_ticks: int
    """Seconds in which the publisher could not send everything in time."""

    @property
    def sent(self) -> int:
        return self.vitals + self.heartbeats

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        return [
            f"homes {self.homes}, {self.seconds:.1f} s: sent {self.sent} messages "
            f"({self.vitals} vitals, {self.heartbeats} heartbeats), {self.rate:,.0f} msg/s",
            f"late seconds: {self.late_ticks}",
        ]


SLICES = 20
"""Each second is sent in this many slices of the homes, 50 ms apart."""


def run_load(
    client: mqtt.Client,
    homes: int,
    seconds: float,
    *,
    prefix: str = "load",
    qos: int = 1,
    should_stop: object = None,
) -> LoadReport:
    """Publish for ``seconds`` (real time) on an already connected, looping client."""
    others = [k for k in DeviceKind if k is not DeviceKind.BED_BAND]
    intervals = {k: int(heartbeat_interval(k).total_seconds()) for k in others}
    bed_topics = [f"eldercare/v1/{prefix}{h}/{prefix}{h}-bed/event" for h in range(homes)]
    seq = [0] * homes
    vitals = heartbeats = late = 0
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        if callable(should_stop) and should_stop():
            break
        behind = False
        for part in range(SLICES):
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            for h in range(part * homes // SLICES, (part + 1) * homes // SLICES):
                payload = {
                    "ts": now,
                    "seq": seq[h],
                    "hr": 58 + (h + tick) % 12,
                    "rr": 13 + (h + tick) % 4,
                    "in_bed": True,
                    "movement": (h * 7 + tick) % 10,
                }
                seq[h] += 1
                client.publish(bed_topics[h], json.dumps(payload), qos=qos)
                vitals += 1
                for kind in others:
                    every = intervals[kind]
                    if (tick + h) % every == 0:
                        dev = f"{prefix}{h}-{DEVICE_SUFFIX[kind]}"
                        body = {"ts": now, "seq": tick}
                        if kind in (DeviceKind.SOS_BUTTON, DeviceKind.DOOR, DeviceKind.WATER):
                            body["battery"] = 90
                        client.publish(
                            f"eldercare/v1/{prefix}{h}/{dev}/event", json.dumps(body), qos=qos
                        )
                        heartbeats += 1
            # Homes are spread over the second, as real bands are: no burst at :00.
            delay = start + tick + (part + 1) / SLICES - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif part == SLICES - 1:
                behind = True
        tick += 1
        late += behind
    return LoadReport(homes, time.monotonic() - start, vitals, heartbeats, late)
