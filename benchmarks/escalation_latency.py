"""Latency from a critical finding to the SMS channel call (step 0 of the ladder).

The real path minus the network: ``AlertService.handle_finding`` (alert and
ladder rows committed) → the engine's loop, woken → claim, plan, begin_send →
``SmsChannel.send_sms``. The channel only timestamps the call, so the figure is
the service's own share of the time a family waits.

    .venv/bin/python -m benchmarks.escalation_latency [--alerts 500] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from datetime import UTC, datetime

import numpy as np

from alerts.channels import Outbound, Receipt
from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.provider_limits import ProviderLimits, SmsLimitGuard, parse_limits
from alerts.service import AlertService
from eldercare.clock import WallClock
from eldercare.domain import AlertKind, Finding, Home, Severity
from eldercare.metrics import Metrics
from eldercare.store import open_store


class TimingSms:
    name = "timing"

    def __init__(self) -> None:
        self.called: dict[int, float] = {}
        self.done = asyncio.Event()
        self.expected = 0

    async def send_sms(self, message: Outbound) -> Receipt:
        self.called.setdefault(message.alert_id, time.perf_counter())
        if len(self.called) >= self.expected:
            self.done.set()
        return Receipt(f"T{len(self.called)}", "queued")

    async def call(self, message: Outbound) -> Receipt:
        return await self.send_sms(message)


def checked_limits() -> SmsLimitGuard:
    """A per-number rule on every SMS that never trips: the cost of the check alone."""
    rule = {"name": "bench", "max": 1_000_000, "window": 86400}
    return SmsLimitGuard(ProviderLimits(parse_limits({"timing": {"*": {"rules": [rule]}}})))


async def measure(
    database_url: str, alerts: int, gap_s: float, limits: SmsLimitGuard | None = None
) -> list[float]:
    store = await open_store(database_url)
    await store.migrate()
    homes = max(1, alerts // 50)
    for h in range(homes):
        await store.create_home(Home(f"b{h}", f"Bench {h}"))
        await store.create_contact(f"b{h}", "Family", f"+86138{h:08d}", "zh-CN", 1)
    clock, bus, metrics = WallClock(), AlertBus(), Metrics()
    sms = TimingSms()
    sms.expected = alerts
    engine = EscalationEngine(
        store, clock, bus, metrics, load_policy(), sms, sms,
        care_centre_phone="+8657100000000", default_timezone="Asia/Shanghai",
        sms_quota_per_hour=None, sms_limits=limits,
    )  # fmt: skip
    service = AlertService(
        store, clock, bus, metrics, response_window_s=600,
        default_timezone="Asia/Shanghai", care_centre_phone="+8657100000000", escalation=engine,
    )  # fmt: skip
    loop = asyncio.create_task(engine.run(1.0))
    started: dict[int, float] = {}
    try:
        for n in range(alerts):
            t = time.perf_counter()
            change = await service.handle_finding(
                Finding(f"b{n % homes}", f"r{n}", AlertKind.SOS, Severity.CRITICAL,
                        datetime.now(UTC), f"bench:{n}")
            )  # fmt: skip
            assert change is not None
            started[change.alert.id] = t
            await asyncio.sleep(gap_s)
        await asyncio.wait_for(sms.done.wait(), 60)
    finally:
        engine.stop()
        await loop
        await store.close()
    return [(sms.called[a] - started[a]) * 1000 for a in started]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--gap", type=float, default=0.005, help="seconds between findings")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument(
        "--with-limit", action="store_true", help="check an SMS provider limit on every SMS"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # one line per alert would drown the figures
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        limits = checked_limits() if args.with_limit else None
        ms = asyncio.run(measure(url, args.alerts, args.gap, limits))
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    print(
        f"critical finding → SMS channel call, {len(ms)} alerts on {url.split(':')[0]}"
        f"{' (SMS limit checked)' if args.with_limit else ''}: "
        f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, max {max(ms):.1f} ms"
    )


if __name__ == "__main__":
    main()
