"""``gas_leak`` and ``water_leak``: raised at once, cleared on the timeline.

- Gas: ``alarm`` true, or ``lel`` >= ``gas_lel_pct`` (10 % LEL), raises
  ``gas_leak`` (critical) at once. A gas event is critical: it raises even
  when it arrives late or out of order, marked delayed. A later reading with
  no alarm and ``lel`` under the threshold ends the episode and writes
  "gas back to normal" on the alert's timeline; people close the alert.
- Water: ``leak`` true raises ``water_leak`` at once; ``leak`` false is "dry
  again" on the timeline. While wet nothing more is raised; the alert store
  keeps one open alert per device and kind, so a new alert comes only after
  it has been dry *and* resolved (DOMAIN.md). Out-of-order water readings are
  ignored.
- Keys: ``gas_leak:<device>:<episode start>`` / ``water_leak:…``. The subject
  is the device (two gas sensors are two alerts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detectors.base import State, TimeRef, delayed, iso, number, order_key, parse_iso, take_dirty
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


@dataclass(slots=True)
class _Sensor:
    last: tuple[datetime, int] | None = None
    active_since: datetime | None = None


class HazardDetector:
    name = "hazards"
    reads = frozenset({DeviceKind.GAS, DeviceKind.WATER})

    def __init__(self, profiles: Profiles, ref: TimeRef) -> None:
        self.profiles = profiles
        self.ref = ref
        self._sensors: dict[str, _Sensor] = {}
        self._dirty: set[str] = set()

    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        out: dict[str, State | None] = {}
        for key in take_dirty(self._dirty, limit):
            s = self._sensors.get(key)
            if s is None or s.active_since is None or s.last is None:
                out[key] = None
            else:
                out[key] = {
                    "active_since": iso(s.active_since),
                    "last": [iso(s.last[0]), s.last[1]],
                }
        return out

    def load(self, key: str, state: State) -> None:
        last = state["last"]
        self._sensors[key] = _Sensor(
            (parse_iso(last[0]), int(last[1])), parse_iso(state["active_since"])
        )

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        return ()

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if reading.is_heartbeat:
            return ()
        f = reading.fields
        if device.kind is DeviceKind.GAS:
            lel = number(f.get("lel"))
            alarm = f.get("alarm") is True
            if lel is None and "alarm" not in f:
                return ()
            rules = self.profiles.rules(device.home_id)
            on = alarm or (lel is not None and lel >= rules.gas_lel_pct)
            what = "gas alarm" if alarm else f"gas at {lel or 0:g} % LEL"
            return self._step(reading, device, AlertKind.GAS_LEAK, on, what, critical=True)
        if device.kind is DeviceKind.WATER:
            leak = f.get("leak")
            if not isinstance(leak, bool):
                return ()
            return self._step(reading, device, AlertKind.WATER_LEAK, leak, "water leak")
        return ()

    def _step(
        self,
        reading: Reading,
        device: Device,
        kind: AlertKind,
        on: bool,
        what: str,
        *,
        critical: bool = False,
    ) -> Sequence[Signal]:
        s = self._sensors.get(device.id)
        if s is None:
            s = self._sensors[device.id] = _Sensor()
        key = order_key(reading)
        if s.last is not None and key <= s.last:
            # Duplicate or out of order: a critical event still raises, marked delayed.
            if critical and on and (s.active_since is None or s.active_since > reading.ts):
                return (self._finding(reading, device, kind, what, reading.ts),)
            return ()
        s.last = key
        if on and s.active_since is None:
            s.active_since = reading.ts
            self._dirty.add(device.id)
            return (self._finding(reading, device, kind, what, reading.ts),)
        if not on and s.active_since is not None:
            s.active_since = None
            self._dirty.add(device.id)
            text = "gas back to normal" if kind is AlertKind.GAS_LEAK else "dry again"
            return (Clearance(device.home_id, device.id, kind, reading.ts, f"{text} ({what})"),)
        if s.active_since is not None:
            self._dirty.add(device.id)  # keep the saved 'last' close to the truth
        return ()

    def _finding(
        self, reading: Reading, device: Device, kind: AlertKind, what: str, start: datetime
    ) -> Finding:
        rules = self.profiles.rules(device.home_id)
        place = f" ({device.location})" if device.location else ""
        details: dict[str, Any] = {
            k: reading.fields[k] for k in ("lel", "alarm", "leak") if k in reading.fields
        }
        message = f"{what.capitalize()}: sensor {device.id}{place}"
        if kind is AlertKind.GAS_LEAK:
            message = delayed(message, details, self.ref.delay_s(reading.ts), rules.late_after_s)
        return Finding(
            home_id=device.home_id,
            subject=device.id,
            kind=kind,
            severity=DEFAULT_SEVERITY[kind],
            at=reading.ts,
            source_key=f"{kind.value}:{device.id}:{iso(start)}",
            message=message,
            device_id=device.id,
            resident_id=self.profiles.person(device),
            details=details,
        )
