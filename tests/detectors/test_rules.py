"""Bed exit, fall, SOS, gas, water, door, inactivity and device health rules:
just under and just over each threshold and duration, recovery, late data."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from eldercare.domain import AlertKind, DeviceKind, Severity
from tests.detectors.rig import Rig, local

S = timedelta(seconds=1)
M = timedelta(minutes=1)
BED, RADAR, DOOR = DeviceKind.BED_BAND, DeviceKind.FALL_RADAR, DeviceKind.DOOR
GAS, WATER, SOS = DeviceKind.GAS, DeviceKind.WATER, DeviceKind.SOS_BUTTON
BEX, WANDER = AlertKind.BED_EXIT_NOT_RETURNED, AlertKind.NIGHT_WANDERING


# --- bed exit -------------------------------------------------------------------------


def _out_of_bed(rig: Rig, start: datetime | None = None) -> None:
    start = start or local(2)
    rig.send(BED, start - M, in_bed=True, hr=60, rr=14)
    rig.send(BED, start, in_bed=False, hr=None, rr=None)


def test_bed_exit_at_night_not_back_within_30_min_raises_once_at_exit_plus_30() -> None:
    rig = Rig()
    _out_of_bed(rig)
    assert rig.tick(local(2, 29, 59), BEX) == []
    (finding,) = rig.tick(local(2, 30), BEX)
    assert finding.kind is AlertKind.BED_EXIT_NOT_RETURNED
    assert finding.severity is Severity.HIGH
    assert finding.at == local(2, 30)
    assert "02:00" in finding.message
    assert rig.tick(local(2, 45), BEX) == []
    rig.send(BED, local(2, 50), in_bed=True, hr=60, rr=14)
    (clear,) = rig.clearances(AlertKind.BED_EXIT_NOT_RETURNED)
    assert "back in bed" in clear.message and not clear.auto_resolve


def test_back_in_bed_just_before_30_min_cancels() -> None:
    rig = Rig()
    _out_of_bed(rig)
    rig.send(BED, local(2, 29, 59), in_bed=True, hr=60, rr=14)
    assert rig.tick(local(3, 30), BEX) == []


@pytest.mark.parametrize(
    ("hh", "mm", "raises"),
    [(21, 59, False), (22, 0, True), (5, 59, True), (6, 0, False), (14, 0, False)],
)
def test_bed_exit_night_window_edges(hh: int, mm: int, raises: bool) -> None:
    rig = Rig()
    _out_of_bed(rig, start=local(hh, mm))
    rig.tick(local(hh, mm) + 31 * M)
    assert bool(rig.findings(AlertKind.BED_EXIT_NOT_RETURNED)) is raises


def test_bed_exit_wait_per_home() -> None:
    rig = Rig(rules={"bed_exit_min": 45})
    _out_of_bed(rig)
    assert rig.tick(local(2, 44), BEX) == []
    assert len(rig.tick(local(2, 45), BEX)) == 1


# --- fall -------------------------------------------------------------------------------


def test_detected_fall_raises_at_once_and_once_per_episode() -> None:
    rig = Rig()
    (finding,) = rig.send(RADAR, local(3), presence=True, fall="detected", posture="floor")
    assert finding.kind is AlertKind.FALL and finding.severity is Severity.CRITICAL
    assert "delayed_s" not in finding.details
    rig.send(RADAR, local(3) + S, presence=True, fall="detected", posture="floor")
    assert len(rig.findings(AlertKind.FALL)) == 1
    rig.send(RADAR, local(3, 5), presence=True, fall="none", posture="standing")
    assert len(rig.clearances(AlertKind.FALL)) == 1


def test_suspected_fall_not_recovered_raises_at_60_s_not_59() -> None:
    rig = Rig()
    rig.send(RADAR, local(3), presence=True, fall="suspected", posture="lying")
    assert rig.tick(local(3) + 59 * S) == []
    (finding,) = rig.tick(local(3) + 60 * S)
    assert finding.kind is AlertKind.FALL and finding.at == local(3) + 60 * S
    assert "not recovered" in finding.message


@pytest.mark.parametrize(
    "recovery",
    [
        {"posture": "standing"},
        {"posture": "sitting"},
        {"movement": 30},
        {"presence": False},
    ],
)
def test_recovery_within_60_s_cancels_a_suspected_fall(recovery: dict[str, object]) -> None:
    rig = Rig()
    rig.send(RADAR, local(3), presence=True, fall="suspected", posture="lying")
    fields: dict[str, object] = {"presence": True, "fall": "none", **recovery}
    rig.send(RADAR, local(3) + 59 * S, **fields)
    assert rig.tick(local(3, 10)) == []
    assert rig.findings(AlertKind.FALL) == []


@pytest.mark.parametrize(
    "escalation", [{"fall": "detected"}, {"fall": "suspected", "posture": "floor"}]
)
def test_suspected_then_detected_or_floor_raises_at_once(escalation: dict[str, object]) -> None:
    rig = Rig()
    rig.send(RADAR, local(3), presence=True, fall="suspected", posture="lying")
    (finding,) = rig.send(RADAR, local(3) + 10 * S, presence=True, **escalation)
    assert finding.at == local(3) + 10 * S


def test_a_late_detected_fall_still_raises_marked_delayed() -> None:
    rig = Rig()
    rig.send(RADAR, local(3, 10), presence=True, fall="none", posture="standing")
    (finding,) = rig.send(
        RADAR, local(3), now=local(3, 10), presence=True, fall="detected", posture="floor"
    )
    assert finding.details["delayed_s"] == 600
    assert "delayed" in finding.message


# --- SOS, gas, water -----------------------------------------------------------------------


def test_late_sos_press_raises_marked_delayed() -> None:
    rig = Rig()
    (on_time,) = rig.send(SOS, local(3), action="press")
    assert "delayed_s" not in on_time.details
    (late,) = rig.send(SOS, local(3), now=local(3, 5), action="press")
    assert late.details["delayed_s"] == 300 and "delayed" in late.message


def test_gas_lel_just_under_10_is_quiet_and_10_raises() -> None:
    rig = Rig()
    assert rig.send(GAS, local(12), lel=9.9, alarm=False) == []
    (finding,) = rig.send(GAS, local(12) + S, lel=10, alarm=False)
    assert finding.kind is AlertKind.GAS_LEAK and finding.severity is Severity.CRITICAL
    assert rig.send(GAS, local(12) + 2 * S, lel=14) == []  # same episode
    (clear,) = rig.send(GAS, local(12, 5), lel=0, alarm=False)
    assert clear.kind is AlertKind.GAS_LEAK and not clear.auto_resolve


def test_gas_alarm_flag_raises_and_a_late_one_is_marked_delayed() -> None:
    rig = Rig()
    assert len(rig.send(GAS, local(12), alarm=True)) == 1
    other = Rig()
    other.send(GAS, local(12, 10), lel=0)
    (late,) = other.send(GAS, local(12), now=local(12, 10), alarm=True)
    assert late.details["delayed_s"] == 600


def test_water_leak_raises_at_once_and_dry_clears() -> None:
    rig = Rig()
    assert rig.send(WATER, local(8), leak=False) == []
    (finding,) = rig.send(WATER, local(8, 1), leak=True)
    assert finding.kind is AlertKind.WATER_LEAK and finding.severity is Severity.HIGH
    assert rig.send(WATER, local(8, 2), leak=True) == []
    (clear,) = rig.send(WATER, local(8, 30), leak=False)
    assert "dry" in clear.message
    (again,) = rig.send(WATER, local(9), leak=True)
    assert again.source_key != finding.source_key


# --- door ---------------------------------------------------------------------------------


def test_door_left_open_at_30_min_not_before_and_closing_clears() -> None:
    rig = Rig()
    rig.send(DOOR, local(14), open=True)
    assert rig.tick(local(14, 29, 59)) == []
    (finding,) = rig.tick(local(14, 30))
    assert finding.kind is AlertKind.DOOR_LEFT_OPEN and finding.severity is Severity.WARNING
    rig.send(DOOR, local(14, 40), open=False)
    assert len(rig.clearances(AlertKind.DOOR_LEFT_OPEN)) == 1
    rig.send(DOOR, local(15), open=True)
    rig.send(DOOR, local(15, 29, 59), open=False)
    assert rig.tick(local(16)) == []


def test_night_wandering_when_nobody_is_back_within_10_min() -> None:
    rig = Rig()
    rig.send(DOOR, local(2), open=True)
    rig.send(RADAR, local(2) + 2 * S, presence=True, fall="none")  # seen while leaving
    rig.send(DOOR, local(2) + 5 * S, open=False)
    assert rig.tick(local(2, 9, 59), WANDER) == []
    (finding,) = rig.tick(local(2, 10), WANDER)
    assert finding.kind is AlertKind.NIGHT_WANDERING and finding.severity is Severity.HIGH
    rig.send(RADAR, local(2, 40), presence=True, fall="none")
    assert len(rig.clearances(AlertKind.NIGHT_WANDERING)) == 1


def test_presence_back_within_10_min_cancels_night_wandering() -> None:
    rig = Rig()
    rig.send(DOOR, local(2), open=True)
    rig.send(DOOR, local(2) + 5 * S, open=False)
    rig.send(RADAR, local(2, 9, 59), presence=True, fall="none")
    assert rig.tick(local(2, 30), WANDER) == []
    assert rig.findings(AlertKind.NIGHT_WANDERING) == []


@pytest.mark.parametrize(
    ("hh", "mm", "raises"), [(22, 59, False), (23, 0, True), (4, 59, True), (5, 0, False)]
)
def test_night_wandering_window_edges(hh: int, mm: int, raises: bool) -> None:
    rig = Rig()
    rig.send(DOOR, local(hh, mm), open=True)
    rig.send(DOOR, local(hh, mm) + 5 * S, open=False)
    rig.tick(local(hh, mm) + 11 * M)
    assert bool(rig.findings(AlertKind.NIGHT_WANDERING)) is raises


# --- inactivity -------------------------------------------------------------------------------


def test_inactivity_after_12_h_of_no_activity_not_before() -> None:
    rig = Rig()
    rig.send(DOOR, local(8), open=True)
    rig.send(DOOR, local(8) + S, open=False)
    last = local(8) + S
    for h in range(1, 13):  # heartbeats, gas readings and absent presence are not activity
        rig.send(GAS, last + timedelta(hours=h) - M, lel=0)
        rig.send(RADAR, last + timedelta(hours=h) - 2 * M, presence=False, fall="none")
    assert rig.findings(AlertKind.INACTIVITY) == []
    assert rig.tick(last + timedelta(hours=12) - S) == [] or not rig.findings(AlertKind.INACTIVITY)
    rig.tick(last + timedelta(hours=12))
    (finding,) = rig.findings(AlertKind.INACTIVITY)
    assert finding.at == last + timedelta(hours=12) and finding.subject == "h1"
    rig.send(SOS, last + timedelta(hours=13), action="cancel")
    assert len(rig.clearances(AlertKind.INACTIVITY)) == 1


# --- device health -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "silence", "severity"),
    [
        (RADAR, timedelta(minutes=15), Severity.HIGH),
        (BED, timedelta(minutes=15), Severity.WARNING),
        (DOOR, timedelta(hours=3), Severity.WARNING),
        (SOS, timedelta(hours=3), Severity.HIGH),
    ],
)
def test_device_offline_after_three_heartbeats_of_silence(
    kind: DeviceKind, silence: timedelta, severity: Severity
) -> None:
    rig = Rig()
    rig.send(kind, local(10))  # a heartbeat
    assert rig.tick(local(10) + silence - S) == []
    (finding,) = rig.tick(local(10) + silence)
    assert finding.kind is AlertKind.DEVICE_OFFLINE and finding.severity is severity
    (back,) = rig.send(kind, local(10) + silence + M)
    assert back.kind is AlertKind.DEVICE_OFFLINE and back.auto_resolve


def test_status_offline_raises_at_once_and_online_resolves() -> None:
    rig = Rig()
    (finding,) = rig.status(GAS, local(10), online=False)
    assert finding.severity is Severity.HIGH
    assert rig.status(GAS, local(10) + S, online=False) == []  # retained again
    (back,) = rig.status(GAS, local(10, 5), online=True)
    assert back.auto_resolve


def test_battery_low_at_15_not_16_and_once_a_local_day() -> None:
    rig = Rig()
    assert rig.send(DOOR, local(10), battery=16) == []
    (finding,) = rig.send(DOOR, local(10, 1), battery=15)
    assert finding.kind is AlertKind.BATTERY_LOW and finding.severity is Severity.WARNING
    assert rig.send(DOOR, local(23, 59), battery=14) == []
    assert len(rig.send(DOOR, local(0, 1, day=1), battery=13)) == 1  # next local day
    (clear,) = rig.send(DOOR, local(9, day=1), battery=100)
    assert clear.kind is AlertKind.BATTERY_LOW
