"""The front door: ``door_left_open`` and ``night_wandering``.

- ``door_left_open`` (warning): the door open for ``door_open_min`` (30 min),
  raised at open + 30 min from a tick or reading; closing it afterwards writes
  "door closed" on the alert's timeline.
- ``night_wandering`` (high): the door opened at a local time inside
  ``wandering_from_h``-``wandering_to_h`` (23:00-05:00, home's time zone) and
  no presence back home within ``wandering_return_min`` (10 min). Presence is
  the home's fall radar saying ``presence: true`` or a bed band saying
  ``in_bed: true``, *after* the door's last open/close change and, while the
  door is still open, at least a minute after it (someone seen in the hall on
  the way out does not count). Presence after the alert writes
  "presence back home" on its timeline.
- Keys: ``door_left_open:<device>:<opened>``, ``night_wandering:<device>:<opened>``.
- Door readings at or before the last applied one, or older than the left-open
  wait, are ignored; an opening older than the wandering wait starts no wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from detectors.base import (
    Deadlines,
    State,
    TimeRef,
    clock_text,
    in_night,
    iso,
    order_key,
    parse_iso,
    take_dirty,
)
from detectors.profiles import Profiles
from eldercare.domain import (
    DEFAULT_SEVERITY,
    AlertKind,
    Clearance,
    Device,
    DeviceKind,
    Finding,
    Reading,
    Signal,
    StatusChange,
)

OPEN = AlertKind.DOOR_LEFT_OPEN
WANDER = AlertKind.NIGHT_WANDERING
LEAVING = timedelta(seconds=60)


@dataclass(slots=True)
class _Door:
    device: Device
    last: tuple[datetime, int] | None = None
    is_open: bool | None = None
    open_since: datetime | None = None
    open_fired: bool = False
    wander_since: datetime | None = None
    wander_change: datetime | None = None
    """the door's last open/close change while a wandering wait is on"""
    wander_fired: bool = False


def _opt(ts: datetime | None) -> str | None:
    return None if ts is None else iso(ts)


def _dt(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)


