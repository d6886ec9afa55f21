"""Tenancy (Issue 20 item 6) in the escalation: a centre's alerts reach its own
supervisors and its home's family, never another centre's supervisors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from eldercare.clock import ManualClock
from eldercare.domain import Home, Organisation, Resident, Role, User
from eldercare.store import Store
from tests.alerts.escalation_fixtures import DAUGHTER, SUPERVISOR, T0, make_world, provision

B_SUPERVISOR = "+8613900000077"
B_FAMILY = "+8613900000066"


@pytest.fixture
async def two_centres(store: Store) -> AsyncIterator[Store]:
    """tests/harness/postgres.py's store (both backends), with centre A as in the
    other escalation tests and centre B beside it."""
    await provision(store)
    await store.create_organisation(Organisation("bee", "Centre Bee"))
    await store.create_home(Home("hb", "Bee home", organisation_id="bee"))
    await store.create_resident(Resident("hb-r1", "hb", "Bumble"))
    await store.create_contact("hb", "Bee son", B_FAMILY, "zh-CN", 1)
    await store.create_user(
        User("bee-sup", "x", Role.SUPERVISOR, B_SUPERVISOR, organisation_id="bee")
    )
    yield store


async def test_supervisors_of_another_centre_are_never_told(two_centres: Store) -> None:
    world = make_world(two_centres, ManualClock(T0))
    await world.raise_(home_id="h1", key="a")
    await world.raise_(home_id="hb", key="b")
    await world.until(16 * 60)
    told = {s.to for s in world.channel.sent}
    assert {DAUGHTER, SUPERVISOR, B_FAMILY, B_SUPERVISOR} <= told
    for sent in world.channel.sent:
        about_b = "Bumble" in sent.body
        if sent.to in (B_SUPERVISOR, B_FAMILY):
            assert about_b, f"centre B's {sent.to} was told of A's alert: {sent.body}"
        else:
            assert not about_b, f"centre A's {sent.to} was told of B's alert: {sent.body}"
