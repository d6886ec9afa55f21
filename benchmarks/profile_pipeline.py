"""Where the gateway's time goes: cProfile of the full pipeline draining queued vitals.

    .venv/bin/python -m benchmarks.profile_pipeline [--messages 40000] [--homes 1000] [--top 40]

Starts a throw-away Mosquitto and TimescaleDB (as ``eldercare bench`` does),
queues ``--messages`` bed-band readings for the gateway's session, then drains
them through the real service (decode, COPY, detectors, alerts, ack) under
cProfile and prints the functions with the most own time. Only the asyncio
thread is profiled: paho's network thread is not in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
from pathlib import Path

import psycopg

from eldercare.bench import provision, throughput
from eldercare.localservers import TempMosquitto, start_postgres, stop_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumtime)")
    parser.add_argument("--dump", help="also write the raw profile here (pstats format)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eldercare-profile-"))
    broker = TempMosquitto(work, max_queued=0)
    broker.start()
    pg = start_postgres()
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        db_url = pg.url("bench")
        asyncio.run(provision(db_url, args.homes, "p"))
        throughput.register_session(broker.port, "profile-gw")
        throughput.publish_vitals(broker.port, args.messages, args.homes, "p")
        profiler = cProfile.Profile()
        profiler.enable()
        elapsed, batches = asyncio.run(
            throughput.drain_pipeline(broker.port, db_url, args.messages, "profile-gw")
        )
        profiler.disable()
    finally:
        broker.stop()
        stop_postgres(pg)
    print(
        f"{args.messages} messages in {elapsed:.2f} s ({args.messages / elapsed:,.0f} msg/s, "
        f"{batches} batches, {1e6 * elapsed / args.messages:.1f} µs/message)"
    )
    stats = pstats.Stats(profiler)
    if args.dump:
        stats.dump_stats(args.dump)
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
