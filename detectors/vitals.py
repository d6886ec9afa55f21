"""Bed band vitals: ``heart_rate_low/high``, ``respiration_low/high`` and
``breathing_stopped`` (DOMAIN.md, defaults in detectors/config.py).

- Only samples taken in bed count: with nobody in bed a band's numbers mean
  nothing. Getting out of bed empties the windows and ends open episodes.
- hr and rr go into numpy sliding windows of ``vitals_window_s`` (60 s). A
  rule is judged on the window's median, and only once in-bed data has covered
  a whole window and it holds at least 3 samples: a single outlier never
  alarms. With 1 Hz samples a step change alarms once it fills more than half
  the window (about 31 s); a fresh start in bed needs a full window. A gap in
  the data resets nothing by itself.
- hr low: median < hr_low; hr high: median > hr_high; rr low: median <= rr_low;
  rr high: median >= rr_high. ``rr == 0`` is apnoea, judged by breathing
  stopped, and kept out of the rr window so one event is not two alerts.
- breathing stopped: in bed and rr 0 (or rr absent while hr present) for
  ``breathing_stopped_s`` (20 s) from the first such sample; any rr > 0 ends it.
- An episode raises once (key ``<kind>:<device>:<start>``); when the median is
  back in range (or breathing resumes) a Clearance goes on the alert's
  timeline. Personal limits come from ``Resident.limits``.
- Duplicates and out-of-order samples (at or before the last applied one) and
  samples older than the window (against the service's now) are ignored.

Only episodes and apnoea starts are saved for restarts; the windows refill from
the store's last minute of readings (detectors/runtime.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from detectors.base import State, TimeRef, iso, number, order_key, parse_iso, take_dirty
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
    Signal,
    StatusChange,
)

MIN_SAMPLES = 3


class Window:
    """Time-ordered samples (epoch seconds, value) in two numpy arrays."""

    __slots__ = ("_t", "_v", "end", "start")

    def __init__(self, capacity: int = 32) -> None:
        self._t: npt.NDArray[np.float64] = np.empty(capacity)
        self._v: npt.NDArray[np.float64] = np.empty(capacity)
        self.start = 0
        self.end = 0

    def __len__(self) -> int:
        return self.end - self.start

    def push(self, t: float, v: float) -> None:
        if self.end == len(self._t):
            n = self.end - self.start
            if n * 2 > len(self._t):  # grow
                t_new, v_new = np.empty(len(self._t) * 2), np.empty(len(self._t) * 2)
            else:  # compact in place
                t_new, v_new = self._t, self._v
            t_new[:n] = self._t[self.start : self.end]
            v_new[:n] = self._v[self.start : self.end]
            self._t, self._v, self.start, self.end = t_new, v_new, 0, n
        self._t[self.end] = t
        self._v[self.end] = v
        self.end += 1

    def evict_before(self, t: float) -> None:
        if self.end > self.start and self._t[self.start] < t:
            cut = np.searchsorted(self._t[self.start : self.end], t, side="left")
            self.start += int(cut)

    def median(self) -> float:
        """np.median's value, by partition: np.median costs ~10x more on a
        minute of 1 Hz samples (22 µs against 2 µs here), twice per reading."""
        v = self._v[self.start : self.end]
        k = len(v) // 2
        if len(v) % 2:
            return float(np.partition(v, k)[k])
        p = np.partition(v, (k - 1, k))
        return float((p[k - 1] + p[k]) / 2)

    def clear(self) -> None:
        self.start = self.end = 0

    @property
    def nbytes(self) -> int:
        return int(self._t.nbytes + self._v.nbytes)


@dataclass(slots=True)
class _Bed:
    hr: Window = field(default_factory=Window)
    rr: Window = field(default_factory=Window)
    covered_since: float | None = None
    last: tuple[datetime, int] | None = None
    episodes: dict[str, str] = field(default_factory=dict)
    """alert kind -> episode start (iso)"""
    apnoea_since: datetime | None = None
    apnoea_fired: bool = False


_RULES: tuple[tuple[AlertKind, str], ...] = (
    (AlertKind.HEART_RATE_LOW, "hr"),
    (AlertKind.HEART_RATE_HIGH, "hr"),
    (AlertKind.RESPIRATION_LOW, "rr"),
    (AlertKind.RESPIRATION_HIGH, "rr"),
)


def _out_of_range(kind: AlertKind, median: float, r: Rules) -> bool:
    if kind is AlertKind.HEART_RATE_LOW:
        return median < r.hr_low
    if kind is AlertKind.HEART_RATE_HIGH:
        return median > r.hr_high
    if kind is AlertKind.RESPIRATION_LOW:
        return median <= r.rr_low
    return median >= r.rr_high


def _threshold(kind: AlertKind, r: Rules) -> float:
    return {
        AlertKind.HEART_RATE_LOW: r.hr_low,
        AlertKind.HEART_RATE_HIGH: r.hr_high,
        AlertKind.RESPIRATION_LOW: r.rr_low,
        AlertKind.RESPIRATION_HIGH: r.rr_high,
    }[kind]


_WORDS = {
    AlertKind.HEART_RATE_LOW: ("heart rate low", "bpm"),
    AlertKind.HEART_RATE_HIGH: ("heart rate high", "bpm"),
    AlertKind.RESPIRATION_LOW: ("respiration low", "/min"),
    AlertKind.RESPIRATION_HIGH: ("respiration high", "/min"),
}


class VitalsDetector:
    name = "vitals"
    reads = frozenset({DeviceKind.BED_BAND})

    def __init__(self, profiles: Profiles, ref: TimeRef) -> None:
        self.profiles = profiles
        self.ref = ref
        self._beds: dict[str, _Bed] = {}
        self._dirty: set[str] = set()

    # --- state ------------------------------------------------------------------
    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        out: dict[str, State | None] = {}
        for key in take_dirty(self._dirty, limit):
            bed = self._beds.get(key)
            if bed is None or (not bed.episodes and bed.apnoea_since is None):
                out[key] = None
            else:
                out[key] = {
                    "episodes": dict(bed.episodes),
                    "apnoea_since": None if bed.apnoea_since is None else iso(bed.apnoea_since),
                    "apnoea_fired": bed.apnoea_fired,
                }
        return out

    def load(self, key: str, state: State) -> None:
        bed = self._beds.setdefault(key, _Bed())
        bed.episodes = {str(k): str(v) for k, v in state.get("episodes", {}).items()}
        since = state.get("apnoea_since")
        bed.apnoea_since = None if since is None else parse_iso(since)
        bed.apnoea_fired = bool(state.get("apnoea_fired", False))

    def memory_bytes(self) -> int:
        return sum(b.hr.nbytes + b.rr.nbytes for b in self._beds.values())

    # --- events -----------------------------------------------------------------
    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        return ()

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if device.kind is not DeviceKind.BED_BAND or reading.is_heartbeat:
            return ()
        rules = self.profiles.rules(device.home_id, device.resident_id)
        if self.ref.older_than(reading.ts, rules.vitals_window_s):
            return ()  # older than the window: stored, never judged
        bed = self._beds.get(device.id)
        if bed is None:
            bed = self._beds[device.id] = _Bed()
        key = order_key(reading)
        if bed.last is not None and key <= bed.last:
            return ()  # a redelivered or out-of-order sample
        bed.last = key
        f = reading.fields
        if f.get("in_bed") is not True:
            return self._left_bed(bed, device, reading)
        t = reading.ts.timestamp()
        if bed.covered_since is None:
            bed.covered_since = t
        hr, rr = number(f.get("hr")), number(f.get("rr"))
        if hr is not None:
            bed.hr.push(t, hr)
        if rr is not None and rr > 0:
            bed.rr.push(t, rr)
        out: list[Signal] = []
        self._apnoea(bed, device, reading, hr, rr, rules, out)
        horizon = t - rules.vitals_window_s
        bed.hr.evict_before(horizon)
        bed.rr.evict_before(horizon)
        if t - bed.covered_since >= rules.vitals_window_s:
            self._judge(bed, device, reading, rules, out)
        return out

    def _left_bed(self, bed: _Bed, device: Device, reading: Reading) -> Sequence[Signal]:
        bed.hr.clear()
        bed.rr.clear()
        bed.covered_since = None
        if bed.episodes or bed.apnoea_since is not None:
            bed.episodes.clear()
            bed.apnoea_since = None
            bed.apnoea_fired = False
            self._dirty.add(device.id)
        return ()

    def _apnoea(
        self,
        bed: _Bed,
        device: Device,
        reading: Reading,
        hr: float | None,
        rr: float | None,
        rules: Rules,
        out: list[Signal],
    ) -> None:
        if rr is not None and rr > 0:
            if bed.apnoea_since is not None:
                if bed.apnoea_fired:
                    out.append(
                        self._clear(device, reading, AlertKind.BREATHING_STOPPED, rr, "breathing")
                    )
                bed.apnoea_since = None
                bed.apnoea_fired = False
                self._dirty.add(device.id)
            return
        if rr is None and hr is None:
            return  # nothing measured: neither extends nor ends it
        if bed.apnoea_since is None:
            bed.apnoea_since = reading.ts
            self._dirty.add(device.id)
        lasted = (reading.ts - bed.apnoea_since).total_seconds()
        if bed.apnoea_fired or lasted < rules.breathing_stopped_s:
            return
        bed.apnoea_fired = True
        self._dirty.add(device.id)
        kind = AlertKind.BREATHING_STOPPED
        out.append(
            Finding(
                home_id=device.home_id,
                subject=self._subject(device),
                kind=kind,
                severity=DEFAULT_SEVERITY[kind],
                at=reading.ts,
                source_key=f"{kind.value}:{device.id}:{iso(bed.apnoea_since)}",
                message=f"No breathing for {lasted:.0f} s (bed band {device.id})",
                device_id=device.id,
                resident_id=device.resident_id,
                details={"since": iso(bed.apnoea_since), "seconds": round(lasted, 1)},
            )
        )

    def _judge(
        self, bed: _Bed, device: Device, reading: Reading, rules: Rules, out: list[Signal]
    ) -> None:
        medians: dict[str, float | None] = {
            "hr": bed.hr.median() if len(bed.hr) >= MIN_SAMPLES else None,
            "rr": bed.rr.median() if len(bed.rr) >= MIN_SAMPLES else None,
        }
        for kind, metric in _RULES:
            median = medians[metric]
            if median is None:
                continue  # not enough data: a gap resets nothing
            active = kind.value in bed.episodes
            bad = _out_of_range(kind, median, rules)
            if bad and not active:
                bed.episodes[kind.value] = iso(reading.ts)
                self._dirty.add(device.id)
                words, unit = _WORDS[kind]
                limit = _threshold(kind, rules)
                out.append(
                    Finding(
                        home_id=device.home_id,
                        subject=self._subject(device),
                        kind=kind,
                        severity=DEFAULT_SEVERITY[kind],
                        at=reading.ts,
                        source_key=f"{kind.value}:{device.id}:{iso(reading.ts)}",
                        message=(
                            f"{words.capitalize()}: median {median:.0f} {unit} over"
                            f" {rules.vitals_window_s:.0f} s (limit {limit:g})"
                        ),
                        device_id=device.id,
                        resident_id=device.resident_id,
                        details={
                            "median": round(median, 1),
                            "limit": limit,
                            "window_s": rules.vitals_window_s,
                        },
                    )
                )
            elif active and not bad:
                del bed.episodes[kind.value]
                self._dirty.add(device.id)
                out.append(self._clear(device, reading, kind, median, metric))

    def _clear(
        self, device: Device, reading: Reading, kind: AlertKind, value: float, metric: str
    ) -> Clearance:
        text = (
            f"breathing again (rr {value:.0f})"
            if kind is AlertKind.BREATHING_STOPPED
            else f"{metric} back in range (median {value:.0f})"
        )
        return Clearance(device.home_id, self._subject(device), kind, reading.ts, text)

    def _subject(self, device: Device) -> str:
        return self.profiles.person(device) or device.home_id


def window_span(rules: Rules) -> timedelta:
    return timedelta(seconds=rules.vitals_window_s)
