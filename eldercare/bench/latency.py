"""Bench parts (c) and (d): alert latency under background load, and the service's
CPU and memory per 1,000 homes.

The service runs as its own process (``eldercare serve``) so its CPU time and
RSS can be read from /proc. A load process sends every home's vitals once a
second; meanwhile SOS buttons are pressed in turn, each in another home, and
the time from the MQTT publish to the SSE ``raised`` event (and, when a
Twilio-compatible server is given, to its SMS request) is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import numpy as np

from simulators.load import LoadReport, run_load
from simulators.player import close, connect
from simulators.wire import WirePublisher, random_client_id


class EventLike(Protocol):
    def set(self) -> None: ...
    def is_set(self) -> bool: ...


@dataclass(slots=True)
class Latency:
    homes: int
    seconds: float
    probes: int
    to_sse_ms: list[float] = field(default_factory=list)
    to_sms_ms: list[float] = field(default_factory=list)
    cpu_percent: float = 0.0
    rss_mb: float = 0.0
    idle_cpu_percent: float = 0.0
    idle_rss_mb: float = 0.0
    load: LoadReport | None = None
    burners: int = 0
    """CPU-burning processes that ran beside the service (0: the machine unloaded)."""
    settle_s: float = 0.0
    """Seconds the service took, before this run, to finish what earlier runs sent."""

    @staticmethod
    def _pct(values: list[float], q: float) -> float | None:
        return float(np.percentile(values, q)) if values else None

    @classmethod
    def _spread(cls, values: list[float]) -> dict[str, Any]:
        """How many were seen, p50, p90, p99 and the slowest (with 100 probes p99 is
        about the slowest one or two: p90 and max say how alone they are)."""
        return {
            "seen": len(values),
            "p50": cls._pct(values, 50),
            "p90": cls._pct(values, 90),
            "p99": cls._pct(values, 99),
            "max": max(values) if values else None,
        }

    def summary(self) -> dict[str, Any]:
        per_k = 1000 / self.homes if self.homes else 0
        return {
            "homes": self.homes,
            "seconds": round(self.seconds, 1),
            "probes": self.probes,
            "cpu_burners": self.burners,
            "settle_s": round(self.settle_s, 1),
            "publish_to_sse_ms": self._spread(self.to_sse_ms),
            "publish_to_sms_request_ms": self._spread(self.to_sms_ms),
            "service_cpu_percent": round(self.cpu_percent, 1),
            "service_rss_mb": round(self.rss_mb, 1),
            "idle_cpu_percent": round(self.idle_cpu_percent, 1),
            "idle_rss_mb": round(self.idle_rss_mb, 1),
            # what the load adds over the idle service (registry already loaded)
            "cpu_percent_per_1000_homes": round(
                max(self.cpu_percent - self.idle_cpu_percent, 0) * per_k, 1
            ),
            "rss_mb_per_1000_homes": round(max(self.rss_mb - self.idle_rss_mb, 0) * per_k, 1),
            "background_msgs_per_s": round(self.load.rate, 0) if self.load else None,
            "background_late_seconds": self.load.late_ticks if self.load else None,
        }


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        parts = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _tree(pid: int) -> list[int]:
    """The process and its descendants alive now (``serve --workers``: the workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue  # it ended meanwhile
    return out


def _sum(read: Any, pid: int, tree: bool) -> float:
    if not tree:
        return float(read(pid))
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            total += read(p)
    return total


PROCESSED = "eldercare_messages_processed_total"


async def settle(api: str, quiet_s: float = 1.0, timeout: float = 60.0) -> float:
    """Wait until the service has processed what it was sent (its count of processed
    messages unchanged for ``quiet_s``), so that a run does not inherit the backlog
    of the one before it; the seconds waited. Past ``timeout`` it goes on anyway."""
    start = time.perf_counter()
    last: float | None = None
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        while time.perf_counter() - start < timeout:
            text = (await client.get("/metrics")).text
            count = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith(PROCESSED) and not line.startswith("#")
            )
            if count == last:
                break
            last = count
            await asyncio.sleep(quiet_s)
    return time.perf_counter() - start


async def _watch_sse(
    api: str, token: str, seen: dict[str, float], ready: asyncio.Event, stop: asyncio.Event
) -> None:
    async with (
        httpx.AsyncClient(base_url=api, timeout=None) as client,
        client.stream(
            "GET", "/api/v1/alerts/stream", headers={"Authorization": f"Bearer {token}"}
        ) as resp,
    ):
        ready.set()
        async for line in resp.aiter_lines():
            if stop.is_set():
                return
            if not line.startswith("data:"):
                continue
            doc = json.loads(line[5:])
            if doc.get("change") == "raised" and doc.get("kind") == "sos":
                seen.setdefault(doc["home_id"], time.perf_counter())


