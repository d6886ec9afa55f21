"""``eldercare bench``: the project measured against its machine, in one run on one broker.

    eldercare bench                 # full: 10,000 homes, 200,000 queued messages
    eldercare bench --short         # a minute: small figures, same JSON shape
    eldercare bench --runs 5 --load 1   # (c)/(d) 5 times unloaded, 5 times beside a CPU burner

It starts its own Mosquitto and TimescaleDB (throw-away, free ports: needs what
the README's test command installs), then measures:

(a) the broker's receive limit on this machine (its own C client, ``mosquitto_sub``,
    first to last message) and a bare paho subscriber's receive rate;
(b) the full pipeline's sustained rate (decode, detect, persist to TimescaleDB,
    ack), drained from the same number of queued messages;
(c) alert latency p50 / p99 from the MQTT publish of an SOS to its SSE event,
    and to the SMS request at a local Twilio-compatible server, while every
    home sends vitals once a second;
(d) the service's CPU and RSS during that load, and per 1,000 homes.

(c) and (d) run ``--runs`` times on one service, each run on homes of its own;
with ``--load N`` each run is followed by a loaded one (N processes burning a
core each beside the service), so both conditions share the machine's drift.

It prints a table and writes the figures as JSON (``--json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from eldercare.bench import latency, priority, throughput
from eldercare.broker_config import AUTOSAVE_INTERVAL
from eldercare.domain import Device, Home, Resident
from eldercare.localservers import TempMosquitto, _free_port, start_postgres, stop_postgres
from eldercare.store import open_store
from simulators.home import DEVICE_SUFFIX

ADMIN_PASSWORD = throughput.ADMIN_PASSWORD


@dataclass(frozen=True, slots=True)
class BenchConfig:
    homes: int = 10_000
    messages: int = 200_000
    seconds: float = 60.0
    probes: int = 100
    prefix: str = "b"
    protocol: str = "5"
    """The MQTT version of the gateway (and of the bare subscriber it is compared with)."""
    warmup: float = 10.0
    """Seconds of load before the first probe (and before CPU is measured)."""
    runs: int = 1
    """Measurements of (c)/(d) in each condition (unloaded, and loaded with ``load``)."""
    load: int = 0
    """CPU-burning processes beside the service in the loaded runs (0: no loaded runs)."""
    urgent_session: str = "on"
    """The service's ELDERCARE_MQTT_URGENT_SESSION (``on`` or ``off``)."""
    intake_process: str = "off"
    """The service's ELDERCARE_INTAKE_PROCESS (``on``: CPU and RSS are serve's and its
    intake process's together)."""
    nice: int | None = None
    """The nice value of the bench and all it starts but the burners (None: the
    production unit's ``Nice=``, ``eldercare/bench/priority.py``)."""
    workers: tuple[int, ...] = ()
    """Worker counts of the scale-out run (``eldercare/bench/workers.py``), measured
    instead of (a)-(d); empty: the one-process bench."""

    def check(self) -> None:
        """Every probe of every run presses an SOS in a home of its own (an alert
        still open would be repeated, not raised)."""
        if self.workers:
            if any(n < 1 or n > 16 for n in self.workers):
                raise ValueError("--workers takes counts from 1 to 16, e.g. 1,2,3")
            if self.load or self.runs != 1:
                raise ValueError("--workers measures one unloaded run per count")
            if self.probes * len(self.workers) > self.homes:
                raise ValueError(
                    f"{len(self.workers)} counts of {self.probes} probes need"
                    f" {self.probes * len(self.workers)} homes; --homes is {self.homes}"
                )
            return
        sets = self.runs * (2 if self.load else 1)
        if self.runs < 1 or self.load < 0:
            raise ValueError("--runs must be at least 1 and --load at least 0")
        if min(self.probes, self.homes) * sets > self.homes:
            raise ValueError(
                f"{sets} runs of {self.probes} probes need {self.probes * sets} homes"
                f" (each probe a home of its own); --homes is {self.homes}"
            )

    @classmethod
    def short(cls) -> BenchConfig:
        return cls(homes=50, messages=5_000, seconds=8.0, probes=5, warmup=2.0)


