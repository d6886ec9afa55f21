"""What every detector is: a pure, deterministic state machine.

A detector is fed readings (with their registry device) and clock ticks, and
returns findings. It never sleeps, never reads the wall clock and never does
I/O: time comes in with the reading or the tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from eldercare.domain import Device, Reading, Signal, StatusChange


class Detector(Protocol):
    name: str

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        """A committed reading (redelivered duplicates included: be idempotent)."""
        ...

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        """The device's status topic said ``online`` or ``offline`` (its last will)."""
        ...

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        """Time passed (the service clock): time-based rules fire here."""
        ...
