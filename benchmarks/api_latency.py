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
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg

from benchmarks._api import api_client
from eldercare.localservers import start_postgres, stop_postgres
from eldercare.store import Store, open_store

END = datetime(2026, 1, 31, tzinfo=UTC)


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
    rng = random.Random(1)
    async with api_client(store) as http:

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