async def provision(db_url: str, homes: int, prefix: str) -> None:
    store = await open_store(db_url)
    try:
        await store.migrate()

        async def one(h: int) -> None:
            hid = f"{prefix}{h}"
            await store.create_home(Home(hid, f"Bench home {h}"))
            await store.create_resident(Resident(f"{hid}-r1", hid, "R"))
            for kind, suffix in DEVICE_SUFFIX.items():
                await store.create_device(Device(f"{hid}-{suffix}", hid, kind, f"{hid}-r1"))
            await store.create_contact(hid, "family", latency.contact_phone(h), "zh-CN", 1)

        for start in range(0, homes, 50):
            await asyncio.gather(*(one(h) for h in range(start, min(start + 50, homes))))
    finally:
        await store.close()


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "eldercare", "serve"], env=env, stdout=fh, stderr=fh
        )


async def _ready(api: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=api, timeout=5) as client:
        while True:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    resp = await client.post(
                        "/api/v1/auth/token",
                        data={"username": "admin", "password": ADMIN_PASSWORD},
                    )
                    token: str = resp.json()["access_token"]
                    return token
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service at {api} was not ready in {timeout:.0f} s")
            await asyncio.sleep(0.2)


@dataclass(frozen=True, slots=True)
class Run:
    """One measurement of (c)/(d): its number (from 1) and the CPU burners beside it."""

    number: int
    burners: int

    @property
    def label(self) -> str:
        return f"{'loaded' if self.burners else 'unloaded'} {self.number}"


def plan(cfg: BenchConfig) -> list[Run]:
    """The runs of (c)/(d) in order: each number unloaded, then (with ``load``) loaded,
    so both conditions see the same drift of a shared machine."""
    return [
        Run(n, burners)
        for n in range(1, cfg.runs + 1)
        for burners in ((0, cfg.load) if cfg.load else (0,))
    ]


