"""``eldercare sim run FILE…``: provision, play, and check what the service raised.

Scenarios are placed one after another in the recent past (the gateway refuses
timestamps ahead of the wall clock), provisioned through the API, merged into
one stream and played over MQTT. Then the alerts of each scenario's home are
read back through the API and compared with its ``expect`` list: each
expected alert seen (with its delay after ``after``), missed, or unexpected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from simulators.player import close, connect, play
from simulators.provision import ProvisionError, get_token
from simulators.scenario import ExpectSpec, Scenario
from simulators.timeline import merge, scenario_messages

CONTACT_PHONE = "+8613900000000"


@dataclass(slots=True)
class Outcome:
    scenario: Scenario
    day: date
    seen: list[tuple[ExpectSpec, float]] = field(default_factory=list)
    """Each expected alert found, with its delay in seconds after ``after``."""
    missed: list[ExpectSpec] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missed and not self.unexpected

    def lines(self) -> list[str]:
        sc = self.scenario
        out = [f"{'PASS' if self.passed else 'FAIL'}  {sc.name}  ({sc.path}, home {sc.home.id})"]
        for exp, delay in self.seen:
            out.append(f"      seen        {exp.kind.value} after {delay:.0f} s")
        for exp in self.missed:
            out.append(
                f"      MISSED      {exp.kind.value} within {exp.within.total_seconds():.0f} s"
            )
        for alert in self.unexpected:
            out.append(
                f"      UNEXPECTED  {alert['kind']} ({alert['severity']}) at {alert['raised_at']}"
            )
        return out


def place(scenarios: list[Scenario], now: datetime) -> list[date]:
    """A day for each scenario, in order, all in the past, none overlapping."""
    total = sum((sc.end - sc.start for sc in scenarios), timedelta())
    cursor = now - total - timedelta(days=len(scenarios) + 1)
    days: list[date] = []
    for sc in scenarios:
        day = cursor.astimezone(sc.tz).date()
        if sc.instant(day, sc.start) < cursor:
            day += timedelta(days=1)
        days.append(day)
        cursor = sc.instant(day, sc.end) + timedelta(hours=1)
    if cursor > now:
        raise ValueError("the scenarios do not fit before now")
    return days


async def provision(client: httpx.AsyncClient, sc: Scenario) -> None:
    h = sc.home
    docs: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/homes", {"id": h.id, "name": sc.name[:60] or h.id, "timezone": h.timezone})
    ]
    for r in h.residents:
        docs.append(
            ("/api/v1/residents", {"id": r.id, "home_id": h.id, "name": r.name, "limits": r.limits})
        )
    from simulators.home import DEVICE_SUFFIX

    first = h.residents[0].id if h.residents else None
    for kind in h.devices:
        docs.append(
            (
                "/api/v1/devices",
                {
                    "id": f"{h.id}-{DEVICE_SUFFIX[kind]}",
                    "home_id": h.id,
                    "kind": kind.value,
                    "resident_id": first,
                    "location": DEVICE_SUFFIX[kind],
                },
            )
        )
    docs.append(
        (
            "/api/v1/contacts",
            {"home_id": h.id, "name": "家属", "phone": CONTACT_PHONE, "language": "zh-CN"},
        )
    )
    for path, doc in docs:
        resp = await client.post(path, json=doc)
        if resp.status_code not in (200, 201, 409):
            raise ProvisionError(f"{sc.path}: POST {path}: {resp.status_code} {resp.text}")


PROCESSED = "eldercare_messages_processed_total"


async def processed(client: httpx.AsyncClient) -> float:
    """How many MQTT messages the service has fully processed (from /metrics)."""
    resp = await client.get("/metrics")
    resp.raise_for_status()
    for line in resp.text.splitlines():
        if line.startswith(PROCESSED + " "):
            return float(line.split()[1])
    return 0.0


async def wait_processed(
    client: httpx.AsyncClient, target: float, timeout: float, poll: float = 0.05
) -> bool:
    """Wait until the service has processed ``target`` messages; False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await processed(client) < target:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(poll)
    return True


def processed_counter(client: httpx.Client) -> Callable[[], float]:
    """A blocking reader of the service's processed-message count (for the player thread)."""

    def read() -> float:
        resp = client.get("/metrics")
        resp.raise_for_status()
        for line in resp.text.splitlines():
            if line.startswith(PROCESSED + " "):
                return float(line.split()[1])
        return 0.0

    return read


