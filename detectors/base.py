"""What every detector is: a pure, deterministic state machine, and the small
tools they share.

A detector is fed readings (with their registry device), status changes and
clock ticks, and returns signals (findings and clearances). It never sleeps,
never reads the wall clock and never does I/O: time comes in with the reading
or the tick. Registry context (time zones, rules, limits) comes from a
``Profiles`` lookup that the runtime refreshes from the store.

Stateful detectors also implement ``Stateful``: ``dump()`` returns the
entries changed since the last call (JSON-able, ``None`` = forget) and
``load()`` puts one back at start, so a restart resumes "out of bed since
02:10" instead of forgetting it (see detectors/runtime.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from eldercare.domain import Device, DeviceKind, Reading, Signal, StatusChange

ALL_KINDS: frozenset[DeviceKind] = frozenset(DeviceKind)


class Detector(Protocol):
    name: str
    reads: frozenset[DeviceKind]
    """The device kinds whose readings it looks at: it is not fed the others."""

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        """A committed reading (redelivered duplicates included: be idempotent)."""
        ...

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        """The device's status topic said ``online`` or ``offline`` (its last will)."""
        ...

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        """Time passed (the service clock): time-based rules fire here."""
        ...


State = dict[str, Any]


class Stateful(Protocol):
    name: str

    def dump(self, limit: int | None = None) -> dict[str, State | None]:
        """Entries changed since the last call, by key; None means forget the key.
        At most ``limit`` of them (the rest stay changed for the next call)."""
        ...

    def load(self, key: str, state: State) -> None:
        """Put one entry back (at start, before any reading)."""
        ...


def take_dirty(dirty: set[str], limit: int | None) -> list[str]:
    """Take up to ``limit`` keys (all if None) out of a detector's changed set."""
    if limit is None or len(dirty) <= limit:
        keys = list(dirty)
        dirty.clear()
        return keys
    return [dirty.pop() for _ in range(limit)]


@dataclass(slots=True)
class TimeRef:
    """The service's 'now' as last told (batch start or tick): late readings are
    measured against it. None until the first batch or tick."""

    now: datetime | None = None

    def delay_s(self, ts: datetime) -> float:
        return 0.0 if self.now is None else max(0.0, (self.now - ts).total_seconds())

    def older_than(self, ts: datetime, seconds: float) -> bool:
        return self.now is not None and (self.now - ts).total_seconds() > seconds


def number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (``true`` is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def iso(ts: datetime) -> str:
    """The stable text of a time in source keys and saved state (UTC, microseconds)."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def order_key(reading: Reading) -> tuple[datetime, int]:
    """Readings of one device are applied in (ts, seq) order; anything at or
    before the last applied one is a duplicate or out of order."""
    return (reading.ts, -1 if reading.seq is None else reading.seq)


def in_night(ts: datetime, tz: ZoneInfo, from_h: float, to_h: float) -> bool:
    """Whether ``ts`` falls in [from_h, to_h) local time; the window may cross midnight."""
    local = ts.astimezone(tz)
    hours = local.hour + local.minute / 60 + local.second / 3600
    if from_h <= to_h:
        return from_h <= hours < to_h
    return hours >= from_h or hours < to_h


def local_date(ts: datetime, tz: ZoneInfo) -> str:
    return ts.astimezone(tz).date().isoformat()


def delayed(message: str, details: dict[str, Any], delay_s: float, late_after_s: float) -> str:
    """Mark a late critical event: ``details["delayed_s"]`` and the message say so."""
    if delay_s <= late_after_s:
        return message
    details["delayed_s"] = round(delay_s, 1)
    return f"{message} (delayed: happened {_span(delay_s)} before it arrived)"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def clock_text(ts: datetime, tz: ZoneInfo) -> str:
    return ts.astimezone(tz).strftime("%H:%M")


class Deadlines:
    """Due times by key with cheap ticks: a heap holding at most one live entry
    per key. Moving a deadline later costs a dict write (the heap entry is
    re-queued when it comes due), so once-a-second activity stays cheap."""

    __slots__ = ("_heap", "_queued", "_when")

    def __init__(self) -> None:
        self._when: dict[str, datetime] = {}
        self._queued: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._when)

    def set(self, key: str, when: datetime) -> None:
        self._when[key] = when
        queued = self._queued.get(key)
        if queued is None or when < queued:
            self._queued[key] = when
            heapq.heappush(self._heap, (when, key))

    def clear(self, key: str) -> None:
        self._when.pop(key, None)

    def get(self, key: str) -> datetime | None:
        return self._when.get(key)

    def due(self, now: datetime) -> list[str]:
        """Keys whose deadline is at or before ``now``, removed (set them again to re-arm)."""
        out: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            if self._queued.get(key) != at:
                continue  # superseded by an earlier entry of the same key
            del self._queued[key]
            when = self._when.get(key)
            if when is None:
                continue
            if when <= now:
                del self._when[key]
                out.append(key)
            else:
                self._queued[key] = when
                heapq.heappush(heap, (when, key))
        return out


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)
