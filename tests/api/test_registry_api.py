"""Provisioning through the API: homes, residents, devices, contacts, accounts."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from dashboard_api.context import AppContext
from eldercare.domain import Role
from eldercare.store import LivenessUpdate
from tests.api.conftest import PASSWORD, RaiseAlert, TokenFor, login


@pytest.fixture
async def supervisor(token_for: TokenFor) -> dict[str, str]:
    return await token_for(Role.SUPERVISOR)


async def test_home_crud(client: httpx.AsyncClient, supervisor: dict[str, str]) -> None:
    created = await client.post(
        "/api/v1/homes",
        json={"id": "home-7", "name": "Wang", "address": "7 Elm"},
        headers=supervisor,
    )
    assert created.status_code == 201
    # the service's time zone when none is given
    assert created.json() == {
        "id": "home-7",
        "name": "Wang",
        "address": "7 Elm",
        "timezone": "Europe/Berlin",
        "rules": {},
        "organisation_id": "default",  # the creator's care centre
    }
    changed = await client.patch(
        "/api/v1/homes/home-7", json={"timezone": "Asia/Tokyo"}, headers=supervisor
    )
    assert changed.json()["timezone"] == "Asia/Tokyo"
    assert changed.json()["name"] == "Wang"
    listed = (await client.get("/api/v1/homes", headers=supervisor)).json()
    assert [h["id"] for h in listed] == ["h1", "home-7"]
    assert (await client.delete("/api/v1/homes/home-7", headers=supervisor)).status_code == 204
    gone = await client.get("/api/v1/homes/home-7", headers=supervisor)
    assert gone.status_code == 404
    assert "home-7" in gone.json()["detail"]


async def test_home_validation_and_conflicts(
    client: httpx.AsyncClient, supervisor: dict[str, str]
) -> None:
    duplicate = await client.post(
        "/api/v1/homes", json={"id": "h1", "name": "x"}, headers=supervisor
    )
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]
    for body in [
        {"id": "has space", "name": "x"},  # ids go into MQTT topics
        {"id": "h2", "name": "x", "timezone": "Mars/Olympus"},
        {"id": "h2", "name": ""},
        {"id": "h2", "name": "x", "colour": "red"},  # a misspelt field is not ignored
    ]:
        response = await client.post("/api/v1/homes", json=body, headers=supervisor)
        assert response.status_code == 422, body
    null_name = await client.patch("/api/v1/homes/h1", json={"name": None}, headers=supervisor)
    assert null_name.status_code == 422
    missing = await client.patch("/api/v1/homes/nope", json={"name": "x"}, headers=supervisor)
    assert missing.status_code == 404


async def test_resident_and_device_crud_tell_the_gateway(
    client: httpx.AsyncClient, supervisor: dict[str, str], registry_changes: list[int]
) -> None:
    resident = {"id": "r1", "home_id": "h1", "name": "Zhang", "limits": {"hr_low": 45}}
    created = await client.post("/api/v1/residents", json=resident, headers=supervisor)
    assert created.status_code == 201
    assert created.json()["limits"] == {"hr_low": 45.0}
    band = {"id": "band-1", "home_id": "h1", "kind": "bed_band", "resident_id": "r1"}
    response = await client.post("/api/v1/devices", json=band, headers=supervisor)
    assert response.status_code == 201
    assert response.json()["location"] == ""
    before = len(registry_changes)
    moved = await client.patch(
        "/api/v1/devices/band-1", json={"location": "bedroom"}, headers=supervisor
    )
    assert moved.json()["location"] == "bedroom"
    assert len(registry_changes) == before + 1
    listed = await client.get("/api/v1/devices?home_id=h1", headers=supervisor)
    assert [d["id"] for d in listed.json()] == ["band-1"]
    in_use = await client.delete("/api/v1/residents/r1", headers=supervisor)
    assert in_use.status_code == 409
    assert "band-1" in in_use.json()["detail"]
    assert (await client.delete("/api/v1/devices/band-1", headers=supervisor)).status_code == 204
    assert (await client.delete("/api/v1/residents/r1", headers=supervisor)).status_code == 204
    assert (await client.get("/api/v1/devices/band-1", headers=supervisor)).status_code == 404
    assert len(registry_changes) == before + 3


async def test_device_rules(client: httpx.AsyncClient, supervisor: dict[str, str]) -> None:
    await client.post("/api/v1/homes", json={"id": "h2", "name": "Two"}, headers=supervisor)
    await client.post(
        "/api/v1/residents", json={"id": "r2", "home_id": "h2", "name": "Li"}, headers=supervisor
    )
    cases = [
        ({"id": "b", "home_id": "h1", "kind": "bed_band"}, "needs a resident_id"),
        ({"id": "b", "home_id": "h1", "kind": "bed_band", "resident_id": "r2"}, "lives in home h2"),
        ({"id": "b", "home_id": "h1", "kind": "bed_band", "resident_id": "ghost"}, "ghost"),
        ({"id": "d", "home_id": "nowhere", "kind": "door"}, "nowhere"),
        ({"id": "d", "home_id": "h1", "kind": "toaster"}, "sos_button"),
    ]
    for body, reason in cases:
        response = await client.post("/api/v1/devices", json=body, headers=supervisor)
        assert response.status_code == 422, body
        assert reason in str(response.json()["detail"]), response.text
    band = {"id": "b", "home_id": "h2", "kind": "bed_band", "resident_id": "r2"}
    assert (await client.post("/api/v1/devices", json=band, headers=supervisor)).status_code == 201
    unlinked = await client.patch(
        "/api/v1/devices/b", json={"resident_id": None}, headers=supervisor
    )
    assert unlinked.status_code == 422
    assert "needs a resident_id" in unlinked.json()["detail"]
    duplicate = await client.post("/api/v1/devices", json=band, headers=supervisor)
    assert duplicate.status_code == 409


async def test_contacts(client: httpx.AsyncClient, supervisor: dict[str, str]) -> None:
    son = {"home_id": "h1", "name": "Son", "phone": "+8613900000002", "priority": 2}
    daughter = {"home_id": "h1", "name": "Daughter", "phone": "+8613900000001", "language": "en"}
    first = await client.post("/api/v1/contacts", json=son, headers=supervisor)
    assert first.status_code == 201
    assert first.json()["language"] == "zh-CN"
    second = await client.post("/api/v1/contacts", json=daughter, headers=supervisor)
    listed = (await client.get("/api/v1/contacts?home_id=h1", headers=supervisor)).json()
    assert [c["name"] for c in listed] == ["Daughter", "Son"]  # priority 1 is called first
    contact_id = second.json()["id"]
    changed = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"priority": 3}, headers=supervisor
    )
    assert changed.json()["priority"] == 3
    for bad in [
        {**son, "phone": "13900000002"},  # not E.164
        {**son, "language": "fr"},
        {**son, "priority": 0},
    ]:
        response = await client.post("/api/v1/contacts", json=bad, headers=supervisor)
        assert response.status_code == 422, bad
    assert (
        await client.delete(f"/api/v1/contacts/{contact_id}", headers=supervisor)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/contacts/{contact_id}", headers=supervisor)
    ).status_code == 404


async def test_home_with_unresolved_alerts_cannot_be_deleted(
    client: httpx.AsyncClient, supervisor: dict[str, str], raise_alert: RaiseAlert
) -> None:
    alert = await raise_alert()
    refused = await client.delete("/api/v1/homes/h1", headers=supervisor)
    assert refused.status_code == 409
    assert "not resolved" in refused.json()["detail"]
    await client.post(
        f"/api/v1/alerts/{alert.id}/resolve", json={"outcome": "handled"}, headers=supervisor
    )
    assert (await client.delete("/api/v1/homes/h1", headers=supervisor)).status_code == 204


async def test_home_status_shows_each_device(
    client: httpx.AsyncClient, token_for: TokenFor, supervisor: dict[str, str], ctx: AppContext
) -> None:
    for body in [
        {"id": "sos-1", "home_id": "h1", "kind": "sos_button", "location": "hall"},
        {"id": "door-1", "home_id": "h1", "kind": "door"},
    ]:
        await client.post("/api/v1/devices", json=body, headers=supervisor)
    seen = (ctx.clock.now() - timedelta(minutes=20)).replace(microsecond=0)
    await ctx.store.update_liveness(
        [LivenessUpdate("sos-1", last_seen=seen, battery=80, online=True)]
    )
    operator = await token_for(Role.OPERATOR)
    response = await client.get("/api/v1/homes/h1/status", headers=operator)
    assert response.status_code == 200
    devices = {d["device_id"]: d for d in response.json()["devices"]}
    assert devices["sos-1"]["online"] is True
    assert devices["sos-1"]["battery"] == 80
    assert devices["sos-1"]["last_seen"].startswith(seen.isoformat()[:19])
    assert devices["door-1"]["online"] is None  # has said nothing yet
    assert (await client.get("/api/v1/homes/nope/status", headers=operator)).status_code == 404


async def test_admin_manages_accounts(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for(Role.ADMIN)
    body = {
        "username": "nurse.li",
        "password": PASSWORD,
        "role": "operator",
        "phone": "+8613700000000",
    }
    created = await client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201
    assert created.json() == {
        "username": "nurse.li",
        "role": "operator",
        "phone": "+8613700000000",
        "organisation_id": "default",  # the creating admin's care centre
    }
    assert (await login(client, "nurse.li", PASSWORD)).status_code == 200
    listed = (await client.get("/api/v1/users", headers=admin)).json()
    assert "nurse.li" in [u["username"] for u in listed]
    assert all("password" not in str(u) for u in listed)

    duplicate = await client.post("/api/v1/users", json=body, headers=admin)
    assert duplicate.status_code == 409
    short = await client.post(
        "/api/v1/users", json={**body, "username": "x", "password": "short"}, headers=admin
    )
    assert short.status_code == 422

    changed = await client.patch(
        "/api/v1/users/nurse.li", json={"password": "a-new-password", "phone": None}, headers=admin
    )
    assert changed.json()["phone"] is None
    assert (await login(client, "nurse.li", PASSWORD)).status_code == 401
    assert (await login(client, "nurse.li", "a-new-password")).status_code == 200
    assert (await client.delete("/api/v1/users/nurse.li", headers=admin)).status_code == 204
    assert (await client.delete("/api/v1/users/nurse.li", headers=admin)).status_code == 404


async def test_the_last_admin_cannot_be_removed_or_demoted(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    admin = await token_for(Role.ADMIN)  # a second admin besides "admin"
    assert (await client.delete("/api/v1/users/admin", headers=admin)).status_code == 204
    last = await client.delete("/api/v1/users/admin-user", headers=admin)
    assert last.status_code == 409
    assert "last admin" in last.json()["detail"]
    demote = await client.patch(
        "/api/v1/users/admin-user", json={"role": "operator"}, headers=admin
    )
    assert demote.status_code == 409


async def test_device_source_is_set_changed_refused_and_shared_by_nobody(
    client: httpx.AsyncClient, supervisor: dict[str, str], registry_changes: list[int]
) -> None:
    z2m = {"type": "zigbee2mqtt", "topic": "zigbee2mqtt/hall_sos"}
    sos = {"id": "sos-1", "home_id": "h1", "kind": "sos_button", "source": z2m}
    created = await client.post("/api/v1/devices", json=sos, headers=supervisor)
    assert created.status_code == 201, created.text
    assert created.json()["source"] == z2m
    twin = {**sos, "id": "sos-2"}
    taken = await client.post("/api/v1/devices", json=twin, headers=supervisor)
    assert taken.status_code == 409 and "sos-1" in taken.json()["detail"]
    wild = {**twin, "source": {"type": "zigbee2mqtt", "topic": "zigbee2mqtt/#"}}
    refused = await client.post("/api/v1/devices", json=wild, headers=supervisor)
    assert refused.status_code == 422 and "wildcards" in refused.text
    before = len(registry_changes)
    esphome = {"type": "esphome", "node": "hall-sos", "objects": {"red_button": "action"}}
    changed = await client.patch(
        "/api/v1/devices/sos-1", json={"source": esphome}, headers=supervisor
    )
    assert changed.status_code == 200 and changed.json()["source"] == esphome
    assert len(registry_changes) == before + 1  # the gateway subscribes anew
    wrong_kind = await client.patch(
        "/api/v1/devices/sos-1", json={"kind": "water"}, headers=supervisor
    )
    assert wrong_kind.status_code == 422 and "not a field of a water" in wrong_kind.text
    native = await client.patch("/api/v1/devices/sos-1", json={"source": None}, headers=supervisor)
    assert native.json()["source"] is None
