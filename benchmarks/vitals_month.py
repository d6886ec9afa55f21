"""A month of vitals: ``GET /api/v1/residents/{id}/vitals`` for 24 h (1-minute
buckets) and 7 days (5-minute buckets: 10,080 one-minute ones are over the
API's 10,000) from the per-minute rollups, cold and warm.

    .venv/bin/python -m benchmarks.vitals_month [--residents 1000] [--days 30]

Starts its own TimescaleDB (eldercare.localservers, the tests' launcher) and:

- month: ``--residents`` residents with one bed band each and ``--days`` of
  per-minute rollups (a reading every 10 s: count 6 a minute) generated
  directly with SQL (``generate_series``), minute by minute across all
  residents as the intake writes them: loading the 259 M raw readings they
  summarise does not fit a 20-minute run. Raw readings exist for the partial
  first and last minute of each query's range (which the route reads from the
  readings), for every resident in those minutes;
- baseline: ``--baseline-days`` of raw readings for the same residents, at one
  every 10 s, and the readings-only query (what the route ran before the
  rollups; it still does for buckets that are not whole minutes), through the
  store call the route makes (``Store.vitals_buckets(..., rollups=False)``).

Rollup queries are timed through the real HTTP API (uvicorn, httpx, one
request at a time) and, for comparison, through the store call. Each range
starts and ends at a random microsecond. Warm: the same queries a second time.
Cold: PostgreSQL stopped, its data files dropped from the OS page cache
(``posix_fadvise(DONTNEED)``, the data directory's share still cached is
printed; ``/proc/sys/vm/drop_caches`` is not writable in this container),
PostgreSQL started again, then each query once, on residents and days not
queried since the restart (the "first" column: the very first request).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks._api import api_client
from eldercare.localservers import TempPostgres, start_postgres, stop_postgres
from eldercare.store import Store, open_store
from eldercare.store.base import VitalsQuery

END = datetime(2026, 1, 31, tzinfo=UTC)
INTERVAL_S = 10
SPANS = {"24 h": (timedelta(hours=24), 60), "7 days": (timedelta(days=7), 300)}
"""span → (width, bucket seconds): 7 days of 1-minute buckets is over the API's
10,000 buckets, so 5-minute ones (combined from 1-minute rollups)"""


@dataclass(frozen=True, slots=True)
class Query:
    resident: int
    metric: str
    start: datetime
    end: datetime
    bucket_s: int

    def params(self) -> dict[str, str]:
        return {
            "metric": self.metric,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "bucket": str(self.bucket_s),
        }

    def store_query(self) -> VitalsQuery:
        return VitalsQuery(f"r{self.resident}", self.metric, self.start, self.end, self.bucket_s)


def pick(
    rng: random.Random, n: int, residents: int, days: int, span: tuple[timedelta, int]
) -> list[Query]:
    """``n`` ranges of ``span`` within the last ``days``, on distinct residents where
    possible, starting at a random microsecond."""
    width, bucket_s = span
    first = END - timedelta(days=days)
    room = (END - width - first).total_seconds()
    people = rng.sample(range(residents), k=min(n, residents))
    found = []
    for i in range(n):
        start = first + timedelta(seconds=rng.uniform(0, room))
        resident = people[i % len(people)]
        metric = rng.choice(["hr", "rr"])
        found.append(Query(resident, metric, start, start + width, bucket_s))
    return found


async def registry(conn: psycopg.AsyncConnection[tuple[Any, ...]], residents: int) -> None:
    gen = "FROM generate_series(0, %(n)s - 1) i"
    for table, values in (
        ("homes (id, name, timezone)", "'h' || i, 'Home ' || i, 'Asia/Shanghai'"),
        ("residents (id, home_id, name)", "'r' || i, 'h' || i, 'R ' || i"),
        ("devices (id, home_id, kind, resident_id)", "'bed' || i, 'h' || i, 'bed_band', 'r' || i"),
    ):
        await conn.execute(f"INSERT INTO {table} SELECT {values} {gen}", {"n": residents})


# hr / rr of resident i at epoch second e (both generators use them)
HR = "(55 + ((e / 60) * 7 + i * 13) %% 40)"
RR = "(12 + (e / 60 + i) %% 9)"

ROLLUP_DAY = f"""
INSERT INTO vitals_minute (device_id, minute, hr_n, hr_sum, hr_min, hr_max,
                           rr_n, rr_sum, rr_min, rr_max)
