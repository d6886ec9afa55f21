"""Store contract for the duty roster and alert assignments (Issue 15 item 2),
on SQLite and on TimescaleDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eldercare.domain import DEFAULT_ORGANISATION, AlertStatus, Outcome, Role, User
from eldercare.roster import Assignment, Shift
from eldercare.store import AlertFilter, NotFound, StatusUpdate, Store
from tests.store.test_contract_tenancy import T0, two_centres

A = DEFAULT_ORGANISATION


async def test_shifts_are_kept_per_centre_and_listed_until_they_end(store: Store) -> None:
    await two_centres(store)
    await store.create_user(User("sup", "x", Role.SUPERVISOR, "+8613800000009"))
    night = await store.add_shift(Shift(A, "sup", T0, T0 + timedelta(hours=8)))
    day = await store.add_shift(
        Shift(A, "ha-op", T0 + timedelta(hours=8), T0 + timedelta(hours=16))
    )
    await store.add_shift(Shift("b", "hb-op", T0, T0 + timedelta(hours=8)))
    assert night.id is not None and night.starts_at == T0
    assert [s.username for s in await store.list_shifts(A, T0)] == ["sup", "ha-op"]
    assert await store.list_shifts(A, T0 + timedelta(hours=8)) == [day]
    assert [s.username for s in await store.list_shifts("b", T0)] == ["hb-op"]
    with pytest.raises(NotFound):
        await store.delete_shift(night.id, "b")  # another centre's shift is not there
    await store.delete_shift(night.id, A)
    assert await store.list_shifts(A, T0) == [day]
    with pytest.raises(NotFound):
        await store.delete_shift(night.id, A)


async def test_an_assignment_is_replaced_and_only_active_alerts_count(store: Store) -> None:
    await two_centres(store)
    (alert,) = [
        a for a in await store.list_alerts(AlertFilter(organisation_id=A)) if a.home_id == "ha"
    ]
    assert await store.get_assignment(alert.id) is None
    await store.assign_alert(Assignment(alert.id, "ha-op", T0, "ha-op"))
    later = Assignment(alert.id, "sup", T0 + timedelta(seconds=5), "boss")
    await store.assign_alert(later)
    assert await store.get_assignment(alert.id) == later
    assert await store.active_assignments(A) == [later]
    assert await store.active_assignments("b") == []
    await store.set_alert_status(
        StatusUpdate(
            alert.id,
            AlertStatus.OPEN,
            AlertStatus.RESOLVED,
            T0 + timedelta(minutes=1),
            "sup",
            outcome=Outcome.FALSE_ALARM,
        )
    )
    assert await store.active_assignments(A) == []
