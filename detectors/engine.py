"""The set of detectors the service runs, built in one place.

``build_detectors(profiles)`` returns a ``DetectorSet``: it is itself a
``Detector`` (the pipeline feeds it like one) that fans every reading, status
change and tick out to the rule modules, keeps the service's 'now' for late
readings (``begin(now)`` at each batch, and every tick), and collects their
saved state for restarts (``dump`` / ``load``, by detector name and key).

    vitals         heart_rate_low/high, respiration_low/high, breathing_stopped
    bed_exit       bed_exit_not_returned
    fall           fall
    sos            sos
    hazards        gas_leak, water_leak
    door           door_left_open, night_wandering
    inactivity     inactivity
    device_health  device_offline, battery_low
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from detectors.base import ALL_KINDS, Detector, State, Stateful, TimeRef
from detectors.bed_exit import BedExitDetector
from detectors.device_health import DeviceHealthDetector
from detectors.door import DoorDetector
from detectors.fall import FallDetector
from detectors.hazards import HazardDetector
from detectors.inactivity import InactivityDetector
from detectors.profiles import Profiles
from detectors.sos import SosDetector
from detectors.vitals import VitalsDetector
from eldercare.domain import Device, DeviceKind, Reading, Signal, StatusChange


class DetectorSet:
    name = "all"
    reads = ALL_KINDS

    def __init__(self, profiles: Profiles, *, follow_events: bool = False) -> None:
        self.profiles = profiles
        self.follow_events = follow_events
        """With the event clock: time is the newest reading *processed*. The clock
        itself already counts readings the gateway decoded but the detectors have
        not seen yet (a tick then could fire "not back in bed" before the reading
        that says she is back), so ticks never go past what was processed."""
        self.processed: datetime | None = None
        self.ref = TimeRef()
        ref = self.ref
        self.vitals = VitalsDetector(profiles, ref)
        self.stateful: list[Stateful] = [
            self.vitals,
            BedExitDetector(profiles, ref),
            FallDetector(profiles, ref),
            HazardDetector(profiles, ref),
            DoorDetector(profiles, ref),
            InactivityDetector(profiles, ref),
            DeviceHealthDetector(profiles, ref),
        ]
        self.members: list[Detector] = [SosDetector(profiles, ref), *self.stateful]  # type: ignore[list-item]
        self._by_name = {d.name: d for d in self.stateful}
        self._route: dict[DeviceKind, list[Detector]] = {
            kind: [m for m in self.members if kind in m.reads] for kind in DeviceKind
        }
        """Readings go only to the members that read their device's kind (a bed
        band's vitals, nine in ten messages, skip five of the eight)."""

    def begin(self, now: datetime) -> None:
        """A batch starts at the service's ``now``. Late readings are measured
        against the last tick (with the event clock ``now`` already includes this
        batch's newest event, which must not make its own older readings late);
        ``now`` is used only when it is earlier (before the first tick, or the
        event clock's first event after wall-clock ticks)."""
        if self.follow_events:
            # ``now`` already counts this whole batch: lateness is measured against the
            # newest reading processed before each one instead (see on_reading).
            return
        if self.ref.now is None or now < self.ref.now:
            self.ref.now = now

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if self.follow_events and self.processed is not None:
            self.ref.now = self.processed
        if self.processed is None or reading.ts > self.processed:
            self.processed = reading.ts
        out: list[Signal] = []
        for member in self._route[device.kind]:
            out.extend(member.on_reading(reading, device))
        return out

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        out: list[Signal] = []
        for member in self.members:
            out.extend(member.on_status(change, device))
        return out

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        if self.follow_events:
            if self.processed is None:
                return ()  # no event time yet
            now = min(now, self.processed)
        self.ref.now = now
        out: list[Signal] = []
        for member in self.members:
            out.extend(member.on_tick(now))
        return out

    def dump(self, limit: int | None = None) -> list[tuple[str, str, State | None]]:
        """(detector, key, state or None) for the entries changed since the last dump:
        all of them, or at most ``limit`` (the rest are left for the next call)."""
        out: list[tuple[str, str, State | None]] = []
        for d in self.stateful:
            left = None if limit is None else limit - len(out)
            if left == 0:
                break
            out.extend((d.name, key, state) for key, state in d.dump(left).items())
        return out

    def load(self, detector: str, key: str, state: State) -> bool:
        """Put one saved entry back; False if no detector of that name exists (any more)."""
        member = self._by_name.get(detector)
        if member is None:
            return False
        member.load(key, state)
        return True


def build_detectors(profiles: Profiles, *, follow_events: bool = False) -> DetectorSet:
    return DetectorSet(profiles, follow_events=follow_events)
