"""``inactivity``: no sign of life from any sensor of a home for ``inactivity_h``.

Activity (DOMAIN.md) is: a door change, radar ``presence: true``, bed
``movement`` above 0 or an ``in_bed`` change, any SOS button action.
Heartbeats, gas and water readings are not activity. A home is watched from
its first activity on (a home that never showed any has nothing to time).

The alert is raised at last activity + 12 h (from a tick), keyed
``inactivity:<home>:<last activity>`` so a restart or replay raises it once.
Activity after the alert writes "activity again" on its timeline; people
close the alert. Late readings only move the last activity forward (the
latest wins), so they can never raise anything.

For restarts the last activity is saved at most once a minute of event time
per home (``SAVE_STEP``): the runtime replays the last minute of readings, so
at most that much is lost.
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

KIND = AlertKind.INACTIVITY
SAVE_STEP = timedelta(seconds=60)


@dataclass(slots=True)
class _Home:
    last: datetime
    saved: datetime | None = None
    fired: bool = False


class InactivityDetector:
    name = "inactivity"
    reads = ALL_KINDS

    def __init__(self, profiles: Profiles, ref: TimeRef) -> None:
        self.profiles = profiles
        self.ref = ref
        self._homes: dict[str, _Home] = {}
        self._prev: dict[str, object] = {}
        """device -> its last door ``open`` or bed ``in_bed`` value"""
        self._due = Deadlines()
        self._dirty: set[str] = set()

    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        out: dict[str, State | None] = {}
        for key in take_dirty(self._dirty, limit):
            h = self._homes.get(key)
            if h is None:
                out[key] = None
                continue
            h.saved = h.last
            out[key] = {"last": iso(h.last), "fired": h.fired}
        return out

    def load(self, key: str, state: State) -> None:
        last = parse_iso(state["last"])
        h = self._homes[key] = _Home(last, last, bool(state.get("fired", False)))
        if not h.fired:
            self._due.set(key, last + timedelta(hours=self.profiles.rules(key).inactivity_h))

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def _is_activity(self, reading: Reading, device: Device) -> bool:
        f = reading.fields
        kind = device.kind
        if kind is DeviceKind.SOS_BUTTON:
            return "action" in f
        if kind is DeviceKind.FALL_RADAR:
            return f.get("presence") is True
        if kind is DeviceKind.DOOR:
            value = f.get("open")
            if not isinstance(value, bool):
                return False
            before = self._prev.get(device.id)
            self._prev[device.id] = value
            return before != value
        if kind is DeviceKind.BED_BAND:
            movement = f.get("movement")
            moved = (
                isinstance(movement, int | float)
                and not isinstance(movement, bool)
                and movement > 0
            )
            in_bed = f.get("in_bed")
            before = self._prev.get(device.id)
            if isinstance(in_bed, bool):
                self._prev[device.id] = in_bed
            changed = isinstance(in_bed, bool) and before is not None and before != in_bed
            return changed or moved
        return False

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if reading.is_heartbeat or not self._is_activity(reading, device):
            return ()
        home_id = device.home_id
        h = self._homes.get(home_id)
        out: list[Signal] = []
        if h is None:
            h = self._homes[home_id] = _Home(reading.ts)
        elif reading.ts <= h.last:
            return ()
        else:
            if h.fired:
                tz = self.profiles.tz(home_id)
                out.append(
                    Clearance(
                        home_id,
                        home_id,
                        KIND,
                        reading.ts,
                        f"activity again at {clock_text(reading.ts, tz)} ({device.id})",
                    )
                )
                h.fired = False
                self._dirty.add(home_id)
            h.last = reading.ts
        hours = self.profiles.rules(home_id).inactivity_h
        self._due.set(home_id, h.last + timedelta(hours=hours))
        if h.saved is None or h.last - h.saved >= SAVE_STEP:
            self._dirty.add(home_id)
        return out

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        out: list[Signal] = []
        for home_id in self._due.due(now):
            h = self._homes.get(home_id)
            if h is None or h.fired:
                continue
            hours = self.profiles.rules(home_id).inactivity_h
            at = h.last + timedelta(hours=hours)
            if at > now:  # moved by a restore; not due yet
                self._due.set(home_id, at)
                continue
            h.fired = True
            self._dirty.add(home_id)
            tz = self.profiles.tz(home_id)
            residents = self.profiles.home(home_id).residents
            out.append(
                Finding(
                    home_id=home_id,
                    subject=home_id,
                    kind=KIND,
                    severity=DEFAULT_SEVERITY[KIND],
                    at=at,
                    source_key=f"{KIND.value}:{home_id}:{iso(h.last)}",
                    message=(
                        f"No activity from any sensor since {clock_text(h.last, tz)} ({hours:g} h)"
                    ),
                    resident_id=residents[0] if len(residents) == 1 else None,
                    details={"last_activity": iso(h.last)},
                )
            )
        return out
