"""The key-safe code and the roster (Issue 15 items 1, 2, 7), on SQLite and on
TimescaleDB: an operator sees a resident's code only while an active alert of
that resident's home is assigned to them (and each view is audited: who, when,
from where); assigned to another home's alert, or after the alert is resolved,
it is masked again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from eldercare.domain import AlertKind, Home, Resident, Role, User
from eldercare.store import Store, open_store
from tests.api.conftest import ADMIN, PASSWORD, RaiseAlert, TokenFor, login
from tests.api.test_records import RECORD

URL = "/api/v1/residents/r1/record"


@pytest.fixture
async def store(store_url: str, hashes: dict[str, str]) -> AsyncIterator[Store]:
    """conftest's store, on each backend."""
    opened = await open_store(store_url)
    await opened.migrate()
    await opened.create_user(User(ADMIN[0], hashes[ADMIN[1]], Role.ADMIN))
    await opened.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    await opened.create_resident(Resident("r1", "h1", "Wang Fang"))
    await opened.create_home(Home("h2", "Home two", "2 Main St", "Asia/Shanghai"))
    await opened.create_resident(Resident("r2", "h2", "Li Hua"))
    await opened.create_user(User("op2", hashes[PASSWORD], Role.OPERATOR))
    try:
        yield opened
    finally:
        await opened.close()


async def _views(client: httpx.AsyncClient, sup: dict[str, str]) -> list[tuple[str, str, str]]:
    items = (await client.get("/api/v1/audit", headers=sup)).json()["items"]
    return [
        (e["actor"], e["target"], e["address"])
        for e in items
        if e["action"] == "record.view_key_safe"
    ]


async def test_an_operator_sees_the_code_only_while_assigned_to_the_home(
    client: httpx.AsyncClient, token_for: TokenFor, raise_alert: RaiseAlert
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    op = await token_for(Role.OPERATOR)
    op2 = {
        "Authorization": f"Bearer {(await login(client, 'op2', PASSWORD)).json()['access_token']}"
    }
    assert (await client.put(URL, json=RECORD, headers=sup)).status_code == 200
    other_home = await raise_alert(subject="r2", home_id="h2", kind=AlertKind.FALL)
    assert (
        await client.post(f"/api/v1/alerts/{other_home.id}/claim", headers=op)
    ).status_code == 200
    masked = (await client.get(URL, headers=op)).json()
    assert masked["key_safe_code_hidden"] is True and masked["key_safe_code"] != "4711"

    alert = await raise_alert(subject="r1", home_id="h1", kind=AlertKind.FALL)
    claimed = await client.post(f"/api/v1/alerts/{alert.id}/claim", headers=op)
    assert claimed.status_code == 200, claimed.text
    before = datetime.now(UTC) - timedelta(seconds=1)
    shown = (await client.get(URL, headers=op)).json()
    assert (shown["key_safe_code"], shown["key_safe_code_hidden"]) == ("4711", False)
    assert (await client.get(URL, headers=op2)).json()["key_safe_code_hidden"] is True
    items = (await client.get("/api/v1/audit", headers=sup)).json()["items"]
    view = next(e for e in items if e["action"] == "record.view_key_safe")
    assert (view["actor"], view["target"], view["address"]) == (
        "operator-user",
        "resident:r1",
        "127.0.0.1",
    )
    assert before <= datetime.fromisoformat(view["at"]) <= datetime.now(UTC)
    assert [v for v in await _views(client, sup) if v[0] != "supervisor-user"] == [
        ("operator-user", "resident:r1", "127.0.0.1")
    ]  # op2's masked read and the earlier masked read are not views

    await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=op)
    await client.post(f"/api/v1/alerts/{alert.id}/resolve", json={"outcome": "handled"}, headers=op)
    assert (await client.get(URL, headers=op)).json()["key_safe_code_hidden"] is True
