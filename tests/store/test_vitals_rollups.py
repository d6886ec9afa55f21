"""Per-minute vitals rollups, on SQLite and on TimescaleDB: the vitals history
answered from them is the one the readings give (redeliveries the store drops
are not counted twice, partial minutes at the range's ends come from the
readings), the backfill counts readings stored before them, and retention keeps
them longer than the readings."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from eldercare import cli
from eldercare.domain import Device, DeviceKind, Home, Reading, Resident
from eldercare.retention import RetentionPolicy, prune_once
from eldercare.store import Store, open_store
from eldercare.store.base import VitalsBucket, VitalsQuery

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
SPAN = timedelta(hours=3)


async def provision(store: Store) -> None:
    await store.create_home(Home("h1", "Home", "", "Asia/Shanghai"))
    await store.create_resident(Resident("r1", "h1", "Wang"))
    await store.create_resident(Resident("r2", "h1", "Li"))
    # r1 has two bands (one replaced the other): both count for her.
    await store.create_device(Device("bed1", "h1", DeviceKind.BED_BAND, "r1"))
    await store.create_device(Device("bed1b", "h1", DeviceKind.BED_BAND, "r1"))
    await store.create_device(Device("bed2", "h1", DeviceKind.BED_BAND, "r2"))


def band(device: str, seq: int, ts: datetime, *, assigned: bool = False, **fields: Any) -> Reading:
    return Reading("h1", device, DeviceKind.BED_BAND, ts, ts, seq, None, fields, assigned)


def day_of_readings(rng: random.Random) -> list[Reading]:
    """Three hours of three bands at irregular times, values exact in binary
    (quarters) so sums do not depend on the order of addition; some readings on
    the minute exactly, some with hr or rr null or missing, some heartbeats."""
    readings = []
    for device in ("bed1", "bed1b", "bed2"):
        ts = T0 - timedelta(seconds=rng.randrange(0, 90))
        seq = 0
        while ts < T0 + SPAN:
            seq += 1
            fields: dict[str, Any] = {"in_bed": True}
            roll = rng.random()
            if roll > 0.1:
                fields["hr"] = rng.randrange(160, 480) / 4
            elif roll > 0.05:
                fields["hr"] = None
            if rng.random() > 0.15:
                fields["rr"] = rng.randrange(24, 120) / 4
            readings.append(band(device, seq, ts, **fields))
            step = rng.choice([0.5, 1, 3, 7, 20, 45, 60])
            ts += timedelta(seconds=step, microseconds=rng.randrange(0, 1000))
            if rng.random() < 0.05:
                ts = ts.replace(second=0, microsecond=0) + timedelta(minutes=1)  # on the minute
    return readings


async def insert_with_redeliveries(
    store: Store, readings: list[Reading], rng: random.Random
) -> int:
    """Batches of varying size (single statements and COPY), then redeliveries:
    whole batches again, and readings again with a time the gateway assigned."""
    stored = 0
    batches = []
    i = 0
    while i < len(readings):
        size = rng.choice([1, 5, 16, 17, 200, 900])
        batches.append(readings[i : i + size])
        i += size
    for batch in batches:
        stored += await store.insert_readings(batch)
    for batch in rng.sample(batches, k=len(batches) // 3):
        assert await store.insert_readings(batch) == 0  # the same readings again
    again = [
        Reading(r.home_id, r.device_id, r.kind, r.ts + timedelta(seconds=5), r.ts, r.seq,
                None, r.fields, True)
        for r in rng.sample(readings, k=200)
    ]  # fmt: skip
    assert await store.insert_readings(again) == 0  # same seq, a time assigned on arrival
    mixed = [*rng.sample(readings, k=50), band("bed1", 10**6, T0 + SPAN + timedelta(hours=1), hr=1)]
    assert await store.insert_readings(mixed) == 1  # only the new one is stored
    return stored


def oracle(readings: list[Reading], query: VitalsQuery, residents: dict[str, str]) -> list[Any]:
    """What the vitals history must say, computed from the readings in Python."""
    groups: dict[int, list[float]] = defaultdict(list)
    for r in readings:
        value = r.fields.get(query.metric)
        if residents.get(r.device_id) != query.resident_id or not isinstance(value, int | float):
            continue
        if query.start <= r.ts < query.end:
            epoch = int(r.ts.timestamp())
            groups[epoch - epoch % query.bucket_s].append(value)
    return [
        VitalsBucket(datetime.fromtimestamp(b, UTC), len(v), min(v), sum(v) / len(v), max(v))
        for b, v in sorted(groups.items())
    ]


def queries(rng: random.Random) -> list[VitalsQuery]:
    found = []
    for bucket in (60, 120, 300, 900, 3600, 86400, 90, 5):
        for metric in ("hr", "rr"):
            found.append(VitalsQuery("r1", metric, T0, T0 + SPAN, bucket))  # whole minutes
            found.append(VitalsQuery("r2", metric, T0 - timedelta(hours=1), T0 + SPAN * 2, bucket))
            for _ in range(3):  # ends anywhere, down to the microsecond
                start = T0 + timedelta(
                    seconds=rng.uniform(-120, 3600), microseconds=rng.randrange(1000)
                )
                end = start + timedelta(seconds=rng.uniform(1, 7200))
                found.append(VitalsQuery(rng.choice(["r1", "r2"]), metric, start, end, bucket))
    minute = T0 + timedelta(minutes=17)
    us = timedelta(microseconds=1)
    edges = [
        (minute, minute + timedelta(minutes=1)),  # exactly one minute
        (minute + timedelta(seconds=10), minute + timedelta(seconds=50)),  # inside one minute
        (minute + timedelta(seconds=50), minute + timedelta(minutes=1, seconds=10)),  # across one
        (minute - us, minute + timedelta(minutes=2) + us),
        (minute + us, minute + timedelta(minutes=2) - us),
    ]  # fmt: skip
    for start, end in edges:
        for bucket in (60, 300):
            found.append(VitalsQuery("r1", "hr", start, end, bucket))
    return found


async def test_rollup_answers_are_the_readings_answers(store: Store) -> None:
    await provision(store)
    rng = random.Random(16)
    readings = day_of_readings(rng)
    stored = await insert_with_redeliveries(store, readings, rng)
    assert stored == len(readings)
    residents = {"bed1": "r1", "bed1b": "r1", "bed2": "r2"}
    checked = 0
    for query in queries(rng):
        from_rollups = await store.vitals_buckets(query)
        from_readings = await store.vitals_buckets(query, rollups=False)
        expected = oracle(readings, query, residents)
        assert from_rollups == from_readings == expected, query
        checked += len(expected)
    assert checked > 1000  # the comparison saw plenty of buckets
    whole = await store.vitals_buckets(VitalsQuery("r1", "hr", T0 - SPAN, T0 + SPAN * 3, 86400))
    vitals = sum(1 for r in readings if r.device_id != "bed2" and r.fields.get("hr") is not None)
    assert sum(b.count for b in whole) == vitals + 1  # and the one new in the last batch


def _wipe_rollups(store_url: str) -> None:
    """The state of a store upgraded with readings: rollups empty."""
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            conn.execute("DELETE FROM vitals_minute")
    else:
        with psycopg.connect(store_url) as conn:
            conn.execute("DELETE FROM vitals_minute")


async def test_backfill_counts_readings_stored_before_the_rollups(
    store: Store, store_url: str
) -> None:
    await provision(store)
    rng = random.Random(7)
    readings = day_of_readings(rng)
    await store.insert_readings(readings)
    _wipe_rollups(store_url)
    query = VitalsQuery("r1", "hr", T0, T0 + SPAN, 300)
    expected = await store.vitals_buckets(query, rollups=False)
    assert len(expected) == 36
    assert await store.vitals_buckets(query) != expected  # only the partial minutes' readings
    written = await store.backfill_vitals()
    assert written > 400  # three bands, three hours of minutes (a few without vitals)
    assert await store.vitals_buckets(query) == expected
    # Run again, and with new readings in between: nothing counted twice.
    later = band("bed1", 10**5, T0 + timedelta(minutes=7, seconds=1), hr=200.0)
    await store.insert_readings([later])
    assert await store.backfill_vitals(T0, T0 + SPAN) > 0
    after = await store.vitals_buckets(query)
    assert after == await store.vitals_buckets(query, rollups=False)
    assert after[1].count == expected[1].count + 1 and after[1].max == 200.0


async def test_retention_keeps_rollups_longer_than_readings(store: Store) -> None:
    await provision(store)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    ages = (1, 500, 900)
    await store.insert_readings(
        [band("bed1", age, now - timedelta(days=age), hr=60.0 + age) for age in ages]
    )
    policy = RetentionPolicy(readings_days=400, dead_letter_days=90, rollup_days=800)
    result = await prune_once(store, policy, now)
    assert len(result.rollup_chunks) == 1 or result.rollup_rows == 1  # the 900-day-old one

    async def answers(age: int, rollups: bool) -> list[float]:
        day = now - timedelta(days=age)
        query = VitalsQuery("r1", "hr", day - timedelta(hours=1), day + timedelta(hours=1), 3600)
        return [b.max for b in await store.vitals_buckets(query, rollups=rollups)]

    assert await answers(1, True) == await answers(1, False) == [61.0]
    assert await answers(500, False) == []  # the reading is gone ...
    assert await answers(500, True) == [560.0]  # ... its minute is still in the history
    assert await answers(900, True) == []
    # Rollups are never dropped before the readings they summarise.
    assert RetentionPolicy(400, 90, rollup_days=30).rollups_kept_days == 400
    assert RetentionPolicy(0, 90, rollup_days=30).rollups_kept_days == 0


@pytest.mark.parametrize("metric", ["hr", "rr"])
async def test_a_redelivered_batch_does_not_change_the_history(store: Store, metric: str) -> None:
    await provision(store)
    batch = [
        band("bed1", i, T0 + timedelta(seconds=i), hr=60.0 + i, rr=10.0 + i) for i in range(30)
    ]
    query = VitalsQuery("r1", metric, T0, T0 + timedelta(hours=1), 60)
    assert await store.insert_readings(batch) == 30
    first = await store.vitals_buckets(query)
    assert [b.count for b in first] == [30]
    for size in (1, 16, 30):  # the single-statement and the COPY paths
        assert await store.insert_readings(batch[:size]) == 0
    assert await store.vitals_buckets(query) == first


async def test_db_backfill_vitals_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    store = await open_store(db)
    try:
        await store.migrate()
        await provision(store)
        await store.insert_readings(
            [band("bed1", i, T0 + timedelta(minutes=i), hr=70.0) for i in range(5)]
        )
    finally:
        await store.close()
    _wipe_rollups(db)
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", db)
    assert await asyncio.to_thread(cli.main, ["db", "backfill-vitals"]) == 0
    assert "vitals rollups backfilled: 5 device-minutes written" in capsys.readouterr().out
    store = await open_store(db)
    try:
        (bucket,) = await store.vitals_buckets(VitalsQuery("r1", "hr", T0, T0 + SPAN, 3600))
        assert bucket.count == 5
    finally:
        await store.close()
