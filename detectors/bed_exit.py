"""``bed_exit_not_returned``: out of bed at night and not back in time.

A bed band's ``in_bed`` going from true to false at a local time inside the
night window (``bed_exit_from_h``-``bed_exit_to_h``, 22:00-06:00 in the home's
time zone) starts a wait of ``bed_exit_min`` (30 min). Back in bed before it
ends cancels; otherwise the alert is raised *at* exit + 30 min (from a tick or
the next reading), keyed ``bed_exit_not_returned:<device>:<exit time>`` so a
restart or replay never raises it twice. Getting back in bed after the alert
writes a Clearance on its timeline (people close it).

The first reading after start or install sets the state without counting as a
transition. Readings at or before the last applied one (duplicates, out of
order) and readings older than the wait are ignored.
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

KIND = AlertKind.BED_EXIT_NOT_RETURNED


@dataclass(slots=True)
class _Bed:
    device: Device
    in_bed: bool | None = None
    last: tuple[datetime, int] | None = None
    out_since: datetime | None = None
    fired: bool = False


class BedExitDetector:
    name = "bed_exit"
    reads = frozenset({DeviceKind.BED_BAND})

    def __init__(self, profiles: Profiles, ref: TimeRef) -> None:
        self.profiles = profiles
        self.ref = ref
        self._beds: dict[str, _Bed] = {}
        self._due = Deadlines()
        self._dirty: set[str] = set()

    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        out: dict[str, State | None] = {}
        for key in take_dirty(self._dirty, limit):
            b = self._beds.get(key)
            if b is None:
                out[key] = None
                continue
            out[key] = {
                "home_id": b.device.home_id,
                "resident_id": b.device.resident_id,
                "in_bed": b.in_bed,
                "last": None if b.last is None else [iso(b.last[0]), b.last[1]],
                "out_since": None if b.out_since is None else iso(b.out_since),
                "fired": b.fired,
            }
        return out

    def load(self, key: str, state: State) -> None:
        device = Device(key, state["home_id"], DeviceKind.BED_BAND, state.get("resident_id"))
        last = state.get("last")
        out = state.get("out_since")
        b = _Bed(
            device,
            state.get("in_bed"),
            None if last is None else (parse_iso(last[0]), int(last[1])),
            None if out is None else parse_iso(out),
            bool(state.get("fired", False)),
        )
        self._beds[key] = b
        if b.out_since is not None and not b.fired:
            rules = self.profiles.rules(b.device.home_id, b.device.resident_id)
            self._due.set(key, b.out_since + timedelta(minutes=rules.bed_exit_min))

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if device.kind is not DeviceKind.BED_BAND:
            return ()
        in_bed = reading.fields.get("in_bed")
        if not isinstance(in_bed, bool):
            return ()
        rules = self.profiles.rules(device.home_id, device.resident_id)
        wait = timedelta(minutes=rules.bed_exit_min)
        if self.ref.older_than(reading.ts, wait.total_seconds()):
            return ()
        b = self._beds.get(device.id)
        if b is None:
            b = self._beds[device.id] = _Bed(device)
        b.device = device
        key = order_key(reading)
        if b.last is not None and key <= b.last:
            return ()
        b.last = key
        out: list[Signal] = []
        if b.out_since is not None and not b.fired and reading.ts >= b.out_since + wait:
            out.extend(self._fire(b, b.out_since + wait))
        was = b.in_bed
        b.in_bed = in_bed
        if was is True and not in_bed:
            tz = self.profiles.tz(device.home_id)
            if in_night(reading.ts, tz, rules.bed_exit_from_h, rules.bed_exit_to_h):
                b.out_since, b.fired = reading.ts, False
                self._due.set(device.id, reading.ts + wait)
            self._dirty.add(device.id)
        elif in_bed and was is not True:
            if b.out_since is not None:
                if b.fired:
                    tz = self.profiles.tz(device.home_id)
                    out.append(
                        Clearance(
                            device.home_id,
                            self._subject(device),
                            KIND,
                            reading.ts,
                            f"back in bed at {clock_text(reading.ts, tz)}",
                        )
                    )
                b.out_since, b.fired = None, False
                self._due.clear(device.id)
            self._dirty.add(device.id)
        return out

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        out: list[Signal] = []
        for key in self._due.due(now):
            b = self._beds.get(key)
            if b is None or b.out_since is None or b.fired:
                continue
            rules = self.profiles.rules(b.device.home_id, b.device.resident_id)
            out.extend(self._fire(b, b.out_since + timedelta(minutes=rules.bed_exit_min)))
        return out

    def _fire(self, b: _Bed, at: datetime) -> Sequence[Signal]:
        assert b.out_since is not None
        b.fired = True
        self._due.clear(b.device.id)
        self._dirty.add(b.device.id)
        tz = self.profiles.tz(b.device.home_id)
        minutes = (at - b.out_since).total_seconds() / 60
        return (
            Finding(
                home_id=b.device.home_id,
                subject=self._subject(b.device),
                kind=KIND,
                severity=DEFAULT_SEVERITY[KIND],
                at=at,
                source_key=f"{KIND.value}:{b.device.id}:{iso(b.out_since)}",
                message=(
                    f"Out of bed since {clock_text(b.out_since, tz)} and not back"
                    f" after {minutes:.0f} min"
                ),
                device_id=b.device.id,
                resident_id=b.device.resident_id,
                details={"out_since": iso(b.out_since)},
            ),
        )

    def _subject(self, device: Device) -> str:
        return self.profiles.person(device) or device.home_id
