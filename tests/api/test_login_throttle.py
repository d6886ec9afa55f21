"""Failed logins over real HTTP, from several client addresses: wrong passwords
slow down the address that sent them, for that username, with growing delays;
they never lock the account for everyone; an admin can unlock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from tests.api.conftest import ADMIN
from tests.api.served import client_from, served
from tests.api.test_live_and_limits import T0

ATTACKER, NURSE = "127.0.0.2", "127.0.0.3"


@pytest.fixture
async def api(ctx: AppContext) -> AsyncIterator[tuple[str, ManualClock]]:
    clock = ManualClock(T0)
    ctx.clock = clock
    async with served(ctx) as url:
        yield url, clock


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


async def test_wrong_passwords_from_one_address_do_not_lock_out_another(
    api: tuple[str, ManualClock],
) -> None:
    url, _ = api
    async with client_from(url, ATTACKER) as attacker, client_from(url, NURSE) as nurse:
        for _ in range(5):
            assert (await login(attacker, ADMIN[0], "wrong-password")).status_code == 401
        refused = await login(attacker, *ADMIN)  # the attacker's address waits, even if right
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "15"
        assert "for admin from 127.0.0.2" in refused.json()["detail"]
        assert (await login(nurse, *ADMIN)).status_code == 200  # anyone else logs in


async def test_delays_grow_with_each_failure_and_the_right_password_clears_them(
    api: tuple[str, ManualClock],
) -> None:
    url, clock = api
    async with client_from(url, ATTACKER) as client:
        for _ in range(4):  # four tries cost nothing
            assert (await login(client, ADMIN[0], "wrong-password")).status_code == 401
        waits = []
        for _ in range(8):
            assert (await login(client, ADMIN[0], "wrong-password")).status_code == 401
            refused = await login(client, ADMIN[0], "wrong-password")
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
            clock.advance(waits[-1] - 1)
            assert (await login(client, *ADMIN)).status_code == 429  # not yet
            clock.advance(1)
        assert waits == [15, 30, 60, 120, 240, 480, 900, 900]
        assert (await login(client, *ADMIN)).status_code == 200
        assert (await login(client, ADMIN[0], "wrong-password")).status_code == 401  # cleared


async def test_an_admin_unlocks_a_throttled_account(
    api: tuple[str, ManualClock], ctx: AppContext
) -> None:
    url, clock = api
    async with client_from(url, ATTACKER) as staff, client_from(url, NURSE) as admin_desk:
        for wait in (0, 0, 0, 0, 15, 30, 0):  # seven failures, each after its wait
            assert (await login(staff, ADMIN[0], "wrong-password")).status_code == 401
            clock.advance(wait)
        assert (await login(staff, *ADMIN)).headers["Retry-After"] == "60"
        token = (await login(admin_desk, *ADMIN)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        unlocked = await admin_desk.post("/api/v1/users/admin/unlock", headers=headers)
        assert unlocked.status_code == 200, unlocked.text
        assert unlocked.json() == {"username": "admin", "addresses": [ATTACKER]}
        assert (await login(staff, *ADMIN)).status_code == 200
        missing = await admin_desk.post("/api/v1/users/nobody/unlock", headers=headers)
        assert missing.status_code == 404


async def test_one_address_guessing_many_usernames_is_slowed_down_alone(
    api: tuple[str, ManualClock],
) -> None:
    url, clock = api
    async with client_from(url, ATTACKER) as attacker, client_from(url, NURSE) as nurse:
        for i in range(20):  # 20 names, one try each
            assert (await login(attacker, f"guess{i}", "nope-nope")).status_code == 401
        assert (await login(attacker, "guess-more", "nope-nope")).status_code == 401
        refused = await login(attacker, *ADMIN)
        assert refused.status_code == 429
        assert "from 127.0.0.2" in refused.json()["detail"]
        assert (await login(nurse, *ADMIN)).status_code == 200
        clock.advance(int(refused.headers["Retry-After"]))
        assert (await login(attacker, *ADMIN)).status_code == 200
