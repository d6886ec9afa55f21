"""Response protocols, ticks, notes, calls and the shift handover (Issue 15 items
3, 4 and 6), through the API over a real store, on SQLite and on TimescaleDB."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerts.protocols import load_default_protocols
from dashboard_api.context import AppContext
from eldercare.domain import (
    Alert,
    AlertKind,
    AlertStatus,
    Device,
    DeviceKind,
    Finding,
    Home,
    Organisation,
    Outcome,
    Resident,
    Role,
    Severity,
    User,
)
from eldercare.store import LivenessUpdate, StatusUpdate, Store, open_store
from tests.api.conftest import ADMIN, PASSWORD, TokenFor, login

_keys = itertools.count(1)


@pytest.fixture
async def store(store_url: str, hashes: dict[str, str]) -> AsyncIterator[Store]:
    """conftest's store, on each backend."""
    opened = await open_store(store_url)
    await opened.migrate()
    await opened.create_user(User(ADMIN[0], hashes[ADMIN[1]], Role.ADMIN))
    await opened.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    await opened.create_resident(Resident("r-a", "h1", "Anna Cao"))
    await opened.create_resident(Resident("r-b", "h1", "Bo Cao"))
    try:
        yield opened
    finally:
        await opened.close()


async def _raise(
    ctx: AppContext,
    kind: AlertKind = AlertKind.FALL,
    *,
    resident: str | None = "r-a",
    device: str | None = None,
    at: datetime | None = None,
    severity: Severity = Severity.CRITICAL,
) -> Alert:
    n = next(_keys)
    change = await ctx.alerts.handle_finding(
        Finding(
            home_id="h1",
            subject=resident or device or "h1",
            kind=kind,
            severity=severity,
            at=at or datetime.now(UTC),
            source_key=f"proto-test:{n}",
            message=f"alert {n}",
            device_id=device,
            resident_id=resident,
        )
    )
    assert change is not None
    return change.alert


async def _timeline(client: httpx.AsyncClient, headers: dict[str, str], alert_id: int) -> Any:
    response = await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["timeline"]


def test_every_alert_kind_has_a_default_protocol() -> None:
    protocols = load_default_protocols()
    assert set(protocols) == set(AlertKind)
    fall = [s.id for s in protocols[AlertKind.FALL]]
    assert fall[:3] == ["call_resident", "call_back", "dispatch"]
    assert "120" in protocols[AlertKind.FALL][3].text["zh-CN"]
    assert any("119" in s.text["en"] for s in protocols[AlertKind.GAS_LEAK])


async def test_a_ticked_step_is_on_the_timeline_with_who_and_when(
    client: httpx.AsyncClient, ctx: AppContext, token_for: TokenFor
) -> None:
    op = await token_for(Role.OPERATOR)
    alert = await _raise(ctx)
    shown = await client.get(f"/api/v1/alerts/{alert.id}/protocol", headers=op)
    assert shown.status_code == 200, shown.text
    assert shown.json()["source"] == "default"
    steps = shown.json()["steps"]
    assert [s["id"] for s in steps] == [s.id for s in load_default_protocols()[AlertKind.FALL]]
    assert not any(s["done"] for s in steps)

    before = datetime.now(UTC)
    ticked = await client.post(f"/api/v1/alerts/{alert.id}/protocol/call_resident", headers=op)
    assert ticked.status_code == 201, ticked.text
    entry = [e for e in await _timeline(client, op, alert.id) if e["event"] == "protocol_step"]
    assert len(entry) == 1
    assert entry[0]["actor"] == "operator-user"
    assert entry[0]["details"]["step"] == "call_resident"
    assert entry[0]["details"]["text"]["en"].startswith("Call the resident")
    assert before <= datetime.fromisoformat(entry[0]["at"]) <= datetime.now(UTC)

    after = (await client.get(f"/api/v1/alerts/{alert.id}/protocol", headers=op)).json()
    done = {s["id"]: (s["done"], s["by"]) for s in after["steps"]}
    assert done["call_resident"] == (True, "operator-user")
    assert done["call_back"] == (False, None)

    again = await client.post(f"/api/v1/alerts/{alert.id}/protocol/call_resident", headers=op)
    assert again.status_code == 409
    assert "was ticked by operator-user" in again.json()["detail"]
    wrong = await client.post(f"/api/v1/alerts/{alert.id}/protocol/fly_away", headers=op)
    assert wrong.status_code == 422
    assert "'fly_away' is not a step of the fall protocol" in wrong.json()["detail"]


