"""Responders and the duty roster over the API (Issue 15 item 2): who is on duty
now, free or on an alert; claiming and assigning an alert, on its timeline and
on the live stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from dashboard_api.context import AppContext
from eldercare.domain import Role
from tests.api.conftest import RaiseAlert, TokenFor


async def test_on_duty_free_or_busy_and_a_claim_on_the_timeline(
    client: httpx.AsyncClient, ctx: AppContext, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    supervisor = await token_for(Role.SUPERVISOR)
    operator = await token_for(Role.OPERATOR)
    now = datetime.now(UTC)
    for who, start, hours in (
        ("operator-user", now - timedelta(hours=1), 8),
        ("supervisor-user", now - timedelta(hours=1), 8),
        ("operator-user", now + timedelta(hours=12), 8),  # tomorrow: not on duty yet
    ):
        body = {
            "username": who,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=hours)).isoformat(),
        }
        made = await client.post("/api/v1/roster/shifts", json=body, headers=supervisor)
        assert made.status_code == 201, made.text
    roster = (await client.get("/api/v1/roster", headers=operator)).json()
    assert [(r["username"], r["free"]) for r in roster["on_duty"]] == [
        ("operator-user", True),
        ("supervisor-user", True),
    ]
    assert len(roster["shifts"]) == 3

    alert = await raise_alert()
    async with ctx.bus.watch() as queue:
        claimed = await client.post(f"/api/v1/alerts/{alert.id}/claim", headers=operator)
        assert claimed.status_code == 200, claimed.text
        event = await queue.get()
    assert event is not None and event.change == "assigned" and event.alert.id == alert.id
    assert claimed.json()["username"] == "operator-user"
    roster = (await client.get("/api/v1/roster", headers=operator)).json()
    assert [(r["username"], r["free"], r["alerts"]) for r in roster["on_duty"]] == [
        ("operator-user", False, [alert.id]),
        ("supervisor-user", True, []),
    ]
    given = await client.post(
        f"/api/v1/alerts/{alert.id}/assign",
        json={"username": "supervisor-user"},
        headers=supervisor,
    )
    assert given.status_code == 200, given.text
    got = (await client.get(f"/api/v1/alerts/{alert.id}/assignment", headers=operator)).json()
    assert (got["username"], got["assigned_by"]) == ("supervisor-user", "supervisor-user")
    detail = (await client.get(f"/api/v1/alerts/{alert.id}", headers=operator)).json()
    assigned = [(e["actor"], e["details"]) for e in detail["timeline"] if e["event"] == "assigned"]
    assert assigned == [
        ("operator-user", {"responder": "operator-user"}),
        ("supervisor-user", {"responder": "supervisor-user"}),
    ]
    log = (await client.get("/api/v1/audit", headers=supervisor)).json()["items"]
    assert [(e["actor"], e["action"], e["target"], e["details"].get("responder")) for e in log] == [
        ("supervisor-user", "alert.assign", f"alert:{alert.id}", "supervisor-user"),
        ("operator-user", "alert.claim", f"alert:{alert.id}", "operator-user"),
        ("supervisor-user", "roster.add_shift", "shift:3", None),
        ("supervisor-user", "roster.add_shift", "shift:2", None),
        ("supervisor-user", "roster.add_shift", "shift:1", None),
    ]  # exactly the staff actions done, newest first
    assert {e["address"] for e in log} == {"127.0.0.1"}


async def test_bad_shifts_and_assignments_are_refused_with_a_reason(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    supervisor = await token_for(Role.SUPERVISOR)
    operator = await token_for(Role.OPERATOR)
    now = datetime.now(UTC)

    async def shift(username: str, hours: float) -> httpx.Response:
        body = {
            "username": username,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=hours)).isoformat(),
        }
        return await client.post("/api/v1/roster/shifts", json=body, headers=supervisor)

    backwards = await shift("operator-user", -1)
    assert backwards.status_code == 422 and "end after" in backwards.json()["detail"]
    assert (await shift("operator-user", 30)).status_code == 422
    nobody = await shift("nobody", 1)
    assert nobody.status_code == 422 and "no account 'nobody'" in nobody.json()["detail"]
    refused = await client.post("/api/v1/roster/shifts", json={}, headers=operator)
    assert refused.status_code == 403  # an operator does not make the roster
    alert = await raise_alert()
    to_nobody = await client.post(
        f"/api/v1/alerts/{alert.id}/assign", json={"username": "nobody"}, headers=supervisor
    )
    assert to_nobody.status_code == 422
    await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=operator)
    await client.post(
        f"/api/v1/alerts/{alert.id}/resolve", json={"outcome": "handled"}, headers=operator
    )
    late = await client.post(f"/api/v1/alerts/{alert.id}/claim", headers=operator)
    assert late.status_code == 409 and "resolved" in late.json()["detail"]
