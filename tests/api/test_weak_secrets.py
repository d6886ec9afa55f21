"""Weak secrets are refused where a person sets them: account passwords through
the API and `eldercare users add` (short, common or breached, guessable from
the username), a weak ELDERCARE_ADMIN_PASSWORD and an ELDERCARE_SECRET_KEY shorter
than 32 bytes at start, each with a sentence saying why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from eldercare.domain import Role
from tests.api.conftest import TokenFor, login
from tests.e2e.helpers import free_port

WEAK = {
    "password": "at least 10 characters",
    "12345678": "at least 10 characters",
    "password123": "common passwords from breaches",
    "qwertyuiop": "common passwords from breaches",
    "1234567890": "common passwords from breaches",
    "P@ssw0rd2024": "too easy to guess",
    "nurse.li2026": "too easy to guess",  # the username and a year
    "Eldercare2026": "too easy to guess",  # the service's name
}


@pytest.mark.parametrize("password", list(WEAK))
async def test_the_api_refuses_a_weak_password_with_the_reason(
    client: httpx.AsyncClient, token_for: TokenFor, password: str
) -> None:
    admin = await token_for(Role.ADMIN)
    body = {"username": "nurse.li", "password": password, "role": "operator"}
    refused = await client.post("/api/v1/users", json=body, headers=admin)
    assert refused.status_code == 422
    assert WEAK[password] in str(refused.json()["detail"])
    listed = (await client.get("/api/v1/users", headers=admin)).json()
    assert "nurse.li" not in [u["username"] for u in listed]


async def test_a_weak_new_password_changes_nothing(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    admin = await token_for(Role.ADMIN)
    body = {"username": "nurse.li", "password": "ward-7-night-shift", "role": "operator"}
    assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
    refused = await client.patch(
        "/api/v1/users/nurse.li", json={"password": "iloveyou1234"}, headers=admin
    )
    assert refused.status_code == 422
    assert (await login(client, "nurse.li", "ward-7-night-shift")).status_code == 200


def _eldercare(
    args: list[str], tmp_path: Path, stdin: str = "", **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_DATABASE_URL=f"sqlite:///{tmp_path}/weak.db",
        ELDERCARE_API_PORT=str(free_port()),
        ELDERCARE_EMBEDDED_MQTT_PORT=str(free_port()),
        ELDERCARE_LOG_FORMAT="text",
        **settings,
    )
    return subprocess.run(
        [sys.executable, "-m", "eldercare", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_a_short_secret_key_at_start(tmp_path: Path) -> None:
    done = _eldercare(["serve"], tmp_path, ELDERCARE_SECRET_KEY="secret")
    assert done.returncode == 2, done.stderr
    assert "ELDERCARE_SECRET_KEY must be at least 32 bytes, not 6" in done.stderr


def test_serve_refuses_a_weak_admin_password_at_start(tmp_path: Path) -> None:
    done = _eldercare(["serve"], tmp_path, ELDERCARE_ADMIN_PASSWORD="12345678")
    assert done.returncode == 1, done.stderr
    assert "ELDERCARE_ADMIN_PASSWORD: the password needs at least 10 characters" in done.stderr


def test_users_add_refuses_a_common_password(tmp_path: Path) -> None:
    done = _eldercare(
        ["users", "add", "nurse", "--role", "operator", "--password-stdin"],
        tmp_path,
        stdin="1234567890\n",
    )
    assert done.returncode == 2, done.stderr
    assert "common passwords from breaches" in done.stderr
    done = _eldercare(
        ["users", "add", "nurse", "--role", "operator", "--password-stdin"],
        tmp_path,
        stdin="ward-7-night-shift\n",
    )
    assert done.returncode == 0, done.stderr