async def test_notes_and_calls_are_on_the_timeline_with_who_and_when(
    client: httpx.AsyncClient, ctx: AppContext, store: Store, token_for: TokenFor
) -> None:
    op = await token_for(Role.OPERATOR)
    contact = await store.create_contact("h1", "Cao Wei", "+8613800000001", "zh-CN", 1)
    alert = await _raise(ctx)
    note = await client.post(
        f"/api/v1/alerts/{alert.id}/notes", json={"text": "  Door locked  "}, headers=op
    )
    assert note.status_code == 201, note.text
    calls = [
        {"callee": "resident", "outcome": "no_answer"},
        {"callee": "contact", "contact_id": contact.id, "outcome": "answered", "note": "coming"},
        {"callee": "other", "name": "Neighbour Li", "phone": "+8613900000000", "outcome": "busy"},
    ]
    for body in calls:
        made = await client.post(f"/api/v1/alerts/{alert.id}/calls", json=body, headers=op)
        assert made.status_code == 201, made.text
    mine = [
        (e["event"], e["actor"], e["details"])
        for e in await _timeline(client, op, alert.id)
        if e["event"] in ("note", "call")
    ]
    assert mine == [
        ("note", "operator-user", {"text": "Door locked", "watch": False}),
        (
            "call",
            "operator-user",
            {
                "callee": "resident",
                "contact_id": None,
                "name": "Anna Cao",
                "phone": None,
                "outcome": "no_answer",
                "note": None,
            },
        ),
        (
            "call",
            "operator-user",
            {
                "callee": "contact",
                "contact_id": contact.id,
                "name": "Cao Wei",
                "phone": "+8613800000001",
                "outcome": "answered",
                "note": "coming",
            },
        ),
        (
            "call",
            "operator-user",
            {
                "callee": "other",
                "contact_id": None,
                "name": "Neighbour Li",
                "phone": "+8613900000000",
                "outcome": "busy",
                "note": None,
            },
        ),
    ]


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("notes", {"text": "   "}, "a note needs some text"),
        ("calls", {"callee": "contact", "outcome": "answered"}, "contact_id: needed"),
        ("calls", {"callee": "contact", "contact_id": 9999, "outcome": "busy"}, "no contact 9999"),
        ("calls", {"callee": "other", "outcome": "busy"}, "name: say whom you called"),
        ("calls", {"callee": "resident", "outcome": "maybe"}, "outcome"),
    ],
)
async def test_bad_notes_and_calls_are_refused_with_a_reason(
    client: httpx.AsyncClient,
    ctx: AppContext,
    token_for: TokenFor,
    path: str,
    body: dict[str, Any],
    detail: str,
) -> None:
    op = await token_for(Role.OPERATOR)
    alert = await _raise(ctx)
    refused = await client.post(f"/api/v1/alerts/{alert.id}/{path}", json=body, headers=op)
    assert refused.status_code == 422
    assert detail in refused.text
    assert not [e for e in await _timeline(client, op, alert.id) if e["event"] in ("note", "call")]


FALL_OWN = {
    "fall": {
        "steps": [
            {"id": "ring_warden", "zh-CN": "打电话给楼长", "en": "Ring the block warden"},
            {"id": "ambulance_120", "zh-CN": "拨打 120", "en": "Call 120"},
        ]
    }
}


