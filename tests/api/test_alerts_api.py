"""Alerts through the API: listing, detail, staff actions, the live stream."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn

from alerts.escalation import EscalationEngine
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.domain import AlertKind, Home, Role, Severity
from tests.api.conftest import RaiseAlert, TokenFor


async def test_acknowledge_moves_the_alert_and_records_who(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    operator = await token_for(Role.OPERATOR)
    alert = await raise_alert()
    response = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "acknowledged"

    detail = (await client.get(f"/api/v1/alerts/{alert.id}", headers=operator)).json()
    assert detail["status"] == "acknowledged"
    events = [(e["event"], e["actor"]) for e in detail["timeline"]]
    assert events[0] == ("raised", None)
    assert ("acknowledged", "operator-user") in events


async def test_the_whole_response_from_dispatch_to_resolution(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    operator = await token_for(Role.OPERATOR)
    alert = await raise_alert()
    url = f"/api/v1/alerts/{alert.id}"
    dispatched = await client.post(
        f"{url}/dispatch", json={"responder": "Li Wei"}, headers=operator
    )
    assert dispatched.status_code == 200
    assert dispatched.json()["status"] == "dispatched"
    assert dispatched.json()["responder"] == "Li Wei"
    arrived = await client.post(f"{url}/arrive", headers=operator)
    assert arrived.json()["status"] == "on_site"
    resolved = await client.post(
        f"{url}/resolve", json={"outcome": "handled", "note": "helped up"}, headers=operator
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["outcome"] == "handled"

    timeline = (await client.get(url, headers=operator)).json()["timeline"]
    staff = [e for e in timeline if e["actor"] == "operator-user"]
    assert [e["event"] for e in staff] == ["dispatched", "on_site", "resolved"]
    assert staff[0]["details"]["responder"] == "Li Wei"
    assert staff[2]["details"]["note"] == "helped up"


async def test_detail_shows_family_notifications(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert, ctx: AppContext
) -> None:
    operator = await token_for(Role.OPERATOR)
    await ctx.store.create_contact("h1", "Daughter", "+8613800138000", "zh-CN", 1)
    alert = await raise_alert(kind=AlertKind.SOS)
    assert isinstance(ctx.delivery, EscalationEngine)
    await ctx.delivery.run_due()  # the service's loop does this every second
    timeline = (await client.get(f"/api/v1/alerts/{alert.id}", headers=operator)).json()["timeline"]
    (notified,) = [e for e in timeline if e["event"] == "notified"]
    assert notified["details"]["channel"] == "console"
    assert notified["details"]["recipient"] == "+8613800138000"
    assert notified["details"]["status"] == "printed"


async def test_illegal_transitions_are_409_with_a_reason(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    operator = await token_for(Role.OPERATOR)
    alert = await raise_alert()
    url = f"/api/v1/alerts/{alert.id}"

    no_outcome = await client.post(f"{url}/resolve", json={}, headers=operator)
    assert no_outcome.status_code == 409
    assert "outcome" in no_outcome.json()["detail"]

    await client.post(f"{url}/resolve", json={"outcome": "false_alarm"}, headers=operator)
    late = await client.post(f"{url}/acknowledge", headers=operator)
    assert late.status_code == 409
    assert "already resolved" in late.json()["detail"]
    again = await client.post(f"{url}/resolve", json={}, headers=operator)
    assert again.status_code == 409
    assert "already resolved" in again.json()["detail"]


async def test_going_back_is_409(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    operator = await token_for(Role.OPERATOR)
    alert = await raise_alert()
    await client.post(f"/api/v1/alerts/{alert.id}/arrive", headers=operator)
    response = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=operator)
    assert response.status_code == 409
    assert "on_site" in response.json()["detail"]


async def test_bad_bodies_are_422(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    operator = await token_for(Role.OPERATOR)
    alert = await raise_alert()
    url = f"/api/v1/alerts/{alert.id}"
    bad_outcome = await client.post(f"{url}/resolve", json={"outcome": "gone"}, headers=operator)
    assert bad_outcome.status_code == 422
    no_responder = await client.post(f"{url}/dispatch", json={}, headers=operator)
    assert no_responder.status_code == 422
    detail = (await client.get(url, headers=operator)).json()
    assert detail["status"] == "open"


async def test_unknown_alert_is_404(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    operator = await token_for(Role.OPERATOR)
    assert (await client.get("/api/v1/alerts/999", headers=operator)).status_code == 404
    response = await client.post("/api/v1/alerts/999/acknowledge", headers=operator)
    assert response.status_code == 404
    assert "999" in response.json()["detail"]


async def test_list_is_newest_first_and_filters(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert, ctx: AppContext
) -> None:
    operator = await token_for(Role.OPERATOR)
    await ctx.store.create_home(Home("h2", "Two"))
    old = await raise_alert(at=datetime.now(UTC) - timedelta(days=2))
    sos = await raise_alert(kind=AlertKind.SOS)
    water = await raise_alert(kind=AlertKind.WATER_LEAK, severity=Severity.HIGH)
    other_home = await raise_alert(home_id="h2")
    await client.post(f"/api/v1/alerts/{sos.id}/acknowledge", headers=operator)

    async def ids(query: str) -> list[int]:
        response = await client.get(f"/api/v1/alerts?{query}", headers=operator)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["items"]]

    assert await ids("") == [other_home.id, water.id, sos.id, old.id]
    assert await ids("status=acknowledged") == [sos.id]
    assert await ids("status=open,acknowledged&home_id=h1") == [water.id, sos.id, old.id]
    assert await ids("severity=high") == [water.id]
    assert await ids("severity=critical&severity=high&home_id=h2") == [other_home.id]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert old.id not in await ids(f"since={since.replace('+', '%2B')}")

    bad = await client.get("/api/v1/alerts?status=closed", headers=operator)
    assert bad.status_code == 422
    assert "closed" in bad.json()["detail"]


async def test_cursor_pages_through_every_alert_once(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    operator = await token_for(Role.OPERATOR)
    raised = [(await raise_alert()).id for _ in range(5)]
    seen: list[int] = []
    pages = 0
    url = "/api/v1/alerts?limit=2"
    while True:
        body = (await client.get(url, headers=operator)).json()
        pages += 1
        seen += [a["id"] for a in body["items"]]
        if body["next_cursor"] is None:
            break
        url = f"/api/v1/alerts?limit=2&cursor={body['next_cursor']}"
    assert seen == sorted(raised, reverse=True)
    assert pages == 3
    bad = await client.get("/api/v1/alerts?cursor=abc", headers=operator)
    assert bad.status_code == 422


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in time")


@asynccontextmanager
async def serving(ctx: AppContext) -> AsyncIterator[str]:
    """The app on a real uvicorn server on a free port (ASGITransport buffers streams)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(ctx), log_level="warning", lifespan="off", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        sock.close()


