"""``fall`` from the mmWave radar (DOMAIN.md: suspected / detected / recovered).

- ``fall: "detected"`` raises at once. It is a critical event: it raises even
  when it arrives late or out of order, and then says it is delayed.
- ``fall: "suspected"`` starts a wait of ``fall_wait_s`` (60 s). A
  ``detected`` or ``posture: "floor"`` within it raises at once; recovery
  cancels it. If the wait ends with neither, the person has not shown that
  they are up again: ``fall`` is raised at suspected + 60 s ("not recovered").
- Recovery is ``posture`` ``standing`` or ``sitting``, a numeric ``movement``
  field above 0 (kept from the payload when a radar sends it), or
  ``presence: false`` (the person walked out of the radar's view).
- One alert per episode (key ``fall:<device>:<episode start>``); repeated
  ``detected`` samples in the same episode add nothing. Recovery after the
  alert writes a Clearance on its timeline; only people close it.
- Non-critical samples at or before the last applied one, or older than the
  wait, are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from detectors.base import Deadlines, State, TimeRef, delayed, iso, order_key, parse_iso, take_dirty
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

KIND = AlertKind.FALL


@dataclass(slots=True)
class _Radar:
    device: Device
    last: tuple[datetime, int] | None = None
    pending_since: datetime | None = None
    episode: datetime | None = None
    """start of the episode an alert was raised for"""


def _recovered(f: dict[str, Any]) -> bool:
    movement = f.get("movement")
    moving = isinstance(movement, int | float) and not isinstance(movement, bool) and movement > 0
    return f.get("posture") in ("standing", "sitting") or moving or f.get("presence") is False


class FallDetector:
    name = "fall"
    reads = frozenset({DeviceKind.FALL_RADAR})

    def __init__(self, profiles: Profiles, ref: TimeRef) -> None:
        self.profiles = profiles
        self.ref = ref
        self._radars: dict[str, _Radar] = {}
        self._due = Deadlines()
        self._dirty: set[str] = set()

    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        out: dict[str, State | None] = {}
        for key in take_dirty(self._dirty, limit):
            r = self._radars.get(key)
            if r is None or (r.pending_since is None and r.episode is None):
                out[key] = None
                continue
            out[key] = {
                "home_id": r.device.home_id,
                "resident_id": r.device.resident_id,
                "last": None if r.last is None else [iso(r.last[0]), r.last[1]],
                "pending_since": None if r.pending_since is None else iso(r.pending_since),
                "episode": None if r.episode is None else iso(r.episode),
            }
        return out

    def load(self, key: str, state: State) -> None:
        device = Device(key, state["home_id"], DeviceKind.FALL_RADAR, state.get("resident_id"))
        last, pending, episode = state.get("last"), state.get("pending_since"), state["episode"]
        r = _Radar(
            device,
            None if last is None else (parse_iso(last[0]), int(last[1])),
            None if pending is None else parse_iso(pending),
            None if episode is None else parse_iso(episode),
        )
        self._radars[key] = r
        if r.pending_since is not None:
            wait = self.profiles.rules(device.home_id, device.resident_id).fall_wait_s
            self._due.set(key, r.pending_since + timedelta(seconds=wait))

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if device.kind is not DeviceKind.FALL_RADAR or reading.is_heartbeat:
            return ()
        r = self._radars.get(device.id)
        if r is None:
            r = self._radars[device.id] = _Radar(device)
        r.device = device
        f = reading.fields
        fall = f.get("fall")
        key = order_key(reading)
        in_order = r.last is None or key > r.last
        rules = self.profiles.rules(device.home_id, device.resident_id)
        if not in_order or self.ref.older_than(reading.ts, rules.fall_wait_s):
            # Late: only a detected fall still counts (a critical event).
            if fall == "detected" and (r.episode is None or r.episode > reading.ts):
                delay = self.ref.delay_s(reading.ts)
                return self._raise(r, reading.ts, reading.ts, "detected", delay, late=True)
            return ()
        r.last = key
        if fall == "detected" or (r.pending_since is not None and f.get("posture") == "floor"):
            if r.episode is not None:
                return ()  # same episode, already raised
            start = r.pending_since or reading.ts
            how = "detected" if fall == "detected" else "floor"
            return self._raise(r, start, reading.ts, how, self.ref.delay_s(reading.ts))
        if fall == "suspected" and r.pending_since is None and r.episode is None:
            r.pending_since = reading.ts
            self._dirty.add(device.id)
            if f.get("posture") == "floor":
                return self._raise(r, reading.ts, reading.ts, "floor", self.ref.delay_s(reading.ts))
            self._due.set(device.id, reading.ts + timedelta(seconds=rules.fall_wait_s))
            return ()
        if _recovered(f):
            return self._recover(r, reading.ts)
        if r.pending_since is not None and reading.ts >= r.pending_since + timedelta(
            seconds=rules.fall_wait_s
        ):
            start = r.pending_since
            return self._raise(r, start, start + timedelta(seconds=rules.fall_wait_s), "timeout")
        return ()

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        out: list[Signal] = []
        for key in self._due.due(now):
            r = self._radars.get(key)
            if r is None or r.pending_since is None or r.episode is not None:
                continue
            wait = self.profiles.rules(r.device.home_id, r.device.resident_id).fall_wait_s
            start = r.pending_since
            out.extend(self._raise(r, start, start + timedelta(seconds=wait), "timeout"))
        return out

    def _recover(self, r: _Radar, ts: datetime) -> Sequence[Signal]:
        out: list[Signal] = []
        if r.episode is not None:
            out.append(
                Clearance(r.device.home_id, self._subject(r.device), KIND, ts, "person up again")
            )
        if r.pending_since is not None or r.episode is not None:
            r.pending_since = r.episode = None
            self._due.clear(r.device.id)
            self._dirty.add(r.device.id)
        return out

    def _raise(
        self,
        r: _Radar,
        start: datetime,
        at: datetime,
        how: str,
        delay_s: float = 0.0,
        *,
        late: bool = False,
    ) -> Sequence[Signal]:
        d = r.device
        details: dict[str, Any] = {"how": how, "since": iso(start)}
        rules = self.profiles.rules(d.home_id, d.resident_id)
        place = f" ({d.location})" if d.location else ""
        text = {
            "detected": f"Fall detected by radar {d.id}{place}",
            "floor": f"Suspected fall, person on the floor (radar {d.id}{place})",
            "timeout": (
                f"Suspected fall, not recovered within {rules.fall_wait_s:.0f} s"
                f" (radar {d.id}{place})"
            ),
        }[how]
        text = delayed(text, details, delay_s, rules.late_after_s)
        if not late:
            r.episode = start
            r.pending_since = None
            self._due.clear(d.id)
            self._dirty.add(d.id)
        return (
            Finding(
                home_id=d.home_id,
                subject=self._subject(d),
                kind=KIND,
                severity=DEFAULT_SEVERITY[KIND],
                at=at,
                source_key=f"{KIND.value}:{d.id}:{iso(start)}",
                message=text,
                device_id=d.id,
                resident_id=self.profiles.person(d),
                details=details,
            ),
        )

    def _subject(self, device: Device) -> str:
        return self.profiles.person(device) or device.home_id
