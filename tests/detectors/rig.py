"""A home with its six devices and a DetectorSet, fed with timestamped readings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from detectors.engine import DetectorSet, build_detectors
from detectors.profiles import Profiles
from eldercare.domain import (
    AlertKind,
    Clearance,
    Device,
    DeviceKind,
    Finding,
    Home,
    Reading,
    Resident,
    Signal,
    StatusChange,
)

TZ = "Asia/Shanghai"
# 2026-03-02 00:00 in Shanghai (UTC+8) is 2026-03-01 16:00 UTC.
MIDNIGHT = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)


def local(hh: int, mm: int = 0, ss: float = 0, day: int = 0) -> datetime:
    """A time on the test night: local hh:mm:ss in Shanghai, ``day`` days later."""
    return MIDNIGHT + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


class Rig:
    def __init__(
        self,
        home: str = "h1",
        rules: dict[str, float] | None = None,
        limits: dict[str, float] | None = None,
    ) -> None:
        self.home = home
        self.resident = f"{home}-r1"
        self.devices = {
            kind: Device(f"{home}-{kind.value}", home, kind, self.resident, kind.value)
            for kind in DeviceKind
        }
        self.profiles = Profiles(TZ)
        self.profiles.replace(
            [Home(home, "Home", "", TZ, dict(rules or {}))],
            [Resident(self.resident, home, "Wang", dict(limits or {}))],
            self.devices.values(),
        )
        self.set: DetectorSet = build_detectors(self.profiles)
        self._seq = itertools.count(1)
        self.signals: list[Signal] = []

    def send(
        self,
        kind: DeviceKind,
        ts: datetime,
        battery: float | None = None,
        seq: int | None = None,
        now: datetime | None = None,
        **fields: Any,
    ) -> list[Signal]:
        device = self.devices[kind]
        reading = Reading(
            self.home,
            device.id,
            kind,
            ts,
            now or ts,
            next(self._seq) if seq is None else seq,
            battery,
            dict(fields),
        )
        return self.feed(reading, now or ts)

    def feed(self, reading: Reading, now: datetime) -> list[Signal]:
        device = self.profiles.device(reading.device_id)
        assert device is not None
        out: list[Signal] = []
        if now != reading.ts:  # a late reading: the service has ticked at now already
            out.extend(self.set.on_tick(now))
        self.set.begin(now)
        out.extend(self.set.on_reading(reading, device))
        out.extend(self.set.on_tick(now))
        self.signals.extend(out)
        return out

    def status(self, kind: DeviceKind, at: datetime, online: bool) -> list[Signal]:
        device = self.devices[kind]
        self.set.begin(at)
        out = list(self.set.on_status(StatusChange(self.home, device.id, online, at), device))
        self.signals.extend(out)
        return out

    def tick(self, now: datetime, kind: AlertKind | None = None) -> list[Signal]:
        """Signals of the tick (of ``kind`` if given: other rules may fire too)."""
        out = list(self.set.on_tick(now))
        self.signals.extend(out)
        return [s for s in out if kind is None or s.kind is kind]

    def vitals(
        self, start: datetime, seconds: int, step: float = 1.0, **fields: Any
    ) -> list[Signal]:
        """Bed band samples every ``step`` s for ``seconds`` s (in bed unless told)."""
        fields.setdefault("in_bed", True)
        out: list[Signal] = []
        for i in range(int(seconds / step)):
            out += self.send(DeviceKind.BED_BAND, start + timedelta(seconds=i * step), **fields)
        return out

    def findings(self, kind: AlertKind | None = None) -> list[Finding]:
        return [
            s for s in self.signals if isinstance(s, Finding) and (kind is None or s.kind is kind)
        ]

    def clearances(self, kind: AlertKind | None = None) -> list[Clearance]:
        return [
            s for s in self.signals if isinstance(s, Clearance) and (kind is None or s.kind is kind)
        ]
