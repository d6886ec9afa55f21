"""A real API over a real SQLite store: fixtures for tests/api."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from alerts.channels import ConsoleSms
from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.service import AlertService
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import WallClock
from eldercare.domain import Alert, AlertKind, Finding, Home, Role, Severity, User
from eldercare.metrics import Metrics
from eldercare.passwords import hash_password
from eldercare.settings import Settings
from eldercare.store import Store, open_store

SECRET = "test-secret-key-long-enough-for-hs256-0123456789"
ADMIN = ("admin", "admin-password")
PASSWORD = "password-123"

TokenFor = Callable[[Role], Awaitable[dict[str, str]]]
RaiseAlert = Callable[..., Awaitable[Alert]]


@pytest.fixture(scope="session")
def hashes() -> dict[str, str]:
    """argon2 is slow on purpose: hash each test password once per run."""
    return {pw: hash_password(pw) for pw in (ADMIN[1], PASSWORD)}


@pytest.fixture
async def store(tmp_path: Path, hashes: dict[str, str]) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path}/t.db")
    await store.migrate()
    await store.create_user(User(ADMIN[0], hashes[ADMIN[1]], Role.ADMIN))
    await store.create_home(Home("h1", "Home one", "1 Main St", "Asia/Shanghai"))
    yield store
    await store.close()


@pytest.fixture
def checks() -> dict[str, bool]:
    """What /readyz reports; a test flips an entry to see 503."""
    return {"broker": True, "store": True}


@pytest.fixture
def registry_changes() -> list[int]:
    """One entry per ctx.on_registry_change() call."""
    return []


@pytest.fixture
async def ctx(
    store: Store, checks: dict[str, bool], registry_changes: list[int]
) -> AsyncIterator[AppContext]:
    settings = Settings(secret_key=SECRET, token_ttl=3600.0, timezone="Europe/Berlin")
    clock = WallClock()
    bus = AlertBus()
    metrics = Metrics()
    console = ConsoleSms()
    engine = EscalationEngine(
        store,
        clock,
        bus,
        metrics,
        load_policy(),
        console,
        console,
        care_centre_phone=settings.care_centre_phone,
        default_timezone=settings.timezone,
    )
    service = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=settings.response_window,
        default_timezone=settings.timezone,
        care_centre_phone=settings.care_centre_phone,
        escalation=engine,
    )

    async def readiness() -> dict[str, bool]:
        return dict(checks)

    yield AppContext(
        settings=settings,
        store=store,
        alerts=service,
        bus=bus,
        clock=clock,
        metrics=metrics,
        readiness=readiness,
        on_registry_change=lambda: registry_changes.append(1),
        delivery=engine,
    )
    await service.drain()


@pytest.fixture
async def client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


@pytest.fixture
def token_for(client: httpx.AsyncClient, store: Store, hashes: dict[str, str]) -> TokenFor:
    """Auth headers of a fresh account with the given role (made once per role)."""
    made: dict[Role, dict[str, str]] = {}

    async def make(role: Role) -> dict[str, str]:
        if role not in made:
            username = f"{role.value}-user"
            await store.create_user(User(username, hashes[PASSWORD], role))
            response = await login(client, username, PASSWORD)
            assert response.status_code == 200, response.text
            made[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return made[role]

    return make


@pytest.fixture
def raise_alert(ctx: AppContext) -> RaiseAlert:
    """Raise a new alert through the real AlertService, as a detector would."""
    keys = itertools.count(1)

    async def make(
        subject: str | None = None,
        kind: AlertKind = AlertKind.FALL,
        severity: Severity = Severity.CRITICAL,
        home_id: str = "h1",
        at: datetime | None = None,
    ) -> Alert:
        n = next(keys)
        change = await ctx.alerts.handle_finding(
            Finding(
                home_id=home_id,
                subject=subject or f"r{n}",
                kind=kind,
                severity=severity,
                at=at or datetime.now(UTC),
                source_key=f"test:{n}",
                message=f"test alert {n}",
            )
        )
        assert change is not None
        return change.alert

    return make