async def measure(
    *,
    pid: int,
    api: str,
    token: str,
    mqtt_port: int,
    homes: int,
    seconds: float,
    probes: int,
    prefix: str,
    sms_requests: Any = None,
    warmup: float,
    first_probe: int = 0,
    burners: int = 0,
    tree: bool = False,
) -> Latency:
    """``sms_requests``: a callable returning {phone: perf_counter time} of SMS requests
    received by a Twilio-compatible server (None: not measured). The probes press
    the SOS of homes ``first_probe`` to ``first_probe + probes - 1`` (each alert is
    raised once: a later run takes other homes). ``burners``: CPU-burning processes
    beside the service from the warm-up to the end (the machine busy with something
    else). ``tree``: CPU and RSS of ``pid`` and its descendants together (serve and
    its workers). Run it under ``no_gc()``."""

    def cpu() -> float:
        return _sum(_cpu_seconds, pid, tree)

    def rss() -> float:
        return _sum(_rss_mb, pid, tree)

    result = Latency(homes, seconds, probes, burners=burners)
    result.settle_s = await settle(api)
    seen: dict[str, float] = {}
    ready, stop = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(_watch_sse(api, token, seen, ready, stop))
    await asyncio.wait_for(ready.wait(), 10)

    # The load runs in its own process: in this one its publishing would hold the
    # GIL that the SSE reader and the Twilio server need to timestamp the probes.
    ctx = multiprocessing.get_context("spawn")
    stop_load, load_ready = ctx.Event(), ctx.Event()
    reports: multiprocessing.Queue[LoadReport] = ctx.Queue()
    loader = ctx.Process(
        target=load_process,
        args=(mqtt_port, homes, seconds + warmup, prefix, stop_load, load_ready, reports),
        name="bench-load",
        daemon=True,
    )
    idle0, i0 = cpu(), time.perf_counter()
    await asyncio.sleep(2.0)
    result.idle_cpu_percent = 100 * (cpu() - idle0) / (time.perf_counter() - i0)
    result.idle_rss_mb = rss()
    burning = [start_burner() for _ in range(burners)]
    loader.start()
    if not await asyncio.to_thread(load_ready.wait, 60):
        loader.kill()
        for burner in burning:
            burner.kill()
        raise RuntimeError("the load process did not connect to the broker in 60 s")
    probe_client = connect("127.0.0.1", mqtt_port)
    sent: dict[str, float] = {}
    try:
        # Let the load reach its pace and the service its steady state: its first
        # seconds under load create every resident's detector state.
        await asyncio.sleep(warmup)
        cpu0, t0 = cpu(), time.perf_counter()
        gap = max(0.2, (seconds * 0.6) / max(probes, 1))
        for k in range(first_probe, first_probe + probes):
            home = f"{prefix}{k}"
            payload = json.dumps({"ts": _now_iso(), "seq": 10_000_000 + k, "action": "press"})
            sent[home] = time.perf_counter()
            probe_client.publish(f"eldercare/v1/{home}/{home}-sos/event", payload, qos=1)
            await asyncio.sleep(gap)

        def missing() -> bool:
            sms = 0 if sms_requests is None else len(sms_requests())
            return len(seen) < len(sent) or (sms_requests is not None and sms < len(sent))

        deadline = time.perf_counter() + 10
        while missing() and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        stop_load.set()
        cpu1, t1 = cpu(), time.perf_counter()
        result.rss_mb = rss()
        for burner in burning:
            burner.kill()
            burner.wait()
        try:
            result.load = await asyncio.to_thread(reports.get, True, 30)
        except queue.Empty:
            result.load = None
        await asyncio.to_thread(loader.join, 30)
        if loader.is_alive():
            loader.kill()
        close(probe_client)
        stop.set()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    result.cpu_percent = 100 * (cpu1 - cpu0) / (t1 - t0)
    result.to_sse_ms = [1000 * (seen[h] - sent[h]) for h in sent if h in seen]
    if sms_requests is not None:
        got: dict[str, float] = sms_requests()
        result.to_sms_ms = [
            1000 * (got[phone] - sent[h])
            for h in sent
            if (phone := contact_phone(int(h[len(prefix) :]))) in got
        ]
    return result


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """No cyclic GC in this process meanwhile: it timestamps the probes (publish,
    SSE event, SMS request), and a pause of its own (its heap holds what parts
    (a) and (b) left) would be counted as the service's latency."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def load_process(
    mqtt_port: int,
    homes: int,
    seconds: float,
    prefix: str,
    stop: EventLike,
    ready: EventLike,
    reports: multiprocessing.Queue[LoadReport],
) -> None:
    """The body of a spawned load process: connect, set ``ready``, send every home's
    normal traffic until ``seconds`` pass or ``stop`` is set, put the report."""
    # Not paho: 117-135 µs of CPU a message against ~2, on the service's own cores.
    client = WirePublisher("127.0.0.1", mqtt_port, client_id=random_client_id())
    client.connect()
    ready.set()
    try:
        reports.put(run_load(client, homes, seconds, prefix=prefix, should_stop=stop.is_set))
    finally:
        client.close()


BURN = "import os\nos.setpriority(os.PRIO_PROCESS, 0, 0)\nwhile True: pass"
"""Back at nice 0 first (raising a nice value needs no privilege): the bench runs
at the service's (eldercare/bench/priority.py)."""


def start_burner() -> subprocess.Popen[bytes]:
    """A process that keeps one core busy (a Python busy loop at nice 0, normal
    priority, whatever the bench runs at) until killed: the machine doing
    something else beside the service."""
    return subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.DEVNULL)


def contact_phone(index: int) -> str:
    """The family contact the bench gives home number ``index``."""
    return f"+86139{index:08d}"


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")
