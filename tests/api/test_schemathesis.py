"""Property-based API fuzzing with schemathesis against /openapi.json, over a
real SQLite store: no 5xx, no response that breaks its own schema.

Kept small (a few examples per operation) so the suite stays fast; the live
stream is left out (it never ends), its behaviour is tested on its own.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
from pathlib import Path

import httpx
import schemathesis
from argon2 import PasswordHasher
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from alerts.events import AlertBus
from alerts.service import AlertService
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import WallClock
from eldercare.domain import Device, DeviceKind, Home, Resident, Role, User
from eldercare.metrics import Metrics
from eldercare.settings import Settings
from eldercare.store import Store, open_store

SECRET = "schemathesis-secret-key-0123456789-abcdef"
MAX_EXAMPLES = 4


@functools.cache
def _admin_hash() -> str:
    """The admin's password hashed once, with argon2's lowest cost (the stateful
    run logs in once per scenario; the hash says its cost, so the app's own
    check verifies it as any other)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("admin-password")


async def _store(path: Path) -> Store:
    store = await open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.create_user(User("admin", _admin_hash(), Role.ADMIN))
    await store.create_home(Home("h1", "Home one", "", "Asia/Shanghai"))
    await store.create_resident(Resident("r1", "h1", "Wang"))
    await store.create_device(Device("bed1", "h1", DeviceKind.BED_BAND, "r1"))
    return store


def build_app(db: Path) -> tuple[FastAPI, Store]:
    """The API over a new SQLite store at ``db`` (an admin, a home, its resident
    and bed band), with its own in-memory state (login throttle, live bus); the
    caller closes the store."""
    store = asyncio.run(_store(db))
    settings_ = Settings(secret_key=SECRET, token_ttl=3600.0)
    clock, bus, metrics = WallClock(), AlertBus(), Metrics()
    alerts = AlertService(
        store, clock, bus, metrics,
        response_window_s=600, default_timezone="Asia/Shanghai", care_centre_phone="+861234567",
    )  # fmt: skip

    async def readiness() -> dict[str, bool]:
        return {"broker": True, "store": True}

    ctx = AppContext(settings_, store, alerts, bus, clock, metrics, readiness, lambda: None)
    return create_app(ctx), store


def _app() -> FastAPI:
    directory = Path(tempfile.mkdtemp(prefix="eldercare-schemathesis-"))
    return build_app(directory / "fuzz.db")[0]


def login(app: object) -> str:
    """A real session of the admin, as a client gets one (POST /api/v1/auth/token):
    a token signed by hand would carry no session and get 401 everywhere."""

    async def post() -> str:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as client:
            response = await client.post(
                "/api/v1/auth/token", data={"username": "admin", "password": "admin-password"}
            )
            response.raise_for_status()
            return str(response.json()["access_token"])

    return asyncio.run(post())


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(
    # The stream never ends; logging out or revoking would end the session the
    # rest of the run uses (both are tested on their own).
    path=["/api/v1/alerts/stream", "/api/v1/auth/logout", "/api/v1/users/{username}/revoke"]
)
TOKEN = login(APP)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_keeps_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
