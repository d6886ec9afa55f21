"""Scale-out through the real parts: a 3-node NATS JetStream cluster (MQTT listener
on each node), three ``eldercare worker`` processes, ``eldercare serve`` in engine
mode (API and escalation), TimescaleDB and the local Twilio-compatible server.

Under load, one worker is killed with SIGKILL, then the node leading the MQTT
store's stream: every reading PUBACKed is stored (exactly once: the store's
identity index), every SOS raised one alert (its count 1), every family got one
SMS, and the dead worker's partitions were taken over within a bound (measured).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import nats.js.errors
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.domain import Device, DeviceKind, Home, Resident
from eldercare.store import open_store
from gateway.nats_connect import connect_options
from gateway.nats_intake import NatsConfig, ensure_consumers
from gateway.nats_leases import BUCKET
from gateway.partitions import MQTT_STORE, partition_of
from simulators.twilio_server import TwilioServer, new_sid
from tests.e2e.helpers import eventually, free_port, token
from tests.faults.test_postgres_outage import watch
from tests.harness.nats import PASSWORD, USER, NatsCluster

HOMES = 30
READINGS = 60
"""vitals per home: HOMES * READINGS messages, published over about LOAD_S seconds"""
LOAD_S = 24.0
SOS_HOMES = 12
LEASE_S = 3.0
ACK_WAIT_S = 3.0
HANDOVER_BOUND_S = 3 * LEASE_S
AUTH_TOKEN = "local-test-auth-token-0123456789"
ADMIN_PASSWORD = "scale-out-admin-pw-1"


def _family(i: int) -> str:
    return f"+86138{i:08d}"


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-m", "eldercare", *args],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def procs() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    started: dict[str, subprocess.Popen[bytes]] = {}
    yield started
    for proc in started.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started.values():
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _provision(pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        await store.migrate()
        for i in range(HOMES):
            h = f"h{i}"
            await store.create_home(Home(h, f"Home {i}", f"{i} Main St", "Asia/Shanghai"))
            await store.create_resident(Resident(f"{h}-r", h, f"Resident {i}"))
            await store.create_device(Device(f"{h}-bed", h, DeviceKind.BED_BAND, f"{h}-r"))
            await store.create_device(Device(f"{h}-sos", h, DeviceKind.SOS_BUTTON, f"{h}-r"))
            await store.create_contact(h, "Son", _family(i), "en", 1)
    finally:
        await store.close()


def _messages(t0: datetime) -> list[tuple[str, bytes]]:
    """Vitals of every home in time order, and an SOS press of the first SOS_HOMES
    homes spread through the load."""
    out: list[tuple[str, bytes]] = []
    sos_every = READINGS * HOMES // (SOS_HOMES + 1)
    sos = 0
    for r in range(READINGS):
        for i in range(HOMES):
            ts = (t0 + timedelta(seconds=r)).isoformat()
            body = {"ts": ts, "seq": r, "hr": 60 + r % 10, "rr": 14, "in_bed": True}
            out.append((f"eldercare/v1/h{i}/h{i}-bed/event", json.dumps(body).encode()))
            if len(out) % sos_every == 0 and sos < SOS_HOMES:
                press = {"ts": ts, "seq": 1, "action": "press"}
                out.append((f"eldercare/v1/h{sos}/h{sos}-sos/event", json.dumps(press).encode()))
                sos += 1
    return out


class Publisher:
    """One device-side MQTT 3.1.1 client at QoS 1, paced; what was not PUBACKed in
    time is published again (as a device does), so every message is PUBACKed once
    at least."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.acked = 0
        self.republished = 0
        self.done = threading.Event()

    def _client(self, name: str) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=name,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.username_pw_set(USER, PASSWORD)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        return client

    def run(self, messages: list[tuple[str, bytes]], seconds: float) -> None:
        client = self._client("load-1")
        started = time.monotonic()
        infos = []
        for n, (topic, payload) in enumerate(messages):
            infos.append(client.publish(topic, payload, qos=1))
            ahead = started + seconds * (n + 1) / len(messages) - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        pending = list(zip(infos, messages, strict=True))
        attempt = 0
        while pending:
            deadline = time.monotonic() + 15
            for info, _ in pending:
                left = deadline - time.monotonic()
                if left > 0 and not _acked(info):
                    with contextlib.suppress(RuntimeError, ValueError):
                        info.wait_for_publish(left)
            late = [(i, m) for i, m in pending if not _acked(i)]
            self.acked += len(pending) - len(late)
            if not late:
                break
            attempt += 1
            assert attempt < 6, f"{len(late)} messages never PUBACKed"
            _close(client)
            client = self._client(f"load-{attempt + 1}")
            self.republished += len(late)
            pending = [(client.publish(t, p, qos=1), (t, p)) for _, (t, p) in late]
        _close(client)
        self.done.set()


