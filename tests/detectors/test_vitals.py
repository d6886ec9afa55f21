"""Vitals rules: sustained medians over 60 s, never one sample; breathing stopped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eldercare.domain import AlertKind, DeviceKind, Severity
from tests.detectors.rig import Rig, local

T0 = local(2)
S = timedelta(seconds=1)


def _kinds(rig: Rig) -> list[AlertKind]:
    return [f.kind for f in rig.findings()]


def test_heart_rate_step_alarms_once_it_holds_the_median_not_before() -> None:
    rig = Rig()
    rig.vitals(T0, 60, hr=70, rr=14)
    rig.vitals(T0 + 60 * S, 30, hr=35, rr=14)  # 30 low samples: 31 normal still in the window
    assert rig.findings() == []
    (finding,) = rig.vitals(T0 + 90 * S, 1, hr=35, rr=14)  # the 31st: the median is low
    assert finding.kind is AlertKind.HEART_RATE_LOW
    assert finding.severity is Severity.CRITICAL
    assert finding.subject == "h1-r1"
    assert finding.at == T0 + 90 * S
    assert finding.details["median"] == 35
    rig.vitals(T0 + 91 * S, 60, hr=35, rr=14)
    assert len(rig.findings()) == 1  # one episode, one finding


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"hr": 39.9, "rr": 14}, AlertKind.HEART_RATE_LOW),
        ({"hr": 130.1, "rr": 14}, AlertKind.HEART_RATE_HIGH),
        ({"hr": 70, "rr": 8}, AlertKind.RESPIRATION_LOW),
        ({"hr": 70, "rr": 25}, AlertKind.RESPIRATION_HIGH),
    ],
)
def test_just_over_each_threshold_alarms(fields: dict[str, float], kind: AlertKind) -> None:
    rig = Rig()
    rig.vitals(T0, 120, **fields)
    assert _kinds(rig) == [kind]
    assert rig.findings()[0].at == T0 + 60 * S  # after one full window in bed


@pytest.mark.parametrize(
    "fields",
    [{"hr": 40, "rr": 14}, {"hr": 130, "rr": 14}, {"hr": 70, "rr": 8.1}, {"hr": 70, "rr": 24.9}],
)
def test_just_under_each_threshold_is_quiet(fields: dict[str, float]) -> None:
    rig = Rig()
    rig.vitals(T0, 300, **fields)
    assert rig.findings() == []


def test_single_outliers_never_alarm() -> None:
    rig = Rig()
    rig.vitals(T0, 90, hr=70, rr=14)
    rig.vitals(T0 + 90 * S, 1, hr=20, rr=40)
    rig.vitals(T0 + 91 * S, 30, hr=70, rr=14)
    rig.vitals(T0 + 121 * S, 1, hr=220, rr=3)
    rig.vitals(T0 + 122 * S, 1, hr=70, rr=0)  # one apnoea sample
    rig.vitals(T0 + 123 * S, 90, hr=70, rr=14)
    assert rig.findings() == []


def test_a_fresh_start_in_bed_needs_a_full_window() -> None:
    rig = Rig()
    rig.vitals(T0, 59, hr=30, rr=14)
    assert rig.findings() == []
    rig.vitals(T0 + 59 * S, 2, hr=30, rr=14)
    assert _kinds(rig) == [AlertKind.HEART_RATE_LOW]


def test_recovery_clears_on_the_timeline_and_a_new_episode_raises_again() -> None:
    rig = Rig()
    rig.vitals(T0, 120, hr=35, rr=14)
    rig.vitals(T0 + 120 * S, 60, hr=70, rr=14)
    (clear,) = rig.clearances(AlertKind.HEART_RATE_LOW)
    assert not clear.auto_resolve  # about a person: people close it
    rig.vitals(T0 + 180 * S, 60, hr=35, rr=14)
    assert _kinds(rig) == [AlertKind.HEART_RATE_LOW, AlertKind.HEART_RATE_LOW]
    keys = {f.source_key for f in rig.findings()}
    assert len(keys) == 2


def test_out_of_bed_samples_are_not_judged() -> None:
    rig = Rig()
    rig.vitals(T0, 120, hr=20, rr=0, in_bed=False)
    assert rig.findings() == []


def test_personal_limits_override_the_defaults() -> None:
    rig = Rig(limits={"hr_low": 50})
    rig.vitals(T0, 120, hr=45, rr=14)
    assert _kinds(rig) == [AlertKind.HEART_RATE_LOW]
    other = Rig(rules={"hr_low": 50}, limits={"hr_low": 42})  # resident wins over home
    other.vitals(T0, 120, hr=45, rr=14)
    assert other.findings() == []


def test_breathing_stopped_after_20_s_not_19() -> None:
    rig = Rig()
    rig.vitals(T0, 60, hr=60, rr=14)
    rig.vitals(T0 + 60 * S, 20, hr=60, rr=0)  # 0 .. 19 s: not yet
    rig.vitals(T0 + 80 * S, 30, hr=60, rr=14)
    assert rig.findings() == []
    rig.vitals(T0 + 110 * S, 21, hr=60, rr=0)  # 0 .. 20 s
    (finding,) = rig.findings()
    assert finding.kind is AlertKind.BREATHING_STOPPED
    assert finding.severity is Severity.CRITICAL
    assert finding.at == T0 + 130 * S
    rig.vitals(T0 + 131 * S, 5, hr=60, rr=13)
    (clear,) = rig.clearances(AlertKind.BREATHING_STOPPED)
    assert "breathing again" in clear.message


def test_rr_absent_while_hr_present_counts_as_no_breathing() -> None:
    rig = Rig()
    rig.vitals(T0, 25, hr=60, rr=None)
    assert [f.kind for f in rig.findings()] == [AlertKind.BREATHING_STOPPED]


def test_redelivered_and_late_samples_change_nothing() -> None:
    rig = Rig()
    for i in range(120):
        ts = T0 + i * S
        rig.send(DeviceKind.BED_BAND, ts, seq=i, hr=35, rr=14, in_bed=True)
        rig.send(DeviceKind.BED_BAND, ts, seq=i, hr=35, rr=14, in_bed=True)  # redelivered
    assert len(rig.findings()) == 1
    late = Rig()
    now = T0 + 3600 * S
    for i in range(120):  # an hour late: older than the window, stored but not judged
        late.send(DeviceKind.BED_BAND, T0 + i * S, now=now, hr=35, rr=14, in_bed=True)
    assert late.findings(AlertKind.HEART_RATE_LOW) == []


def test_window_median_is_numpys_median_for_odd_and_even_counts() -> None:
    import numpy as np

    from detectors.vitals import Window

    rng = np.random.default_rng(7)
    window = Window(capacity=4)
    for t in range(400):
        window.push(float(t), float(rng.integers(30, 140)) + float(rng.random()))
        window.evict_before(t - float(rng.integers(0, 70)))
        values = [window._v[i] for i in range(window.start, window.end)]
        assert window.median() == float(np.median(values)), (t, len(values))
