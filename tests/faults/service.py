"""Parts of the fault scenarios: a real ``eldercare serve`` on TimescaleDB, Mosquitto
and the local Twilio server; homes to watch; a steady QoS 1 publisher; counts."""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

from eldercare.domain import Device, DeviceKind, Home, Resident
from eldercare.store import open_store
from eldercare.store._common import load_migrations
from simulators.twilio_server import TwilioServer
from tests.e2e.helpers import eventually, free_port

AUTH_TOKEN = "local-fault-suite-auth-token-0123"
FROM = "+15005550006"


def service_env(
    pg_url: str, mqtt_port: int, twilio: TwilioServer, client_id: str, spool: Path | None = None
) -> dict[str, str]:
    """The settings of ``eldercare serve`` for a scenario (JSON log, local Twilio; the
    spool at ``spool``, else in a fresh temporary directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    api_port = free_port()
    env.update(
        ELDERCARE_DATABASE_URL=pg_url,
        ELDERCARE_MQTT_URL=f"mqtt://127.0.0.1:{mqtt_port}",
        ELDERCARE_API_PORT=str(api_port),
        ELDERCARE_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
        ELDERCARE_ADMIN_PASSWORD="not-used-here-1",
        ELDERCARE_MQTT_CLIENT_ID=client_id,
        ELDERCARE_LOG_FORMAT="json",
        ELDERCARE_TWILIO_ACCOUNT_SID=twilio.account_sid,
        ELDERCARE_TWILIO_AUTH_TOKEN=twilio.auth_token,
        ELDERCARE_TWILIO_FROM=FROM,
        ELDERCARE_TWILIO_BASE_URL=twilio.base_url,
        ELDERCARE_SPOOL_PATH=str(spool or Path(tempfile.mkdtemp(prefix="spool-")) / "spool.db"),
    )
    return env


async def wait_schema(conn: psycopg.AsyncConnection[Any]) -> None:
    """Until the service has applied every migration."""
    latest = load_migrations("postgres")[-1].version

    async def ready() -> bool | None:
        try:
            cur = await conn.execute("SELECT max(version) FROM schema_migrations")
        except psycopg.errors.UndefinedTable:
            return None
        row = await cur.fetchone()
        return True if row and row[0] is not None and row[0] >= latest else None

    await eventually(ready, timeout=60)


def subscribed_count(log: Path) -> int:
    """How many times a gateway wrote ``gateway subscribed`` to ``log``."""
    return log.read_text(errors="replace").count('"gateway subscribed"')


async def wait_subscribed(log: Path, times: int, timeout: float = 60) -> float:
    """Until ``log`` holds ``times`` subscriptions; returns the seconds it took."""
    t0 = time.monotonic()

    async def done() -> bool | None:
        return True if subscribed_count(log) >= times else None

    await eventually(done, timeout=timeout, interval=0.01)
    return time.monotonic() - t0


@dataclass(frozen=True)
class Fleet:
    homes: list[str]

    def bed(self, home: str) -> str:
        return f"{home}-bed"

    def sos(self, home: str) -> str:
        return f"{home}-sos"

    def phone(self, index: int) -> str:
        return f"+1415555{index:04d}"


async def provision(pg_url: str, homes: int) -> Fleet:
    """``homes`` homes, each a resident, a bed band, an SOS button and one contact
    (the store migrated first: this runs before the service starts)."""
    fleet = Fleet([f"h{i}" for i in range(homes)])
    store = await open_store(pg_url)
    try:
        await store.migrate()
        for i, home in enumerate(fleet.homes):
            await store.create_home(Home(home, f"Home {i}", "", "UTC"))
            await store.create_resident(Resident(f"{home}-r", home, f"Resident {i}"))
            await store.create_device(
                Device(fleet.bed(home), home, DeviceKind.BED_BAND, f"{home}-r")
            )
            await store.create_device(
                Device(fleet.sos(home), home, DeviceKind.SOS_BUTTON, f"{home}-r")
            )
            await store.create_contact(home, f"Family {i}", fleet.phone(i), "en", 1)
    finally:
        await store.close()
    return fleet


@dataclass
class Publisher:
    """A steady QoS 1 publisher in its own thread: ``rate`` bed readings a second
    spread over the fleet's beds, and one SOS press per home at ``press_at``
    seconds (from ``start()``). Each message carries its device's ``seq``."""

    port: int
    fleet: Fleet
    rate: float
    press_at: list[float]
    client_id: str = "fault-publisher"
    sent: Counter[str] = field(default_factory=Counter)
    """Readings published per device (seq 0 … n-1)."""
    presses: list[str] = field(default_factory=list)
    """Homes whose SOS button was pressed."""
    unacked: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _infos: list[mqtt.MQTTMessageInfo] = field(default_factory=list)
    _acked: int = 0

    def start(self) -> None:
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False
        )
        self._client.max_inflight_messages_set(200)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_publish = self._on_publish
        self._client.connect("127.0.0.1", self.port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="fault-publisher", daemon=True)
        self._thread.start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, *args: Any) -> None:
        self._acked += 1  # once per PUBACK, a message resent after a reconnect too

    def _publish(self, device: str, home: str, payload: dict[str, Any]) -> None:
        info = self._client.publish(
            f"eldercare/v1/{home}/{device}/event", json.dumps(payload), qos=1
        )
        self._infos.append(info)

    def _run(self) -> None:
        t0 = time.monotonic()
        period = 1.0 / self.rate
        beds = [(self.fleet.bed(h), h) for h in self.fleet.homes]
        pending = sorted(zip(self.press_at, self.fleet.homes, strict=False))
        n = 0
        while not self._stop.is_set():
            now = time.monotonic() - t0
            while pending and pending[0][0] <= now:
                _, home = pending.pop(0)
                ts = datetime.now(UTC).isoformat()
                self._publish(self.fleet.sos(home), home, {"ts": ts, "seq": 0, "action": "press"})
                self.presses.append(home)
            device, home = beds[n % len(beds)]
            seq = self.sent[device]
            payload = {
                "ts": datetime.now(UTC).isoformat(),
                "seq": seq,
                "hr": 60 + random.randint(0, 9),
                "rr": 14,
                "in_bed": True,
            }
            self._publish(device, home, payload)
            self.sent[device] += 1
            n += 1
            next_at = t0 + n * period
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def stop(self, timeout: float = 60) -> None:
        """Stop publishing and wait for every PUBACK."""
        self._stop.set()
        assert self._thread is not None
        self._thread.join(10)
        deadline = time.monotonic() + timeout
        # (not wait_for_publish: it raises for a message published while the broker
        # was down, which paho still holds and sends after reconnecting, QoS 1)
        while time.monotonic() < deadline and self._acked < len(self._infos):
            time.sleep(0.05)
        self.unacked = len(self._infos) - self._acked
        self._client.loop_stop()
        self._client.disconnect()

    @property
    def total(self) -> int:
        return sum(self.sent.values())


