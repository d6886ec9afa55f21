"""Cost of the gateway's per-device rate limit (gateway/ratelimit.py), µs per message.

    .venv/bin/python -m benchmarks.ratelimit_cost [--devices 60000] [--messages 1000000]

Messages of ``--devices`` devices in turn, each with its reading's time a
second after its previous one (as at 1 Hz vitals), through
``DeviceRateLimiter.admit`` with the wall clock's ``now`` taken per message as
the gateway does; then a flood of one device (every message over the limit).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from gateway.ratelimit import DeviceRateLimiter, Verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=60_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    limiter = DeviceRateLimiter(10, 1000)
    ids = [f"h{i // 6}-d{i % 6}" for i in range(args.devices)]
    t0 = datetime.now(UTC) - timedelta(seconds=args.messages // args.devices + 1)
    second = timedelta(seconds=1)
    admitted = 0
    began = time.perf_counter()
    for i in range(args.messages):
        made = t0 + (i // args.devices) * second
        if limiter.admit(ids[i % args.devices], made, datetime.now(UTC)) is Verdict.ADMIT:
            admitted += 1
    spread = (time.perf_counter() - began) / args.messages * 1e6
    began = time.perf_counter()
    for _ in range(args.messages):
        limiter.admit("flood", None, datetime.now(UTC))
    flood = (time.perf_counter() - began) / args.messages * 1e6
    print(f"{args.devices:,} devices, {args.messages:,} messages: {spread:.2f} µs per message")
    print(f"  admitted {admitted:,} of {args.messages:,}")
    print(f"one device flooding: {flood:.2f} µs per message (all but the burst over the limit)")


if __name__ == "__main__":
    main()
