"""Store contract for the care-centre API: vitals buckets, latest vitals and
open-alert counts, on SQLite and on TimescaleDB (the same answers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eldercare.domain import (
    AlertKind,
    AlertStatus,
    Device,
    DeviceKind,
    Finding,
    Home,
    Reading,
    Resident,
    Severity,
)
from eldercare.store import StatusUpdate, Store
from eldercare.store.base import VitalsQuery

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


async def provision(store: Store) -> None:
    await store.create_home(Home("h1", "Home", "", "Asia/Shanghai"))
    await store.create_resident(Resident("r1", "h1", "Wang"))
    await store.create_resident(Resident("r2", "h1", "Li"))
    await store.create_device(Device("bed1", "h1", DeviceKind.BED_BAND, "r1"))
    await store.create_device(Device("bed2", "h1", DeviceKind.BED_BAND, "r2"))
    await store.create_device(Device("door", "h1", DeviceKind.DOOR))


def band(device: str, seq: int, ts: datetime, **fields: Any) -> Reading:
    return Reading("h1", device, DeviceKind.BED_BAND, ts, ts, seq, None, fields)


async def test_vitals_buckets_min_avg_max_per_minute(store: Store) -> None:
    await provision(store)
    # r1: 60, 70, 80 in minute 0 (one null hr and a heartbeat ignored); 50 in minute 2
    readings = [
        band("bed1", 1, T0 + timedelta(seconds=0), hr=60, rr=12, in_bed=True),
        band("bed1", 2, T0 + timedelta(seconds=10), hr=70.0, rr=14, in_bed=True),
        band("bed1", 3, T0 + timedelta(seconds=20), hr=None, rr=None, in_bed=False),
        band("bed1", 4, T0 + timedelta(seconds=30), hr=80, rr=16, in_bed=True),
        band("bed1", 5, T0 + timedelta(seconds=40)),
        band("bed1", 6, T0 + timedelta(minutes=2, seconds=5), hr=50, rr=10, in_bed=True),
        band("bed1", 7, T0 + timedelta(minutes=9), hr=99, rr=30, in_bed=True),  # after `end`
        band("bed2", 1, T0 + timedelta(seconds=5), hr=120, rr=25, in_bed=True),  # other person
    ]
    assert await store.insert_readings(readings) == len(readings)
    query = VitalsQuery("r1", "hr", T0, T0 + timedelta(minutes=5), 60)
    buckets = await store.vitals_buckets(query)
    assert [b.start for b in buckets] == [T0, T0 + timedelta(minutes=2)]
    first, second = buckets
    assert (first.count, first.min, first.avg, first.max) == (3, 60.0, 70.0, 80.0)
    assert (second.count, second.min, second.avg, second.max) == (1, 50.0, 50.0, 50.0)
    rr = await store.vitals_buckets(VitalsQuery("r1", "rr", T0, T0 + timedelta(hours=1), 3600))
    assert len(rr) == 1 and rr[0].start == T0
    assert (rr[0].count, rr[0].min, rr[0].max) == (5, 10.0, 30.0)
    # the other resident and an unknown one
    other = await store.vitals_buckets(VitalsQuery("r2", "hr", T0, T0 + timedelta(hours=1), 60))
    assert [(b.count, b.max) for b in other] == [(1, 120.0)]
    assert await store.vitals_buckets(VitalsQuery("nobody", "hr", T0, T0 + timedelta(1), 60)) == []


async def test_vitals_buckets_align_to_the_epoch(store: Store) -> None:
    await provision(store)
    start = datetime(2025, 3, 1, 8, 7, 30, tzinfo=UTC)
    await store.insert_readings([band("bed1", 1, start, hr=61)])
    (bucket,) = await store.vitals_buckets(
        VitalsQuery("r1", "hr", start - timedelta(hours=1), start + timedelta(hours=1), 900)
    )
    assert bucket.start == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


async def test_latest_vitals_per_bed_band(store: Store) -> None:
    await provision(store)
    assert await store.latest_vitals("h1") == []
    await store.insert_readings(
        [
            band("bed1", 1, T0, hr=60, rr=12, in_bed=True),
            band("bed1", 2, T0 + timedelta(seconds=10), hr=None, rr=None, in_bed=False),
            band("bed1", 3, T0 + timedelta(seconds=20)),  # heartbeat: not vitals
        ]
    )
    (latest,) = await store.latest_vitals("h1")
    assert latest.device_id == "bed1" and latest.resident_id == "r1"
    assert latest.ts == T0 + timedelta(seconds=10)
    assert (latest.hr, latest.rr, latest.in_bed) == (None, None, False)
    await store.insert_readings([band("bed2", 1, T0, hr=72.5, rr=15, in_bed=True)])
    both = await store.latest_vitals("h1")
    assert [v.device_id for v in both] == ["bed1", "bed2"]
    assert (both[1].hr, both[1].rr, both[1].in_bed) == (72.5, 15.0, True)
    assert await store.latest_vitals("elsewhere") == []


async def test_count_open_alerts_by_severity(store: Store) -> None:
    await provision(store)
    assert await store.count_open_alerts() == {}
    alerts = []
    for i in range(2):
        change = await store.record_finding(
            Finding("h1", f"s{i}", AlertKind.SOS, Severity.CRITICAL, T0, f"k{i}"), 600
        )
        assert change is not None
        alerts.append(change.alert)
    await store.record_finding(
        Finding("h1", "water", AlertKind.WATER_LEAK, Severity.HIGH, T0, "w"), 600
    )
    assert await store.count_open_alerts() == {Severity.CRITICAL: 2, Severity.HIGH: 1}
    moved = await store.set_alert_status(
        StatusUpdate(alerts[0].id, AlertStatus.OPEN, AlertStatus.RESOLVED, T0, "x")
    )
    assert moved is not None
    assert await store.count_open_alerts() == {Severity.CRITICAL: 1, Severity.HIGH: 1}
