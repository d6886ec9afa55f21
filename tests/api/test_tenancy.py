"""Tenancy (Issue 20 item 6): staff of one care centre read and change nothing of
another's, on every route, on SQLite and on TimescaleDB.

Centre A is the default organisation, centre B another one with a home,
resident, devices, a family contact, accounts, readings and an alert of its
own. For every route of the app (enumerated from the app, so a new route
cannot ship without an entry in CASES), as A's operator, supervisor and admin
where the role allows the route, with B's ids: no response names anything of
B, a read of B's id is a 404 exactly like a missing id's, a write is refused
and B is unchanged. The live stream sends A's operator none of B's alerts.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from pypdf import PdfReader

from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.domain import (
    DEFAULT_ORGANISATION,
    AlertKind,
    Device,
    DeviceKind,
    Home,
    Organisation,
    Reading,
    Resident,
    Role,
    TimelineEntry,
    User,
)
from eldercare.records import AuditEntry
from eldercare.roster import Shift
from eldercare.store import AlertFilter, LivenessUpdate, Store, open_store
from eldercare.store.floods import Silence
from tests.api.conftest import ADMIN, PASSWORD, SECRET, RaiseAlert
from tests.api.served import served
from tests.api.test_roles import PUBLIC, ROLES, TWILIO
from tests.e2e.helpers import eventually

B = "bee"
"""Centre B's organisation id."""
B_MARKERS = (
    "bee-home",
    "Bumble House",
    "bee-res",
    "Bertha Bumble",
    "bee-bed",
    "bee-door",
    "Bob Bumble",
    "+8613912345678",
    "bee-op",
    "bee-sup",
    "bee-admin",
    "Centre Bee",
    "Ring the queen bee",
    "Bertha hid the key",
    "bee work",
)
"""Strings of B's rows: none may appear in any answer to A's staff."""
NOW = datetime.now(UTC)
STRONG = "correct-horse-battery-staple-42"
LATER = (NOW + timedelta(hours=1)).isoformat()


@pytest.fixture
async def store(store_url: str, hashes: dict[str, str]) -> AsyncIterator[Store]:
    """conftest's store, on each backend (tests/harness/postgres.py's store_url)."""
    opened = await open_store(store_url)
    await opened.migrate()
    await opened.create_user(User(ADMIN[0], hashes[ADMIN[1]], Role.ADMIN))
    await opened.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    try:
        yield opened
    finally:
        await opened.close()


@dataclass
class Centres:
    """B's ids (the contact's and alert's are made by the store)."""

    ids: dict[str, str]
    a_alert: int
    b_alert: int


async def _readings(store: Store, home: str, device: str) -> None:
    await store.insert_readings(
        [
            Reading(
                home,
                device,
                DeviceKind.BED_BAND,
                NOW - timedelta(minutes=m),
                NOW,
                m,
                None,
                {"hr": 70, "rr": 14, "in_bed": True},
            )
            for m in range(1, 4)
        ]
    )