async def test_stream_sends_alert_changes_as_server_sent_events(
    ctx: AppContext, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    operator = await token_for(Role.OPERATOR)
    ctx.sse_keepalive_s = 0.2
    async with (
        serving(ctx) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=5) as http,
        http.stream("GET", "/api/v1/alerts/stream", headers=operator) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        async with asyncio.timeout(5):
            assert await anext(lines) == f"id: {ctx.bus.epoch}-0"  # subscribed; nothing yet
            assert await anext(lines) == "event: ready"
            assert await anext(lines) == "data: {}"
            assert await anext(lines) == ""
            assert await anext(lines) == ": keep-alive"  # idle: a comment keeps it open
            alert = await raise_alert(kind=AlertKind.SOS)
            event: list[str] = []
            while (line := await anext(lines)) != "" or not event:
                if line and not line.startswith(":"):
                    event.append(line)
        assert event[0].startswith("id: ")
        assert event[1] == "event: alert"
        data = json.loads(event[2].removeprefix("data: "))
        assert data["id"] == alert.id
        assert data["change"] == "raised"
        assert data["kind"] == "sos"
        assert data["status"] == "open"
        assert ctx.bus.watchers == 1
    await wait_until(lambda: ctx.bus.watchers == 0)  # the client left: the server stops watching
