"""``eldercare sim load --homes N``: thousands of homes' normal traffic, in real time.

Every resident's bed band reports vitals once a second, the homes spread over
the second in 100 slices (real bands are not synchronised); the other five
devices send heartbeats at their intervals (spread over the interval by home,
so they do not all come in the same second). Memory is bounded: per home only a few
counters, no message is kept. Returns what was sent and how well the pace held.

The publisher is a paho client or, cheaper, ``simulators.wire.WirePublisher``
(flushed once per slice): the bench runs this on the service's own machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

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


SLICES = 100
"""Each second is sent in this many slices of the homes, 10 ms apart: real bands
are not synchronised, and 20 slices (500 messages at once with 10,000 homes)
made the bench measure the wait behind a burst more than the service."""

_BATTERY_FIELD = (DeviceKind.SOS_BUTTON, DeviceKind.DOOR, DeviceKind.WATER)
"""Kinds whose load heartbeats carry ``battery``."""


class Publisher(Protocol):
    """What ``run_load`` needs: paho's ``Client`` and ``simulators.wire.WirePublisher``
    both fit. A publisher that buffers also has ``flush()``, called after each slice."""

    def publish(self, topic: str, payload: str, qos: int = ...) -> object: ...


def run_load(
    client: Publisher,
    homes: int,
    seconds: float,
    *,
    prefix: str = "load",
    qos: int = 1,
    should_stop: object = None,
) -> LoadReport:
    """Publish for ``seconds`` (real time) on an already connected client (a paho
    client must be looping)."""
    # (interval s, end of the heartbeat's JSON, device id suffix) of the other five kinds
    beats = [
        (
            int(heartbeat_interval(kind).total_seconds()),
            ', "battery": 90}' if kind in _BATTERY_FIELD else "}",
            DEVICE_SUFFIX[kind],
        )
        for kind in DeviceKind
        if kind is not DeviceKind.BED_BAND
    ]
    bed_topics = [f"eldercare/v1/{prefix}{h}/{prefix}{h}-bed/event" for h in range(homes)]
    seq = [0] * homes
    publish = client.publish
    flush = getattr(client, "flush", None)
    vitals = heartbeats = late = 0
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        if callable(should_stop) and should_stop():
            break
        behind = False
        for part in range(SLICES):
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            head = f'{{"ts": "{now}", "seq": '
            lo, hi = part * homes // SLICES, (part + 1) * homes // SLICES
            # The JSON text json.dumps gave for the same dict, built directly (cheaper).
            for h in range(lo, hi):
                k = h + tick
                publish(
                    bed_topics[h],
                    f'{head}{seq[h]}, "hr": {58 + k % 12}, "rr": {13 + k % 4}, '
                    f'"in_bed": true, "movement": {(h * 7 + tick) % 10}}}',
                    qos=qos,
                )
                seq[h] += 1
            vitals += hi - lo
            body = f"{head}{tick}"
            for every, tail, suffix in beats:
                # the homes of this slice whose heartbeat is due: (tick + h) % every == 0
                for h in range(lo + (-tick - lo) % every, hi, every):
                    publish(
                        f"eldercare/v1/{prefix}{h}/{prefix}{h}-{suffix}/event", body + tail, qos=qos
                    )
                    heartbeats += 1
            if flush is not None:
                flush()
            # Homes are spread over the second, as real bands are: no burst at :00.
            delay = start + tick + (part + 1) / SLICES - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif part == SLICES - 1:
                behind = True
        tick += 1
        late += behind
    return LoadReport(homes, time.monotonic() - start, vitals, heartbeats, late)