async def fetch_alerts(client: httpx.AsyncClient, home_id: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/alerts", params={"home_id": home_id, "limit": 200})
    resp.raise_for_status()
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


def judge(sc: Scenario, day: date, alerts: list[dict[str, Any]]) -> Outcome:
    start, end = sc.instant(day, sc.start), sc.instant(day, sc.end)
    mine = [
        a
        for a in alerts
        if start - timedelta(minutes=1) <= datetime.fromisoformat(a["raised_at"]) <= end
    ]
    outcome = Outcome(sc, day)
    used: set[int] = set()
    for exp in sc.expect:
        after = sc.instant(day, exp.after)
        match = None
        for a in sorted(mine, key=lambda a: str(a["raised_at"])):
            at = datetime.fromisoformat(a["raised_at"])
            if a["id"] in used or a["kind"] != exp.kind.value:
                continue
            if exp.severity is not None and a["severity"] != exp.severity.value:
                continue
            if after - timedelta(seconds=1) <= at <= after + exp.within:
                match = a
                break
        if match is None:
            outcome.missed.append(exp)
        else:
            used.add(match["id"])
            delay = (datetime.fromisoformat(match["raised_at"]) - after).total_seconds()
            outcome.seen.append((exp, max(delay, 0.0)))
    outcome.unexpected = [a for a in mine if a["id"] not in used]
    return outcome


async def run(
    scenarios: list[Scenario],
    *,
    api: str,
    username: str,
    password: str,
    mqtt_host: str,
    mqtt_port: int,
    mqtt_username: str | None = None,
    mqtt_password: str | None = None,
    speed: float = 0,
    settle: float = 60.0,
    now: datetime | None = None,
) -> list[Outcome]:
    """Play the scenarios and judge them. ``settle``: the longest wait for the
    service to process everything sent, after the last message."""
    days = place(scenarios, now or datetime.now(UTC))
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {await get_token(client, username, password)}"
        for sc in scenarios:
            await provision(client, sc)
        baseline = await processed(client)
        streams = [scenario_messages(sc, day) for sc, day in zip(scenarios, days, strict=True)]
        mq = await asyncio.to_thread(connect, mqtt_host, mqtt_port, mqtt_username, mqtt_password)
        try:
            with httpx.Client(base_url=api, timeout=10) as sync:
                report = await asyncio.to_thread(
                    play, mq, merge(streams), speed, processed=processed_counter(sync)
                )
        finally:
            await asyncio.to_thread(close, mq)
        if not await wait_processed(client, baseline + report.messages, settle):
            raise ProvisionError(
                f"the service did not process the {report.messages} messages sent "
                f"within {settle:.0f} s (is it running with ELDERCARE_CLOCK=event?)"
            )
        return [
            judge(sc, day, await fetch_alerts(client, sc.home.id))
            for sc, day in zip(scenarios, days, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class LifeReport:
    homes: int
    days: int
    messages: int
    alerts: list[dict[str, Any]]

    def lines(self) -> list[str]:
        out = [
            f"{self.homes} homes x {self.days} days: {self.messages} messages, "
            f"{len(self.alerts)} alerts raised"
        ]
        for a in self.alerts:
            out.append(f"  ALERT {a['home_id']} {a['kind']} ({a['severity']}) at {a['raised_at']}")
        return out


async def run_life(
    homes: int,
    days: int,
    *,
    api: str,
    username: str,
    password: str,
    mqtt_host: str,
    mqtt_port: int,
    mqtt_username: str | None = None,
    mqtt_password: str | None = None,
    seed: int = 1,
    prefix: str = "life",
    settle: float = 120.0,
    now: datetime | None = None,
) -> LifeReport:
    """Provision homes ``{prefix}1..N``, play ``days`` ordinary days accelerated, and
    return every alert the service raised for them (there should be none)."""
    from simulators.home import DemoHome
    from simulators.life import life
    from simulators.provision import provision_homes

    demo = [DemoHome(f"{prefix}{i + 1}", i) for i in range(homes)]
    await provision_homes(api, username, password, demo)
    first_day = (now or datetime.now(UTC)).date() - timedelta(days=days + 1)
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {await get_token(client, username, password)}"
        baseline = await processed(client)
        stream = life([h.home_id for h in demo], first_day, days, seed)
        mq = await asyncio.to_thread(connect, mqtt_host, mqtt_port, mqtt_username, mqtt_password)
        try:
            with httpx.Client(base_url=api, timeout=10) as sync:
                report = await asyncio.to_thread(
                    play, mq, stream, 0, processed=processed_counter(sync)
                )
        finally:
            await asyncio.to_thread(close, mq)
        if not await wait_processed(client, baseline + report.messages, settle):
            raise ProvisionError(
                f"the service did not process the {report.messages} messages sent "
                f"within {settle:.0f} s (is it running with ELDERCARE_CLOCK=event?)"
            )
        alerts: list[dict[str, Any]] = []
        for h in demo:
            alerts += await fetch_alerts(client, h.home_id)
        return LifeReport(homes, days, report.messages, alerts)
