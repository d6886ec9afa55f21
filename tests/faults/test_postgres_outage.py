"""Fault suite, scenario 3: PostgreSQL stopped mid-stream under a steady QoS 1 load.

A real ``eldercare serve`` on its own TimescaleDB server, which the test stops
(fast shutdown) and starts again on the same port and data. While it is away:
the service keeps running, ``/readyz`` says not ready and why (with what the
local spool holds), and an SOS pressed during the outage reaches the open live
stream (SSE, a provisional alert) and the family's first SMS without waiting for
the database (``alerts/standby.py``). After recovery: every bed reading stored
exactly once, the SOS one alert, its first SMS sent once (adopted by the
escalation step, marked ``spooled`` on the timeline), and the screen told that
the provisional alert is now stored. The SOS → SSE and → SMS latencies are
printed. Short mode: an outage of 8 s; ``ELDERCARE_FAULTS_MINUTES`` set: 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg

from eldercare.localservers import (
    pause_postgres,
    resume_postgres,
    start_postgres,
    stop_postgres,
)
from simulators.twilio_server import TwilioServer
from tests.e2e.helpers import eventually, token
from tests.e2e.test_no_loss import _serve
from tests.faults.conftest import Figures, long_minutes
from tests.faults.service import (
    AUTH_TOKEN,
    Publisher,
    missing_readings,
    provision,
    service_env,
    settle,
    sos_alerts,
    stored_readings,
    wait_schema,
    wait_subscribed,
)

ADMIN_PASSWORD = "not-used-here-1"


def press(port: int, home: str, device: str) -> tuple[float, float]:
    """One SOS press, QoS 1, PUBACKed by the broker; returns when it was published
    (time.monotonic(), time.time())."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"press-{home}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = {"ts": datetime.now(UTC).isoformat(), "seq": 0, "action": "press"}
    at, wall = time.monotonic(), time.time()
    info = client.publish(f"eldercare/v1/{home}/{device}/event", json.dumps(payload), qos=1)
    info.wait_for_publish(10)
    client.loop_stop()
    client.disconnect()
    return at, wall


async def watch(api: str, bearer: str, events: list[tuple[float, dict[str, Any]]]) -> None:
    """The care-centre screen's live stream: every ``alert`` event with its arrival."""
    async with (
        httpx.AsyncClient(base_url=api, timeout=None) as client,
        client.stream("GET", "/api/v1/alerts/stream", params={"access_token": bearer}) as answer,
    ):
        name = ""
        async for line in answer.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "alert":
                events.append((time.monotonic(), json.loads(line[6:])))


