"""A contact's SMS provider through the API: set, shown, cleared; unknown names 422."""

from __future__ import annotations

import httpx
import pytest

from eldercare.domain import Role
from tests.api.conftest import TokenFor


@pytest.fixture
async def supervisor(token_for: TokenFor) -> dict[str, str]:
    return await token_for(Role.SUPERVISOR)


async def test_contact_sms_provider(client: httpx.AsyncClient, supervisor: dict[str, str]) -> None:
    child = {"home_id": "h1", "name": "Child", "phone": "+14155550100", "sms_provider": "twilio"}
    made = await client.post("/api/v1/contacts", json=child, headers=supervisor)
    assert made.status_code == 201 and made.json()["sms_provider"] == "twilio"
    plain = {"home_id": "h1", "name": "Son", "phone": "+8613900000002"}
    son = await client.post("/api/v1/contacts", json=plain, headers=supervisor)
    assert son.json()["sms_provider"] is None
    contact = made.json()["id"]
    moved = await client.patch(
        f"/api/v1/contacts/{contact}", json={"sms_provider": "aliyun"}, headers=supervisor
    )
    assert moved.json()["sms_provider"] == "aliyun"
    cleared = await client.patch(
        f"/api/v1/contacts/{contact}", json={"sms_provider": None}, headers=supervisor
    )
    assert cleared.json()["sms_provider"] is None
    bad = await client.post(
        "/api/v1/contacts", json={**plain, "sms_provider": "pigeon"}, headers=supervisor
    )
    assert bad.status_code == 422 and "sms_provider" in bad.text
