"""Every endpoint of CONTRACT.md §3 against every role: no token is 401, a role
below the endpoint's is 403, the endpoint's own role gets past the check.
A new route must be added to ROLES, so nothing ships without a role."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.domain import DEFAULT_ORGANISATION, Role, User
from eldercare.store import Store
from tests.api.conftest import PASSWORD, SECRET, TokenFor

OP, SUP, ADMIN, TWILIO = "operator", "supervisor", "admin", "twilio"
PLATFORM = "platform"
"""An admin of no organisation (tenancy: manages the care centres)."""
PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
ROLES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/alerts"): OP,
    ("GET", "/api/v1/alerts/stream"): OP,
    ("GET", "/api/v1/alerts/{alert_id}"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/dispatch"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/arrive"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): OP,
    ("GET", "/api/v1/homes"): OP,
    ("POST", "/api/v1/homes"): SUP,
    ("GET", "/api/v1/homes/{home_id}"): OP,
    ("PATCH", "/api/v1/homes/{home_id}"): SUP,
    ("DELETE", "/api/v1/homes/{home_id}"): SUP,
    ("GET", "/api/v1/homes/{home_id}/status"): OP,
    ("GET", "/api/v1/homes/{home_id}/rules"): OP,
    ("GET", "/api/v1/residents"): OP,
    ("POST", "/api/v1/residents"): SUP,
    ("GET", "/api/v1/residents/{resident_id}"): OP,
    ("PATCH", "/api/v1/residents/{resident_id}"): SUP,
    ("DELETE", "/api/v1/residents/{resident_id}"): SUP,
    ("GET", "/api/v1/residents/{resident_id}/vitals"): OP,
    ("GET", "/api/v1/devices"): OP,
    ("POST", "/api/v1/devices"): SUP,
    ("GET", "/api/v1/devices/{device_id}"): OP,
    ("PATCH", "/api/v1/devices/{device_id}"): SUP,
    ("DELETE", "/api/v1/devices/{device_id}"): SUP,
    ("GET", "/api/v1/contacts"): OP,
    ("POST", "/api/v1/contacts"): SUP,
    ("GET", "/api/v1/contacts/{contact_id}"): OP,
    ("PATCH", "/api/v1/contacts/{contact_id}"): SUP,
    ("DELETE", "/api/v1/contacts/{contact_id}"): SUP,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{username}"): ADMIN,
    ("DELETE", "/api/v1/users/{username}"): ADMIN,
    ("POST", "/api/v1/users/{username}/unlock"): ADMIN,
    ("POST", "/api/v1/users/{username}/revoke"): ADMIN,
    ("GET", "/api/v1/organisations"): PLATFORM,
    ("POST", "/api/v1/organisations"): PLATFORM,
    ("POST", "/api/v1/auth/renew"): OP,
    ("GET", "/api/v1/auth/me"): OP,
    ("POST", "/api/v1/auth/logout"): OP,
    ("GET", "/api/v1/reports/response"): SUP,
    ("GET", "/api/v1/protocols"): SUP,
    ("PUT", "/api/v1/protocols"): SUP,
    ("DELETE", "/api/v1/protocols"): SUP,
    ("GET", "/api/v1/alerts/{alert_id}/protocol"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/protocol/{step_id}"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/notes"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/calls"): OP,
    ("GET", "/api/v1/handover"): OP,
    ("GET", "/api/v1/reports/monthly"): SUP,
    ("GET", "/api/v1/reports/monthly.csv"): SUP,
    ("GET", "/api/v1/reports/monthly.pdf"): SUP,
    ("GET", "/api/v1/status/homes"): OP,
    ("GET", "/api/v1/incidents"): OP,
    ("GET", "/api/v1/incidents/{incident_id}"): OP,
    ("POST", "/api/v1/incidents/{incident_id}/end"): SUP,
    ("GET", "/api/v1/silences"): OP,
    ("POST", "/api/v1/silences"): SUP,
    ("GET", "/api/v1/silences/{silence_id}"): OP,
    ("POST", "/api/v1/silences/{silence_id}/end"): SUP,
    ("GET", "/api/v1/residents/{resident_id}/record"): OP,
    ("PUT", "/api/v1/residents/{resident_id}/record"): SUP,
    ("GET", "/api/v1/audit"): SUP,
    ("GET", "/api/v1/roster"): OP,
    ("POST", "/api/v1/roster/shifts"): SUP,
    ("DELETE", "/api/v1/roster/shifts/{shift_id}"): SUP,
    ("GET", "/api/v1/alerts/{alert_id}/assignment"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/claim"): OP,
    ("POST", "/api/v1/alerts/{alert_id}/assign"): SUP,
    ("POST", "/twilio/sms/status"): TWILIO,
    ("POST", "/twilio/sms/inbound"): TWILIO,
    ("POST", "/twilio/voice/status"): TWILIO,
    # Aliyun and Tencent Cloud sign no pushes: a secret token in the path, else 403.
    ("POST", "/aliyun/sms/report/{token}"): TWILIO,
    ("POST", "/aliyun/sms/up/{token}"): TWILIO,
    ("POST", "/aliyun/voice/report/{token}"): TWILIO,
    ("POST", "/tencent/sms/status/{token}"): TWILIO,
    ("POST", "/tencent/sms/reply/{token}"): TWILIO,
    ("POST", "/twilio/voice/keypress"): TWILIO,
}
BELOW = {SUP: Role.OPERATOR, ADMIN: Role.SUPERVISOR, PLATFORM: Role.ADMIN}
SAMPLE = {
    "alert_id": "1",
    "home_id": "h1",
    "resident_id": "r1",
    "device_id": "d1",
    "contact_id": "1",
    "username": "someone",
    "token": "not-the-callback-token",
    "step_id": "call_resident",
    "incident_id": "1",
    "silence_id": "1",
    "shift_id": "1",
}


_built: set[tuple[str, str]] = set()


def _routes(ctx: AppContext) -> set[tuple[str, str]]:
    """The app's documented routes (computed once: they do not depend on the context)."""
    if not _built:
        paths = create_app(ctx).openapi()["paths"]
        _built.update((method.upper(), path) for path, ops in paths.items() for method in ops)
    return _built


