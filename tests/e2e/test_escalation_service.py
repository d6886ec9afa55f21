"""The ladder through the real service: Mosquitto → gateway → detector → alert →
escalation loop → ConsoleSms, with staff acting through the API and the
service's clock moved by hand (the loop reads it every second)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from alerts.channels import ConsoleSms
from eldercare.app import Service
from eldercare.clock import ManualClock
from eldercare.domain import Role, User
from eldercare.settings import Settings
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from tests.e2e.helpers import eventually, free_port

ADMIN_PASSWORD = "s3cret-admin-pw"
SON, SUPERVISOR = "+447700900002", "+8613900000009"


async def test_sos_ladder_through_the_service(mosquitto: Any, tmp_path: Any) -> None:
    port = free_port()
    settings = Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=f"sqlite:///{tmp_path}/esc.db",
        api_port=port,
        admin_password=ADMIN_PASSWORD,
        mqtt_client_id=f"gw-{port}",
    )
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    console = ConsoleSms()
    service = Service(settings, sms=console, voice=console, clock=clock)
    async with service:
        task = asyncio.create_task(service.run())
        api = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=api, timeout=5) as client:

                async def ready() -> bool | None:
                    try:
                        return True if (await client.get("/readyz")).status_code == 200 else None
                    except httpx.HTTPError:
                        return None

                await eventually(ready, timeout=15)
                await provision_homes(api, "admin", ADMIN_PASSWORD, [DemoHome("h1", 0)])
                await service.store.create_contact("h1", "Son", SON, "en", 2)
                await service.store.create_user(User("sup", "x", Role.SUPERVISOR, SUPERVISOR))
                form = {"username": "admin", "password": ADMIN_PASSWORD}
                token = (await client.post("/api/v1/auth/token", data=form)).json()
                client.headers["Authorization"] = f"Bearer {token['access_token']}"

                def sent(n: int) -> Any:
                    async def probe() -> list[str] | None:
                        return [m.to for m in console.sent] if len(console.sent) >= n else None

                    return probe

                async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
                    await pub.event("h1", "h1-sos", {"action": "press"})
                assert await eventually(sent(1)) == ["+8613800000000"]  # contact #1 at once
                alert = (await client.get("/api/v1/alerts")).json()["items"][0]

                clock.advance(60)  # +60 s, nobody acknowledged: every contact (contact #1
                # already has that text: not again)
                assert await eventually(sent(2)) == ["+8613800000000", SON]

                url = f"/api/v1/alerts/{alert['id']}"
                assert (await client.post(f"{url}/acknowledge")).status_code == 200
                clock.advance(7 * 60 - 60)  # +7 min, acknowledged but nobody on site
                assert (await eventually(sent(3)))[2] == SUPERVISOR
                assert "+8613800000000" not in [m.to for m in console.sent[2:]]  # no voice call

                assert (await client.post(f"{url}/arrive")).status_code == 200
                clock.advance(10 * 60)
                assert service.escalation is not None
                await service.escalation.run_due()  # what the loop does within a second
                assert len(console.sent) == 3  # on site: the breach never comes

                detail = (await client.get(url)).json()
                events = [e["event"] for e in detail["timeline"]]
                assert events.count("notified") == 3
                assert "window_breached" not in events
                steps = await service.store.list_steps(alert["id"])
                assert {s.name: s.state for s in steps}["critical.window_breached"] == "cancelled"
        finally:
            service.request_stop()
            await asyncio.wait_for(task, 15)