class DoorDetector:
    name = "door"
    reads = frozenset({DeviceKind.DOOR, DeviceKind.FALL_RADAR, DeviceKind.BED_BAND})

    def __init__(self, profiles: Profiles, ref: TimeRef) -> None:
        self.profiles = profiles
        self.ref = ref
        self._doors: dict[str, _Door] = {}
        self._by_home: dict[str, set[str]] = {}
        """home -> doors with a wandering wait or alert on"""
        self._open_due = Deadlines()
        self._wander_due = Deadlines()
        self._dirty: set[str] = set()

    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        out: dict[str, State | None] = {}
        for key in take_dirty(self._dirty, limit):
            d = self._doors.get(key)
            if d is None:
                out[key] = None
                continue
            out[key] = {
                "home_id": d.device.home_id,
                "last": None if d.last is None else [iso(d.last[0]), d.last[1]],
                "is_open": d.is_open,
                "open_since": _opt(d.open_since),
                "open_fired": d.open_fired,
                "wander_since": _opt(d.wander_since),
                "wander_change": _opt(d.wander_change),
                "wander_fired": d.wander_fired,
            }
        return out

    def load(self, key: str, state: State) -> None:
        last = state.get("last")
        d = _Door(
            Device(key, state["home_id"], DeviceKind.DOOR),
            None if last is None else (parse_iso(last[0]), int(last[1])),
            state.get("is_open"),
            _dt(state.get("open_since")),
            bool(state.get("open_fired")),
            _dt(state.get("wander_since")),
            _dt(state.get("wander_change")),
            bool(state.get("wander_fired")),
        )
        self._doors[key] = d
        rules = self.profiles.rules(d.device.home_id)
        if d.open_since is not None and not d.open_fired:
            self._open_due.set(key, d.open_since + timedelta(minutes=rules.door_open_min))
        if d.wander_since is not None:
            self._by_home.setdefault(d.device.home_id, set()).add(key)
            if not d.wander_fired:
                self._wander_due.set(
                    key, d.wander_since + timedelta(minutes=rules.wandering_return_min)
                )

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if device.kind is DeviceKind.DOOR:
            return self._door(reading, device)
        f = reading.fields
        seen = (device.kind is DeviceKind.FALL_RADAR and f.get("presence") is True) or (
            device.kind is DeviceKind.BED_BAND and f.get("in_bed") is True
        )
        if seen and device.home_id in self._by_home:
            return self._presence(device.home_id, reading.ts)
        return ()

    def _door(self, reading: Reading, device: Device) -> Sequence[Signal]:
        is_open = reading.fields.get("open")
        if not isinstance(is_open, bool):
            return ()
        rules = self.profiles.rules(device.home_id)
        if self.ref.older_than(reading.ts, rules.door_open_min * 60):
            return ()
        d = self._doors.get(device.id)
        if d is None:
            d = self._doors[device.id] = _Door(device)
        d.device = device
        key = order_key(reading)
        if d.last is not None and key <= d.last:
            return ()
        d.last = key
        out: list[Signal] = []
        out.extend(self._check(d, reading.ts))
        was, d.is_open = d.is_open, is_open
        if was == is_open:
            return out
        self._dirty.add(device.id)
        if d.wander_since is not None and not d.wander_fired:
            d.wander_change = reading.ts
        if is_open:
            d.open_since, d.open_fired = reading.ts, False
            self._open_due.set(device.id, reading.ts + timedelta(minutes=rules.door_open_min))
            tz = self.profiles.tz(device.home_id)
            fresh = not self.ref.older_than(reading.ts, rules.wandering_return_min * 60)
            night = in_night(reading.ts, tz, rules.wandering_from_h, rules.wandering_to_h)
            if fresh and night and d.wander_since is None:
                d.wander_since = d.wander_change = reading.ts
                d.wander_fired = False
                self._by_home.setdefault(device.home_id, set()).add(device.id)
                wait = timedelta(minutes=rules.wandering_return_min)
                self._wander_due.set(device.id, reading.ts + wait)
        else:
            if d.open_fired:
                tz = self.profiles.tz(device.home_id)
                text = f"door closed at {clock_text(reading.ts, tz)}"
                out.append(Clearance(device.home_id, device.id, OPEN, reading.ts, text))
            d.open_since, d.open_fired = None, False
            self._open_due.clear(device.id)
        return out

    def _presence(self, home_id: str, ts: datetime) -> Sequence[Signal]:
        out: list[Signal] = []
        for door_id in list(self._by_home.get(home_id, ())):
            d = self._doors[door_id]
            if d.wander_since is None or d.wander_change is None or ts <= d.wander_change:
                continue
            if d.is_open and ts - d.wander_change < LEAVING:
                continue  # seen in the hall on the way out
            out.extend(self._check(d, ts))  # seen only after the wait: raise first
            if d.wander_fired:
                tz = self.profiles.tz(home_id)
                out.append(
                    Clearance(
                        home_id,
                        self._subject(d.device),
                        WANDER,
                        ts,
                        f"presence back home at {clock_text(ts, tz)}",
                    )
                )
            d.wander_since = d.wander_change = None
            d.wander_fired = False
            self._wander_due.clear(door_id)
            self._by_home[home_id].discard(door_id)
            if not self._by_home[home_id]:
                del self._by_home[home_id]
            self._dirty.add(door_id)
        return out

    def _wander_wait(self, d: _Door) -> timedelta:
        return timedelta(minutes=self.profiles.rules(d.device.home_id).wandering_return_min)

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        out: list[Signal] = []
        for key in self._open_due.due(now) + self._wander_due.due(now):
            d = self._doors.get(key)
            if d is not None:
                out.extend(self._check(d, now))
        return out

    def _check(self, d: _Door, now: datetime) -> list[Signal]:
        out: list[Signal] = []
        dev = d.device
        rules = self.profiles.rules(dev.home_id)
        tz = self.profiles.tz(dev.home_id)
        if d.open_since is not None and not d.open_fired:
            due = d.open_since + timedelta(minutes=rules.door_open_min)
            if now >= due:
                d.open_fired = True
                self._open_due.clear(dev.id)
                self._dirty.add(dev.id)
                out.append(
                    self._finding(
                        dev,
                        OPEN,
                        dev.id,
                        due,
                        d.open_since,
                        f"Door {dev.id} open since {clock_text(d.open_since, tz)}"
                        f" ({rules.door_open_min:g} min)",
                    )
                )
        if d.wander_since is not None and not d.wander_fired:
            due = d.wander_since + self._wander_wait(d)
            if now >= due:
                d.wander_fired = True
                self._wander_due.clear(dev.id)
                self._dirty.add(dev.id)
                out.append(
                    self._finding(
                        dev,
                        WANDER,
                        self._subject(dev),
                        due,
                        d.wander_since,
                        f"Front door opened at {clock_text(d.wander_since, tz)} at night and"
                        f" nobody back home within {rules.wandering_return_min:g} min",
                    )
                )
        return out

    def _finding(
        self, dev: Device, kind: AlertKind, subject: str, at: datetime, since: datetime, text: str
    ) -> Finding:
        return Finding(
            home_id=dev.home_id,
            subject=subject,
            kind=kind,
            severity=DEFAULT_SEVERITY[kind],
            at=at,
            source_key=f"{kind.value}:{dev.id}:{iso(since)}",
            message=text,
            device_id=dev.id,
            resident_id=self.profiles.person(dev),
            details={"opened": iso(since)},
        )

    def _subject(self, device: Device) -> str:
        return self.profiles.person(device) or device.home_id