async def test_a_centres_protocol_replaces_the_default_and_another_centre_keeps_its_own(
    client: httpx.AsyncClient,
    ctx: AppContext,
    store: Store,
    token_for: TokenFor,
    hashes: dict[str, str],
) -> None:
    await store.create_organisation(Organisation("bee", "Centre Bee"))
    await store.create_home(Home("bee-home", "Bumble House", "9 Hive Rd", organisation_id="bee"))
    await store.create_user(
        User("bee-sup", hashes[PASSWORD], Role.SUPERVISOR, organisation_id="bee")
    )
    bee = await login(client, "bee-sup", PASSWORD)
    bee_headers = {"Authorization": f"Bearer {bee.json()['access_token']}"}
    sup = await token_for(Role.SUPERVISOR)
    op = await token_for(Role.OPERATOR)

    put = await client.put("/api/v1/protocols", json=FALL_OWN, headers=sup)
    assert put.status_code == 200, put.text
    assert put.json()["centre_kinds"] == ["fall"]
    assert put.json()["updated_by"] == "supervisor-user"
    assert put.json()["protocols"]["fall"] == FALL_OWN["fall"]
    defaults = load_default_protocols()
    sos = [s.id for s in defaults[AlertKind.SOS]]
    assert [s["id"] for s in put.json()["protocols"]["sos"]["steps"]] == sos

    alert = await _raise(ctx)
    shown = (await client.get(f"/api/v1/alerts/{alert.id}/protocol", headers=op)).json()
    assert shown["source"] == "centre"
    assert [s["id"] for s in shown["steps"]] == ["ring_warden", "ambulance_120"]
    assert shown["steps"][0]["text"] == {"zh-CN": "打电话给楼长", "en": "Ring the block warden"}
    assert (
        await client.post(f"/api/v1/alerts/{alert.id}/protocol/ring_warden", headers=op)
    ).status_code == 201

    bee_sees = (await client.get("/api/v1/protocols", headers=bee_headers)).json()
    assert bee_sees["organisation_id"] == "bee"
    assert bee_sees["centre_kinds"] == []
    assert [s["id"] for s in bee_sees["protocols"]["fall"]["steps"]] == [
        s.id for s in defaults[AlertKind.FALL]
    ]
    bee_alert = await ctx.alerts.handle_finding(
        Finding("bee-home", "bee-x", AlertKind.FALL, Severity.CRITICAL, datetime.now(UTC), "bee:1")
    )
    assert bee_alert is not None
    bee_op = await store.create_user(
        User("bee-op", hashes[PASSWORD], Role.OPERATOR, organisation_id="bee")
    )
    bee_op_login = await login(client, bee_op.username, PASSWORD)
    bee_op_headers = {"Authorization": f"Bearer {bee_op_login.json()['access_token']}"}
    bee_protocol = await client.get(
        f"/api/v1/alerts/{bee_alert.alert.id}/protocol", headers=bee_op_headers
    )
    assert bee_protocol.json()["source"] == "default"
    assert "ring_warden" not in bee_protocol.text

    back = await client.delete("/api/v1/protocols", headers=sup)
    assert back.status_code == 200
    assert back.json()["centre_kinds"] == []
    reverted = (await client.get(f"/api/v1/alerts/{alert.id}/protocol", headers=op)).json()
    assert reverted["source"] == "default"
    timeline = await _timeline(client, op, alert.id)
    assert [e["details"]["step"] for e in timeline if e["event"] == "protocol_step"] == [
        "ring_warden"
    ]


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ({"flood": {"steps": []}}, "unknown alert kind(s) 'flood'"),
        ({"fall": {"steps": []}}, "protocols fall: steps must be a non-empty list"),
        ({"fall": []}, 'must be an object with one field, "steps"'),
        ({"fall": {"steps": [{"id": "a b", "zh-CN": "x", "en": "x"}]}}, "id must be a word"),
        ({"fall": {"steps": [{"id": "a", "zh-CN": "x"}]}}, "fall.steps[0]: en must be"),
        (
            {"fall": {"steps": [{"id": "a", "zh-CN": "x", "en": "x", "fr": "x"}]}},
            "unknown field(s) fr",
        ),
        (
            {"fall": {"steps": [{"id": "a", "zh-CN": "x", "en": "y"}] * 2}},
            "step ids repeat: a",
        ),
        ({"fall": {"steps": [{"id": "a", "zh-CN": "x" * 201, "en": "y"}]}}, "longer than 200"),
        ({}, "name at least one kind"),
    ],
)
async def test_a_bad_protocol_is_refused_and_the_old_one_kept(
    client: httpx.AsyncClient, token_for: TokenFor, document: dict[str, Any], detail: str
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    assert (await client.put("/api/v1/protocols", json=FALL_OWN, headers=sup)).status_code == 200
    refused = await client.put("/api/v1/protocols", json=document, headers=sup)
    assert refused.status_code == 422
    assert detail in refused.json()["detail"]
    kept = (await client.get("/api/v1/protocols", headers=sup)).json()
    assert kept["protocols"]["fall"] == FALL_OWN["fall"]


async def test_operators_cannot_change_protocols(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    op = await token_for(Role.OPERATOR)
    assert (await client.put("/api/v1/protocols", json=FALL_OWN, headers=op)).status_code == 403
    assert (await client.get("/api/v1/protocols", headers=op)).status_code == 403


async def test_the_handover_lists_exactly_what_the_store_holds(
    client: httpx.AsyncClient, ctx: AppContext, store: Store, token_for: TokenFor
) -> None:
    op = await token_for(Role.OPERATOR)
    now = datetime.now(UTC)
    for device in (
        Device("bed-a", "h1", DeviceKind.BED_BAND, "r-a", "bedroom"),
        Device("door", "h1", DeviceKind.DOOR, location="hall"),
        Device("radar", "h1", DeviceKind.FALL_RADAR, location="bathroom"),
        Device("gas", "h1", DeviceKind.GAS, location="kitchen"),
    ):
        await store.create_device(device)
    await store.update_liveness(
        [
            LivenessUpdate("bed-a", last_seen=now - timedelta(minutes=30), online=False),
            LivenessUpdate("door", last_seen=now, online=True),
            LivenessUpdate("radar", last_seen=now - timedelta(hours=1), online=True),
        ]
    )
    fall = await _raise(ctx, AlertKind.FALL, at=now - timedelta(hours=1))
    hr = await _raise(
        ctx, AlertKind.HEART_RATE_HIGH, at=now - timedelta(hours=2), severity=Severity.CRITICAL
    )
    offline = await _raise(
        ctx,
        AlertKind.DEVICE_OFFLINE,
        resident=None,
        device="radar",
        severity=Severity.WARNING,
        at=now - timedelta(minutes=20),
    )
    old = await _raise(ctx, AlertKind.SOS, resident="r-b", at=now - timedelta(hours=10))
    resolved = await client.post(
        f"/api/v1/alerts/{hr.id}/resolve",
        json={"outcome": "false_alarm", "note": "sensor loose"},
        headers=op,
    )
    assert resolved.status_code == 200, resolved.text
    # resolved before the window: not in it (written as the service would, 9 h ago)
    await store.set_alert_status(
        StatusUpdate(
            old.id,
            AlertStatus.OPEN,
            AlertStatus.RESOLVED,
            now - timedelta(hours=9),
            "night-op",
            outcome=Outcome.HANDLED,
        )
    )
    watch_note = await client.post(
        f"/api/v1/alerts/{old.id}/notes", json={"text": "Bo is confused", "watch": True}, headers=op
    )
    assert watch_note.status_code == 201
    await client.post(f"/api/v1/alerts/{fall.id}/notes", json={"text": "ordinary"}, headers=op)

    report = await client.get("/api/v1/handover", headers=op)
    assert report.status_code == 200, report.text
    got = report.json()
    end = datetime.fromisoformat(got["to"])
    assert datetime.fromisoformat(got["from"]) == end - timedelta(hours=8)
    assert [(a["id"], a["status"], a["resident_name"]) for a in got["open"]] == [
        (fall.id, "open", "Anna Cao"),
        (offline.id, "open", None),
    ]
    assert [
        (a["id"], a["outcome"], a["note"], a["resolved_by"], a["home_name"])
        for a in got["resolved"]
    ] == [(hr.id, "false_alarm", "sensor loose", "operator-user", "Home one")]
    assert [
        (d["device_id"], d["status_offline"], d["open_alert_id"], d["location"])
        for d in got["offline_devices"]
    ] == [("bed-a", True, None, "bedroom"), ("radar", False, offline.id, "bathroom")]
    assert [
        (
            w["resident_id"],
            w["resident_name"],
            w["alerts"],
            w["kinds"],
            [n["text"] for n in w["notes"]],
        )
        for w in got["watch"]
    ] == [
        ("r-a", "Anna Cao", 2, ["fall", "heart_rate_high"], []),
        ("r-b", "Bo Cao", 0, [], ["Bo is confused"]),
    ]

    # a window 12 h to 8 h ago: the old SOS was resolved in it, nothing else was
    earlier = await client.get(
        "/api/v1/handover",
        params={
            "from": (now - timedelta(hours=12)).isoformat(),
            "to": (now - timedelta(hours=8)).isoformat(),
        },
        headers=op,
    )
    assert earlier.status_code == 200, earlier.text
    assert [(a["id"], a["resolved_by"]) for a in earlier.json()["resolved"]] == [
        (old.id, "night-op")
    ]
    assert earlier.json()["watch"] == []


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "before to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, "at most 7 days"),
        ({"from": "yesterday"}, "datetime"),
    ],
)
async def test_a_bad_handover_window_is_refused(
    client: httpx.AsyncClient, token_for: TokenFor, params: dict[str, str], detail: str
) -> None:
    op = await token_for(Role.OPERATOR)
    refused = await client.get("/api/v1/handover", params=params, headers=op)
    assert refused.status_code == 422
    assert detail in refused.text


async def test_a_stored_protocol_that_no_longer_passes_shows_the_default(
    client: httpx.AsyncClient, ctx: AppContext, store: Store, token_for: TokenFor
) -> None:
    """e.g. an upgrade renamed an alert kind: the screen keeps a checklist, no 500."""
    op = await token_for(Role.OPERATOR)
    await store.save_protocols("default", {"tumble": {"steps": []}}, datetime.now(UTC), "old")
    alert = await _raise(ctx)
    shown = await client.get(f"/api/v1/alerts/{alert.id}/protocol", headers=op)
    assert shown.status_code == 200, shown.text
    assert shown.json()["source"] == "default"
    assert shown.json()["steps"][0]["id"] == "call_resident"
