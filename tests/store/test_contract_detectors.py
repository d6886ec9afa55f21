"""Store contract, detectors part: home rules, saved detector state, the bounded
replay of recent readings. Runs on SQLite and TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eldercare.domain import Device, DeviceKind, Home, Reading, Resident
from eldercare.store.base import DetectorStateRow, Store

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


async def _home(store: Store) -> None:
    await store.create_home(Home("h1", "Home", "", "Asia/Shanghai", {"bed_exit_min": 45.0}))
    await store.create_resident(Resident("h1-r1", "h1", "Wang"))
    await store.create_device(Device("h1-bed", "h1", DeviceKind.BED_BAND, "h1-r1"))
    await store.create_device(Device("h1-door", "h1", DeviceKind.DOOR))


async def test_home_rules_are_stored_and_changed(store: Store) -> None:
    await _home(store)
    assert (await store.get_home("h1")).rules == {"bed_exit_min": 45.0}
    changed = await store.update_home("h1", {"rules": {"inactivity_h": 8.0}})
    assert changed.rules == {"inactivity_h": 8.0}
    assert (await store.list_homes())[0].rules == {"inactivity_h": 8.0}
    await store.create_home(Home("h2", "Other"))
    assert (await store.get_home("h2")).rules == {}


async def test_detector_state_upserts_and_deletes(store: Store) -> None:
    assert await store.load_detector_state() == []
    await store.save_detector_state(
        [
            DetectorStateRow("bed_exit", "h1-bed", {"out_since": "2026-03-02T02:10:00+00:00"}),
            DetectorStateRow("door", "h1-door", {"is_open": True, "n": [1, 2]}),
        ],
        T,
    )
    await store.save_detector_state(
        [
            DetectorStateRow("bed_exit", "h1-bed", {"out_since": None}),
            DetectorStateRow("door", "h1-door", None),
            DetectorStateRow("door", "never-saved", None),
        ],
        T + timedelta(seconds=2),
    )
    assert await store.load_detector_state() == [
        DetectorStateRow("bed_exit", "h1-bed", {"out_since": None})
    ]


async def test_readings_since_is_ordered_and_bounded(store: Store) -> None:
    await _home(store)
    readings = [
        Reading(
            "h1",
            "h1-bed",
            DeviceKind.BED_BAND,
            T + timedelta(seconds=i),
            T,
            i,
            None,
            {"hr": 60, "in_bed": True},
        )
        for i in range(10)
    ] + [
        Reading(
            "h1",
            "h1-door",
            DeviceKind.DOOR,
            T + timedelta(seconds=4.5),
            T,
            None,
            80.0,
            {"open": True},
        )
    ]
    await store.insert_readings(readings)
    assert await store.latest_reading_ts() == T + timedelta(seconds=9)
    got = await store.readings_since(T + timedelta(seconds=4))
    assert [(r.device_id, r.ts) for r in got] == [
        ("h1-bed", T + timedelta(seconds=4)),
        ("h1-door", T + timedelta(seconds=4.5)),
        *[("h1-bed", T + timedelta(seconds=i)) for i in range(5, 10)],
    ]
    door = got[1]
    assert (door.seq, door.battery, door.fields, door.kind) == (
        None,
        80.0,
        {"open": True},
        DeviceKind.DOOR,
    )
    newest = await store.readings_since(T, limit=3)
    assert [r.seq for r in newest] == [7, 8, 9]


async def test_no_readings_no_latest(store: Store) -> None:
    assert await store.latest_reading_ts() is None
    assert await store.readings_since(T) == []
