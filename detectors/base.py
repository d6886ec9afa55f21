"""What every detector is: a pure, deterministic state machine.

A detector is fed readings (with their registry device) and clock ticks, and
returns findings. It never sleeps, never reads the wall clock and never does
I/O: time comes in with the reading or the tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from eldercare.domain import Device, Finding, Reading


class Detector(Protocol):
    name: str

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Finding]: ...

    def on_tick(self, now: datetime) -> Sequence[Finding]: ...
