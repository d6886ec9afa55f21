"""Resident records and the audit log (issue 15), on SQLite and on TimescaleDB.

A supervisor sees a resident's key-safe code and the view is in the audit log
(who, when, from which address); an operator sees it masked; a record goes in
and comes back out whole, bad fields are refused by name; alert actions and
account changes are audited; the CSV export has the same rows as the list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from eldercare.domain import Home, Resident, Role, User
from eldercare.store import Store, open_store
from tests.api.conftest import ADMIN, RaiseAlert, TokenFor

RECORD = {
    "date_of_birth": "1941-05-02",
    "conditions": ["type 2 diabetes", "mild dementia"],
    "medications": ["metformin 500 mg twice a day"],
    "allergies": ["penicillin"],
    "mobility": "walking_aid",
    "gp_name": "Dr Wang",
    "gp_phone": "+8613800138000",
    "hospital": "Ruijin Hospital",
    "language": "Mandarin",
    "dialect": "Shanghainese",
    "hearing": "hearing_aid",
    "key_safe_code": "4711",
    "entry_instructions": "Key safe left of the door, behind the plant.",
    "pets": "a small dog, friendly",
}


@pytest.fixture
async def store(store_url: str, hashes: dict[str, str]) -> AsyncIterator[Store]:
    """conftest's store, on each backend."""
    opened = await open_store(store_url)
    await opened.migrate()
    await opened.create_user(User(ADMIN[0], hashes[ADMIN[1]], Role.ADMIN))
    await opened.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    await opened.create_resident(Resident("r1", "h1", "Wang Fang"))
    try:
        yield opened
    finally:
        await opened.close()


URL = "/api/v1/residents/r1/record"


async def _audit(client: httpx.AsyncClient, headers: dict[str, str], **query: str) -> list[dict]:  # type: ignore[type-arg]
    response = await client.get("/api/v1/audit", params=query, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]  # type: ignore[type-arg]
    return items


