"""Fuzzed device messages for every format the gateway takes, and the outcome the
gateway must give each one (worked out by the same pure decoders, offline).

``Fleet`` is one home with a native device of every kind and every ecosystem
device of ``tests/gateway/adapter_fixtures`` (Zigbee2MQTT, ESPHome, Shelly,
Tasmota), registered under their real sources. ``Fuzzer`` draws messages for
it from a seeded ``random.Random`` (fast enough for a million in the long mode):
valid payloads, valid payloads with one field broken (wrong type, out of range,
missing, extra, a kind that lies), JSON that is not an object, text that is not
JSON, bytes that are not UTF-8, ``\\u0000``, numbers past Python's digit limit,
nesting past the parser's recursion limit, payloads past 4 KiB; on the
registered devices' topics, on unknown devices', on another home's and on
topics with bad ids.

``Oracle.outcome`` says what the gateway must do with a message (an
``Outcome``), given the messages before it (the adapters keep state: an SOS
latch, Shelly's last values).
Timestamps are drawn far from now (years back, or the year 2099), so the
receive time does not change the outcome.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eldercare.domain import Device, DeviceKind, Reading
from gateway.adapters import SourceDecoder
from gateway.adapters.routing import SourceIndex
from gateway.decode import Rejected, decode_event, decode_status, parse_topic

HOME = "home-f"
OTHER_HOME = "home-g"
FIXTURES = Path(__file__).parents[1] / "gateway" / "adapter_fixtures"


@dataclass(frozen=True)
class Sample:
    """A message an ecosystem device really sends (from a fixture)."""

    device_id: str
    topic: str
    payload: Any


def _payload_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


class Fleet:
    def __init__(self) -> None:
        self.native = [Device(f"n-{kind.value}", HOME, kind) for kind in DeviceKind]
        self.other_home = Device("n-other", OTHER_HOME, DeviceKind.DOOR)
        self.sourced: list[Device] = []
        self.samples: list[Sample] = []
        for path in sorted(FIXTURES.glob("*.json")):
            fixture = json.loads(path.read_text(encoding="utf-8"))
            for i, block in enumerate(fixture.get("devices") or [fixture]):
                device = Device(
                    f"{path.stem[:40]}-{i}",
                    HOME,
                    DeviceKind(block["kind"]),
                    None,
                    "",
                    block["source"],
                )
                self.sourced.append(device)
                for msg in block["messages"]:
                    self.samples.append(Sample(device.id, msg["topic"], msg["payload"]))
        self.devices = [*self.native, self.other_home, *self.sourced]
        self.index = SourceIndex(self.devices)
        self.by_id = {d.id: d for d in self.devices}


_STRANGE: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    101,
    2**63,
    -(2**70),
    1.5,
    -0.0,
    1e308,
    "",
    "x",
    "on",
    "ON",
    "true",
    "1",
    "null",
    "é中文",
    [],
    [1],
    {},
    {"a": 1},
    "press",
    "none",
    "fall",
)
_TS_VALUES: tuple[Any, ...] = (
    "2021-03-04T05:06:07Z",
    "2021-03-04T05:06:07.123+08:00",
    "2019-01-01T00:00:00",  # no UTC offset
    "2099-01-01T00:00:00Z",  # ahead of any receive time
    "yesterday",
    "2021-13-40T25:61:61Z",
    1_614_834_367_000,  # epoch ms, 2021
    1_614_834_367,  # epoch seconds: refused with a hint
    4_102_444_800_001,
    -5,
    1.5e12,
    None,
    True,
    [2021],
)


def _valid_fields(kind: DeviceKind, rnd: random.Random) -> dict[str, Any]:
    if kind is DeviceKind.BED_BAND:
        body: dict[str, Any] = {
            "hr": rnd.choice((None, rnd.randint(30, 160))),
            "rr": rnd.choice((None, rnd.randint(5, 40))),
            "in_bed": rnd.random() < 0.5,
        }
        if rnd.random() < 0.3:
            body["movement"] = rnd.randint(0, 100)
        return body
    if kind is DeviceKind.SOS_BUTTON:
        return {"action": rnd.choice(("press", "cancel"))}
    if kind is DeviceKind.DOOR:
        return {"open": rnd.random() < 0.5}
    if kind is DeviceKind.FALL_RADAR:
        body = {
            "presence": rnd.random() < 0.5,
            "fall": rnd.choice(("none", "suspected", "detected")),
        }
        if rnd.random() < 0.3:
            body["posture"] = rnd.choice(("standing", "sitting", "lying", "floor"))
        return body
    if kind is DeviceKind.GAS:
        choice = rnd.randrange(3)
        body = {}
        if choice != 1:
            body["lel"] = round(rnd.uniform(0, 100), 1)
        if choice != 0:
            body["alarm"] = rnd.random() < 0.5
        return body
    return {"leak": rnd.random() < 0.5}


def _strange(key: str, rnd: random.Random) -> Any:
    """A value to break ``key`` with. A ``seq`` becomes one that is refused or one
    never drawn before: the store takes two readings of one device and seq as
    one (within a day, when the gateway gave their time), so a repeated seq
    would make the outcome depend on how the gateway batched them."""
    if key == "seq":
        return rnd.choice((None, -1, 2**63, 1.5, "7", True, [1], rnd.randrange(2**40, 2**62)))
    return rnd.choice(_STRANGE)


def _break_one(body: dict[str, Any], rnd: random.Random) -> None:
    """One change to a JSON object: a value replaced, a key dropped or added."""
    what = rnd.randrange(4)
    if what == 0 and body:
        key = rnd.choice(list(body))
        body[key] = _strange(key, rnd)
    elif what == 1 and body:
        del body[rnd.choice(list(body))]
    elif what == 2:
        key = rnd.choice(("extra", "hr", "kind", "seq", "battery", "ts", "state", "Contact"))
        body[key] = _strange(key, rnd)
    else:
        # Nested: break something one level down (the adapters' objects nest).
        nested = [v for v in body.values() if isinstance(v, dict)]
        if nested:
            _break_one(rnd.choice(nested), rnd)
        elif body:
            key = rnd.choice(list(body))
            body[key] = _strange(key, rnd)


def _junk(rnd: random.Random) -> bytes:
    what = rnd.randrange(12)
    if what == 0:
        return rnd.randbytes(rnd.randrange(0, 64))
    if what == 1:
        return b"\xff\xfe" + rnd.randbytes(rnd.randrange(0, 16))  # not UTF-8
    if what == 2:
        return json.dumps(rnd.choice(_STRANGE)).encode()  # JSON, not an object
    if what == 3:
        return b'{"open": tru'  # cut short
    if what == 4:
        return b'{"open": true, "note": "\\u0000"}'
    if what == 5:
        return b'{"seq": ' + b"9" * 5000 + b"}"  # past Python's int digit limit
    if what == 6:
        depth = rnd.choice((50, 5000))
        return b"[" * depth + b"]" * depth
    if what == 7:
        return b'{"lel": NaN, "alarm": Infinity}'
    if what == 8:
        return json.dumps({"open": True, "pad": "x" * rnd.randrange(4000, 6000)}).encode()
    if what == 9:
        return rnd.choice((b"online", b"offline", b"ONLINE", b"", b" online"))
    if what == 10:
        return b'{"open": true, "open": "yes"}'  # a key twice
    return "".join(chr(rnd.randrange(32, 0x3000)) for _ in range(rnd.randrange(1, 20))).encode()


class Fuzzer:
    """Draws (topic, payload) pairs; every call gives a new ``seq`` to valid events,
    so messages the store takes are distinct unless a mutation made them equal."""

    def __init__(self, fleet: Fleet, seed: int) -> None:
        self.fleet = fleet
        self.rnd = random.Random(seed)
        self.seq = 0

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        while True:
            yield self.draw()

    def draw(self) -> tuple[str, bytes]:
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.45:
            return self._native(rnd)
        if roll < 0.85:
            return self._sourced(rnd)
        return self._stray_topic(rnd), _junk(rnd) if rnd.random() < 0.5 else self._event(rnd)[1]

    def _event(self, rnd: random.Random) -> tuple[Device, bytes]:
        device = rnd.choice(self.fleet.native)
        self.seq += 1
        body: dict[str, Any] = {"seq": self.seq}
        if rnd.random() < 0.8:
            body.update(_valid_fields(device.kind, rnd))  # else a heartbeat
        if rnd.random() < 0.3:
            body["ts"] = rnd.choice(_TS_VALUES)
        if rnd.random() < 0.3:
            body["battery"] = rnd.choice((rnd.randint(0, 100), -3, 100.5, "full", None))
        if rnd.random() < 0.1:
            body["kind"] = rnd.choice((device.kind.value, "door", 7))
        if rnd.random() < 0.35:
            _break_one(body, rnd)
        return device, json.dumps(body).encode()

    def _native(self, rnd: random.Random) -> tuple[str, bytes]:
        if rnd.random() < 0.12:
            device = rnd.choice(self.fleet.native)
            payload = rnd.choice((b"online", b"offline")) if rnd.random() < 0.6 else _junk(rnd)
            return f"eldercare/v1/{HOME}/{device.id}/status", payload
        device, payload = self._event(rnd)
        if rnd.random() < 0.1:
            payload = _junk(rnd)
        return f"eldercare/v1/{HOME}/{device.id}/event", payload

    def _sourced(self, rnd: random.Random) -> tuple[str, bytes]:
        sample = rnd.choice(self.fleet.samples)
        value = sample.payload
        if rnd.random() < 0.15:
            return sample.topic, _junk(rnd)
        if isinstance(value, dict) and rnd.random() < 0.5:
            value = json.loads(json.dumps(value))
            _break_one(value, rnd)
        return sample.topic, _payload_bytes(value)

    def _stray_topic(self, rnd: random.Random) -> str:
        channel = rnd.choice(("event", "status"))
        return rnd.choice(
            (
                f"eldercare/v1/{HOME}/nobody-{rnd.randrange(5)}/{channel}",  # not registered
                f"eldercare/v1/{HOME}/{self.fleet.other_home.id}/{channel}",  # another home's
                f"eldercare/v1/{HOME}/bad.id/{channel}",
                f"eldercare/v1/{HOME}/{'x' * 65}/{channel}",
                f"eldercare/v1/h%{rnd.randrange(9)}/{rnd.choice(self.fleet.native).id}/{channel}",
            )
        )


def _identity(reading: Reading) -> tuple[str, int, datetime]:
    return (reading.device_id, -1 if reading.seq is None else reading.seq, reading.ts)


@dataclass(frozen=True)
class Outcome:
    """What one message must become: a dead letter (``dead`` is its reason), or
    readings (each one's store identity; None: its time is its receive time, so
    it is distinct from every other) and statuses."""

    dead: str | None = None
    readings: tuple[tuple[str, int, datetime] | None, ...] = ()
    statuses: int = 0


class Oracle:
    """What the gateway must do with each message, in the order they are sent."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.sources = SourceDecoder()

    def outcome(self, topic: str, payload: bytes, received_at: datetime) -> Outcome:
        fleet = self.fleet
        try:
            if not topic.startswith("eldercare/"):
                items = self.sources.decode(
                    fleet.index.match(topic), topic, payload, False, received_at, received_at
                )
                readings = tuple(None for i in items if isinstance(i, Reading))
                return Outcome(readings=readings, statuses=len(items) - len(readings))
            _, device_id, channel = parse_topic(topic)
            device = fleet.by_id.get(device_id)
            if channel == "event":
                reading = decode_event(topic, payload, received_at, device)
                return Outcome(readings=(None if reading.ts_assigned else _identity(reading),))
            decode_status(topic, payload, received_at, device)
            return Outcome(statuses=1)
        except Rejected as rej:
            return Outcome(dead=str(rej.reason))
        except Exception:  # a decoder bug: the gateway keeps the message as internal_error
            return Outcome(dead="internal_error")