@pytest.fixture
async def centres(store: Store, raise_alert: RaiseAlert, hashes: dict[str, str]) -> Centres:
    await store.create_resident(Resident("a-res", "h1", "Anna A"))
    await store.create_device(Device("a-bed", "h1", DeviceKind.BED_BAND, "a-res"))
    await store.create_contact("h1", "Alice A", "+8613800000001", "zh-CN", 1)
    await _readings(store, "h1", "a-bed")

    await store.create_organisation(Organisation(B, "Centre Bee"))
    await store.create_home(Home("bee-home", "Bumble House", "9 Hive Rd", organisation_id=B))
    await store.create_resident(Resident("bee-res", "bee-home", "Bertha Bumble"))
    await store.create_device(Device("bee-bed", "bee-home", DeviceKind.BED_BAND, "bee-res"))
    await store.create_device(Device("bee-door", "bee-home", DeviceKind.DOOR))
    contact = await store.create_contact("bee-home", "Bob Bumble", "+8613912345678", "zh-CN", 1)
    for name, role in (
        ("bee-op", Role.OPERATOR),
        ("bee-sup", Role.SUPERVISOR),
        ("bee-admin", Role.ADMIN),
    ):
        await store.create_user(
            User(name, hashes[PASSWORD], role, "+8613912345678", organisation_id=B)
        )
    await _readings(store, "bee-home", "bee-bed")
    await store.add_audit(  # B's audit log has an entry A's staff must not see
        AuditEntry(NOW, "bee-sup", "10.9.9.9", "record.view_key_safe", "resident:bee-res", B)
    )
    shift = await store.add_shift(Shift(B, "bee-op", NOW, NOW + timedelta(hours=8)))
    a_alert = await raise_alert(subject="a-res", home_id="h1", kind=AlertKind.FALL)
    b_alert = await raise_alert(subject="bee-res", home_id="bee-home", kind=AlertKind.FALL)
    # Issue 15: B's own protocol, a watch note and an offline device (handover)
    step = {"id": "queen", "zh-CN": "Ring the queen bee", "en": "Ring the queen bee"}
    await store.save_protocols(B, {"fall": {"steps": [step]}}, NOW, "bee-sup")
    note = {"text": "Bertha hid the key", "watch": True}
    await store.add_timeline(TimelineEntry(b_alert.id, NOW, "note", "bee-op", note))
    await store.update_liveness([LivenessUpdate("bee-door", last_seen=NOW, online=False)])
    b_incident, _ = await store.open_incident(B, "device_offline", "status", NOW)
    await store.add_incident_members(b_incident.id, [b_alert.id], NOW)
    b_silence = await store.create_silence(
        Silence(None, B, "bee-home", "bee-door", NOW, NOW + timedelta(hours=1), "bee work")
    )
    ids = {
        "home_id": "bee-home",
        "resident_id": "bee-res",
        "device_id": "bee-bed",
        "contact_id": str(contact.id),
        "alert_id": str(b_alert.id),
        "username": "bee-op",
        "token": "not-the-callback-token",
        "incident_id": str(b_incident.id),
        "silence_id": str(b_silence.id),
        "shift_id": str(shift.id),
        "organisation_id": B,  # last: "bee" is in the ids above
    }
    return Centres(ids, a_alert.id, b_alert.id)


MISSING = {
    "home_id": "zz-home",
    "resident_id": "zz-res",
    "device_id": "zz-bed",
    "contact_id": "999999",
    "alert_id": "999999",
    "username": "zz-op",
    "token": "not-the-callback-token",
    "incident_id": "999999",
    "silence_id": "999999",
    "shift_id": "999999",
    "organisation_id": "zz-org",
}


@dataclass(frozen=True)
class Case:
    """One request with B's ids (``{home_id}`` etc. in the path, query and body)."""

    status: int
    """expected: 200 (a read: none of B in it), 404 or 422 (refused, B unchanged),
    403 (not for a centre's staff at all)"""
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    """instead of the route's own path (e.g. A's home with B's resident)"""


