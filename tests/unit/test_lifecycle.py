"""The alert lifecycle: forward only, steps may be skipped, resolve needs an outcome."""

from __future__ import annotations

import pytest

from alerts.lifecycle import IllegalTransition, check_transition
from eldercare.domain import AlertStatus, Outcome

S = AlertStatus


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (S.OPEN, S.ACKNOWLEDGED),
        (S.OPEN, S.DISPATCHED),
        (S.OPEN, S.ON_SITE),
        (S.ACKNOWLEDGED, S.DISPATCHED),
        (S.DISPATCHED, S.ON_SITE),
        (S.ACKNOWLEDGED, S.ON_SITE),
    ],
)
def test_forward_moves_are_allowed(current: AlertStatus, wanted: AlertStatus) -> None:
    check_transition(1, current, wanted)


@pytest.mark.parametrize("current", [S.OPEN, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SITE])
def test_resolve_from_any_open_status_with_an_outcome(current: AlertStatus) -> None:
    check_transition(1, current, S.RESOLVED, Outcome.FALSE_ALARM)


def test_resolve_without_outcome_names_the_outcomes() -> None:
    with pytest.raises(IllegalTransition) as err:
        check_transition(7, S.ACKNOWLEDGED, S.RESOLVED)
    assert "outcome" in err.value.reason
    assert "false_alarm" in err.value.reason


@pytest.mark.parametrize(
    ("current", "wanted"),
    [(S.ACKNOWLEDGED, S.OPEN), (S.ON_SITE, S.ACKNOWLEDGED), (S.DISPATCHED, S.DISPATCHED)],
)
def test_backward_or_same_moves_are_refused(current: AlertStatus, wanted: AlertStatus) -> None:
    with pytest.raises(IllegalTransition) as err:
        check_transition(3, current, wanted)
    assert f"already {current.value}" in err.value.reason
    assert err.value.current is current


def test_nothing_moves_a_resolved_alert() -> None:
    with pytest.raises(IllegalTransition) as err:
        check_transition(9, S.RESOLVED, S.ACKNOWLEDGED)
    assert "already resolved" in err.value.reason
