"""Per-home detector rules and per-resident limits through the API (issue 3)."""

from __future__ import annotations

import httpx
import pytest

from eldercare.domain import Role
from tests.api.conftest import TokenFor


@pytest.fixture
async def supervisor(token_for: TokenFor) -> dict[str, str]:
    return await token_for(Role.SUPERVISOR)


async def test_home_rules_and_resident_limits_show_who_set_what(
    client: httpx.AsyncClient, supervisor: dict[str, str]
) -> None:
    home = {"id": "h9", "name": "Li", "rules": {"bed_exit_min": 45, "inactivity_h": 8}}
    created = await client.post("/api/v1/homes", json=home, headers=supervisor)
    assert created.status_code == 201, created.text
    assert created.json()["rules"] == {"bed_exit_min": 45.0, "inactivity_h": 8.0}
    resident = {"id": "h9-r1", "home_id": "h9", "name": "Li", "limits": {"hr_low": 45}}
    assert (await client.post("/api/v1/residents", json=resident, headers=supervisor)).is_success

    rules = (
        await client.get("/api/v1/homes/h9/rules?resident_id=h9-r1", headers=supervisor)
    ).json()
    by_name = {r["name"]: r for r in rules}
    assert by_name["bed_exit_min"]["value"] == 45 and by_name["bed_exit_min"]["set_by"] == "home"
    assert by_name["hr_low"]["value"] == 45 and by_name["hr_low"]["set_by"] == "resident"
    assert by_name["hr_high"]["set_by"] == "default" and by_name["hr_high"]["value"] == 130
    assert "NEWS2" in by_name["hr_high"]["source"]

    changed = await client.patch(
        "/api/v1/homes/h9", json={"rules": {"door_open_min": 60}}, headers=supervisor
    )
    assert changed.json()["rules"] == {"door_open_min": 60.0}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/homes", {"id": "h8", "name": "X", "rules": {"bed_exit_minutes": 45}}),
        ("/api/v1/homes", {"id": "h8", "name": "X", "rules": {"hr_low": 5}}),
    ],
)
async def test_unknown_or_out_of_range_rules_are_refused(
    client: httpx.AsyncClient, supervisor: dict[str, str], path: str, body: dict[str, object]
) -> None:
    resp = await client.post(path, json=body, headers=supervisor)
    assert resp.status_code == 422
    assert "bed_exit_minutes" in resp.text or "out of range" in resp.text
