"""Issue 15 item 5 through the API: silences are created, listed and ended by
supervisors of the home's centre, with clear 4xx errors; incidents are listed
with their members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from eldercare.domain import AlertKind, Device, DeviceKind, Role
from eldercare.store import Store
from tests.api.conftest import RaiseAlert, TokenFor


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_a_supervisor_silences_a_device_lists_and_ends_it(
    client: httpx.AsyncClient, store: Store, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    await store.create_device(Device("h1-door", "h1", DeviceKind.DOOR, None, "front"))
    open_alert = await raise_alert(subject="h1-door", kind=AlertKind.DEVICE_OFFLINE)
    sup = await token_for(Role.SUPERVISOR)
    body = {"home_id": "h1", "device_id": "h1-door", "ends_at": _later(hours=2), "reason": "fix"}
    made = await client.post("/api/v1/silences", json=body, headers=sup)
    assert made.status_code == 201, made.text
    silence = made.json()
    assert silence["active"] and silence["created_by"] == "supervisor-user"

    op = await token_for(Role.OPERATOR)
    listed = await client.get("/api/v1/silences", headers=op)
    assert [s["id"] for s in listed.json()] == [silence["id"]]
    timeline = (await client.get(f"/api/v1/alerts/{open_alert.id}", headers=op)).json()
    assert "silenced" in [e["event"] for e in timeline["timeline"]]

    ended = await client.post(f"/api/v1/silences/{silence['id']}/end", headers=sup)
    assert ended.status_code == 200, ended.text
    assert not ended.json()["active"] and ended.json()["ended_by"] == "supervisor-user"
    again = await client.get(f"/api/v1/silences/{silence['id']}", headers=op)
    assert again.json()["ended_at"] == ended.json()["ended_at"]  # still listed, as ended


async def test_bad_silences_are_4xx_with_a_reason(
    client: httpx.AsyncClient, store: Store, token_for: TokenFor
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    cases = [
        ({"home_id": "h1", "ends_at": _later(minutes=-5)}, "not in the future"),
        ({"home_id": "nowhere", "ends_at": _later(hours=1)}, "no home 'nowhere'"),
        (
            {"home_id": "h1", "device_id": "ghost", "ends_at": _later(hours=1)},
            "no device 'ghost'",
        ),
        ({"home_id": "h1", "ends_at": "2099-01-01T00:00:00"}, "time zone"),
    ]
    for body, said in cases:
        response = await client.post("/api/v1/silences", json=body, headers=sup)
        assert response.status_code == 422, response.text
        assert said in response.json()["detail"], response.text
    missing = await client.post("/api/v1/silences/424242/end", headers=sup)
    assert missing.status_code == 404 and missing.json()["detail"] == "no silence 424242"
    op = await token_for(Role.OPERATOR)
    body = {"home_id": "h1", "ends_at": _later(hours=1)}
    assert (await client.post("/api/v1/silences", json=body, headers=op)).status_code == 403


async def test_incidents_are_listed_with_their_members(
    client: httpx.AsyncClient, store: Store, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    first = await raise_alert(kind=AlertKind.DEVICE_OFFLINE)
    second = await raise_alert(kind=AlertKind.DEVICE_OFFLINE)
    now = datetime.now(UTC)
    incident, _ = await store.open_incident("default", "device_offline", "status", now)
    await store.add_incident_members(incident.id, [first.id, second.id], now)
    op = await token_for(Role.OPERATOR)
    listed = (await client.get("/api/v1/incidents", headers=op)).json()
    assert [(i["id"], i["members"], sorted(i["member_ids"])) for i in listed] == [
        (incident.id, 2, sorted([first.id, second.id]))
    ]
    one = (await client.get(f"/api/v1/incidents/{incident.id}", headers=op)).json()
    assert [a["id"] for a in one["alerts"]] == [second.id, first.id]
    sup = await token_for(Role.SUPERVISOR)
    ended = await client.post(f"/api/v1/incidents/{incident.id}/end", headers=sup)
    assert ended.json()["ended_by"] == "supervisor-user"
    assert (await client.get("/api/v1/incidents", headers=op)).json() == []
    everything = (await client.get("/api/v1/incidents?status=all", headers=op)).json()
    assert [i["id"] for i in everything] == [incident.id]
