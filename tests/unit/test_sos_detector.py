"""The SOS detector: every press raises, cancel and heartbeats do not."""

from __future__ import annotations

from datetime import UTC, datetime

from detectors.sos import SosDetector
from eldercare.domain import AlertKind, Device, DeviceKind, Reading, Severity

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
BUTTON = Device("h1-sos", "h1", DeviceKind.SOS_BUTTON, "r1", "bedside")


def reading(fields: dict[str, object], seq: int = 1) -> Reading:
    return Reading("h1", "h1-sos", DeviceKind.SOS_BUTTON, T, T, seq, None, dict(fields))


def test_press_raises_a_critical_sos_for_the_resident() -> None:
    (finding,) = SosDetector().on_reading(reading({"action": "press"}), BUTTON)
    assert finding.kind is AlertKind.SOS
    assert finding.severity is Severity.CRITICAL
    assert finding.subject == "r1"
    assert finding.at == T
    assert "bedside" in finding.message


def test_each_press_has_its_own_key_and_a_redelivery_the_same_key() -> None:
    det = SosDetector()
    (a,) = det.on_reading(reading({"action": "press"}, seq=1), BUTTON)
    (b,) = det.on_reading(reading({"action": "press"}, seq=2), BUTTON)
    (again,) = det.on_reading(reading({"action": "press"}, seq=1), BUTTON)
    assert a.source_key != b.source_key
    assert again.source_key == a.source_key


def test_cancel_and_heartbeat_raise_nothing() -> None:
    det = SosDetector()
    assert det.on_reading(reading({"action": "cancel"}), BUTTON) == ()
    assert det.on_reading(reading({}), BUTTON) == ()


def test_a_button_without_resident_alerts_about_the_home() -> None:
    shared = Device("h1-sos", "h1", DeviceKind.SOS_BUTTON, None, "hall")
    (finding,) = SosDetector().on_reading(reading({"action": "press"}), shared)
    assert finding.subject == "h1"
