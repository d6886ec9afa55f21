"""SOS button: every ``press`` raises ``sos`` at once (DOMAIN.md: an SOS is never
suppressed). Repeated presses while the alert is open update the same alert
(the alert store keeps one open alert per home, subject and kind); ``cancel``
is stored as a reading and does not close the alert: only people close it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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

    def on_reading(self, reading: Reading, device: Device) -> Sequence[Signal]:
        if device.kind is not DeviceKind.SOS_BUTTON or reading.fields.get("action") != "press":
            return ()
        return (
            Finding(
                home_id=reading.home_id,
                subject=device.resident_id or reading.home_id,
                kind=AlertKind.SOS,
                severity=DEFAULT_SEVERITY[AlertKind.SOS],
                at=reading.ts,
                source_key=f"sos:{reading.key}",
                message=f"SOS button {device.id} pressed"
                + (f" ({device.location})" if device.location else ""),
                device_id=device.id,
                resident_id=device.resident_id,
            ),
        )

    def on_status(self, change: StatusChange, device: Device) -> Sequence[Signal]:
        return ()

    def on_tick(self, now: datetime) -> Sequence[Signal]:
        return ()
