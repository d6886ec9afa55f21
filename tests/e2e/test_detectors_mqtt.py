"""Every detector over real MQTT with ELDERCARE_CLOCK=event: Mosquitto → gateway →
store → detectors → alerts, with timestamped events published fast (a night
replays in seconds). One Service for the module, one home per scenario; the
event clock only moves forward, so each scenario has its own later day."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import pytest_asyncio
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.app import Service
from eldercare.domain import Alert, AlertKind, Severity
from eldercare.settings import Settings
from eldercare.store.base import AlertFilter
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher, status_topic
from tests.e2e.helpers import eventually, free_port
from tests.harness.mosquitto import Mosquitto, _require_binary

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "detectors-admin-pw"
SHANGHAI = timedelta(hours=8)
# Local midnight in Shanghai, 40 days ago: every scenario takes a later day.
_today = datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0)
BASE = _today - timedelta(days=40)
_days = itertools.count(1)


def night(hh: int, mm: int = 0, ss: float = 0, *, day: int) -> datetime:
    """Local Shanghai time on scenario day ``day`` (00:00-23:59)."""
    return BASE + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


class World:
    def __init__(self, service: Service, api: str, broker: Mosquitto) -> None:
        self.service = service
        self.api = api
        self.broker = broker
        self.pub: DevicePublisher

    async def home(self) -> tuple[DemoHome, int]:
        day = next(_days)
        home = DemoHome(f"d{day}", day)
        await provision_homes(self.api, "admin", PASSWORD, [home])
        return home, day

    async def send(
        self, home: DemoHome, suffix: str, ts: datetime, battery: float | None = None, **f: Any
    ) -> None:
        await self.pub.event(home.home_id, f"{home.home_id}-{suffix}", f, ts=ts, battery=battery)

    async def alerts(self, home: DemoHome, kind: AlertKind | None = None) -> list[Alert]:
        found = await self.service.store.list_alerts(
            AlertFilter(home_id=home.home_id, kind=[kind] if kind else [], limit=100)
        )
        return found

    async def alert(self, home: DemoHome, kind: AlertKind, timeout: float = 10) -> Alert:
        async def probe() -> Alert | None:
            found = await self.alerts(home, kind)
            return found[0] if found else None

        return await eventually(probe, timeout=timeout)

    async def barrier(self, home: DemoHome, ts: datetime) -> None:
        """Everything published before is processed once this battery_low is an alert."""
        await self.send(home, "water", ts, battery=5)
        await self.alert(home, AlertKind.BATTERY_LOW)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    _require_binary()
    b = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    try:
        yield b
    finally:
        b.stop()


async def _start(settings: Settings) -> tuple[Service, asyncio.Task[None]]:
    service = Service(settings)
    await service.__aenter__()
    task = asyncio.create_task(service.run())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}") as client:

        async def ready() -> bool | None:
            try:
                return True if (await client.get("/readyz")).status_code == 200 else None
            except httpx.HTTPError:
                return None

        await eventually(ready, timeout=15)
    return service, task


async def _stop(service: Service, task: asyncio.Task[None]) -> None:
    service.request_stop()
    await asyncio.wait_for(task, 15)
    await service.__aexit__(None, None, None)


def _settings(broker: Mosquitto, db: Path) -> Settings:
    port = free_port()
    return Settings.load(env={}).with_(
        mqtt_url=broker.url,
        database_url=f"sqlite:///{db}",
        api_port=port,
        admin_password=PASSWORD,
        mqtt_client_id=f"gw-{port}",
        clock="event",
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(
    broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    settings = _settings(broker, tmp_path_factory.mktemp("db") / "detectors.db")
    service, task = await _start(settings)
    w = World(service, f"http://127.0.0.1:{settings.api_port}", broker)
    async with DevicePublisher(broker.host, broker.port) as pub:
        w.pub = pub
        yield w
    await _stop(service, task)


async def test_fall_not_recovered(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "radar", night(3, day=day), presence=True, fall="suspected")
    await world.send(
        home, "radar", night(3, 0, 30, day=day), presence=True, fall="none", posture="lying"
    )
    await world.send(
        home, "radar", night(3, 1, 1, day=day), presence=True, fall="none", posture="lying"
    )
    alert = await world.alert(home, AlertKind.FALL)
    assert alert.severity is Severity.CRITICAL
    assert alert.raised_at == night(3, 1, day=day)  # suspected + 60 s
    assert "not recovered" in alert.message


async def test_fall_recovered_raises_nothing(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "radar", night(3, day=day), presence=True, fall="suspected")
    await world.send(
        home, "radar", night(3, 0, 20, day=day), presence=True, fall="none", posture="standing"
    )
    await world.barrier(home, night(3, 5, day=day))
    assert await world.alerts(home, AlertKind.FALL) == []


async def test_bradycardia_at_night(world: World) -> None:
    home, day = await world.home()
    start = night(2, day=day)
    for i in range(100):
        hr = 70 if i < 60 else 35
        await world.send(home, "bed", start + timedelta(seconds=i), hr=hr, rr=14, in_bed=True)
    alert = await world.alert(home, AlertKind.HEART_RATE_LOW)
    assert alert.severity is Severity.CRITICAL
    assert alert.raised_at == start + timedelta(seconds=90)
    assert alert.resident_id == home.resident_id


async def test_breathing_stopped(world: World) -> None:
    home, day = await world.home()
    start = night(2, day=day)
    for i in range(90):
        rr = 14 if i < 60 else 0
        await world.send(home, "bed", start + timedelta(seconds=i), hr=62, rr=rr, in_bed=True)
    alert = await world.alert(home, AlertKind.BREATHING_STOPPED)
    assert alert.raised_at == start + timedelta(seconds=80)
    assert await world.alerts(home, AlertKind.RESPIRATION_LOW) == []


async def test_gas_leak_and_its_clearance(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "gas", night(12, day=day), lel=2)
    await world.send(home, "gas", night(12, 1, day=day), lel=12, alarm=False)
    alert = await world.alert(home, AlertKind.GAS_LEAK)
    assert alert.severity is Severity.CRITICAL
    await world.send(home, "gas", night(12, 20, day=day), lel=0, alarm=False)

    async def cleared() -> bool | None:
        timeline = await world.service.store.get_timeline(alert.id)
        return True if any(e.event == "cleared" for e in timeline) else None

    await eventually(cleared)
    assert (await world.service.store.get_alert(alert.id)).status.value == "open"


async def test_water_leak_and_dry(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "water", night(9, day=day), leak=True)
    alert = await world.alert(home, AlertKind.WATER_LEAK)
    assert alert.severity is Severity.HIGH
    await world.send(home, "water", night(9, 1, day=day), leak=True)
    await world.send(home, "water", night(9, 30, day=day), leak=False)

    async def cleared() -> bool | None:
        timeline = await world.service.store.get_timeline(alert.id)
        return True if any(e.event == "cleared" for e in timeline) else None

    await eventually(cleared)
    assert (await world.service.store.get_alert(alert.id)).count == 1


async def test_night_wandering(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "door", night(2, day=day), open=True)
    await world.send(home, "door", night(2, 0, 5, day=day), open=False)
    await world.send(home, "gas", night(2, 9, day=day), lel=0)
    await world.send(home, "gas", night(2, 10, 1, day=day), lel=0)
    alert = await world.alert(home, AlertKind.NIGHT_WANDERING)
    assert alert.severity is Severity.HIGH
    assert alert.raised_at == night(2, 10, day=day)


async def test_inactivity(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "door", night(8, day=day), open=True)
    await world.send(home, "door", night(8, 0, 10, day=day), open=False)
    for h in range(1, 13):  # the gas alarm's heartbeats keep time moving: not activity
        await world.send(home, "gas", night(8, 0, 10, day=day) + timedelta(hours=h, seconds=1))
    alert = await world.alert(home, AlertKind.INACTIVITY)
    assert alert.raised_at == night(20, 0, 10, day=day)
    assert alert.subject == home.home_id


async def test_device_offline_by_silence_then_back(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "radar", night(10, day=day))
    await world.send(home, "gas", night(10, 10, day=day))
    assert await world.alerts(home, AlertKind.DEVICE_OFFLINE) == []
    await world.send(home, "gas", night(10, 16, day=day))
    alert = await world.alert(home, AlertKind.DEVICE_OFFLINE)
    assert alert.subject == f"{home.home_id}-radar"
    assert alert.severity is Severity.HIGH  # the fall radar is a critical device
    assert alert.raised_at == night(10, 15, day=day)
    await world.send(home, "radar", night(10, 20, day=day), presence=False, fall="none")

    async def resolved() -> bool | None:
        current = await world.service.store.get_alert(alert.id)
        return True if current.status.value == "resolved" else None

    await eventually(resolved)


async def test_device_offline_by_last_will(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "gas", night(11, day=day), lel=0)
    await world.send(home, "water", night(11, day=day), leak=False)
    device = f"{home.home_id}-water"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device)
    client.will_set(status_topic(home.home_id, device), b"offline", qos=1, retain=True)
    client.connect(world.broker.host, world.broker.port, keepalive=30)
    for _ in range(5):
        client.loop(0.05)
    client.publish(status_topic(home.home_id, device), b"online", qos=1, retain=True)
    for _ in range(5):
        client.loop(0.05)
    sock = client.socket()
    assert sock is not None
    sock.close()  # gone without DISCONNECT: the broker publishes the will
    alert = await world.alert(home, AlertKind.DEVICE_OFFLINE)
    assert alert.subject == device
    assert alert.severity is Severity.WARNING  # the water sensor is not a critical device


async def test_battery_low_once_a_day(world: World) -> None:
    home, day = await world.home()
    await world.send(home, "door", night(10, day=day), battery=12, open=False)
    alert = await world.alert(home, AlertKind.BATTERY_LOW)
    assert alert.severity is Severity.WARNING
    await world.send(home, "door", night(11, day=day), battery=11, open=False)
    await world.send(home, "door", night(12, day=day), battery=11)
    await world.send(home, "sos", night(12, 1, day=day), battery=9)  # another device: barrier
    await eventually(lambda: _count(world, home, AlertKind.BATTERY_LOW, 2), timeout=10)
    door = [
        a for a in await world.alerts(home, AlertKind.BATTERY_LOW) if a.subject.endswith("door")
    ]
    assert len(door) == 1 and door[0].count == 1


async def _count(world: World, home: DemoHome, kind: AlertKind, n: int) -> bool | None:
    return True if len(await world.alerts(home, kind)) >= n else None


async def test_restart_in_the_middle_of_out_of_bed(broker: Mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    home = DemoHome("rs1", 0)
    day = 30
    service, task = await _start(_settings(broker, db))
    api = f"http://127.0.0.1:{service.settings.api_port}"
    await provision_homes(api, "admin", PASSWORD, [home])
    async with DevicePublisher(broker.host, broker.port) as pub:
        bed = f"{home.home_id}-bed"
        await pub.event(
            home.home_id, bed, {"in_bed": True, "hr": 60, "rr": 14}, ts=night(2, 9, day=day)
        )
        await pub.event(
            home.home_id, bed, {"in_bed": False, "hr": None, "rr": None}, ts=night(2, 10, day=day)
        )

        async def stored() -> bool | None:
            return True if await service.store.count_readings(bed) == 2 else None

        await eventually(stored)
    await _stop(service, task)

    service, task = await _start(_settings(broker, db))
    try:
        async with DevicePublisher(broker.host, broker.port) as pub:
            await pub.event(
                home.home_id,
                bed,
                {"in_bed": False, "hr": None, "rr": None},
                ts=night(2, 30, day=day),
            )
            await pub.event(
                home.home_id, f"{home.home_id}-gas", {"lel": 0}, ts=night(2, 39, 59, day=day)
            )

            async def gas_seen() -> bool | None:
                n = await service.store.count_readings(f"{home.home_id}-gas")
                return True if n == 1 else None

            await eventually(gas_seen)
            filt = AlertFilter(home_id=home.home_id, kind=[AlertKind.BED_EXIT_NOT_RETURNED])
            assert await service.store.list_alerts(filt) == []
            await pub.event(
                home.home_id, f"{home.home_id}-gas", {"lel": 0}, ts=night(2, 41, day=day)
            )
            await pub.event(
                home.home_id, f"{home.home_id}-gas", {"lel": 0}, ts=night(2, 50, day=day)
            )

            async def raised() -> list[Alert] | None:
                found = await service.store.list_alerts(filt)
                return found or None

            (alert,) = await eventually(raised)
            assert alert.raised_at == night(2, 40, day=day)  # out at 02:10 + 30 min
            assert alert.count == 1
    finally:
        await _stop(service, task)
