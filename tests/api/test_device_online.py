"""GET /api/v1/homes/{id}/status: `online` for devices that never publish a
status, from last seen against the supervision interval (DOMAIN.md: mains
devices offline after 15 min of silence, battery devices after 3 h)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from dashboard_api.context import AppContext
from eldercare.domain import Role
from eldercare.store import LivenessUpdate
from tests.api.conftest import TokenFor


async def _status(client: httpx.AsyncClient, token_for: TokenFor) -> dict[str, dict[str, object]]:
    operator = await token_for(Role.OPERATOR)
    response = await client.get("/api/v1/homes/h1/status", headers=operator)
    assert response.status_code == 200, response.text
    return {d["device_id"]: d for d in response.json()["devices"]}


async def test_online_follows_last_seen_when_no_status_was_received(
    client: httpx.AsyncClient, token_for: TokenFor, ctx: AppContext
) -> None:
    supervisor = await token_for(Role.SUPERVISOR)
    await client.post(
        "/api/v1/residents", json={"id": "r1", "home_id": "h1", "name": "Li"}, headers=supervisor
    )
    devices = [
        {"id": "band-fresh", "kind": "bed_band", "resident_id": "r1"},  # mains: 15 min
        {"id": "band-stale", "kind": "bed_band", "resident_id": "r1"},
        {"id": "door-quiet", "kind": "door"},  # battery: 3 h
        {"id": "door-gone", "kind": "door"},
        {"id": "water-new", "kind": "water"},  # never said anything
    ]
    for body in devices:
        created = await client.post(
            "/api/v1/devices", json={"home_id": "h1", **body}, headers=supervisor
        )
        assert created.status_code == 201, created.text
    now = ctx.clock.now()
    await ctx.store.update_liveness(
        [
            LivenessUpdate("band-fresh", last_seen=now - timedelta(seconds=5)),
            LivenessUpdate("band-stale", last_seen=now - timedelta(minutes=16)),
            LivenessUpdate("door-quiet", last_seen=now - timedelta(hours=2)),
            LivenessUpdate("door-gone", last_seen=now - timedelta(hours=3, minutes=1)),
        ]
    )
    found = await _status(client, token_for)
    assert {k: v["online"] for k, v in found.items()} == {
        "band-fresh": True,
        "band-stale": False,
        "door-quiet": True,
        "door-gone": False,
        "water-new": None,
    }
    assert found["band-fresh"]["online_basis"] == "last_seen"
    assert found["band-fresh"]["offline_after_s"] == 15 * 60
    assert found["door-quiet"]["offline_after_s"] == 3 * 3600


async def test_status_topic_and_silence_together(
    client: httpx.AsyncClient, token_for: TokenFor, ctx: AppContext
) -> None:
    """A last will says offline at once; a retained `online` long ago does not
    make a silent device online (as device_offline judges it)."""
    supervisor = await token_for(Role.SUPERVISOR)
    for body in [
        {"id": "sos-will", "kind": "sos_button"},
        {"id": "gas-silent", "kind": "gas"},
        {"id": "gas-said-online", "kind": "gas"},
    ]:
        await client.post("/api/v1/devices", json={"home_id": "h1", **body}, headers=supervisor)
    now = ctx.clock.now()
    await ctx.store.update_liveness(
        [
            LivenessUpdate("sos-will", last_seen=now - timedelta(seconds=3), online=False),
            LivenessUpdate("gas-silent", last_seen=now - timedelta(minutes=30), online=True),
            LivenessUpdate("gas-said-online", online=True),
        ]
    )
    found = await _status(client, token_for)
    assert (found["sos-will"]["online"], found["sos-will"]["online_basis"]) == (False, "status")
    assert (found["gas-silent"]["online"], found["gas-silent"]["online_basis"]) == (
        False,
        "last_seen",
    )
    assert found["gas-said-online"]["online"] is True


async def test_home_heartbeat_rules_change_the_limit(
    client: httpx.AsyncClient, token_for: TokenFor, ctx: AppContext
) -> None:
    supervisor = await token_for(Role.SUPERVISOR)
    patched = await client.patch(
        "/api/v1/homes/h1", json={"rules": {"heartbeat_battery_min": 10}}, headers=supervisor
    )
    assert patched.status_code == 200, patched.text
    await client.post(
        "/api/v1/devices",
        json={"id": "door-1", "home_id": "h1", "kind": "door"},
        headers=supervisor,
    )
    await ctx.store.update_liveness(
        [LivenessUpdate("door-1", last_seen=ctx.clock.now() - timedelta(minutes=31))]
    )
    found = await _status(client, token_for)
    assert found["door-1"]["online"] is False  # 3 x 10 min
    assert found["door-1"]["offline_after_s"] == 30 * 60