async def _latency_part(
    cfg: BenchConfig, mqtt_port: int, db_url: str, work: Path
) -> list[tuple[Run, latency.Latency]]:
    """Start the service once and measure every run of ``plan(cfg)`` on it."""
    from simulators.twilio_server import Recorded, TwilioServer

    sms_at: dict[str, float] = {}

    def on_twilio(event: str, r: Recorded) -> None:
        if event == "created" and r.kind == "message":
            sms_at.setdefault(r.to, time.perf_counter())

    api_port = _free_port()
    async with TwilioServer("ACbench0000000000000000000000000", "bench-token") as twilio:
        twilio.listeners.append(on_twilio)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
        env.update(
            ELDERCARE_DATABASE_URL=db_url,
            ELDERCARE_MQTT_URL=f"mqtt://127.0.0.1:{mqtt_port}",
            ELDERCARE_API_PORT=str(api_port),
            ELDERCARE_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
            ELDERCARE_ADMIN_PASSWORD=ADMIN_PASSWORD,
            ELDERCARE_MQTT_CLIENT_ID="bench-serve",
            ELDERCARE_MQTT_PROTOCOL=cfg.protocol,
            ELDERCARE_TWILIO_ACCOUNT_SID=twilio.account_sid,
            ELDERCARE_TWILIO_AUTH_TOKEN=twilio.auth_token,
            ELDERCARE_TWILIO_FROM="+15005550006",
            ELDERCARE_TWILIO_BASE_URL=twilio.base_url,
            ELDERCARE_LOG_FORMAT="json",
            ELDERCARE_LOG_LEVEL="WARNING",
            ELDERCARE_MQTT_URGENT_SESSION=cfg.urgent_session,
            ELDERCARE_INTAKE_PROCESS=cfg.intake_process,
            # its own: a spool left by an earlier run must not replay into this one
            ELDERCARE_SPOOL_PATH=str(work / "spool.db"),
        )
        proc = _serve(env, work / "serve.log")
        try:
            api = f"http://127.0.0.1:{api_port}"
            token = await _ready(api)
            probes = min(cfg.probes, cfg.homes)
            results: list[tuple[Run, latency.Latency]] = []
            for i, run in enumerate(plan(cfg)):
                with latency.no_gc():
                    lat = await latency.measure(
                        pid=proc.pid,
                        api=api,
                        token=token,
                        mqtt_port=mqtt_port,
                        homes=cfg.homes,
                        seconds=cfg.seconds,
                        warmup=cfg.warmup,
                        probes=probes,
                        prefix=cfg.prefix,
                        sms_requests=lambda: dict(sms_at),
                        first_probe=i * probes,
                        burners=run.burners,
                        tree=cfg.intake_process == "on",
                    )
                results.append((run, lat))
                if len(results) > 1 or cfg.runs > 1:
                    print(f"bench: {run.label}: {_run_line(lat.summary())}", flush=True)
            return results
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def bench_servers(prefix: str) -> Iterator[tuple[TempMosquitto, str, Path]]:
    """A throw-away Mosquitto (no queue limit) and TimescaleDB with an empty
    ``bench`` database: (broker, database URL, work folder); both stopped after.
    The work folder (the broker's database and log, the service's log) is removed
    after a run that went through, and kept, with a word where, after one that
    failed."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    # (a)/(b) queue every message first; snapshots as often as production's broker
    broker = TempMosquitto(work, max_queued=0, autosave_interval=AUTOSAVE_INTERVAL)
    broker.start()
    pg = start_postgres()
    went_through = False
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        yield broker, pg.url("bench"), work
        went_through = True
    finally:
        broker.stop()
        stop_postgres(pg)
        if went_through:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"bench: the broker's and the service's logs are kept in {work}", file=sys.stderr)


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    cfg.check()
    wanted = priority.deployed_nice() if cfg.nice is None else cfg.nice
    nice = priority.run_at(wanted)  # before anything starts: they all inherit it
    if nice != wanted:
        print(
            f"bench: could not run at nice {wanted} (needs root or CAP_SYS_NICE);"
            f" running at {nice}",
            file=sys.stderr,
        )
    if cfg.workers:
        return _run_workers(cfg, nice)
    with bench_servers("eldercare-bench-") as (broker, db_url, work):
        t0 = time.perf_counter()
        asyncio.run(provision(db_url, cfg.homes, cfg.prefix))
        provision_s = time.perf_counter() - t0
        tp = throughput.measure(
            broker.port, db_url, cfg.messages, min(cfg.homes, 1000), cfg.prefix, cfg.protocol
        )
        runs = asyncio.run(_latency_part(cfg, broker.port, db_url, work))
    summaries = [{"run": run.number, **lat.summary()} for run, lat in runs]
    sub_s, share = tp.mosquitto_sub_s, tp.share_of_mosquitto_sub
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "config": {
            "homes": cfg.homes,
            "messages": cfg.messages,
            "seconds": cfg.seconds,
            "probes": cfg.probes,
            "mqtt_protocol": cfg.protocol,
            "warmup_s": cfg.warmup,
            "runs": cfg.runs,
            "cpu_burners": cfg.load,
            "nice": nice,
            "urgent_session": cfg.urgent_session,
            "intake_process": cfg.intake_process,
            "burners_nice": 0,
        },
        "provision_s": round(provision_s, 1),
        "throughput": {
            "messages": tp.messages,
            "publisher_msgs_per_s": round(tp.messages / tp.publish_s),
            # first to last message: None when mosquitto_sub is not installed
            "mosquitto_sub_msgs_per_s": round((tp.messages - 1) / sub_s) if sub_s else None,
            "bare_paho_msgs_per_s": round(tp.messages / tp.bare_s),
            "pipeline_msgs_per_s": round(tp.messages / tp.pipeline_s),
            "pipeline_over_bare": round(tp.ratio, 2),
            "pipeline_over_mosquitto_sub": None if share is None else round(share, 2),
            "pipeline_batches": tp.batches,
        },
        "latency": summaries[0],  # the first unloaded run (the shape of a one-run bench)
        "runs": summaries,
        "worst": {
            name: _worst([d for d in summaries if bool(d["cpu_burners"]) == loaded])
            for name, loaded in (("unloaded", False), ("loaded", True))
            if any(bool(d["cpu_burners"]) == loaded for d in summaries)
        },
    }


def _run_workers(cfg: BenchConfig, nice: int) -> dict[str, Any]:
    from eldercare.bench import workers

    with bench_servers("eldercare-bench-workers-") as (_broker, db_url, work):
        t0 = time.perf_counter()
        asyncio.run(provision(db_url, cfg.homes, cfg.prefix))
        provision_s = time.perf_counter() - t0
        results = asyncio.run(
            workers.measure_workers(
                counts=list(cfg.workers),
                db_url=db_url,
                work=work,
                homes=cfg.homes,
                messages=cfg.messages,
                seconds=cfg.seconds,
                warmup=cfg.warmup,
                probes=min(cfg.probes, cfg.homes),
                prefix=cfg.prefix,
            )
        )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "config": {
            "homes": cfg.homes,
            "messages": cfg.messages,
            "seconds": cfg.seconds,
            "probes": cfg.probes,
            "warmup_s": cfg.warmup,
            "nice": nice,
            "engine": f"NATS, one node, {workers.PARTITIONS} partitions, MQTT 3.1.1",
        },
        "provision_s": round(provision_s, 1),
        "workers": workers.summary(results),
    }


TARGET_SSE_P99_MS = 50.0
TARGET_SMS_P99_MS = 100.0


def _worst(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The slowest of several runs: each figure's worst, and whether every run met
    the targets (every probe seen, both p99 within theirs)."""

    def worst(path: str, key: str) -> float | None:
        values = [d[path][key] for d in runs if d[path][key] is not None]
        return max(values) if values else None

    met = all(
        d["publish_to_sse_ms"]["seen"] == d["probes"]
        and d["publish_to_sms_request_ms"]["seen"] == d["probes"]
        and (d["publish_to_sse_ms"]["p99"] or 0) <= TARGET_SSE_P99_MS
        and (d["publish_to_sms_request_ms"]["p99"] or 0) <= TARGET_SMS_P99_MS
        for d in runs
    )
    return {
        "runs": len(runs),
        "publish_to_sse_ms": {k: worst("publish_to_sse_ms", k) for k in ("p50", "p99", "max")},
        "publish_to_sms_request_ms": {
            k: worst("publish_to_sms_request_ms", k) for k in ("p50", "p99", "max")
        },
        "service_cpu_percent": max(d["service_cpu_percent"] for d in runs),
        "targets_met": met,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _spread(doc: dict[str, Any]) -> str:
    return f"{_ms(doc['p50'])} / {_ms(doc['p99'])} ms (max {_ms(doc['max'])})"


def _run_line(lat: dict[str, Any]) -> str:
    sse, sms = lat["publish_to_sse_ms"], lat["publish_to_sms_request_ms"]
    return (
        f"SSE {_spread(sse)} {sse['seen']}/{lat['probes']}, SMS {_spread(sms)}"
        f" {sms['seen']}/{lat['probes']}, service {lat['service_cpu_percent']} % CPU,"
        f" load {lat['background_msgs_per_s']} msg/s, settled in {lat['settle_s']} s"
    )


def table(result: dict[str, Any]) -> str:
    if "workers" in result:
        from eldercare.bench import workers

        return workers.table(result["workers"])
    tp, lat = result["throughput"], result["latency"]
    sub = tp["mosquitto_sub_msgs_per_s"]
    share = tp["pipeline_over_mosquitto_sub"]
    rows = [
        (
            "(a) mosquitto_sub (broker's C client)",
            "not installed (Debian: mosquitto-clients)"
            if sub is None
            else f"{sub:,} msg/s  (first to last message)",
        ),
        (
            "    bare paho subscriber",
            f"{tp['bare_paho_msgs_per_s']:,} msg/s  (MQTT {result['config']['mqtt_protocol']})",
        ),
        ("(b) full pipeline", f"{tp['pipeline_msgs_per_s']:,} msg/s"),
        ("    pipeline / bare paho", f"{tp['pipeline_over_bare']:.2f}  (target ≥ 0.5)"),
        ("    pipeline / mosquitto_sub", "-" if share is None else f"{share:.2f}"),
        (
            "(c) publish → SSE p50 / p99",
            f"{_spread(lat['publish_to_sse_ms'])}  ({lat['publish_to_sse_ms']['seen']}"
            f" of {lat['probes']})  (target p99 ≤ {TARGET_SSE_P99_MS:.0f})",
        ),
        (
            "    publish → SMS request p50 / p99",
            f"{_spread(lat['publish_to_sms_request_ms'])}  (target p99 ≤ {TARGET_SMS_P99_MS:.0f})",
        ),
        (
            "(d) service CPU / RSS",
            f"{lat['service_cpu_percent']} % / {lat['service_rss_mb']} MB "
            f"with {lat['homes']} homes at {lat['background_msgs_per_s']} msg/s",
        ),
        (
            "    idle (registry loaded)",
            f"{lat['idle_cpu_percent']} % / {lat['idle_rss_mb']} MB",
        ),
        (
            "    load per 1,000 homes",
            f"{lat['cpu_percent_per_1000_homes']} % CPU, {lat['rss_mb_per_1000_homes']} MB",
        ),
        (
            "    CPU priority",
            f"nice {result['config']['nice']} (service, broker, PostgreSQL, load);"
            f" burners nice {result['config']['burners_nice']}",
        ),
        ("    urgent MQTT session", result["config"]["urgent_session"]),
        ("    intake process", result["config"].get("intake_process", "off")),
    ]
    width = max(len(r[0]) for r in rows)
    text = "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
    if len(result["runs"]) > 1:
        text += "\n\n" + runs_table(result)
    return text


def runs_table(result: dict[str, Any]) -> str:
    """(c)/(d) of every run, then the worst of each condition against the targets."""
    head = ("run", "burners", "SSE p50 / p99 (max) ms", "SMS request p50 / p99 (max) ms", "CPU")
    rows = [head]
    for d in result["runs"]:
        sse, sms = d["publish_to_sse_ms"], d["publish_to_sms_request_ms"]
        rows.append(
            (
                f"{'loaded' if d['cpu_burners'] else 'unloaded'} {d['run']}",
                str(d["cpu_burners"]),
                f"{_ms(sse['p50'])} / {_ms(sse['p99'])} ({_ms(sse['max'])})"
                + ("" if sse["seen"] == d["probes"] else f" {sse['seen']}/{d['probes']} seen"),
                f"{_ms(sms['p50'])} / {_ms(sms['p99'])} ({_ms(sms['max'])})"
                + ("" if sms["seen"] == d["probes"] else f" {sms['seen']}/{d['probes']} seen"),
                f"{d['service_cpu_percent']} %",
            )
        )
    for name, w in result["worst"].items():
        sse, sms = w["publish_to_sse_ms"], w["publish_to_sms_request_ms"]
        rows.append(
            (
                f"worst {name}",
                "",
                f"{_ms(sse['p50'])} / {_ms(sse['p99'])} ({_ms(sse['max'])})",
                f"{_ms(sms['p50'])} / {_ms(sms['p99'])} ({_ms(sms['max'])})",
                f"{w['service_cpu_percent']} %"
                + ("  targets met" if w["targets_met"] else "  TARGETS MISSED"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows
    )


def main(cfg: BenchConfig, json_path: Path) -> int:
    import logging

    logging.getLogger("eldercare").setLevel(logging.WARNING)  # the in-process service
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    result = run_bench(cfg)
    print(table(result))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2))
    print(f"figures written to {json_path}")
    return 0