def _close(client: mqtt.Client) -> None:
    """Disconnect, stop the network thread, and close the socket it may have left
    open (an open one is a ResourceWarning, an error under pytest, when collected)."""
    client.disconnect()
    client.loop_stop()
    sock = client.socket()
    if sock is not None:
        sock.close()


def _acked(info: mqtt.MQTTMessageInfo) -> bool:
    """PUBACKed (False too when it was published while the client was disconnected)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False


async def _leases(js: nats.js.JetStreamContext) -> dict[int, tuple[str, int]]:
    """partition -> (worker, revision) of the leases held now."""
    try:
        kv = await js.key_value(BUCKET)
        keys = await kv.keys()
    except (nats.js.errors.NoKeysError, nats.js.errors.BucketNotFoundError):
        return {}
    except (nats.errors.TimeoutError, nats.js.errors.APIError):
        return {}  # the cluster is electing a leader
    out = {}
    for key in keys:
        if key.startswith("lease."):
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                continue
            assert entry.value is not None
            out[int(key.split(".")[1])] = (entry.value.decode(), entry.revision or 0)
    return out


async def test_worker_and_stream_leader_killed_under_load(
    nats_cluster: NatsCluster,
    pg_url: str,
    tmp_path: Path,
    procs: dict[str, subprocess.Popen[bytes]],
) -> None:
    await _provision(pg_url)
    sid = new_sid("AC")
    async with TwilioServer(sid, AUTH_TOKEN, callback_interval=0.01) as twilio:
        api_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
        env.update(
            ELDERCARE_DATABASE_URL=pg_url,
            ELDERCARE_ENGINE_URL=nats_cluster.engine_url,
            ELDERCARE_ENGINE_PARTITIONS=str(nats_cluster.partitions),
            ELDERCARE_ENGINE_LEASE=str(LEASE_S),
            ELDERCARE_ENGINE_ACK_WAIT=str(ACK_WAIT_S),
            ELDERCARE_ENGINE_REPLICAS="3",
            ELDERCARE_API_PORT=str(api_port),
            ELDERCARE_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
            ELDERCARE_ADMIN_PASSWORD=ADMIN_PASSWORD,
            ELDERCARE_LOG_FORMAT="json",
            ELDERCARE_SPOOL_PATH=str(tmp_path / "spool.db"),
            ELDERCARE_TWILIO_ACCOUNT_SID=sid,
            ELDERCARE_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            ELDERCARE_TWILIO_FROM="+15005550006",
            ELDERCARE_TWILIO_BASE_URL=twilio.base_url,
            ELDERCARE_BATCH_MAX="200",
        )
        procs["serve"] = _spawn(["serve"], env, tmp_path / "serve.log")
        for w in ("w1", "w2", "w3"):
            procs[w] = _spawn(["worker"], {**env, "ELDERCARE_WORKER_ID": w}, tmp_path / f"{w}.log")

        nc = await nats.connect(**connect_options(nats_cluster.servers), max_reconnect_attempts=-1)
        js = nc.jetstream(timeout=3.0)
        api = f"http://127.0.0.1:{api_port}"
        events: list[tuple[float, dict[str, Any]]] = []
        stream: asyncio.Task[None] | None = None
        try:

            async def up() -> str | None:
                try:
                    return await token(api, "admin", ADMIN_PASSWORD)
                except (httpx.HTTPError, AssertionError, KeyError):
                    return None

            bearer = await eventually(up, timeout=60, interval=0.3)
            stream = asyncio.create_task(watch(api, bearer, events))

            async def all_owned() -> dict[int, tuple[str, int]] | None:
                held = await _leases(js)
                owners = {w for w, _ in held.values()}
                return held if len(held) == nats_cluster.partitions and len(owners) == 3 else None

            before = await eventually(all_owned, timeout=60, interval=0.2)
            leader = (await js.stream_info(MQTT_STORE)).cluster
            assert leader is not None and leader.leader is not None
            leader_node = nats_cluster.node_named(leader.leader)
            assert leader_node is not None
            # The devices' node: one that is not about to be killed.
            device_node = next(n for n in nats_cluster.nodes.values() if n is not leader_node)

            t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=READINGS + 5)
            messages = _messages(t0)
            publisher = Publisher(device_node.mqtt_port)
            load = asyncio.create_task(asyncio.to_thread(publisher.run, messages, LOAD_S))

            await asyncio.sleep(LOAD_S / 4)
            victim = "w1"
            lost = {p for p, (w, _) in before.items() if w == victim}
            assert lost, "w1 owned no partition"
            procs[victim].send_signal(signal.SIGKILL)
            killed = time.monotonic()

            async def taken_over() -> float | None:
                held = await _leases(js)
                if all(p in held and held[p][0] != victim for p in lost):
                    return time.monotonic() - killed
                return None

            handover_s = await eventually(taken_over, timeout=30, interval=0.1)
            print(f"\nhandover after kill -9 of a worker: {handover_s:.2f} s, {len(lost)} leases")

            await asyncio.sleep(LOAD_S / 4)
            nats_cluster.kill(leader_node.name)
            print(f"killed the {MQTT_STORE} stream leader {leader_node.name}")
            await load
            print(
                f"published {len(messages)}, PUBACKed {publisher.acked},"
                f" published again {publisher.republished}"
            )

            vitals = HOMES * READINGS

            async def stored() -> int | None:
                with psycopg.connect(pg_url) as conn:
                    row = conn.execute("SELECT count(*) FROM readings").fetchone()
                assert row is not None
                return row[0] if row[0] >= vitals + SOS_HOMES else None

            try:
                n = await eventually(stored, timeout=90, interval=0.5)
            except AssertionError:
                with psycopg.connect(pg_url) as conn:
                    rows = conn.execute(
                        "SELECT home_id, count(*) FROM readings GROUP BY home_id"
                    ).fetchall()
                short = {
                    h: (partition_of(h, nats_cluster.partitions), c)
                    for h, c in rows
                    if c < READINGS + (1 if int(h[1:]) < SOS_HOMES else 0)
                }
                stored_n = sum(c for _, c in rows)
                raise AssertionError(
                    f"{stored_n} of {vitals + SOS_HOMES} stored; short: {short}"
                ) from None
            assert n == vitals + SOS_HOMES

            async def texted() -> list[str] | None:
                to = [m.to for m in twilio.messages]
                return to if len(set(to)) >= SOS_HOMES else None

            to = await eventually(texted, timeout=30, interval=0.2)
            await asyncio.sleep(3 * LEASE_S)  # time for a second text, if one were coming
            with psycopg.connect(pg_url) as conn:
                sos = conn.execute(
                    "SELECT home_id, count FROM alerts WHERE kind = 'sos' ORDER BY home_id"
                ).fetchall()
                others = conn.execute(
                    "SELECT home_id, kind, subject, count(*) FROM alerts"
                    " GROUP BY home_id, kind, subject HAVING count(*) > 1"
                ).fetchall()
            assert sorted(h for h, _ in sos) == sorted(f"h{i}" for i in range(SOS_HOMES))
            assert all(count == 1 for _, count in sos), sos
            assert others == []
            to = [m.to for m in twilio.messages]
            assert sorted(to) == sorted(_family(i) for i in range(SOS_HOMES)), to
            # The screen's live stream (serve's SSE) had every SOS from the workers.
            raised = {d["home_id"] for _, d in events if d["change"] == "raised"}
            assert raised >= {f"h{i}" for i in range(SOS_HOMES)}, raised
            assert handover_s < HANDOVER_BOUND_S

            async def survivors() -> set[str] | None:  # {} while the cluster elects
                owners = {w for w, _ in (await _leases(js)).values()}
                return owners or None

            assert await eventually(survivors, timeout=30, interval=0.2) == {"w2", "w3"}
        finally:
            if stream is not None:
                stream.cancel()
                await asyncio.gather(stream, return_exceptions=True)
            await nc.close()


async def _consumers(cluster: NatsCluster) -> dict[str, tuple[int, int, int]]:
    """durable -> (pending, delivered unacked, redelivered): where missing readings are."""
    nc = await nats.connect(**connect_options(cluster.servers))
    try:
        out = {}
        for info in await nc.jetstream().consumers_info(MQTT_STORE):
            if info.name.startswith("eldercare-p"):
                out[info.name] = (
                    info.num_pending or 0,
                    info.num_ack_pending or 0,
                    info.num_redelivered or 0,
                )
        return out
    finally:
        await nc.close()


async def _count(pg_url: str, prefix: str) -> int:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM readings WHERE home_id LIKE %s", (prefix + "%",)
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_serve_with_1_2_3_workers_drains_a_backlog(
    nats_cluster: NatsCluster, pg_url: str, tmp_path: Path
) -> None:
    """``eldercare serve --workers N`` for N = 1, 2, 3 in one run, each draining a
    backlog of vitals queued in NATS while no worker ran: all stored, and the
    drain rates printed (the README's figures)."""
    homes, per_home = 120, 100
    store = await open_store(pg_url)
    try:
        await store.migrate()
        for n in (1, 2, 3):
            for i in range(homes):
                h = f"t{n}-h{i}"
                await store.create_home(Home(h, h, "", "Asia/Shanghai"))
                await store.create_device(Device(f"{h}-bed", h, DeviceKind.BED_BAND))
                if i < PROBES:
                    await store.create_resident(Resident(f"{h}-r", h, f"Resident {i}"))
                    await store.create_device(Device(f"{h}-sos", h, DeviceKind.SOS_BUTTON))
                    await store.create_contact(h, "Son", _family(n * 1000 + i), "en", 1)
    finally:
        await store.close()
    async with TwilioServer(new_sid("AC"), AUTH_TOKEN, callback_interval=0.01) as twilio:
        await _drain_runs(nats_cluster, pg_url, tmp_path, twilio, homes, per_home)


async def _drain_runs(
    nats_cluster: NatsCluster,
    pg_url: str,
    tmp_path: Path,
    twilio: TwilioServer,
    homes: int,
    per_home: int,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_DATABASE_URL=pg_url,
        ELDERCARE_ENGINE_URL=nats_cluster.engine_url,
        ELDERCARE_ENGINE_PARTITIONS=str(nats_cluster.partitions),
        ELDERCARE_ENGINE_LEASE=str(LEASE_S),
        ELDERCARE_ENGINE_REPLICAS="3",
        ELDERCARE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        ELDERCARE_LOG_FORMAT="json",
        ELDERCARE_SPOOL_PATH=str(tmp_path / "spool.db"),
        ELDERCARE_WORKER_ID="box",
        ELDERCARE_TWILIO_ACCOUNT_SID=twilio.account_sid,
        ELDERCARE_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        ELDERCARE_TWILIO_FROM="+15005550006",
        ELDERCARE_TWILIO_BASE_URL=twilio.base_url,
    )
    # The partitions' consumers, before any message: as the first worker makes them.
    nc = await nats.connect(**connect_options(nats_cluster.servers), max_reconnect_attempts=-1)
    try:
        config = NatsConfig(
            servers=nats_cluster.servers, worker_id="test", partitions=nats_cluster.partitions
        )

        async def made() -> bool | None:
            try:
                await ensure_consumers(nc.jetstream(timeout=3.0), config)
                return True
            except Exception:
                return None

        await eventually(made, timeout=60, interval=0.5)
    finally:
        await nc.close()
    node = next(iter(nats_cluster.nodes.values()))
    rates: dict[int, float] = {}
    latency: dict[int, tuple[list[float], list[float]]] = {}
    for n in (1, 2, 3):
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=per_home + 5)
        messages = [
            (
                f"eldercare/v1/t{n}-h{i}/t{n}-h{i}-bed/event",
                json.dumps(
                    {
                        "ts": (t0 + timedelta(seconds=r)).isoformat(),
                        "seq": r,
                        "hr": 62,
                        "rr": 14,
                        "in_bed": True,
                    }
                ).encode(),
            )
            for r in range(per_home)
            for i in range(homes)
        ]
        await asyncio.to_thread(Publisher(node.mqtt_port).run, messages, 0.0)
        api_port = free_port()
        proc = _spawn(
            ["serve", "--workers", str(n)],
            {**env, "ELDERCARE_API_PORT": str(api_port)},
            tmp_path / f"serve-{n}.log",
        )
        try:
            total = homes * per_home
            first: tuple[float, int] | None = None
            deadline = time.monotonic() + 180
            while True:
                stored = await _count(pg_url, f"t{n}-")
                now = time.monotonic()
                if first is None and stored > 0:
                    first = (now, stored)
                if stored >= total:
                    break
                if now >= deadline:
                    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
                        cur = await conn.execute(
                            "SELECT home_id, count(*), max(seq) FROM readings"
                            " WHERE home_id LIKE %s GROUP BY home_id HAVING count(*) < %s",
                            (f"t{n}-%", per_home),
                        )
                        short = await cur.fetchall()
                        cur = await conn.execute(
                            "SELECT reason, count(*) FROM dead_letters GROUP BY reason"
                        )
                        dead = await cur.fetchall()
                    raise AssertionError(
                        f"{stored} of {total} stored with {n} workers; short: {short};"
                        f" dead letters: {dead}; consumers: {await _consumers(nats_cluster)}"
                    )
                await asyncio.sleep(0.1)
            assert stored == total
            assert first is not None
            span = max(now - first[0], 0.1)
            rates[n] = (total - first[1]) / span
            latency[n] = await _probe_sos(f"http://127.0.0.1:{api_port}", node.mqtt_port, n, twilio)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        assert proc.returncode == 0, (tmp_path / f"serve-{n}.log").read_text()[-3000:]
    print(
        "\nbacklog drain, readings/s: "
        + ", ".join(f"{n} worker{'s' if n > 1 else ''}: {r:,.0f}" for n, r in rates.items())
    )
    for n, (sse, sms) in latency.items():
        print(
            f"{n} worker(s), SOS publish -> SSE p50/p99 {_pct(sse, 50):.0f}/{_pct(sse, 99):.0f} ms,"
            f" -> SMS request {_pct(sms, 50):.0f}/{_pct(sms, 99):.0f} ms ({len(sse)} probes)"
        )


