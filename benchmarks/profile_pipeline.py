"""Where the gateway's time goes: cProfile of the full pipeline draining queued vitals.

    .venv/bin/python -m benchmarks.profile_pipeline [--messages 40000] [--homes 1000] [--top 40]
    .venv/bin/python -m benchmarks.profile_pipeline --live 20 --homes 3000

Drain mode (default):
Starts a throw-away Mosquitto and TimescaleDB (as ``eldercare bench`` does),
queues ``--messages`` bed-band readings for the gateway's session, then drains
them through the real service (decode, COPY, detectors, alerts, ack) under
cProfile and prints the functions with the most own time. Only the asyncio
thread is profiled: paho's network thread is not in the figures.

Live mode (``--live SECONDS``): the service runs in this process under cProfile
while a load process sends every home's vitals once a second (as ``eldercare
bench`` part (c)), so small batches and the periodic work show as they do in
production.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import pstats
import time

from eldercare.bench import bench_servers, provision, throughput


async def _live(
    port: int, db_url: str, homes: int, seconds: float, profiler: cProfile.Profile
) -> tuple[int, int, float]:
    from eldercare.app import Service
    from eldercare.bench.latency import load_process
    from eldercare.process_tuning import tune_for_service

    settings = throughput.service_settings(port, db_url, "profile-live")
    ctx = multiprocessing.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Event()
    reports: multiprocessing.Queue[object] = ctx.Queue()
    service = Service(settings)
    async with service:
        tune_for_service(service.metrics)  # as ``eldercare serve`` does
        task = asyncio.create_task(service.run())
        loader = ctx.Process(
            target=load_process, args=(port, homes, seconds + 5, "p", stop, ready, reports)
        )
        loader.start()
        await asyncio.to_thread(ready.wait, 60)
        await asyncio.sleep(3)  # let the load reach its pace
        m = service.metrics
        n0, b0 = m.value("eldercare_messages_processed_total"), m.value("eldercare_batches_total")
        start = time.perf_counter()
        profiler.enable()
        await asyncio.sleep(seconds)
        profiler.disable()
        elapsed = time.perf_counter() - start
        n = int(m.value("eldercare_messages_processed_total") - n0)
        batches = int(m.value("eldercare_batches_total") - b0)
        stop.set()
        await asyncio.to_thread(reports.get, True, 30)
        await asyncio.to_thread(loader.join, 30)
        service.request_stop()
        await task
    return n, batches, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--live", type=float, default=0, help="seconds of live load to profile")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumtime)")
    parser.add_argument("--dump", help="also write the raw profile here (pstats format)")
    args = parser.parse_args()
    with bench_servers("eldercare-profile-") as (broker, db_url, _):
        asyncio.run(provision(db_url, args.homes, "p"))
        profiler = cProfile.Profile()
        if args.live:
            done, batches, elapsed = asyncio.run(
                _live(broker.port, db_url, args.homes, args.live, profiler)
            )
        else:
            throughput.register_session(broker.port, "profile-gw")
            throughput.publish_vitals(broker.port, args.messages, args.homes, "p")
            profiler.enable()
            elapsed, batches = asyncio.run(
                throughput.drain_pipeline(broker.port, db_url, args.messages, "profile-gw")
            )
            profiler.disable()
            done = args.messages
    print(
        f"{done} messages in {elapsed:.2f} s ({done / elapsed:,.0f} msg/s, "
        f"{batches} batches, {1e6 * elapsed / max(done, 1):.1f} µs/message)"
    )
    stats = pstats.Stats(profiler)
    if args.dump:
        stats.dump_stats(args.dump)
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