R = "resident_id"
PROTOCOL = {"fall": {"steps": [{"id": "spy", "zh-CN": "x", "en": "x"}]}}
CASES: dict[tuple[str, str], list[Case]] = {
    ("GET", "/api/v1/alerts"): [Case(200), Case(200, query={"home_id": "{home_id}"})],
    ("GET", "/api/v1/alerts/stream"): [],  # test_the_live_stream_sends_no_alert_of_another_centre
    ("GET", "/api/v1/alerts/{alert_id}"): [Case(404)],
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): [Case(404)],
    ("POST", "/api/v1/alerts/{alert_id}/dispatch"): [Case(404, {"responder": "Li"})],
    ("POST", "/api/v1/alerts/{alert_id}/arrive"): [Case(404)],
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): [
        Case(404, {"outcome": "handled"}),
        Case(404, {}),
    ],
    ("GET", "/api/v1/homes"): [Case(200)],
    ("POST", "/api/v1/homes"): [
        Case(422, {"id": "new-home", "name": "New", "organisation_id": "{organisation_id}"}),
    ],
    ("GET", "/api/v1/homes/{home_id}"): [Case(404)],
    ("PATCH", "/api/v1/homes/{home_id}"): [Case(404, {"name": "Taken over"})],
    ("DELETE", "/api/v1/homes/{home_id}"): [Case(404)],
    ("GET", "/api/v1/homes/{home_id}/status"): [Case(404)],
    ("GET", "/api/v1/homes/{home_id}/rules"): [
        Case(404),
        Case(404, query={R: "{resident_id}"}, path="/api/v1/homes/h1/rules"),
    ],
    ("GET", "/api/v1/residents"): [Case(200), Case(200, query={"home_id": "{home_id}"})],
    ("POST", "/api/v1/residents"): [
        Case(422, {"id": "new-res", "home_id": "{home_id}", "name": "New"}),
    ],
    ("GET", "/api/v1/residents/{resident_id}"): [Case(404)],
    ("PATCH", "/api/v1/residents/{resident_id}"): [Case(404, {"name": "Taken over"})],
    ("DELETE", "/api/v1/residents/{resident_id}"): [Case(404)],
    ("GET", "/api/v1/residents/{resident_id}/vitals"): [Case(404)],
    ("GET", "/api/v1/devices"): [Case(200), Case(200, query={"home_id": "{home_id}"})],
    ("POST", "/api/v1/devices"): [
        Case(422, {"id": "new-dev", "home_id": "{home_id}", "kind": "door"}),
        Case(422, {"id": "new-dev", "home_id": "h1", "kind": "bed_band", R: "{resident_id}"}),
    ],
    ("GET", "/api/v1/devices/{device_id}"): [Case(404)],
    ("PATCH", "/api/v1/devices/{device_id}"): [Case(404, {"location": "Taken over"})],
    ("DELETE", "/api/v1/devices/{device_id}"): [Case(404)],
    ("GET", "/api/v1/contacts"): [Case(200), Case(200, query={"home_id": "{home_id}"})],
    ("POST", "/api/v1/contacts"): [
        Case(422, {"home_id": "{home_id}", "name": "Spy", "phone": "+8613800000099"}),
    ],
    ("GET", "/api/v1/contacts/{contact_id}"): [Case(404)],
    ("PATCH", "/api/v1/contacts/{contact_id}"): [Case(404, {"phone": "+8613800000099"})],
    ("DELETE", "/api/v1/contacts/{contact_id}"): [Case(404)],
    ("GET", "/api/v1/users"): [Case(200)],
    ("POST", "/api/v1/users"): [
        Case(
            422,
            {
                "username": "spy",
                "password": STRONG,
                "role": "operator",
                "organisation_id": "{organisation_id}",
            },
        ),
    ],
    ("PATCH", "/api/v1/users/{username}"): [
        Case(404, {"password": STRONG}),
        Case(404, {"role": "admin"}),
    ],
    ("DELETE", "/api/v1/users/{username}"): [Case(404)],
    ("POST", "/api/v1/users/{username}/unlock"): [Case(404)],
    ("POST", "/api/v1/users/{username}/revoke"): [Case(404)],
    ("POST", "/api/v1/auth/renew"): [Case(200)],
    ("GET", "/api/v1/auth/me"): [Case(200)],
    ("POST", "/api/v1/auth/logout"): [Case(204)],
    ("GET", "/api/v1/reports/response"): [Case(200)],
    ("GET", "/api/v1/reports/monthly"): [Case(200)],
    ("GET", "/api/v1/reports/monthly.csv"): [Case(200)],
    ("GET", "/api/v1/reports/monthly.pdf"): [Case(200)],
    ("GET", "/api/v1/status/homes"): [
        Case(200),
        Case(200, query={"q": "{home_id}"}),
        Case(200, query={"q": "Bertha"}),
    ],
    ("GET", "/api/v1/residents/{resident_id}/record"): [Case(404)],
    ("PUT", "/api/v1/residents/{resident_id}/record"): [Case(404, {"key_safe_code": "1234"})],
    ("GET", "/api/v1/audit"): [
        Case(200),
        Case(200, query={"actor": "bee-admin"}),
        Case(200, query={"format": "csv"}),
    ],
    ("GET", "/api/v1/organisations"): [Case(403)],
    ("GET", "/api/v1/protocols"): [
        Case(200),
        Case(422, query={"organisation_id": "{organisation_id}"}),
    ],
    ("PUT", "/api/v1/protocols"): [
        Case(422, PROTOCOL, query={"organisation_id": "{organisation_id}"}),
    ],
    ("DELETE", "/api/v1/protocols"): [Case(422, query={"organisation_id": "{organisation_id}"})],
    ("GET", "/api/v1/alerts/{alert_id}/protocol"): [Case(404)],
    ("POST", "/api/v1/alerts/{alert_id}/protocol/{step_id}"): [
        Case(404, path="/api/v1/alerts/{alert_id}/protocol/call_resident"),
        Case(404, path="/api/v1/alerts/{alert_id}/protocol/queen"),
    ],
    ("POST", "/api/v1/alerts/{alert_id}/notes"): [Case(404, {"text": "spy"})],
    ("POST", "/api/v1/alerts/{alert_id}/calls"): [
        Case(404, {"callee": "resident", "outcome": "answered"}),
        Case(  # A's alert (raised first: id 1), B's contact
            422,
            {"callee": "contact", "contact_id": "{contact_id}", "outcome": "answered"},
            path="/api/v1/alerts/1/calls",
        ),
    ],
    ("GET", "/api/v1/handover"): [Case(200)],
    ("POST", "/api/v1/organisations"): [Case(403, {"id": "evil", "name": "Evil"})],
    ("GET", "/api/v1/incidents"): [Case(200), Case(200, query={"status": "all"})],
    ("GET", "/api/v1/incidents/{incident_id}"): [Case(404)],
    ("POST", "/api/v1/incidents/{incident_id}/end"): [Case(404)],
    ("GET", "/api/v1/silences"): [Case(200), Case(200, query={"home_id": "{home_id}"})],
    ("POST", "/api/v1/silences"): [
        Case(422, {"home_id": "{home_id}", "ends_at": "2099-01-01T00:00:00+00:00"}),
        Case(
            422,
            {"home_id": "h1", "device_id": "{device_id}", "ends_at": "2099-01-01T00:00:00+00:00"},
        ),
    ],
    ("GET", "/api/v1/silences/{silence_id}"): [Case(404)],
    ("POST", "/api/v1/silences/{silence_id}/end"): [Case(404)],
    ("GET", "/api/v1/roster"): [
        Case(200),
        Case(422, query={"organisation_id": "{organisation_id}"}),
    ],
    ("POST", "/api/v1/roster/shifts"): [
        Case(422, {"username": "{username}", "starts_at": NOW.isoformat(), "ends_at": LATER}),
    ],
    ("DELETE", "/api/v1/roster/shifts/{shift_id}"): [Case(404)],
    ("GET", "/api/v1/alerts/{alert_id}/assignment"): [Case(404)],
    ("POST", "/api/v1/alerts/{alert_id}/claim"): [Case(404)],
    ("POST", "/api/v1/alerts/{alert_id}/assign"): [Case(404, {"username": "bee-op"})],
}
"""Every route of a centre's staff with B's ids. The webhooks (no account) and
the public probes are not any centre's (test_every_route_has_a_tenancy_case)."""