PROBES = 15


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


async def _probe_sos(
    api: str, mqtt_port: int, n: int, twilio: TwilioServer
) -> tuple[list[float], list[float]]:
    """PROBES SOS presses one after another: publish -> SSE event, -> SMS request."""

    async def up() -> str | None:
        try:
            return await token(api, "admin", ADMIN_PASSWORD)
        except (httpx.HTTPError, AssertionError, KeyError):
            return None

    bearer = await eventually(up, timeout=60, interval=0.3)
    events: list[tuple[float, dict[str, Any]]] = []
    stream = asyncio.create_task(watch(api, bearer, events))
    client = Publisher(mqtt_port)._client(f"probe-{n}")
    sse: list[float] = []
    sms: list[float] = []
    try:
        await asyncio.sleep(0.5)  # the stream is open
        for i in range(PROBES):
            h = f"t{n}-h{i}"
            press = {"ts": datetime.now(UTC).isoformat(), "seq": 0, "action": "press"}
            at, wall = time.monotonic(), datetime.now(UTC)
            info = client.publish(f"eldercare/v1/{h}/{h}-sos/event", json.dumps(press), qos=1)
            await asyncio.to_thread(info.wait_for_publish, 10)
            phone = _family(n * 1000 + i)

            async def seen(
                home: str = h, to: str = phone, at: float = at, wall: datetime = wall
            ) -> tuple[float, float] | None:
                got = [t for t, d in events if d["home_id"] == home and d["change"] == "raised"]
                texts = [m.created for m in twilio.messages if m.to == to]
                if not got or not texts:
                    return None
                return got[0] - at, (texts[0] - wall).total_seconds()

            a, b = await eventually(seen, timeout=20, interval=0.005)
            sse.append(a)
            sms.append(b)
    finally:
        _close(client)
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
    return sse, sms


