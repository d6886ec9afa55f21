"""ELDERCARE_INTAKE_PROCESS=on on real parts (Mosquitto, TimescaleDB, the child
process): serve raises an SOS from its urgent session itself, the intake process
stores every reading once and raises what only it sees, its alerts reach serve's
live stream and SMS, and an SOS pressed while the intake process is killed is
still raised at once, stored once when it is back, and texted once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest

from alerts.channels import ConsoleSms
from eldercare.app import Service
from eldercare.domain import Alert
from eldercare.settings import Settings, SettingsError
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from tests.e2e.helpers import eventually, free_port

ADMIN_PASSWORD = "s3cret-admin-pw"


@pytest.fixture
async def running(
    pg_url: str, mosquitto: Any, tmp_path: Any
) -> AsyncIterator[tuple[Service, str, ConsoleSms]]:
    port = free_port()
    settings = Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=pg_url,
        api_port=port,
        admin_password=ADMIN_PASSWORD,
        mqtt_client_id=f"gw-{port}",
        spool_path=f"{tmp_path}/spool.db",
        intake_process="on",
    )
    console = ConsoleSms()
    service = Service(settings, sms=console, voice=console)
    async with service:
        task = asyncio.create_task(service.run())
        api = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=api) as client:

            async def ready() -> bool | None:
                try:
                    return True if (await client.get("/readyz")).status_code == 200 else None
                except httpx.HTTPError:
                    return None

            await eventually(ready, timeout=30)
        await provision_homes(
            api, "admin", ADMIN_PASSWORD, [DemoHome(f"h{i}", i) for i in (1, 2, 3)]
        )
        yield service, api, console
        service.request_stop()
        await asyncio.wait_for(task, 30)


async def _stored(pg_url: str, device_id: str) -> int:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM readings WHERE device_id = %s", (device_id,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def _alerts(service: Service, home_id: str) -> list[Alert]:
    from eldercare.store.base import AlertFilter

    return await service.store.list_alerts(AlertFilter(home_id=home_id, limit=10))


def _publish_raw(port: int, topic: str, payload: dict[str, Any]) -> None:
    """A payload without ``ts`` or ``seq`` (DevicePublisher always sends both)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{time.time_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


async def test_sos_raised_by_serve_and_stored_once_by_the_intake_process(
    running: tuple[Service, str, ConsoleSms], mosquitto: Any, pg_url: str
) -> None:
    service, _api, console = running
    assert service.critical is not None and service.intake is not None
    # the urgent session has subscribed to the new homes' SOS topics
    await eventually(lambda: _subscribed(service, "h1-sos"), timeout=15)
    async with service.bus.watch() as changes:
        async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
            await pub.event("h1", "h1-sos", {"action": "press"})
            for i in range(5):  # the bulk: the bed band's vitals, the child's alone
                await pub.event("h1", "h1-bed", {"hr": 70 + i, "rr": 14, "in_bed": True})
        event = await asyncio.wait_for(changes.get(), 5)
        assert event is not None and event.change == "raised"
        assert event.alert.kind.value == "sos"
        # both processes raise it, whichever is first: it is created once
        more = await _drain(changes, 1.5)
    changes_seen = [e.change for e in more if e.alert.id == event.alert.id]
    assert "raised" not in changes_seen and "repeated" not in changes_seen, changes_seen
    assert "notified" in changes_seen, "serve's escalation texted the family"
    first = service.critical.raised
    assert first <= 1

    async def all_stored() -> bool | None:
        bed, sos = await _stored(pg_url, "h1-bed"), await _stored(pg_url, "h1-sos")
        return True if (bed, sos) == (5, 1) else None

    await eventually(all_stored, timeout=15)
    await eventually(lambda: _sms_for(console, event.alert.id), timeout=10)
    await asyncio.sleep(1.0)  # the child's copy of the press has been processed by now
    alerts = await _alerts(service, "h1")
    assert [(a.kind.value, a.count) for a in alerts] == [("sos", 1)]
    assert await _stored(pg_url, "h1-sos") == 1

    # a press without ts/seq is left to the child: raised there, relayed to serve's
    # bus (the live screen) and texted by serve's escalation
    async with service.bus.watch() as changes:
        await asyncio.to_thread(
            _publish_raw, mosquitto.port, "eldercare/v1/h2/h2-sos/event", {"action": "press"}
        )
        event = await asyncio.wait_for(changes.get(), 10)
    assert event is not None and event.change == "raised" and event.alert.home_id == "h2"
    assert service.critical.raised == first, "serve left the press without ts to the child"
    assert service.link is not None and service.link.relayed >= 1
    await eventually(lambda: _sms_for(console, event.alert.id), timeout=10)


async def test_sos_raised_while_the_intake_process_is_killed(
    running: tuple[Service, str, ConsoleSms], mosquitto: Any, pg_url: str
) -> None:
    service, api, console = running
    intake = service.intake
    assert intake is not None and service.critical is not None
    await eventually(lambda: _subscribed(service, "h3-sos"), timeout=15)
    before = intake._procs[0].pid
    intake._procs[0].kill()  # kill -9: it commits and acks nothing more
    await intake._procs[0].wait()
    async with service.bus.watch() as changes:
        async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
            await pub.event("h3", "h3-sos", {"action": "press"})
        event = await asyncio.wait_for(changes.get(), 5)
    assert event is not None and event.change == "raised" and event.alert.home_id == "h3"
    assert intake._procs[0].pid == before, "raised before the intake process was back"
    critical = service.critical

    async def raised_by_serve() -> bool | None:  # counted once its ladder is written
        return True if critical.raised == 1 else None

    await eventually(raised_by_serve, timeout=5)

    async def restarted() -> bool | None:
        proc = intake._procs.get(0)
        return True if proc is not None and proc.pid != before and intake.alive else None

    await eventually(restarted, timeout=10)
    # the child's persistent session gets the press again: stored once, no second alert
    await eventually(lambda: _stored_once(pg_url, "h3-sos"), timeout=30)
    await eventually(lambda: _sms_for(console, event.alert.id), timeout=10)
    await asyncio.sleep(1.0)
    alerts = await _alerts(service, "h3")
    assert [(a.kind.value, a.count) for a in alerts] == [("sos", 1)]
    family = [m for m in console.sent if m.alert_id == event.alert.id]
    assert len({m.step_key for m in family}) == len(family), "no SMS step sent twice"
    async with httpx.AsyncClient(base_url=api) as client:
        assert (await client.get("/readyz")).status_code == 200


def test_intake_process_refused_without_the_urgent_session() -> None:
    with pytest.raises(SettingsError, match="ELDERCARE_INTAKE_PROCESS=on needs"):
        Settings.load(
            env={"ELDERCARE_INTAKE_PROCESS": "on", "ELDERCARE_MQTT_URGENT_SESSION": "off"}
        )
    with pytest.raises(SettingsError, match="must be on or off"):
        Settings.load(env={"ELDERCARE_INTAKE_PROCESS": "yes"})


def test_settings_pass_whole_to_the_intake_process() -> None:
    s = Settings.load(env={}).with_(
        database_url="postgresql://u:p@127.0.0.1:5/db", intake_process="on", batch_max=77
    )
    assert Settings.load(env=s.as_env()) == s


async def _drain(changes: asyncio.Queue[Any], seconds: float) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await asyncio.wait_for(changes.get(), left)
        except TimeoutError:
            break
        if event is not None:
            out.append(event)
    return out


async def _subscribed(service: Service, device_id: str) -> bool | None:
    urgent = service._urgent_gateway
    topics = set() if urgent is None else urgent._urgent_topics
    return True if any(t.split("/")[3] == device_id for t in topics) else None


async def _sms_for(console: ConsoleSms, alert_id: int) -> bool | None:
    return True if any(m.alert_id == alert_id for m in console.sent) else None


async def _stored_once(pg_url: str, device_id: str) -> bool | None:
    return True if await _stored(pg_url, device_id) == 1 else None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


async def test_the_intake_process_stops_when_serve_is_killed(
    pg_url: str, mosquitto: Any, tmp_path: Path
) -> None:
    """serve killed -9: its intake process does not stay behind holding the MQTT
    session the next serve's intake process needs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_DATABASE_URL=pg_url,
        ELDERCARE_MQTT_URL=f"mqtt://127.0.0.1:{mosquitto.port}",
        ELDERCARE_API_PORT=str(free_port()),
        ELDERCARE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        ELDERCARE_MQTT_CLIENT_ID="gw-orphan",
        ELDERCARE_SPOOL_PATH=str(tmp_path / "spool.db"),
        ELDERCARE_INTAKE_PROCESS="on",
    )
    with open(tmp_path / "serve.log", "ab") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "eldercare", "serve"], env=env, stdout=log, stderr=log
        )
    try:

        async def child() -> int | None:
            kids = _children(serve.pid)
            return kids[0] if kids else None

        pid = await eventually(child, timeout=30)
        serve.kill()
        serve.wait(10)

        async def exited() -> bool | None:
            return True if _gone(pid) else None

        await eventually(exited, timeout=20)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(10)