SELECT 'bed' || i, m, 6, 6 * {HR} + 3, {HR}, {HR} + 1, 6, 6 * {RR} + 3, {RR}, {RR} + 1
FROM generate_series(%(a)s::timestamptz, %(z)s::timestamptz - interval '1 minute',
                     interval '1 minute') m
CROSS JOIN LATERAL (SELECT extract(epoch FROM m)::bigint AS e) x
CROSS JOIN generate_series(0, %(n)s - 1) i
"""

RAW = f"""
INSERT INTO readings (home_id, device_id, kind, ts, received_at, seq, battery, fields)
SELECT 'h' || i, 'bed' || i, 'bed_band', t, t, e / {INTERVAL_S}, 80,
       jsonb_build_object('hr', {HR} + (e / 10) %% 2, 'rr', {RR}, 'in_bed', true)
FROM {{times}}
CROSS JOIN LATERAL (SELECT extract(epoch FROM t)::bigint AS e) x
CROSS JOIN generate_series(0, %(n)s - 1) i
ON CONFLICT DO NOTHING
"""
RAW_DAY = RAW.format(
    times=f"generate_series(%(a)s::timestamptz, %(z)s::timestamptz - interval '{INTERVAL_S} s',"
    f" interval '{INTERVAL_S} s') AS t(t)"
)
RAW_MINUTES = RAW.format(
    times=f"(SELECT m + s * interval '1 s' AS t FROM unnest(%(minutes)s::timestamptz[]) m,"
    f" generate_series(0, 59, {INTERVAL_S}) s) AS t(t)"
)


def _rate(rows: int, began: float) -> str:
    took = time.monotonic() - began
    return f"{rows:,} rows in {took:.0f} s ({rows / max(took, 1e-9):,.0f}/s)"


async def _without_indexes(conn: psycopg.AsyncConnection[tuple[Any, ...]], table: str) -> list[str]:
    """Drop the table's indexes for a bulk load; returns their definitions (the
    migration's) to build them again after, in one sorted pass each."""
    cur = await conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (table,)
    )
    found = await cur.fetchall()
    for name, _ in found:
        await conn.execute(f"DROP INDEX {name}")
    return [str(definition) for _, definition in found]


async def _build(conn: psycopg.AsyncConnection[tuple[Any, ...]], definitions: list[str]) -> None:
    began = time.monotonic()
    await conn.execute("SET maintenance_work_mem = '1GB'")
    for definition in definitions:
        await conn.execute(definition)
    print(f"  indexes built again in {time.monotonic() - began:.0f} s", flush=True)