def _night_zone(now: datetime) -> str:
    """An ``Etc/GMT`` zone where ``now`` is about 02:00, inside the default
    bed-exit night window (22:00-06:00) with hours to spare on either side."""
    offset = (2 - now.hour) % 24
    if offset > 14:
        offset -= 24
    # POSIX sign: Etc/GMT-9 is UTC+9.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def test_bed_exit_raised_once_at_its_time_across_a_worker_kill(
    nats_cluster: NatsCluster,
    pg_url: str,
    tmp_path: Path,
    procs: dict[str, subprocess.Popen[bytes]],
) -> None:
    """A resident gets out of bed at night in a home of w1's; w1 commits the
    readings and is killed with SIGKILL before the wait ends. The worker that takes
    the partition over rebuilds the bed's state from the store and raises
    ``bed_exit_not_returned`` once, at exit + the home's wait (1 min here), while
    other homes' vitals keep coming."""
    now = datetime.now(UTC)
    zone = _night_zone(now)
    homes = [f"b{i}" for i in range(16)]
    store = await open_store(pg_url)
    try:
        await store.migrate()
        for h in homes:
            await store.create_home(Home(h, h, "", zone, rules={"bed_exit_min": 1}))
            await store.create_resident(Resident(f"{h}-r", h, f"Resident {h}"))
            await store.create_device(Device(f"{h}-bed", h, DeviceKind.BED_BAND, f"{h}-r"))
    finally:
        await store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_DATABASE_URL=pg_url,
        ELDERCARE_ENGINE_URL=nats_cluster.engine_url,
        ELDERCARE_ENGINE_PARTITIONS=str(nats_cluster.partitions),
        ELDERCARE_ENGINE_LEASE=str(LEASE_S),
        ELDERCARE_ENGINE_ACK_WAIT=str(ACK_WAIT_S),
        ELDERCARE_ENGINE_REPLICAS="3",
        ELDERCARE_LOG_FORMAT="json",
        ELDERCARE_SPOOL_PATH=str(tmp_path / "spool.db"),
    )
    for w in ("w1", "w2"):
        procs[w] = _spawn(["worker"], {**env, "ELDERCARE_WORKER_ID": w}, tmp_path / f"{w}.log")
    nc = await nats.connect(**connect_options(nats_cluster.servers), max_reconnect_attempts=-1)
    js = nc.jetstream(timeout=3.0)
    try:

        async def both_own() -> dict[int, tuple[str, int]] | None:
            held = await _leases(js)
            owners = {w for w, _ in held.values()}
            return held if len(held) == nats_cluster.partitions and owners == {"w1", "w2"} else None

        held = await eventually(both_own, timeout=60, interval=0.2)
        mine = [h for h in homes if held[partition_of(h, nats_cluster.partitions)][0] == "w1"]
        assert mine, f"no home of {homes} in w1's partitions {held}"
        home, others = mine[0], [h for h in homes if h != mine[0]]
        node = next(iter(nats_cluster.nodes.values()))
        t0 = datetime.now(UTC).replace(microsecond=0)
        load = [
            (
                f"eldercare/v1/{h}/{h}-bed/event",
                json.dumps(
                    {
                        "ts": (t0 + timedelta(seconds=r)).isoformat(),
                        "seq": r,
                        "hr": 64,
                        "rr": 14,
                        "in_bed": True,
                    }
                ).encode(),
            )
            for r in range(40)
            for h in others
        ]
        background = asyncio.create_task(
            asyncio.to_thread(Publisher(node.mqtt_port).run, load, 40.0)
        )
        client = Publisher(node.mqtt_port)._client("bed-exit")
        try:
            exit_at = datetime.now(UTC).replace(microsecond=0)
            for seq, (ts, in_bed) in enumerate(
                [(exit_at - timedelta(seconds=2), True), (exit_at, False)]
            ):
                body = {"ts": ts.isoformat(), "seq": seq, "hr": 66, "rr": 15, "in_bed": in_bed}
                info = client.publish(
                    f"eldercare/v1/{home}/{home}-bed/event", json.dumps(body), qos=1
                )
                await asyncio.to_thread(info.wait_for_publish, 10)
        finally:
            _close(client)

        async def committed() -> bool | None:
            return True if await _count(pg_url, home) == 2 else None

        await eventually(committed, timeout=20, interval=0.1)
        procs["w1"].send_signal(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        due = exit_at + timedelta(minutes=1)
        assert killed_at < due - timedelta(seconds=20), "w1 was killed too late to test"

        async def taken_over() -> bool | None:
            held = await _leases(js)
            return True if held and {w for w, _ in held.values()} == {"w2"} else None

        await eventually(taken_over, timeout=30, interval=0.2)

        async def raised() -> list[tuple[Any, ...]] | None:
            async with await psycopg.AsyncConnection.connect(pg_url) as conn:
                cur = await conn.execute(
                    "SELECT raised_at, count, message FROM alerts"
                    " WHERE home_id = %s AND kind = 'bed_exit_not_returned'",
                    (home,),
                )
                rows = await cur.fetchall()
            return rows or None

        rows = await eventually(raised, timeout=90, interval=0.2)
        seen_at = datetime.now(UTC)
        await background
        await asyncio.sleep(3 * LEASE_S)  # time for a second one, if one were coming
        again = await raised()
        assert again is not None and len(again) == 1, again
        raised_at, count, message = again[0]
        assert raised_at == due, (raised_at, due)
        assert count == 1
        assert "not back after 1 min" in message, message
        assert seen_at >= due, f"raised {seen_at} before its time {due}"
        assert seen_at - due < timedelta(seconds=15), f"raised {seen_at - due} late"
        print(
            "\nbed exit across a kill -9 of its worker: raised"
            f" {(seen_at - due).total_seconds():.1f} s after its time"
            f" ({rows[0][0]:%H:%M:%S} UTC, home time zone {zone})"
        )
        with psycopg.connect(pg_url) as conn:
            dup = conn.execute(
                "SELECT home_id, kind, count(*) FROM alerts GROUP BY home_id, kind"
                " HAVING count(*) > 1"
            ).fetchall()
        assert dup == []
    finally:
        await nc.close()