@pytest.fixture
def token_for(store: Store, hashes: dict[str, str]) -> TokenFor:
    """Like conftest's, but signs the token with the test key instead of logging in
    (argon2 per test would make this matrix slow); test_auth.py covers logging in."""
    made: dict[str, int] = {}

    async def make(role: Role | str) -> dict[str, str]:
        username = f"{role}-user"
        if role not in made:
            platform = role == PLATFORM
            user = await store.create_user(
                User(
                    username,
                    hashes[PASSWORD],
                    Role.ADMIN if platform else Role(role),
                    organisation_id=None if platform else DEFAULT_ORGANISATION,
                )
            )
            made[role] = user.token_version
        claims = {"sub": username, "ver": made[role], "sid": "s1", "exp": int(time.time()) + 600}
        return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}

    return make


def _url(path: str) -> str:
    return path.format(**SAMPLE)


def test_every_route_has_a_role(ctx: AppContext) -> None:
    unlisted = _routes(ctx) - set(ROLES) - PUBLIC
    assert not unlisted, f"add these routes to ROLES with their role: {sorted(unlisted)}"


@pytest.mark.parametrize(("method", "path"), sorted(ROLES))
async def test_no_token_is_refused(
    client: httpx.AsyncClient, ctx: AppContext, method: str, path: str
) -> None:
    if (method, path) not in _routes(ctx):
        pytest.fail(f"{method} {path} is listed (CONTRACT.md §3) but not served")
    response = await client.request(method, _url(path))
    if ROLES[(method, path)] == TWILIO:
        assert response.status_code == 403, response.text  # no X-Twilio-Signature
    else:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()


@pytest.mark.parametrize(
    ("method", "path"), sorted(k for k, role in ROLES.items() if role in BELOW)
)
async def test_a_lower_role_is_403(
    client: httpx.AsyncClient, ctx: AppContext, token_for: TokenFor, method: str, path: str
) -> None:
    if (method, path) not in _routes(ctx):
        pytest.fail(f"{method} {path} is listed (CONTRACT.md §3) but not served")
    headers = await token_for(BELOW[ROLES[(method, path)]])
    response = await client.request(method, _url(path), headers=headers, json={})
    assert response.status_code == 403, response.text
    assert "role" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    sorted(k for k, role in ROLES.items() if role != TWILIO and k[1] != "/api/v1/alerts/stream"),
)
async def test_the_endpoint_role_gets_through(
    client: httpx.AsyncClient, ctx: AppContext, token_for: TokenFor, method: str, path: str
) -> None:
    if (method, path) not in _routes(ctx):
        pytest.fail(f"{method} {path} is listed (CONTRACT.md §3) but not served")
    headers = await token_for(ROLES[(method, path)])
    response = await client.request(method, _url(path), headers=headers, json={})
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500, response.text


async def test_stream_takes_the_token_as_a_query_parameter(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    """Browsers' EventSource cannot send headers; only the stream takes ?access_token=."""
    headers = await token_for(Role.OPERATOR)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert (await client.get(f"/api/v1/alerts?access_token={token}")).status_code == 401
    bad = await client.get("/api/v1/alerts/stream?access_token=forged")
    assert bad.status_code == 401