async def generate_month(url: str, residents: int, days: int, edges: list[datetime]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await registry(conn, residents)
        indexes = await _without_indexes(conn, "vitals_minute")
        began = time.monotonic()
        rows = 0
        for day in range(days):
            a = END - timedelta(days=days - day)
            cur = await conn.execute(
                ROLLUP_DAY, {"a": a, "z": a + timedelta(days=1), "n": residents}
            )
            rows += cur.rowcount
            if day % 5 == 4 or day == days - 1:
                print(f"  rollups: day {day + 1}/{days}, {_rate(rows, began)}", flush=True)
        await _build(conn, indexes)
        began = time.monotonic()
        cur = await conn.execute(RAW_MINUTES, {"minutes": sorted(set(edges)), "n": residents})
        print(
            f"  raw readings of the queries' first and last minutes: {_rate(cur.rowcount, began)}"
        )
        began = time.monotonic()
        await conn.execute("VACUUM ANALYZE")
        print(f"  VACUUM ANALYZE (sets the visibility map) in {time.monotonic() - began:.0f} s")


async def generate_baseline(url: str, residents: int, days: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await registry(conn, residents)
        indexes = await _without_indexes(conn, "readings")
        began = time.monotonic()
        rows = 0
        for day in range(days):
            a = END - timedelta(days=days - day)
            for hour in range(0, 24, 6):  # time-major, as live intake
                h = a + timedelta(hours=hour)
                cur = await conn.execute(
                    RAW_DAY, {"a": h, "z": h + timedelta(hours=6), "n": residents}
                )
                rows += cur.rowcount
            print(
                f"  baseline raw readings: day {day + 1}/{days}, {_rate(rows, began)}", flush=True
            )
        await _build(conn, indexes)
        await conn.execute("VACUUM ANALYZE")


def _evict(data: Path) -> tuple[int, int]:
    """Drop the data directory's files from the OS page cache; (cached, total) bytes
    after, by fincore."""
    os.sync()
    files = [p for p in data.rglob("*") if p.is_file()]
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    cached = total = 0
    for start in range(0, len(files), 500):
        out = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE"]
            + [str(p) for p in files[start : start + 500]],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for line in out.splitlines():
            res, size = line.split()[:2]
            cached, total = cached + int(res), total + int(size)
    return cached, total


def restart_cold(server: TempPostgres) -> str:
    """Stop PostgreSQL, evict its files from the page cache, start it again."""
    pid = int((server.root / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
    os.kill(pid, signal.SIGINT)
    server.proc.wait(timeout=60)
    cached, total = _evict(server.root / "data")
    with server.log.open("ab") as out:
        server.proc = subprocess.Popen(server.proc.args, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return f"{cached / 2**20:,.0f} of {total / 2**20:,.0f} MiB of the data directory still cached"


@dataclass
class Row:
    what: str
    warm: list[float]
    cold: list[float]
    buckets: int


def _ms(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"{q[49]:.1f} / {q[94]:.1f} / {q[98]:.1f}"


Timer = Callable[[Query], Awaitable[tuple[float, int]]]


async def _time_all(timer: Timer, queries: list[Query]) -> tuple[list[float], int]:
    samples, buckets = [], 0
    for q in queries:
        elapsed, buckets = await timer(q)
        samples.append(elapsed)
    return samples, buckets


def http_timer(http: object) -> Timer:
    import httpx

    assert isinstance(http, httpx.AsyncClient)

    async def timed(q: Query) -> tuple[float, int]:
        began = time.perf_counter()
        response = await http.get(f"/api/v1/residents/r{q.resident}/vitals", params=q.params())
        elapsed = time.perf_counter() - began
        response.raise_for_status()
        return elapsed, len(response.json()["buckets"])

    return timed


def store_timer(store: Store, *, rollups: bool) -> Timer:
    async def timed(q: Query) -> tuple[float, int]:
        began = time.perf_counter()
        found = await store.vitals_buckets(q.store_query(), rollups=rollups)
        return time.perf_counter() - began, len(found)

    return timed


async def measure(
    server: TempPostgres,
    url: str,
    label: str,
    warm: list[Query],
    cold: list[Query],
    *,
    http: bool,
    rollups: bool = True,
) -> list[Row]:
    """Warm (a second pass) over HTTP and/or the store call, then cold."""
    rows = []
    store = await open_store(url)
    try:
        timers: list[tuple[str, Timer]] = []
        if http:
            async with api_client(store) as client:
                timer = http_timer(client)
                await _time_all(timer, warm)
                warm_s, n = await _time_all(timer, warm)
            rows.append(Row(f"{label}, HTTP", warm_s, [], n))
        timers.append(("store call", store_timer(store, rollups=rollups)))
        for name, timer in timers:
            await _time_all(timer, warm)
            warm_s, n = await _time_all(timer, warm)
            rows.append(Row(f"{label}, {name}", warm_s, [], n))
    finally:
        await store.close()
    print(f"  cold: {await asyncio.to_thread(restart_cold, server)}", flush=True)
    store = await open_store(url)
    try:
        if http:
            async with api_client(store) as client:
                rows[0].cold, _ = await _time_all(http_timer(client), cold)
        else:
            rows[-1].cold, _ = await _time_all(store_timer(store, rollups=rollups), cold)
    finally:
        await store.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30, help="days of rollups")
    parser.add_argument("--baseline-days", type=int, default=3, help="days of raw readings")
    parser.add_argument("--queries", type=int, default=200, help="warm queries per span")
    parser.add_argument("--cold-queries", type=int, default=100, help="cold queries per span")
    args = parser.parse_args()
    began_run = time.monotonic()
    rng = random.Random(16)
    month = {
        span: (
            pick(rng, args.queries, args.residents, args.days, width),
            pick(rng, args.cold_queries, args.residents, args.days, width),
        )
        for span, width in SPANS.items()
        if width[0] <= timedelta(days=args.days)
    }
    base_span = SPANS["24 h"]
    baseline = (
        pick(rng, args.queries, args.residents, args.baseline_days, base_span),
        pick(rng, args.cold_queries, args.residents, args.baseline_days, base_span),
    )
    edges = [
        t.replace(second=0, microsecond=0)
        for warm, cold in month.values()
        for q in warm + cold
        for t in (q.start, q.end)
    ]
    server = await asyncio.to_thread(start_postgres, True)
    rows: list[Row] = []
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE month")
            conn.execute("CREATE DATABASE baseline")
        month_url, base_url = server.url("month"), server.url("baseline")
        for url in (month_url, base_url):
            store = await open_store(url)
            try:
                await store.migrate()
            finally:
                await store.close()
        print(
            f"month: {args.residents} residents x {args.days} days of per-minute rollups,"
            " generated directly with SQL (generate_series), not from 259 M raw readings;"
            f" baseline: {args.residents} residents x {args.baseline_days} days of raw readings"
            f" at one per {INTERVAL_S} s (both at once, indexes built after the load):",
            flush=True,
        )
        began = time.monotonic()
        await asyncio.gather(
            generate_month(month_url, args.residents, args.days, edges),
            generate_baseline(base_url, args.residents, args.baseline_days),
        )
        print(f"  generated in {time.monotonic() - began:.0f} s", flush=True)
        for span, (warm, cold) in month.items():
            print(f"measuring {span} from the rollups ...", flush=True)
            rows += await measure(server, month_url, f"{span}, rollups", warm, cold, http=True)
        print("measuring 24 h from the raw readings (baseline) ...", flush=True)
        warm, cold = baseline
        rows += await measure(
            server,
            base_url,
            f"24 h, raw readings ({args.baseline_days} days stored)",
            warm,
            cold,
            http=False,
            rollups=False,
        )
    finally:
        await asyncio.to_thread(stop_postgres, server)
    print()
    print(
        f"GET /api/v1/residents/{{id}}/vitals, 24 h in 1-minute buckets, 7 days in 5-minute"
        f" ones, {args.residents} residents;"
        f" p50 / p95 / p99 in ms; {args.queries} warm and {args.cold_queries} cold queries a row"
    )
    print()
    print("| query | buckets | warm p50 / p95 / p99 | cold p50 / p95 / p99 | first cold |")
    print("|---|---|---|---|---|")
    for row in rows:
        cold_ms = _ms(row.cold) if row.cold else "-"
        first = f"{row.cold[0] * 1000:.1f}" if row.cold else "-"
        print(f"| {row.what} | {row.buckets} | {_ms(row.warm)} | {cold_ms} | {first} |")
    print(f"\n(run took {time.monotonic() - began_run:.0f} s)")


if __name__ == "__main__":
    asyncio.run(main())
