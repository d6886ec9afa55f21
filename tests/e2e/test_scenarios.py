"""The scenario library and ordinary life, played accelerated over real MQTT
against a real service on the event clock (``ELDERCARE_CLOCK=event``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eldercare.app import Service
from eldercare.settings import Settings
from simulators import runner
from simulators.scenario import load
from tests.e2e.helpers import eventually, free_port

LIBRARY = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"
ADMIN_PASSWORD = "scenario-admin-pw"


@pytest.fixture
async def event_service(mosquitto: Any, tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    settings = Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=f"sqlite:///{tmp_path}/scenarios.db",
        api_port=port,
        admin_password=ADMIN_PASSWORD,
        mqtt_client_id=f"gw-{port}",
        clock="event",
    )
    service = Service(settings)
    async with service:
        task = asyncio.create_task(service.run())
        api = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=api) as client:

            async def ready() -> bool | None:
                try:
                    return True if (await client.get("/readyz")).status_code == 200 else None
                except httpx.HTTPError:
                    return None

            await eventually(ready, timeout=15)
        yield api, mosquitto.port
        service.request_stop()
        await asyncio.wait_for(task, 30)


async def test_every_library_scenario_passes(event_service: tuple[str, int]) -> None:
    api, mqtt_port = event_service
    scenarios = [load(p) for p in sorted(LIBRARY.glob("*.toml"))]
    assert len(scenarios) >= 18
    outcomes = await runner.run(
        scenarios,
        api=api,
        username="admin",
        password=ADMIN_PASSWORD,
        mqtt_host="127.0.0.1",
        mqtt_port=mqtt_port,
    )
    report = "\n".join(line for o in outcomes for line in o.lines())
    assert all(o.passed for o in outcomes), report
    seen = {exp.kind for o in outcomes for exp, _ in o.seen}
    from eldercare.domain import AlertKind

    assert seen == set(AlertKind), f"kinds no scenario covers: {set(AlertKind) - seen}"


async def test_fifty_homes_for_a_week_of_ordinary_life_raise_nothing(
    event_service: tuple[str, int],
) -> None:
    api, mqtt_port = event_service
    life = await runner.run_life(
        50,
        7,
        api=api,
        username="admin",
        password=ADMIN_PASSWORD,
        mqtt_host="127.0.0.1",
        mqtt_port=mqtt_port,
        settle=300,
    )
    assert life.messages > 300_000
    assert life.alerts == [], "\n".join(life.lines())
