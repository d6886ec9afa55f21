"""What the per-minute vitals rollups add to the intake on TimescaleDB: batches of
bed-band readings (one per device, as at 1 Hz) inserted by the store's statement
with the rollup upsert and by the readings-only INSERT it replaced, alternately,
into two fresh databases on one server.

    .venv/bin/python -m benchmarks.rollup_intake_cost [--devices 1000] [--batches 120]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from eldercare.domain import DeviceKind, Reading
from eldercare.localservers import start_postgres, stop_postgres
from eldercare.store import open_store
from eldercare.store._common import ASSIGNED_TS_WINDOW
from eldercare.store._postgres_base import (
    INSERT_AND_ROLL_UP,
    INSERT_READINGS,
    _copy_line,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def batch_time(conn: psycopg.AsyncConnection[tuple[Any, ...]], sql: str, lines: str) -> float:
    began = time.perf_counter()
    async with conn.transaction():
        copy_sql = (
            "COPY readings_in (home_id, device_id, kind, ts, received_at, seq, battery,"
            " fields, assigned) FROM STDIN"
        )
        async with conn.cursor().copy(copy_sql) as copy:
            await copy.write(lines)
        await conn.execute(sql.format(source="readings_in"), {"w": ASSIGNED_TS_WINDOW})
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=120, help="seconds of 1 Hz readings")
    args = parser.parse_args()
    server = await asyncio.to_thread(start_postgres, True)
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE a")
            conn.execute("CREATE DATABASE b")
        conns: list[psycopg.AsyncConnection[tuple[Any, ...]]] = []
        for name in ("a", "b"):
            store = await open_store(server.url(name))
            await store.migrate()
            await store.close()
            aconn = await psycopg.AsyncConnection.connect(server.url(name))
            await aconn.execute(
                "CREATE TEMP TABLE readings_in (home_id text, device_id text, kind text,"
                " ts timestamptz, received_at timestamptz, seq bigint, battery double precision,"
                " fields text, assigned boolean) ON COMMIT DELETE ROWS"
            )
            await aconn.commit()
            conns.append(aconn)
        times: dict[str, list[float]] = {"with rollups": [], "readings only": []}
        for second in range(args.batches):
            ts = T0 + timedelta(seconds=second)
            lines = "".join(
                _copy_line(
                    Reading(f"h{i}", f"bed{i}", DeviceKind.BED_BAND, ts, ts, second, 80.0,
                            {"hr": 60 + i % 30, "rr": 14, "in_bed": True})
                )
                for i in range(args.devices)
            )  # fmt: skip
            order = [(INSERT_AND_ROLL_UP, "with rollups", 0), (INSERT_READINGS, "readings only", 1)]
            for sql, name, i in order if second % 2 else order[::-1]:
                times[name].append(await batch_time(conns[i], sql, lines))
        for aconn in conns:
            await aconn.close()
    finally:
        await asyncio.to_thread(stop_postgres, server)
    skip = min(10, args.batches // 4)
    print(f"{args.devices} readings a batch, {args.batches - skip} batches after {skip} warm-up:")
    for name, samples in times.items():
        ms = sorted(s * 1000 for s in samples[skip:])
        print(
            f"  {name}: median {statistics.median(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms"
        )
    a, b = (statistics.median(t[skip:]) for t in times.values())
    print(f"  the rollup upsert adds {(a / b - 1) * 100:.0f} % to a batch's statement")


if __name__ == "__main__":
    asyncio.run(main())
