"""The real HTTP API over a store, for the benchmarks: uvicorn on a free port
and an httpx client logged in as an operator, in a process tuned as the
service's (eldercare/process_tuning.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn

from alerts.events import AlertBus
from alerts.service import AlertService
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import WallClock
from eldercare.domain import Role, User
from eldercare.localservers import free_port
from eldercare.metrics import Metrics
from eldercare.passwords import hash_password
from eldercare.process_tuning import tune_for_service
from eldercare.settings import Settings
from eldercare.store import NotFound, Store

PASSWORD = "bench-password"


@asynccontextmanager
async def api_client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The API app on ``store`` served by uvicorn; a client with an operator's token."""
    try:
        await store.get_user("bench")
    except NotFound:
        await store.create_user(User("bench", hash_password(PASSWORD), Role.OPERATOR))
    settings = Settings(secret_key="bench-secret-key-0123456789-abcdefgh")
    clock, bus, metrics = WallClock(), AlertBus(), Metrics()
    alerts = AlertService(
        store, clock, bus, metrics,
        response_window_s=600, default_timezone="Asia/Shanghai", care_centre_phone="+86571",
    )  # fmt: skip

    async def ready() -> dict[str, bool]:
        return {"store": True}

    app = create_app(AppContext(settings, store, alerts, bus, clock, metrics, ready, lambda: None))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, port=port, log_level="warning", lifespan="off", access_log=False)
    )
    # As `eldercare serve` runs the API: cyclic GC and GIL switch interval set for a
    # service (eldercare/process_tuning.py), not a script's defaults.
    tune_for_service(metrics)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn has no started event)
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            form = {"username": "bench", "password": PASSWORD}
            token = (await http.post("/api/v1/auth/token", data=form)).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            yield http
    finally:
        server.should_exit = True
        await task
