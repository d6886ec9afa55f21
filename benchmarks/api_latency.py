"""API latency on TimescaleDB: the alerts list and a 24-hour, 1-minute-bucket
vitals query, through the real HTTP API (uvicorn, httpx), sequential requests.

Starts its own TimescaleDB (eldercare.localservers, the test harness's
launcher), provisions ``--residents`` homes with one resident and one bed band
each, loads ``--days`` of bed-band readings at one per ``--interval`` seconds
per resident with COPY, and ``--alerts`` alerts, then times requests.

    .venv/bin/python -m benchmarks.api_latency [--residents 100] [--days 30]

The issue's full size is 1,000 residents x 30 days at 10 s = 259 M rows; on a
small machine load fewer and extrapolate: a 24-hour query for one resident
reads that resident's 8,640 rows whatever the number of residents, through
the (device_id, ts) index of one or two daily chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import uvicorn

from alerts.events import AlertBus
from alerts.service import AlertService
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import WallClock
from eldercare.domain import Role, User
from eldercare.localservers import start_postgres, stop_postgres
from eldercare.metrics import Metrics
from eldercare.passwords import hash_password
from eldercare.settings import Settings
from eldercare.store import Store, open_store

END = datetime(2026, 1, 31, tzinfo=UTC)
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100)
    return (
        f"n={len(ms)} p50={q[49]:.1f} ms p95={q[94]:.1f} ms p99={q[98]:.1f} ms max={ms[-1]:.1f} ms"
    )


async def load(url: str, residents: int, days: int, interval: int, alerts: int) -> int:
    """Registry rows, readings by COPY, alerts; returns the number of readings."""
    start = END - timedelta(days=days)
    steps = days * 86400 // interval
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async with conn.cursor().copy("COPY homes (id, name, timezone) FROM STDIN") as copy:
            for i in range(residents):
                await copy.write_row((f"h{i}", f"Home {i}", "Asia/Shanghai"))
        async with conn.cursor().copy("COPY residents (id, home_id, name) FROM STDIN") as copy:
            for i in range(residents):
                await copy.write_row((f"r{i}", f"h{i}", f"Resident {i}"))
        async with conn.cursor().copy(
            "COPY devices (id, home_id, kind, resident_id) FROM STDIN"
        ) as copy:
            for i in range(residents):
                await copy.write_row((f"bed{i}", f"h{i}", "bed_band", f"r{i}"))
        rows = 0
        began = time.monotonic()
        # time-major, so each daily chunk is filled in turn (as live intake does)
        chunk = 86400 // interval
        for first in range(0, steps, chunk):
            async with conn.cursor().copy(
                "COPY readings (home_id, device_id, kind, ts, received_at, seq, battery, fields)"
                " FROM STDIN"
            ) as copy:
                lines = []
                for step in range(first, min(first + chunk, steps)):
                    ts = (start + timedelta(seconds=step * interval)).isoformat()
                    for i in range(residents):
                        hr = 55 + (step * 7 + i * 13) % 40
                        rr = 12 + (step + i) % 9
                        lines.append(
                            f"h{i}\tbed{i}\tbed_band\t{ts}\t{ts}\t{step}\t80\t"
                            f'{{"hr": {hr}, "rr": {rr}, "in_bed": true}}\n'
                        )
                    if len(lines) >= 50_000:
                        await copy.write("".join(lines))
                        rows += len(lines)
                        lines = []
                await copy.write("".join(lines))
                rows += len(lines)
            print(f"  loaded {rows:,} readings ({rows / (time.monotonic() - began):,.0f}/s)")
        await conn.execute(
            "INSERT INTO alerts (home_id, subject, kind, severity, status, raised_at,"
            " last_seen_at, response_deadline, count, message)"
            " SELECT 'h' || (g %% %(n)s), 's' || g, 'sos', 'critical',"
            " CASE WHEN g %% 50 = 0 THEN 'open' ELSE 'resolved' END,"
            " %(start)s + g * %(gap)s, %(start)s + g * %(gap)s,"
            " %(start)s + g * %(gap)s + interval '10 minutes', 1, 'bench'"
            " FROM generate_series(1, %(alerts)s) g",
            {
                "n": residents,
                "start": start,
                "gap": timedelta(seconds=days * 86400 / max(alerts, 1)),
                "alerts": alerts,
            },
        )
        await conn.execute("ANALYZE")
    return rows


async def measure(store: Store, residents: int, days: int, queries: int) -> None:
    await store.create_user(User("bench", hash_password(PASSWORD), Role.OPERATOR))
    settings = Settings(secret_key="bench-secret-key-0123456789-abcdefgh")
    clock, bus, metrics = WallClock(), AlertBus(), Metrics()
    alerts = AlertService(
        store, clock, bus, metrics,
        response_window_s=600, default_timezone="Asia/Shanghai", care_centre_phone="+86571",
    )  # fmt: skip

    async def ready() -> dict[str, bool]:
        return {"store": True}

    app = create_app(AppContext(settings, store, alerts, bus, clock, metrics, ready, lambda: None))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, port=port, log_level="warning", lifespan="off", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn has no started event)
        await asyncio.sleep(0.05)
    rng = random.Random(1)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            token = (
                await http.post(
                    "/api/v1/auth/token", data={"username": "bench", "password": PASSWORD}
                )
            ).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"

            async def timed(path: str, params: dict[str, str]) -> float:
                began = time.perf_counter()
                response = await http.get(path, params=params)
                elapsed = time.perf_counter() - began
                response.raise_for_status()
                return elapsed

            for name, params in [
                ("alerts, newest 50", {}),
                ("alerts, open only", {"status": "open,acknowledged,dispatched,on_site"}),
            ]:
                await timed("/api/v1/alerts", params)  # warm
                samples = [await timed("/api/v1/alerts", params) for _ in range(queries)]
                print(f"GET /api/v1/alerts ({name}): {_percentiles(samples)}")
            samples = []
            points = 0
            for _ in range(queries):
                r = rng.randrange(residents)
                day = rng.randrange(days)
                frm = END - timedelta(days=day + 1)
                params = {
                    "metric": rng.choice(["hr", "rr"]),
                    "from": frm.isoformat(),
                    "to": (frm + timedelta(hours=24)).isoformat(),
                    "bucket": "1m",
                }
                began = time.perf_counter()
                response = await http.get(f"/api/v1/residents/r{r}/vitals", params=params)
                samples.append(time.perf_counter() - began)
                response.raise_for_status()
                points = len(response.json()["buckets"])
            print(
                f"GET /api/v1/residents/{{id}}/vitals (24 h, 1 min buckets, {points} buckets): "
                f"{_percentiles(samples)}"
            )
    finally:
        server.should_exit = True
        await task


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=int, default=10, help="seconds between readings")
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    server = await asyncio.to_thread(start_postgres, True)
    try:
        url = server.url()
        store = await open_store(url)
        try:
            await store.migrate()
            began = time.monotonic()
            rows = await load(url, args.residents, args.days, args.interval, args.alerts)
            print(
                f"loaded {args.residents} residents x {args.days} days at 1/{args.interval} s ="
                f" {rows:,} readings and {args.alerts:,} alerts in"
                f" {time.monotonic() - began:.0f} s"
            )
            await measure(store, args.residents, args.days, args.queries)
        finally:
            await store.close()
    finally:
        await asyncio.to_thread(stop_postgres, server)


if __name__ == "__main__":
    asyncio.run(main())
