"""Fault suite, scenario 1: ``kill -9`` of a real ``eldercare serve`` every few
seconds under a steady QoS 1 load, restarted each time (TimescaleDB, a persistent
Mosquitto, the local Twilio server).

Every bed reading is stored exactly once (by device + seq), every SOS press is
one alert, and no SMS step reaches Twilio twice. Short mode: two kills ~3 s
apart; ``ELDERCARE_FAULTS_MINUTES=N``: N minutes, a kill every ~10 s.
(PostgreSQL stopped mid-stream: test_postgres_outage.py.)"""

from __future__ import annotations

import asyncio
import random
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
    dead_letters,
    missing_readings,
    missing_seqs,
    provision,
    service_env,
    settle,
    sms_per_step,
    sos_alerts,
    stored_readings,
    wait_schema,
    wait_subscribed,
)


async def test_kill_9_under_load_loses_and_repeats_nothing(
    pg_url: str, mosquitto: Any, tmp_path: Path, figures: Figures
) -> None:
    minutes = long_minutes()
    # short mode: two kills ~3 s apart (a restart takes 5 to 12 s on a busy 2-core box)
    duration, every = (6.0, 3.0) if minutes is None else (minutes * 60, 10.0)
    homes = max(4, int(duration // every))
    least = 2
    rng = random.Random(13)
    log = tmp_path / "serve.log"
    async with TwilioServer("AC" + "0" * 32, AUTH_TOKEN, callback_interval=0.05) as twilio:
        env = service_env(pg_url, mosquitto.port, twilio, "gw-faults-kill9")
        fleet = await provision(pg_url, homes)  # before the start: the gateway loads it
        proc = _serve(env, log)
        recoveries: list[float] = []
        kills = 0
        publisher: Publisher | None = None
        try:
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
                await wait_schema(conn)
                await wait_subscribed(log, 1)
                presses = [duration * (i + 0.5) / homes for i in range(homes)]  # within the run
                publisher = Publisher(mosquitto.port, fleet, rate=60.0, press_at=presses)
                publisher.start()
                t0 = time.monotonic()
                while kills < least or time.monotonic() - t0 < duration:
                    await asyncio.sleep(every * rng.uniform(0.6, 1.4))
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    kills += 1
                    restarted = time.monotonic()
                    proc = _serve(env, log)
                    await wait_subscribed(log, kills + 1)
                    recoveries.append(time.monotonic() - restarted)
                await asyncio.to_thread(publisher.stop)
                sent = publisher.total

                async def all_stored() -> bool | None:
                    _, distinct = await stored_readings(conn)
                    return True if distinct >= sent else None

                async def every_press_alerted() -> bool | None:
                    return True if len(await sos_alerts(conn)) >= len(publisher.presses) else None

                async def first_sms_settled() -> bool | None:
                    cur = await conn.execute(
                        "SELECT count(*) FROM escalation_steps"
                        " WHERE name = 'critical.family_first' AND state <> 'done'"
                    )
                    row = await cur.fetchone()
                    return True if row is not None and row[0] == 0 else None

                await settle(all_stored, 60)
                await settle(every_press_alerted, 30)
                # a step claimed by a killed process is taken over when its lease (60 s) ends
                await settle(first_sms_settled, 90)
                await asyncio.sleep(1.0)  # any stray redelivery or resend lands before counting
                rows, distinct = await stored_readings(conn)
                missing = await missing_readings(conn, publisher.sent)
                alerts = await sos_alerts(conn)
                cur = await conn.execute(
                    "SELECT state, count(*) FROM escalation_sends GROUP BY state ORDER BY state"
                )
                send_states = {str(s): int(n) for s, n in await cur.fetchall()}
                cur = await conn.execute(
                    "SELECT s.name, e.state, e.error, count(*) FROM escalation_sends e"
                    " JOIN escalation_steps s ON s.id = e.step_id GROUP BY 1, 2, 3"
                )
                sends_detail = [tuple(r) for r in await cur.fetchall()]
                dead = await dead_letters(conn)
                gaps = await missing_seqs(conn, publisher.sent)
        finally:
            if publisher is not None and not publisher._stop.is_set():
                publisher.stop(5)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        per_key, creates = sms_per_step(twilio)
    figures(
        "kill -9 of eldercare serve under QoS 1 load",
        {
            "duration (s)": duration,
            "kills": kills,
            "readings sent": sent,
            "readings stored (rows)": rows,
            "readings stored (distinct device+seq)": distinct,
            "duplicated": rows - distinct,
            "missing": missing,
            "publisher messages without PUBACK": publisher.unacked,
            "SOS presses": len(publisher.presses),
            "SOS alerts": sum(alerts.values()),
            "SMS accepted by Twilio": len(twilio.messages),
            "SMS create requests answered 201": creates,
            "SMS steps sent more than once": sum(1 for n in per_key.values() if n > 1),
            "escalation sends by state": send_states,
            "escalation sends (step, state, error, n)": sends_detail,
            "dead letters by reason": dead,
            "missing (device, seq)": gaps[:20],
            "restart to subscribed, mean (s)": sum(recoveries) / len(recoveries),
            "restart to subscribed, max (s)": max(recoveries),
        },
    )
    assert kills >= 2
    assert publisher.unacked == 0
    assert (rows, distinct, missing) == (sent, sent, 0), "every reading stored exactly once"
    assert alerts == {home: 1 for home in publisher.presses}, "every SOS press one alert"
    assert all(n == 1 for n in per_key.values()), "no SMS step sent twice"
    assert creates == len(twilio.messages), "no step key given to Twilio twice"
    # every first step ended: sent, or (killed during the call) unknown, never sent again
    assert len(twilio.messages) >= len(publisher.presses) - send_states.get("unknown", 0)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
