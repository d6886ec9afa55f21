"""Clocks: time is injected, never read from the wall inside the logic.

``WallClock`` is the real time. ``EventClock`` (``ELDERCARE_CLOCK=event``)
starts at the first event timestamp the service receives and then follows the
newest one, so a scenario replays hours in seconds. ``ManualClock`` is for tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def observe(self, event_ts: datetime) -> None:
        """Tell the clock an event with this timestamp arrived."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def observe(self, event_ts: datetime) -> None:
        return None


class EventClock:
    """Follows the newest event timestamp; before the first event, the wall clock."""

    def __init__(self) -> None:
        self._now: datetime | None = None

    def now(self) -> datetime:
        return self._now if self._now is not None else datetime.now(UTC)

    def observe(self, event_ts: datetime) -> None:
        if self._now is None or event_ts > self._now:
            self._now = event_ts


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def observe(self, event_ts: datetime) -> None:
        return None

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at


def make_clock(kind: str) -> Clock:
    return EventClock() if kind == "event" else WallClock()
