"""/readyz says so when another client takes the service's MQTT session (issue
20 item 1), on a real service, Mosquitto and SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.channels import ConsoleSms
from eldercare.app import Service
from eldercare.settings import Settings
from tests.e2e.helpers import eventually, free_port
from tests.gateway.test_session_takeover import Attacker

pytestmark = pytest.mark.mosquitto


async def test_readyz_names_a_session_takeover(mosquitto: Any, tmp_path: Path) -> None:
    port = free_port()
    client_id = f"gw-{port}"
    settings = Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=f"sqlite:///{tmp_path}/e2e.db",
        api_port=port,
        admin_password="s3cret-admin-pw",
        mqtt_client_id=client_id,
    )
    console = ConsoleSms()
    service = Service(settings, sms=console, voice=console)
    async with service, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        task = asyncio.create_task(service.run())

        async def ready() -> bool | None:
            try:
                return True if (await client.get("/readyz")).status_code == 200 else None
            except httpx.HTTPError:
                return None

        await eventually(ready, timeout=15)
        attacker = Attacker(mosquitto.port, client_id, "5")
        try:

            async def not_ready() -> dict[str, Any] | None:
                resp = await client.get("/readyz")
                return resp.json() if resp.status_code == 503 else None

            body = await eventually(not_ready, timeout=10)
        finally:
            attacker.close()
        assert body["checks"]["mqtt_session"] is False
        assert client_id in body["reasons"]["mqtt_session"]
        assert "mqtt_session" in body["detail"]
        metrics = (await client.get("/metrics")).text
        assert "eldercare_mqtt_session_takeovers_total" in metrics
        service.request_stop()
        await asyncio.wait_for(task, 15)
