"""No loss: the gateway is killed after it received a batch but before the batch
was committed; after a restart the broker redelivers and every message is
stored exactly once (QoS 1, persistent session, ack after commit)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest

from eldercare.domain import Device, DeviceKind, Home, Resident
from eldercare.store import open_store
from eldercare.store._common import load_migrations
from tests.e2e.helpers import eventually, free_port

N = 200


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "eldercare", "serve"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def service_env(pg_url: str, mosquitto: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_DATABASE_URL=pg_url,
        ELDERCARE_MQTT_URL=f"mqtt://127.0.0.1:{mosquitto.port}",
        ELDERCARE_API_PORT=str(free_port()),
        ELDERCARE_ADMIN_PASSWORD="not-used-here-1",
        ELDERCARE_MQTT_CLIENT_ID="gw-no-loss",
        ELDERCARE_LOG_FORMAT="json",
        ELDERCARE_SPOOL_PATH=str(tmp_path / "spool.db"),
    )
    yield env


def _publish_all(port: int, home: str, device: str) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub-no-loss")
    client.connect("127.0.0.1", port)
    client.loop_start()
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    infos = []
    for i in range(N):
        payload = {
            "ts": (t0 + timedelta(milliseconds=i)).isoformat(),
            "seq": i,
            "hr": 60 + i % 10,
            "rr": 14,
            "in_bed": True,
        }
        infos.append(
            client.publish(f"eldercare/v1/{home}/{device}/event", json.dumps(payload), qos=1)
        )
    for info in infos:
        info.wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


async def test_killed_before_commit_then_redelivered_exactly_once(
    service_env: dict[str, str], pg_url: str, mosquitto: Any, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    proc = _serve(service_env, log)
    try:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            latest = load_migrations("postgres")[-1].version

            async def schema_ready() -> bool | None:
                # every migration applied by the service, not only the first table
                try:
                    cur = await conn.execute("SELECT max(version) FROM schema_migrations")
                except psycopg.errors.UndefinedTable:
                    return None
                row = await cur.fetchone()
                return True if row and row[0] is not None and row[0] >= latest else None

            await eventually(schema_ready, timeout=30)
            store = await open_store(pg_url)
            try:
                await store.create_home(Home("h1", "H"))
                await store.create_resident(Resident("r1", "h1", "R"))
                await store.create_device(Device("h1-bed", "h1", DeviceKind.BED_BAND, "r1"))
            finally:
                await store.close()

            async def gateway_subscribed() -> bool | None:
                return True if "subscribed" in log.read_text() else None

            await eventually(gateway_subscribed, timeout=30)

            # Hold the readings table so the gateway's commit blocks.
            async with await psycopg.AsyncConnection.connect(pg_url) as locker:
                await locker.execute("LOCK TABLE readings IN EXCLUSIVE MODE")
                await asyncio.to_thread(_publish_all, mosquitto.port, "h1", "h1-bed")

                async def gateway_waiting_on_commit() -> bool | None:
                    cur = await conn.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                    row = await cur.fetchone()
                    return True if row and row[0] > 0 else None

                await eventually(gateway_waiting_on_commit, timeout=15)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                await locker.rollback()

            cur = await conn.execute("SELECT count(*) FROM readings")
            row = await cur.fetchone()
            assert row is not None and row[0] == 0, "nothing may be committed before the kill"

            proc = _serve(service_env, log)

            async def all_stored() -> int | None:
                cur = await conn.execute("SELECT count(*) FROM readings")
                row = await cur.fetchone()
                return row[0] if row and row[0] >= N else None

            await eventually(all_stored, timeout=30)
            await asyncio.sleep(0.5)  # let any stray redelivery land before counting
            cur = await conn.execute(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM readings"
            )
            assert await cur.fetchone() == (N, N, 0, N - 1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
