"""Sessions over real HTTP (uvicorn on a free port): logout, revocation by a
password or role change or deletion, open live streams closed when access ends,
renewal, and tokens that outlive a restart of the app on the same store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import jwt
import pytest

from dashboard_api.context import AppContext
from eldercare.domain import Role
from eldercare.store import Store
from tests.api.conftest import ADMIN, PASSWORD, SECRET, TokenFor
from tests.api.served import served


@pytest.fixture
async def api(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    ctx.sse_keepalive_s = 0.2
    async with served(ctx) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> str:
    response = await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def stream_until_closed(
    client: httpx.AsyncClient, token: str, opened: asyncio.Event
) -> list[str]:
    """Read the live stream until the server closes it; the event names seen."""
    names = []
    async with client.stream("GET", f"/api/v1/alerts/stream?access_token={token}") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
                opened.set()
    return names


async def test_logout_ends_this_session_and_closes_its_open_stream(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    await token_for(Role.OPERATOR)
    tablet = await log_in(api, "operator-user", PASSWORD)
    wall_screen = await log_in(api, "operator-user", PASSWORD)  # same account, another login
    opened, wall_opened = asyncio.Event(), asyncio.Event()
    reading = asyncio.create_task(stream_until_closed(api, tablet, opened))
    wall = asyncio.create_task(stream_until_closed(api, wall_screen, wall_opened))
    await asyncio.wait_for(asyncio.gather(opened.wait(), wall_opened.wait()), 5)

    assert (await api.post("/api/v1/auth/logout", headers=bearer(tablet))).status_code == 204
    assert await asyncio.wait_for(reading, 5) == ["ready", "ended"]  # closed by the server
    refused = await api.get("/api/v1/alerts", headers=bearer(tablet))
    assert refused.status_code == 401
    assert "session has ended" in refused.json()["detail"]
    assert (await api.post("/api/v1/auth/renew", headers=bearer(tablet))).status_code == 401
    # the wall screen's session goes on, stream and all
    assert (await api.get("/api/v1/alerts", headers=bearer(wall_screen))).status_code == 200
    assert not wall.done()
    wall.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await wall


async def test_logout_everywhere_ends_every_session_of_the_account(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    await token_for(Role.OPERATOR)
    first = await log_in(api, "operator-user", PASSWORD)
    second = await log_in(api, "operator-user", PASSWORD)
    opened = asyncio.Event()
    reading = asyncio.create_task(stream_until_closed(api, second, opened))
    await asyncio.wait_for(opened.wait(), 5)
    done = await api.post("/api/v1/auth/logout?everywhere=true", headers=bearer(first))
    assert done.status_code == 204
    assert await asyncio.wait_for(reading, 5) == ["ready", "ended"]
    for token in (first, second):
        assert (await api.get("/api/v1/alerts", headers=bearer(token))).status_code == 401
    assert (await api.get("/api/v1/alerts", headers=await token_for(Role.ADMIN))).is_success


@pytest.mark.parametrize(
    ("method", "change"),
    [
        ("PATCH", {"password": "a-brand-new-pass-2026"}),
        ("PATCH", {"role": "supervisor"}),
        ("DELETE", None),
    ],
    ids=["password changed", "role changed", "deleted"],
)
async def test_an_admin_change_ends_the_accounts_tokens_and_streams(
    api: httpx.AsyncClient, token_for: TokenFor, method: str, change: dict[str, str] | None
) -> None:
    admin = await token_for(Role.ADMIN)
    await token_for(Role.OPERATOR)
    token = await log_in(api, "operator-user", PASSWORD)
    opened = asyncio.Event()
    reading = asyncio.create_task(stream_until_closed(api, token, opened))
    await asyncio.wait_for(opened.wait(), 5)

    done = await api.request(method, "/api/v1/users/operator-user", json=change, headers=admin)
    assert done.is_success, done.text
    assert await asyncio.wait_for(reading, 5) == ["ready", "ended"]
    assert (await api.get("/api/v1/alerts", headers=bearer(token))).status_code == 401
    if change and "password" in change:
        assert await log_in(api, "operator-user", change["password"])  # the new one works


async def test_a_revocation_by_another_instance_closes_the_stream_too(
    api: httpx.AsyncClient, token_for: TokenFor, store: Store
) -> None:
    await token_for(Role.OPERATOR)
    token = await log_in(api, "operator-user", PASSWORD)
    opened = asyncio.Event()
    reading = asyncio.create_task(stream_until_closed(api, token, opened))
    await asyncio.wait_for(opened.wait(), 5)
    await store.revoke_tokens("operator-user")  # straight in the store, as another instance
    assert await asyncio.wait_for(reading, 5) == ["ready", "ended"]  # at the next re-read


async def test_a_renewal_extends_the_session(api: httpx.AsyncClient, store: Store) -> None:
    admin = await store.get_user(ADMIN[0])
    soon = int(time.time()) + 30
    claims = {"sub": ADMIN[0], "ver": admin.token_version, "sid": "s1", "iat": 0, "exp": soon}
    ending = jwt.encode(claims, SECRET, algorithm="HS256")  # 30 s left
    renewed = await api.post("/api/v1/auth/renew", headers=bearer(ending))
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["expires_in"] == 3600
    renewed_claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert renewed_claims["exp"] >= soon - 30 + 3600
    assert renewed_claims["sid"] == "s1"  # the same session, renewed
    assert (await api.get("/api/v1/alerts", headers=bearer(body["access_token"]))).is_success
    expired = jwt.encode({**claims, "exp": int(time.time()) - 1}, SECRET, algorithm="HS256")
    refused = await api.post("/api/v1/auth/renew", headers=bearer(expired))
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


async def test_without_a_secret_key_tokens_outlive_a_restart_of_the_service(
    ctx: AppContext,
) -> None:
    """No ELDERCARE_SECRET_KEY: the key is generated once and kept in the store."""
    ctx.settings = replace(ctx.settings, secret_key=None)
    async with served(ctx) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        token = await log_in(client, *ADMIN)
        port = httpx.URL(url).port
    restarted = replace(ctx)  # a new app, new Auth, same store
    async with (
        served(restarted, port=port or 0) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        assert (await client.get("/api/v1/alerts", headers=bearer(token))).status_code == 200