STAFF = {"operator": Role.OPERATOR, "supervisor": Role.SUPERVISOR, "admin": Role.ADMIN}


def _staff_cases() -> list[Any]:
    params = []
    for (method, path), cases in sorted(CASES.items()):
        needed = ROLES[(method, path)]
        for role in Role:
            if needed in STAFF and not role.allows(STAFF[needed]):
                continue
            for n, case in enumerate(cases):
                params.append(
                    pytest.param(method, path, role, case, id=f"{method} {path} {role} {n}")
                )
    return params


def test_every_route_has_a_tenancy_case(ctx: AppContext) -> None:
    paths = create_app(ctx).openapi()["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    webhooks = {k for k, role in ROLES.items() if role == TWILIO}
    missing = routes - set(CASES) - PUBLIC - webhooks
    assert not missing, f"add these routes to CASES (tenancy): {sorted(missing)}"
    assert not set(CASES) - routes, "CASES lists routes the app does not serve"


def _token(username: str, version: int) -> dict[str, str]:
    claims = {"sub": username, "ver": version, "sid": "s1", "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


async def _staff(
    store: Store, hashes: dict[str, str], role: Role, org: str | None
) -> dict[str, str]:
    name = f"{org or 'platform'}-{role.value}"
    user = await store.create_user(User(name, hashes[PASSWORD], role, organisation_id=org))
    return _token(name, user.token_version)


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


async def _send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    case: Case,
    ids: dict[str, str],
    headers: dict[str, str],
) -> httpx.Response:
    url = (case.path or path).format(**ids)
    return await client.request(
        method, url, params=_fill(case.query, ids), json=_fill(case.body, ids), headers=headers
    )


async def b_as_stored(store: Store) -> str:
    """Everything of centre B, read past the API (unscoped), to compare."""
    b_alerts = await store.list_alerts(AlertFilter(organisation_id=B))
    parts: list[Any] = [
        await store.list_homes(B),
        await store.list_residents(organisation_id=B),
        await store.list_devices(organisation_id=B),
        await store.list_contacts(organisation_id=B),
        await store.list_users(B),
        b_alerts,
        [await store.get_timeline(a.id) for a in b_alerts],
        await store.get_protocols(B),
        await store.list_all_liveness(B),
        await store.list_incidents(B),
        await store.list_silences(B),
        await store.get_resident_record("bee-res"),
        await store.list_shifts(B, NOW - timedelta(days=1)),
        [await store.get_assignment(a.id) for a in b_alerts],
    ]
    return repr(parts)


@pytest.mark.parametrize(("method", "path", "role", "case"), _staff_cases())
async def test_centre_a_staff_get_nothing_of_centre_b(
    client: httpx.AsyncClient,
    store: Store,
    centres: Centres,
    hashes: dict[str, str],
    method: str,
    path: str,
    role: Role,
    case: Case,
) -> None:
    headers = await _staff(store, hashes, role, DEFAULT_ORGANISATION)
    before = await b_as_stored(store)
    response = await _send(client, method, path, case, centres.ids, headers)
    assert response.status_code == case.status, response.text
    sent = str(response.request.url) + response.request.content.decode()
    for marker in B_MARKERS:  # but the ids A sent may be echoed ("no device 'bee-bed'")
        if marker not in sent:
            assert marker not in response.text, f"{marker} of centre B in: {response.text}"
    if case.status == 200 and path == "/api/v1/alerts":
        items = [a["id"] for a in response.json()["items"]]
        assert centres.b_alert not in items
        assert items == ([] if case.query else [centres.a_alert])
    if case.status == 200 and path == "/api/v1/reports/response":
        assert response.json()["overall"]["alerts"] == 1  # A's alert, not B's
    if case.status == 200 and path == "/api/v1/reports/monthly":
        assert response.json()["total"]["overall"]["alerts"] == 1  # A's alert, not B's
    if case.status == 200 and path == "/api/v1/reports/monthly.csv":
        assert "bee" not in response.text
        assert ",overall,,1," in response.text  # A's alert, not B's
    if case.status == 200 and path == "/api/v1/reports/monthly.pdf":
        text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
        assert "bee" not in text.lower()
        assert "overall 1 " in " ".join(text.split())
    if case.status == 200 and path == "/api/v1/status/homes":
        homes = [h["home_id"] for h in response.json()["homes"]]
        assert homes == ([] if case.query else ["h1"])
        assert sum(response.json()["counts"].values()) == 1
    assert await b_as_stored(store) == before, "centre B was changed"
    if case.status in (404, 422):
        # exactly what a missing id gets: the same status, the same sentence
        missing = await _send(client, method, path, case, MISSING, headers)
        assert missing.status_code == case.status, missing.text
        said = json.dumps(response.json())
        for key, value in centres.ids.items():
            said = said.replace(value, MISSING[key])
        assert said == json.dumps(missing.json())


async def test_the_markers_would_show_a_leak(
    client: httpx.AsyncClient, store: Store, centres: Centres, hashes: dict[str, str]
) -> None:
    """B's own staff, and a platform admin, do see B's rows (so the test above can fail)."""
    platform = await _staff(store, hashes, Role.ADMIN, None)
    b_operator = await _staff(store, hashes, Role.OPERATOR, B)
    for headers in (platform, b_operator):
        contacts = await client.get("/api/v1/contacts", headers=headers)
        assert "+8613912345678" in contacts.text
        alert = await client.get(f"/api/v1/alerts/{centres.b_alert}", headers=headers)
        assert alert.status_code == 200
        assert "Bumble House" in alert.text
    b_only = await client.get("/api/v1/homes", headers=b_operator)
    assert [h["id"] for h in b_only.json()] == ["bee-home"]
    assert b_only.json()[0]["organisation_id"] == B
    everyone = await client.get("/api/v1/homes", headers=platform)
    assert {h["id"] for h in everyone.json()} == {"h1", "bee-home"}


async def test_a_platform_admin_adds_a_centre_and_its_admin_who_stays_inside_it(
    client: httpx.AsyncClient, store: Store, centres: Centres, hashes: dict[str, str]
) -> None:
    platform = await _staff(store, hashes, Role.ADMIN, None)
    made = await client.post(
        "/api/v1/organisations", json={"id": "cee", "name": "Centre Cee"}, headers=platform
    )
    assert made.status_code == 201, made.text
    listed = await client.get("/api/v1/organisations", headers=platform)
    assert [o["id"] for o in listed.json()] == ["bee", "cee", DEFAULT_ORGANISATION]
    body = {"username": "cee-admin", "password": STRONG, "role": "admin", "organisation_id": "cee"}
    admin = await client.post("/api/v1/users", json=body, headers=platform)
    assert admin.status_code == 201, admin.text
    assert admin.json()["organisation_id"] == "cee"
    no_centre = {"username": "lost-op", "password": STRONG, "role": "operator"}
    refused = await client.post("/api/v1/users", json=no_centre, headers=platform)
    assert refused.status_code == 422, refused.text
    cee = _token("cee-admin", (await store.get_user("cee-admin")).token_version)
    home = await client.post("/api/v1/homes", json={"id": "cee-home", "name": "C"}, headers=cee)
    assert home.status_code == 201, home.text
    assert home.json()["organisation_id"] == "cee"
    op = {"username": "cee-op", "password": STRONG, "role": "operator"}
    assert (await client.post("/api/v1/users", json=op, headers=cee)).status_code == 201
    assert (await store.get_user("cee-op")).organisation_id == "cee"
    users = await client.get("/api/v1/users", headers=cee)
    assert sorted(u["username"] for u in users.json()) == ["cee-admin", "cee-op"]
    homes = await client.get("/api/v1/homes", headers=cee)
    assert [h["id"] for h in homes.json()] == ["cee-home"]


async def _events(
    client: httpx.AsyncClient, token: str, seen: list[dict[str, Any]], opened: asyncio.Event
) -> None:
    async with client.stream("GET", f"/api/v1/alerts/stream?access_token={token}") as response:
        assert response.status_code == 200
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
                if event == "ready":
                    opened.set()
            elif line.startswith("data: ") and event == "alert":
                seen.append(json.loads(line.removeprefix("data: ")))


async def test_the_live_stream_sends_no_alert_of_another_centre(
    ctx: AppContext,
    store: Store,
    centres: Centres,
    raise_alert: RaiseAlert,
    hashes: dict[str, str],
) -> None:
    a_token = (await _staff(store, hashes, Role.OPERATOR, DEFAULT_ORGANISATION))["Authorization"]
    b_token = (await _staff(store, hashes, Role.OPERATOR, B))["Authorization"]
    a_seen: list[dict[str, Any]] = []
    b_seen: list[dict[str, Any]] = []
    async with served(ctx) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        a_open, b_open = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(_events(client, a_token.split()[1], a_seen, a_open)),
            asyncio.create_task(_events(client, b_token.split()[1], b_seen, b_open)),
        ]
        try:
            await asyncio.wait_for(asyncio.gather(a_open.wait(), b_open.wait()), 10)
            b_new = await raise_alert(subject="bee-door", home_id="bee-home", kind=AlertKind.SOS)
            await ctx.alerts.acknowledge(centres.b_alert, "bee-op")
            a_new = await raise_alert(subject="a-res", home_id="h1", kind=AlertKind.SOS)

            async def both_saw_their_last() -> bool | None:
                a_done = any(e["id"] == a_new.id for e in a_seen)
                b_done = any(
                    e["id"] == centres.b_alert and e["change"] == "acknowledged" for e in b_seen
                )
                return True if a_done and b_done else None

            await eventually(both_saw_their_last)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    # A's operator got A's new alert, and nothing of B's (raised after A's stream
    # opened, and acknowledged, before A's)
    assert {e["id"] for e in a_seen} <= {a_new.id, centres.a_alert}
    assert all(e["home_id"] == "h1" for e in a_seen)
    assert {b_new.id, centres.b_alert} <= {e["id"] for e in b_seen}
    assert all(e["home_id"] == "bee-home" for e in b_seen)
