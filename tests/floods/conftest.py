"""Fixtures of the flood and silence tests: the local Twilio look-alike and a
care centre of provisioned homes on each store backend (tests/floods/world.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from eldercare.store import Store
from simulators.twilio_server import TwilioServer
from tests.floods.world import AUTH_TOKEN, Centre, care_centre, new_account, provision_homes


@pytest.fixture
def account_sid() -> str:
    return new_account()


@pytest.fixture
async def twilio(account_sid: str) -> AsyncIterator[TwilioServer]:
    async with TwilioServer(account_sid, AUTH_TOKEN, callback_interval=0.01) as server:
        yield server


@pytest.fixture
async def centre(store: Store, twilio: TwilioServer, account_sid: str) -> AsyncIterator[Centre]:
    """300 homes on the store fixture's backends (tests/harness/postgres.py)."""
    await provision_homes(store, 300)
    async with care_centre(store, twilio, account_sid) as c:
        yield c