async def test_postgres_outage_keeps_the_alert_path_and_loses_nothing(
    mosquitto: Any, tmp_path: Path, figures: Figures
) -> None:
    outage = 8.0 if long_minutes() is None else 60.0
    server = await asyncio.to_thread(start_postgres, True)
    log = tmp_path / "serve.log"
    proc: subprocess.Popen[bytes] | None = None
    publisher: Publisher | None = None
    stream: asyncio.Task[None] | None = None
    events: list[tuple[float, dict[str, Any]]] = []
    try:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE outage")
        pg_url = server.url("outage")
        async with TwilioServer("AC" + "2" * 32, AUTH_TOKEN, callback_interval=0.05) as twilio:
            env = service_env(pg_url, mosquitto.port, twilio, "gw-faults-pg", tmp_path / "sp.db")
            fleet = await provision(pg_url, 3)
            proc = _serve(env, log)
            api = env["ELDERCARE_PUBLIC_URL"]
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
                await wait_schema(conn)
            await wait_subscribed(log, 1)
            bearer = await token(api, "admin", ADMIN_PASSWORD)
            stream = asyncio.create_task(watch(api, bearer, events))
            publisher = Publisher(mosquitto.port, fleet, rate=40.0, press_at=[])
            publisher.start()
            await asyncio.sleep(2.0)

            await asyncio.to_thread(pause_postgres, server)  # the outage begins
            went_down = time.monotonic()
            await asyncio.sleep(1.0)
            home, family = fleet.homes[1], fleet.phone(1)
            pressed, pressed_wall = await asyncio.to_thread(
                press, mosquitto.port, home, fleet.sos(home)
            )

            def shown() -> float | None:
                for at, data in events:
                    if data["home_id"] == home and data["kind"] == "sos":
                        return at
                return None

            def texted() -> float | None:  # when the Twilio server made the message
                made = [m.created.timestamp() for m in twilio.messages if m.to == family]
                return made[0] - pressed_wall + pressed if made else None

            async def on_screen() -> float | None:
                return shown()

            async def on_phone() -> float | None:
                return texted()

            sse_at = await eventually(on_screen, timeout=15, interval=0.005)
            sms_at = await eventually(on_phone, timeout=15, interval=0.005)
            provisional = next(d for _, d in events if d["home_id"] == home)

            async with httpx.AsyncClient(base_url=api, timeout=5) as client:
                ready = await client.get("/readyz")
            assert proc.poll() is None, "the service exited when PostgreSQL went away"
            await asyncio.sleep(max(0.0, went_down + outage - time.monotonic()))
            await asyncio.to_thread(resume_postgres, server)  # the outage ends
            came_back = time.monotonic()

            async def ready_again() -> bool | None:
                async with httpx.AsyncClient(base_url=api, timeout=5) as client:
                    return True if (await client.get("/readyz")).status_code == 200 else None

            await eventually(ready_again, timeout=30, interval=0.1)
            ready_after = time.monotonic() - came_back
            await asyncio.to_thread(publisher.stop)
            sent = publisher.total
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:

                async def all_stored() -> bool | None:
                    _, distinct = await stored_readings(conn)
                    return True if distinct >= sent else None

                async def step_done() -> bool | None:
                    cur = await conn.execute(
                        "SELECT count(*) FROM escalation_steps s JOIN alerts a"
                        " ON a.id = s.alert_id WHERE a.home_id = %s"
                        " AND s.name = 'critical.family_first' AND s.state = 'done'",
                        (home,),
                    )
                    row = await cur.fetchone()
                    return True if row and row[0] else None

                await settle(all_stored, 60)
                await settle(step_done, 30)
                await asyncio.sleep(1.0)  # a second message, were there one, lands now
                rows, distinct = await stored_readings(conn)
                missing = await missing_readings(conn, publisher.sent)
                alerts = await sos_alerts(conn)
                cur = await conn.execute(
                    "SELECT t.details FROM alert_timeline t JOIN alerts a ON a.id = t.alert_id"
                    " WHERE a.home_id = %s AND t.event = 'notified'",
                    (home,),
                )
                notified = [r[0] for r in await cur.fetchall()]
            texts = [m for m in twilio.messages if m.to == family]
            stored_event = [d for _, d in events if d["change"] == "stored"]
    finally:
        if stream is not None:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await stream
        if publisher is not None and not publisher._stop.is_set():
            publisher.stop(5)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await asyncio.to_thread(stop_postgres, server)
    figures(
        "PostgreSQL stopped mid-stream",
        {
            "outage (s)": outage,
            "SOS pressed after the outage began (s)": pressed - went_down,
            "SOS -> SSE during the outage (ms)": (sse_at - pressed) * 1000,
            "SOS -> SMS at Twilio during the outage (ms)": (sms_at - pressed) * 1000,
            "PostgreSQL up -> /readyz 200 (s)": ready_after,
            "readings sent": sent,
            "readings stored (rows)": rows,
            "duplicated": rows - distinct,
            "missing": missing,
            "SOS alerts": sum(alerts.values()),
            "SMS to the family": len(texts),
        },
    )
    assert ready.status_code == 503, ready.text
    reasons = ready.json()["reasons"]
    assert "store" in ready.json()["checks"] and not ready.json()["checks"]["store"]
    assert "held in the local spool" in reasons["store"], reasons
    assert provisional["id"] < 0 and provisional["change"] == "raised"
    assert provisional["status"] == "open" and provisional["severity"] == "critical"
    assert [d["id"] for d in stored_event] == [provisional["id"]], "the screen drops it"
    assert publisher.unacked == 0
    assert (rows, distinct, missing) == (sent, sent, 0), "every reading stored exactly once"
    assert alerts == {home: 1}, "the SOS is one alert"
    assert len(texts) == 1, [t.params.get("Body") for t in texts]
    family_notes = [n for n in notified if n["recipient"] == family]
    assert len(family_notes) == 1 and family_notes[0]["spooled"] is True, notified
    assert family_notes[0]["provider_id"] == texts[0].sid
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
