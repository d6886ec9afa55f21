"""A store with something of everything, and a snapshot of it read through the
store API (what a backup must bring back, what retention must leave alone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eldercare.domain import (
    AlertKind,
    AlertStatus,
    DeadLetter,
    Device,
    DeviceKind,
    Finding,
    Home,
    Outcome,
    Reading,
    Resident,
    Role,
    Severity,
    TimelineEntry,
    User,
)
from eldercare.store import AlertFilter, StatusUpdate, Store
from eldercare.store.base import EscalationStep

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bed_reading(ts: datetime, seq: int, hr: float = 62.0, device: str = "h1-bed") -> Reading:
    return Reading(
        "h1", device, DeviceKind.BED_BAND, ts, ts, seq, 80.0, {"hr": hr, "rr": 14, "in_bed": True}
    )


async def provision(store: Store) -> None:
    await store.create_home(Home("h1", "陈家 Chen home", "1 Road", "Asia/Shanghai"))
    await store.create_resident(Resident("h1-r1", "h1", "陈洁", {"hr_low": 45.0}))
    await store.create_device(Device("h1-bed", "h1", DeviceKind.BED_BAND, "h1-r1", "bedroom"))
    await store.create_device(Device("h1-sos", "h1", DeviceKind.SOS_BUTTON, None, "hall"))
    await store.create_contact("h1", "Chen Min", "+8613800000001", "zh-CN", 1)
    await store.create_user(User("op1", "hash-not-a-secret", Role.OPERATOR, "+8613800000009"))


async def populate(store: Store, now: datetime) -> None:
    """Registry, readings over several days (several chunks), two alerts with a
    timeline (one resolved), escalation steps and dead letters."""
    await provision(store)
    readings = [
        bed_reading(now - timedelta(days=day, minutes=m), seq=day * 100 + m, hr=50 + m)
        for day in (0, 1, 3, 8)
        for m in range(5)
    ]
    await store.insert_readings(readings)
    sos = Finding(
        "h1",
        "h1-sos",
        AlertKind.SOS,
        Severity.CRITICAL,
        now - timedelta(days=3),
        "k-sos-1",
        "SOS pressed",
        device_id="h1-sos",
    )
    change = await store.record_finding(sos, 600)
    assert change is not None
    first = change.alert.id
    assert first is not None
    at = now - timedelta(days=3) + timedelta(minutes=1)
    await store.set_alert_status(
        StatusUpdate(first, AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, at, "op1")
    )
    await store.set_alert_status(
        StatusUpdate(
            first,
            AlertStatus.ACKNOWLEDGED,
            AlertStatus.RESOLVED,
            at,
            "op1",
            outcome=Outcome.HANDLED,
            note="家属已到 family there",
        )
    )
    await store.add_timeline(
        TimelineEntry(first, at, "family_reply", "+8613800000001", {"body": "收到"})
    )
    low = Finding(
        "h1",
        "h1-r1",
        AlertKind.HEART_RATE_LOW,
        Severity.CRITICAL,
        now,
        "k-hr-1",
        "HR 38",
        device_id="h1-bed",
        resident_id="h1-r1",
    )
    change = await store.record_finding(low, 600)
    assert change is not None and change.alert.id is not None
    await store.add_steps(
        [
            EscalationStep(
                change.alert.id,
                "critical.family_first",
                0,
                now + timedelta(minutes=2),
                "sms",
                "family_first",
                "acknowledged",
                "family",
            )
        ]
    )
    await store.insert_dead_letters(
        [
            DeadLetter("eldercare/v1/h1/x/event", b"\xff\x00not json", "bad_json", "not JSON", now),
            DeadLetter(
                "eldercare/v1/h9/y/event",
                b"{}",
                "unknown_device",
                "no such device",
                now - timedelta(days=2),
            ),
        ]
    )


@dataclass
class Snapshot:
    registry: Any
    alerts: Any
    timelines: Any
    steps: Any
    readings: Any
    dead_letters: Any


async def snapshot(store: Store) -> Snapshot:
    alerts = await store.list_alerts(AlertFilter(limit=1000))
    return Snapshot(
        registry=(
            await store.list_homes(),
            await store.list_residents(),
            await store.list_devices(),
            await store.list_contacts(),
            await store.list_users(),
        ),
        alerts=alerts,
        timelines={a.id: await store.get_timeline(a.id) for a in alerts if a.id is not None},
        steps={a.id: await store.list_steps(a.id) for a in alerts if a.id is not None},
        readings=await store.readings_since(EPOCH),
        dead_letters=await store.list_dead_letters(1000),
    )
