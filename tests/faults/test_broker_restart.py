"""Fault suite, scenario 2: Mosquitto restarted mid-stream under a steady QoS 1 load.

A real ``eldercare serve`` (TimescaleDB) reconnects by itself (paho's backoff plus
the gateway's jitter of up to 1 s, gateway/intake.py) and nothing is lost: the
broker keeps the gateway's persistent session across the restart and the
publisher resends what it had in flight. The time from the broker listening
again to the gateway subscribed again is printed. Short mode: two restarts in
about 12 s; ``ELDERCARE_FAULTS_MINUTES=N``: a restart every ~30 s for N minutes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from simulators.twilio_server import TwilioServer
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


async def test_broker_restart_reconnects_and_loses_nothing(
    pg_url: str, mosquitto: Any, tmp_path: Path, figures: Figures
) -> None:
    minutes = long_minutes()
    duration, every = (12.0, 4.0) if minutes is None else (minutes * 60, 30.0)
    homes = max(3, int(duration // every))
    log = tmp_path / "serve.log"
    async with TwilioServer("AC" + "1" * 32, AUTH_TOKEN) as twilio:
        env = service_env(pg_url, mosquitto.port, twilio, "gw-faults-broker")
        fleet = await provision(pg_url, homes)  # before the start: the gateway loads it
        proc = _serve(env, log)
        reconnects: list[float] = []
        downtimes: list[float] = []
        publisher: Publisher | None = None
        try:
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
                await wait_schema(conn)
                await wait_subscribed(log, 1)
                presses = [duration * (i + 0.5) / homes for i in range(homes)]
                publisher = Publisher(mosquitto.port, fleet, rate=60.0, press_at=presses)
                publisher.start()
                t0 = time.monotonic()
                restarts = 0
                while time.monotonic() - t0 + every <= duration + 0.5:
                    await asyncio.sleep(every)
                    down = time.monotonic()
                    await asyncio.to_thread(mosquitto.restart)
                    up = time.monotonic()
                    downtimes.append(up - down)
                    restarts += 1
                    reconnects.append(await wait_subscribed(log, restarts + 1))
                    assert proc.poll() is None, "the service exited on a broker restart"
                await asyncio.to_thread(publisher.stop)
                sent = publisher.total

                async def all_stored() -> bool | None:
                    _, distinct = await stored_readings(conn)
                    return True if distinct >= sent else None

                async def every_press_alerted() -> bool | None:
                    return True if len(await sos_alerts(conn)) >= len(publisher.presses) else None

                await settle(all_stored, 60)
                await settle(every_press_alerted, 30)
                await asyncio.sleep(1.0)  # any stray redelivery lands before counting
                rows, distinct = await stored_readings(conn)
                missing = await missing_readings(conn, publisher.sent)
                alerts = await sos_alerts(conn)
        finally:
            if publisher is not None and not publisher._stop.is_set():
                publisher.stop(5)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    figures(
        "Mosquitto restarted mid-stream",
        {
            "duration (s)": duration,
            "broker restarts": restarts,
            "broker down, mean (s)": sum(downtimes) / len(downtimes),
            "broker up to gateway subscribed, mean (s)": sum(reconnects) / len(reconnects),
            "broker up to gateway subscribed, max (s)": max(reconnects),
            "readings sent": sent,
            "readings stored (rows)": rows,
            "duplicated": rows - distinct,
            "missing": missing,
            "publisher messages without PUBACK": publisher.unacked,
            "SOS presses": len(publisher.presses),
            "SOS alerts": sum(alerts.values()),
        },
    )
    assert restarts >= 2
    assert publisher.unacked == 0
    assert (rows, distinct, missing) == (sent, sent, 0), "every reading stored exactly once"
    assert alerts == {home: 1 for home in publisher.presses}, "every SOS press one alert"
    assert max(reconnects) < 35, "the gateway reconnects within its backoff's cap (30 s + 1 s)"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
