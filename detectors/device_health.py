"""Device supervision: ``device_offline`` and ``battery_low``.

- Offline: the device's status topic says ``offline`` (its last will), or it
  has been silent for ``offline_after_heartbeats`` (3) heartbeat intervals.
  Mains devices (bed band, fall radar, gas alarm) beat every
  ``heartbeat_mains_min`` (5 min, offline after 15 min); battery devices (SOS
  button, door contact, water sensor) every ``heartbeat_battery_min`` (60 min,
  offline after 3 h). Severity is ``high`` for the critical devices (SOS
  button, gas alarm, fall radar), ``warning`` otherwise.
- Any reading newer than the offline time (or an ``online`` status after a
  status ``offline``) is "back online": a Clearance with ``auto_resolve``, so
  the alert resolves itself (a device condition, not a person's safety). A
  retained ``online`` does not end a *silence*: only data does.
- Only devices that have spoken are supervised (installation checks the rest).
- Battery: ``battery`` at or under ``battery_low_pct`` (15 %) raises
  ``battery_low`` at most once a local day per device (key
  ``battery_low:<device>:<local date>``); back at threshold + 10 % (a new
  battery) writes a Clearance on its timeline.
- Keys: ``device_offline:<device>:<last seen>`` (silence) or
  ``device_offline:<device>:<status time>`` (status).

Last-seen times are saved at most once a minute per device (the runtime
replays the last minute of readings at start).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from detectors.base import (
    ALL_KINDS,
    Deadlines,
    State,
    TimeRef,
    clock_text,
    iso,
    local_date,
    parse_iso,
    take_dirty,
)
from detectors.config import Rules
from detectors.profiles import Profiles
from eldercare.domain import (
    DEFAULT_SEVERITY,
    AlertKind,
    Clearance,
    Device,
    DeviceKind,
    Finding,
    Reading,
    Severity,
    Signal,
    StatusChange,
)

OFFLINE = AlertKind.DEVICE_OFFLINE
BATTERY = AlertKind.BATTERY_LOW
MAINS = frozenset({DeviceKind.BED_BAND, DeviceKind.FALL_RADAR, DeviceKind.GAS})
CRITICAL = frozenset({DeviceKind.SOS_BUTTON, DeviceKind.GAS, DeviceKind.FALL_RADAR})
SAVE_STEP = timedelta(seconds=60)
BATTERY_HYSTERESIS = 10.0


def silence_limit(kind: DeviceKind, rules: Rules) -> timedelta:
    beat = rules.heartbeat_mains_min if kind in MAINS else rules.heartbeat_battery_min
    return timedelta(minutes=beat * rules.offline_after_heartbeats)


@dataclass(slots=True)
class _Dev:
    device: Device
    last_seen: datetime | None = None
    saved: datetime | None = None
    offline_since: datetime | None = None
    offline_by: str | None = None
    """status or silence"""
    low_day: str | None = None
    low: bool = False


class DeviceHealthDetector:
    name = "device_health"
    reads = ALL_KINDS

    def __init__(self, profiles: Profiles, ref: TimeRef) -> None:
        self.profiles = profiles
        self.ref = ref
        self._devs: dict[str, _Dev] = {}
        self._due = Deadlines()
        self._dirty: set[str] = set()

    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        out: dict[str, State | None] = {}
        for key in take_dirty(self._dirty, limit):
            d = self._devs.get(key)
            if d is None:
                out[key] = None
                continue
            d.saved = d.last_seen
            out[key] = {
                "home_id": d.device.home_id,
                "kind": d.device.kind.value,
                "last_seen": None if d.last_seen is None else iso(d.last_seen),
                "offline_since": None if d.offline_since is None else iso(d.offline_since),
                "offline_by": d.offline_by,
                "low_day": d.low_day,
                "low": d.low,
            }
        return out

    def load(self, key: str, state: State) -> None:
        seen, since = state.get("last_seen"), state.get("offline_since")
        d = _Dev(
            Device(key, state["home_id"], DeviceKind(state["kind"])),
            None if seen is None else parse_iso(seen),
            None if seen is None else parse_iso(seen),
            None if since is None else parse_iso(since),
            state.get("offline_by"),
            state.get("low_day"),
            bool(state.get("low", False)),
        )
        self._devs[key] = d
        self._arm(d)

    def _arm(self, d: _Dev) -> None:
        if d.last_seen is None or d.offline_since is not None:
            self._due.clear(d.device.id)
            return
        rules = self.profiles.rules(d.device.home_id)
        self._due.set(d.device.id, d.last_seen + silence_limit(d.device.kind, rules))

    def _get(self, device: Device) -> _Dev:
        d = self._devs.get(device.id)
        if d is None:
            d = self._devs[device.id] = _Dev(device)
        d.device = device
        return d

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        d = self._get(device)
        out: list[Signal] = []
        ts = reading.ts
        newer = d.last_seen is None or ts > d.last_seen
        if d.offline_since is not None and ts > d.offline_since:
            out.append(self._back(d, ts, "sent data"))
        if newer:
            d.last_seen = ts
            if d.saved is None or ts - d.saved >= SAVE_STEP:
                self._dirty.add(device.id)
            self._arm(d)
        if reading.battery is not None and newer:
            out.extend(self._battery(d, reading.battery, ts))
        return out

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        d = self._get(device)
        at = change.received_at
        if change.online:
            if d.offline_since is not None and d.offline_by == "status" and at >= d.offline_since:
                return (self._back(d, at, "status online"),)
            return ()
        if d.offline_since is not None:
            return ()
        if d.last_seen is None:
            d.last_seen = at  # supervised from now on
        return (self._offline(d, at, at, "status"),)

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        out: list[Signal] = []
        for key in self._due.due(now):
            d = self._devs.get(key)
            if d is None or d.last_seen is None or d.offline_since is not None:
                continue
            if self.profiles.loaded and self.profiles.device(key) is None:
                del self._devs[key]  # removed from the registry
                self._dirty.add(key)
                continue
            rules = self.profiles.rules(d.device.home_id)
            at = d.last_seen + silence_limit(d.device.kind, rules)
            if at > now:
                self._arm(d)
                continue
            out.append(self._offline(d, at, d.last_seen, "silence"))
        return out

    def _offline(self, d: _Dev, at: datetime, key_ts: datetime, by: str) -> Finding:
        dev = d.device
        d.offline_since, d.offline_by = at, by
        self._due.clear(dev.id)
        self._dirty.add(dev.id)
        tz = self.profiles.tz(dev.home_id)
        severity = Severity.HIGH if dev.kind in CRITICAL else DEFAULT_SEVERITY[OFFLINE]
        place = f" ({dev.location})" if dev.location else ""
        if by == "status":
            text = f"Device {dev.id}{place} went offline at {clock_text(at, tz)}"
        else:
            assert d.last_seen is not None
            text = f"Device {dev.id}{place} silent since {clock_text(d.last_seen, tz)}"
        return Finding(
            home_id=dev.home_id,
            subject=dev.id,
            kind=OFFLINE,
            severity=severity,
            at=at,
            source_key=f"{OFFLINE.value}:{dev.id}:{iso(key_ts)}",
            message=text,
            device_id=dev.id,
            resident_id=dev.resident_id,
            details={"by": by, "device_kind": dev.kind.value},
        )

    def _back(self, d: _Dev, at: datetime, how: str) -> Clearance:
        d.offline_since = d.offline_by = None
        self._dirty.add(d.device.id)
        self._arm(d)
        tz = self.profiles.tz(d.device.home_id)
        return Clearance(
            d.device.home_id,
            d.device.id,
            OFFLINE,
            at,
            f"back online at {clock_text(at, tz)} ({how})",
            auto_resolve=True,
        )

    def _battery(self, d: _Dev, level: float, ts: datetime) -> Sequence[Signal]:
        dev = d.device
        rules = self.profiles.rules(dev.home_id)
        if level <= rules.battery_low_pct:
            day = local_date(ts, self.profiles.tz(dev.home_id))
            d.low = True
            self._dirty.add(dev.id)
            if d.low_day == day:
                return ()
            d.low_day = day
            place = f" ({dev.location})" if dev.location else ""
            return (
                Finding(
                    home_id=dev.home_id,
                    subject=dev.id,
                    kind=BATTERY,
                    severity=DEFAULT_SEVERITY[BATTERY],
                    at=ts,
                    source_key=f"{BATTERY.value}:{dev.id}:{day}",
                    message=f"Battery of {dev.id}{place} at {level:g} %",
                    device_id=dev.id,
                    resident_id=dev.resident_id,
                    details={"battery": level},
                ),
            )
        if d.low and level >= rules.battery_low_pct + BATTERY_HYSTERESIS:
            d.low = False
            self._dirty.add(dev.id)
            return (Clearance(dev.home_id, dev.id, BATTERY, ts, f"battery at {level:g} %"),)
        return ()

    @property
    def supervised(self) -> int:
        return len(self._due)
