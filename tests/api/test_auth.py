"""Logging in, bearer tokens and roles."""

from __future__ import annotations

import time

import httpx
import jwt

from eldercare.domain import Role
from tests.api.conftest import ADMIN, PASSWORD, SECRET, TokenFor, login


async def test_login_gives_a_bearer_token_that_opens_the_api(client: httpx.AsyncClient) -> None:
    response = await login(client, *ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/api/v1/alerts", headers=headers)).status_code == 200


async def test_wrong_password_or_unknown_user_is_401(client: httpx.AsyncClient) -> None:
    for username, password in [(ADMIN[0], "not-the-password"), ("nobody", "whatever")]:
        response = await login(client, username, password)
        assert response.status_code == 401
        assert response.json()["detail"] == "incorrect username or password"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_token_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    for path in ["/api/v1/alerts", "/api/v1/homes", "/api/v1/users", "/api/v1/alerts/stream"]:
        response = await client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()


async def test_bad_and_forged_tokens_are_401(client: httpx.AsyncClient) -> None:
    forged = jwt.encode(
        {"sub": ADMIN[0], "exp": int(time.time()) + 600}, "another-key" * 4, algorithm="HS256"
    )
    for token in ["garbage", forged]:
        response = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json()["detail"] == "invalid token"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401_and_says_so(client: httpx.AsyncClient) -> None:
    claims = {"sub": ADMIN[0], "ver": 0, "sid": "s1", "exp": int(time.time()) - 10}
    expired = jwt.encode(claims, SECRET, algorithm="HS256")
    response = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_token_of_a_deleted_user_stops_working(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    operator = await token_for(Role.OPERATOR)
    admin = await token_for(Role.ADMIN)
    assert (await client.get("/api/v1/alerts", headers=operator)).status_code == 200
    deleted = await client.delete("/api/v1/users/operator-user", headers=admin)
    assert deleted.status_code == 204
    response = await client.get("/api/v1/alerts", headers=operator)
    assert response.status_code == 401
    assert "no longer exists" in response.json()["detail"]


async def test_a_demoted_user_loses_the_role_at_once(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    """A role change ends the account's tokens; logged in again, the new role applies."""
    """A role change ends the account's tokens; logged in again, the new role applies."""
    supervisor = await token_for(Role.SUPERVISOR)
    admin = await token_for(Role.ADMIN)
    home = {"id": "h2", "name": "Two"}
    assert (await client.post("/api/v1/homes", json=home, headers=supervisor)).status_code == 201
    changed = await client.patch(
        "/api/v1/users/supervisor-user", json={"role": "operator"}, headers=admin
    )
    assert changed.status_code == 200
    home = {"id": "h3", "name": "Three"}
    response = await client.post("/api/v1/homes", json=home, headers=supervisor)
    assert response.status_code == 401
    assert "session has ended" in response.json()["detail"]
    token = (await login(client, "supervisor-user", PASSWORD)).json()["access_token"]
    again = {"Authorization": f"Bearer {token}"}
    assert (await client.post("/api/v1/homes", json=home, headers=again)).status_code == 403


async def test_operator_cannot_write_the_registry_or_manage_users(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    operator = await token_for(Role.OPERATOR)
    refused = [
        await client.post("/api/v1/homes", json={"id": "h9", "name": "x"}, headers=operator),
        await client.patch("/api/v1/homes/h1", json={"name": "x"}, headers=operator),
        await client.delete("/api/v1/homes/h1", headers=operator),
        await client.get("/api/v1/users", headers=operator),
        await client.post(
            "/api/v1/users",
            json={"username": "x", "password": PASSWORD, "role": "admin"},
            headers=operator,
        ),
    ]
    for response in refused:
        assert response.status_code == 403
        assert response.json()["detail"].endswith("role; you are operator")
    assert (await client.get("/api/v1/homes/h1", headers=operator)).status_code == 200


async def test_supervisor_cannot_manage_users(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    supervisor = await token_for(Role.SUPERVISOR)
    response = await client.get("/api/v1/users", headers=supervisor)
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


async def test_openapi_documents_the_bearer_scheme_and_contract_paths(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/openapi.json")).json()
    schemes = doc["components"]["securitySchemes"]
    (scheme,) = schemes.values()
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    for path in [
        "/api/v1/auth/token",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/alerts/{alert_id}/dispatch",
        "/api/v1/alerts/{alert_id}/arrive",
        "/api/v1/alerts/{alert_id}/resolve",
        "/api/v1/alerts/stream",
        "/api/v1/homes",
        "/api/v1/homes/{home_id}",
        "/api/v1/homes/{home_id}/status",
        "/api/v1/residents/{resident_id}",
        "/api/v1/devices/{device_id}",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/users",
        "/api/v1/users/{username}",
        "/healthz",
        "/readyz",
        "/metrics",
    ]:
        assert path in doc["paths"], path
    ack = doc["paths"]["/api/v1/alerts/{alert_id}/acknowledge"]["post"]
    assert ack["summary"] and ack["security"]


async def test_me_names_the_account_and_its_role_for_the_screen(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    for role in (Role.OPERATOR, Role.SUPERVISOR):
        got = await client.get("/api/v1/auth/me", headers=await token_for(role))
        assert got.status_code == 200, got.text
        assert got.json() == {
            "username": f"{role.value}-user",
            "role": role.value,
            "phone": None,
            "organisation_id": "default",
        }
    assert (await client.get("/api/v1/auth/me")).status_code == 401
