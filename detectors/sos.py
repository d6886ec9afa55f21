"""SOS button: every ``press`` raises ``sos`` at once (DOMAIN.md: an SOS is never
suppressed). Repeated presses while the alert is open update the same alert
(the alert store keeps one open alert per home, subject and kind); ``cancel``
is stored as a reading and does not close the alert: only people close it.

A press that arrives late (older than ``late_after_s`` against the service's
now) still raises, and its finding says it is delayed (``details.delayed_s``).
The key is the reading's identity, so a redelivered press changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from detectors.base import TimeRef, delayed
from detectors.profiles import Profiles
from eldercare.domain import (
    DEFAULT_SEVERITY,
    AlertKind,
    Device,
    DeviceKind,
    Finding,
    Reading,
    Signal,
    StatusChange,
)


class SosDetector:
    name = "sos"
    reads = frozenset({DeviceKind.SOS_BUTTON})

    def __init__(self, profiles: Profiles | None = None, ref: TimeRef | None = None) -> None:
        self.profiles = profiles or Profiles()
        self.ref = ref or TimeRef()

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if device.kind is not DeviceKind.SOS_BUTTON or reading.fields.get("action") != "press":
            return ()
        details: dict[str, Any] = {}
        rules = self.profiles.rules(device.home_id, device.resident_id)
        message = f"SOS button {device.id} pressed" + (
            f" ({device.location})" if device.location else ""
        )
        message = delayed(message, details, self.ref.delay_s(reading.ts), rules.late_after_s)
        return (
            Finding(
                home_id=reading.home_id,
                subject=device.resident_id or reading.home_id,
                kind=AlertKind.SOS,
                severity=DEFAULT_SEVERITY[AlertKind.SOS],
                at=reading.ts,
                source_key=f"sos:{reading.key}",
                message=message,
                device_id=device.id,
                resident_id=device.resident_id or self.profiles.person(device),
                details=details,
            ),
        )

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        return ()