async def test_a_supervisor_sees_the_key_safe_code_and_the_view_is_audited(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    put = await client.put(URL, json=RECORD, headers=sup)
    assert put.status_code == 200, put.text
    before = datetime.now(UTC) - timedelta(seconds=1)
    got = await client.get(URL, headers={**sup, "X-Forwarded-For": "203.0.113.9"})
    assert got.status_code == 200, got.text
    assert got.json()["key_safe_code"] == "4711"
    assert got.json()["key_safe_code_hidden"] is False
    entries = await _audit(client, sup)
    view = entries[0]
    assert view["action"] == "record.view_key_safe"
    assert view["target"] == "resident:r1"
    assert view["actor"] == "supervisor-user"
    assert (
        view["address"] == "127.0.0.1"
    )  # the peer: X-Forwarded-For from an untrusted peer is ignored
    assert before <= datetime.fromisoformat(view["at"]) <= datetime.now(UTC)
    assert [e["action"] for e in entries] == [
        "record.view_key_safe",  # the GET
        "record.view_key_safe",  # the PUT's answer showed it too
        "record.update",
    ]
    assert sorted(entries[2]["details"]["fields"]) == sorted(RECORD)
    assert "4711" not in str(entries)  # the code itself is never logged


async def test_an_operator_sees_the_code_masked_and_nothing_is_audited(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    assert (await client.put(URL, json=RECORD, headers=sup)).status_code == 200
    op = await token_for(Role.OPERATOR)
    got = await client.get(URL, headers=op)
    assert got.status_code == 200, got.text
    body = got.json()
    assert "4711" not in got.text
    assert body["key_safe_code"] == "••••"
    assert body["key_safe_code_hidden"] is True
    assert body["entry_instructions"] == RECORD["entry_instructions"]
    assert body["allergies"] == ["penicillin"]
    views = await _audit(client, sup, actor="operator-user")
    assert views == []
    refused = await client.put(URL, json=RECORD, headers=op)
    assert refused.status_code == 403
    assert (await client.get("/api/v1/audit", headers=op)).status_code == 403


async def test_a_record_round_trips_and_bad_fields_are_named(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    empty = await client.get(URL, headers=sup)
    assert empty.status_code == 200
    assert empty.json()["updated_at"] is None
    assert empty.json()["conditions"] == []
    assert empty.json()["key_safe_code"] is None
    put = await client.put(URL, json=RECORD, headers=sup)
    assert put.status_code == 200, put.text
    got = (await client.get(URL, headers=sup)).json()
    for key, value in RECORD.items():
        assert got[key] == value, key
    assert got["updated_by"] == "supervisor-user"
    # a whole replacement: left-out fields are emptied
    smaller = await client.put(URL, json={"language": "Cantonese"}, headers=sup)
    assert smaller.json()["language"] == "Cantonese"
    assert smaller.json()["key_safe_code"] is None
    assert smaller.json()["conditions"] == []

    for bad, field in (
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"mobility": "flying"}, "mobility"),
        ({"hearing": "loud"}, "hearing"),
        ({"gp_phone": "call me"}, "gp_phone"),
        ({"key_safe_code": "1"}, "key_safe_code"),
        ({"allergies": "penicillin"}, "allergies"),
        ({"conditions": [""]}, "conditions"),
        ({"blood_type": "A"}, "blood_type"),
    ):
        response = await client.put(URL, json=bad, headers=sup)
        assert response.status_code == 422, (bad, response.text)
        assert field in response.text, (bad, response.text)
        if field == "date_of_birth":
            assert "in the future" in response.text
    assert (await client.get(URL, headers=sup)).json()["language"] == "Cantonese"
    missing = await client.get("/api/v1/residents/nobody/record", headers=sup)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no resident 'nobody'"
    assert (
        await client.put("/api/v1/residents/nobody/record", json={}, headers=sup)
    ).status_code == 404


async def test_alert_actions_and_account_changes_are_audited(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    op = await token_for(Role.OPERATOR)
    admin = await token_for(Role.ADMIN)
    alert = await raise_alert(subject="r1")
    base = f"/api/v1/alerts/{alert.id}"
    assert (await client.post(f"{base}/acknowledge", headers=op)).status_code == 200
    assert (
        await client.post(f"{base}/dispatch", json={"responder": "Li"}, headers=op)
    ).status_code == 200
    assert (await client.post(f"{base}/arrive", headers=op)).status_code == 200
    resolved = await client.post(f"{base}/resolve", json={"outcome": "handled"}, headers=op)
    assert resolved.status_code == 200, resolved.text
    refused = await client.post(f"{base}/acknowledge", headers=op)
    assert refused.status_code == 409  # not a transition: not audited

    entries = await _audit(client, admin, actor="operator-user")
    assert [e["action"] for e in reversed(entries)] == [
        "alert.acknowledge",
        "alert.dispatch",
        "alert.arrive",
        "alert.resolve",
    ]
    assert {e["target"] for e in entries} == {f"alert:{alert.id}"}
    assert entries[2]["details"] == {"responder": "Li"}
    assert entries[0]["details"] == {"outcome": "handled"}

    body = {"username": "new-op", "password": "correct-horse-battery-staple-42", "role": "operator"}
    assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
    patch = await client.patch("/api/v1/users/new-op", json={"role": "supervisor"}, headers=admin)
    assert patch.status_code == 200, patch.text
    assert (await client.delete("/api/v1/users/new-op", headers=admin)).status_code == 204
    users = await _audit(client, admin, actor="admin-user")
    assert [(e["action"], e["target"]) for e in reversed(users)] == [
        ("user.create", "user:new-op"),
        ("user.update", "user:new-op"),
        ("user.delete", "user:new-op"),
    ]
    assert users[1]["details"] == {"fields": ["role"]}
    assert "correct-horse" not in str(users)


async def test_the_csv_export_has_the_rows_of_the_list(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    assert (await client.put(URL, json=RECORD, headers=sup)).status_code == 200
    assert (await client.get(URL, headers=sup)).status_code == 200
    listed = await _audit(client, sup)
    exported = await client.get("/api/v1/audit", params={"format": "csv"}, headers=sup)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["id"]) for r in rows] == [e["id"] for e in listed]
    assert [r["action"] for r in rows] == [e["action"] for e in listed]
    assert [r["actor"] for r in rows] == [e["actor"] for e in listed]
    assert [r["address"] for r in rows] == [e["address"] for e in listed]
    assert [datetime.fromisoformat(r["at"]) for r in rows] == [
        datetime.fromisoformat(e["at"]) for e in listed
    ]


async def test_the_audit_filters(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    sup = await token_for(Role.SUPERVISOR)
    assert (await client.put(URL, json=RECORD, headers=sup)).status_code == 200
    everything = await _audit(client, sup)
    assert len(everything) == 2
    newest = datetime.fromisoformat(everything[0]["at"])
    assert len(await _audit(client, sup, since=(newest + timedelta(seconds=1)).isoformat())) == 0
    assert len(await _audit(client, sup, until=newest.isoformat())) <= 1
    assert len(await _audit(client, sup, actor="somebody-else")) == 0
    page = await client.get("/api/v1/audit", params={"limit": 1}, headers=sup)
    assert len(page.json()["items"]) == 1
    nxt = await client.get(
        "/api/v1/audit", params={"limit": 1, "cursor": page.json()["next_cursor"]}, headers=sup
    )
    assert nxt.json()["items"][0]["id"] == everything[1]["id"]
    bad = await client.get(
        "/api/v1/audit", params={"since": "2025-01-02", "until": "2025-01-01"}, headers=sup
    )
    assert bad.status_code == 422
    assert "until" in bad.text
    assert (
        await client.get("/api/v1/audit", params={"format": "xml"}, headers=sup)
    ).status_code == 422
    # read-only: no route changes or removes an entry
    for method in ("PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/api/v1/audit", headers=sup)).status_code == 405