async def stored_readings(conn: psycopg.AsyncConnection[Any]) -> tuple[int, int]:
    """(rows, distinct device+seq) of bed readings."""
    cur = await conn.execute(
        "SELECT count(*), count(DISTINCT (device_id, seq)) FROM readings WHERE kind = 'bed_band'"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def missing_readings(conn: psycopg.AsyncConnection[Any], sent: Counter[str]) -> int:
    missing = 0
    for device, n in sent.items():
        cur = await conn.execute(
            "SELECT count(DISTINCT seq) FROM readings WHERE device_id = %s AND seq < %s",
            (device, n),
        )
        row = await cur.fetchone()
        assert row is not None
        missing += n - int(row[0])
    return missing


async def sos_alerts(conn: psycopg.AsyncConnection[Any]) -> Counter[str]:
    """SOS alerts per home."""
    cur = await conn.execute("SELECT home_id FROM alerts WHERE kind = 'sos'")
    return Counter(str(r[0]) for r in await cur.fetchall())


def sms_per_step(twilio: TwilioServer) -> tuple[Counter[str], int]:
    """(messages the server made per step key, create requests it answered 201).

    The server answers a repeated idempotency token with the message it made
    (no second message), so a step sent twice shows as more 201 creates than
    messages: both are counted."""
    per_key: Counter[str] = Counter(m.idempotency_token or m.sid for m in twilio.messages)
    creates = sum(
        1
        for method, path, status in twilio.requests
        if method == "POST" and path.endswith("/Messages.json") and status == 201
    )
    return per_key, creates


async def settle(probe: Callable[[], Awaitable[bool | None]], timeout: float) -> bool:
    """Like ``eventually`` but answers False on the deadline, so the figures of a
    failed run are still printed before its assertions fail."""
    try:
        await eventually(probe, timeout=timeout, interval=0.1)
    except AssertionError:
        return False
    return True


async def dead_letters(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    """Dead letters per reason."""
    cur = await conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
    return {str(r): int(n) for r, n in await cur.fetchall()}


async def missing_seqs(
    conn: psycopg.AsyncConnection[Any], sent: Counter[str]
) -> list[tuple[str, int]]:
    """The (device, seq) published but not stored."""
    gaps: list[tuple[str, int]] = []
    for device, n in sorted(sent.items()):
        cur = await conn.execute(
            "SELECT s FROM generate_series(0, %s - 1) AS s"
            " WHERE s NOT IN (SELECT seq FROM readings WHERE device_id = %s) ORDER BY s",
            (n, device),
        )
        gaps.extend((device, int(r[0])) for r in await cur.fetchall())
    return gaps
