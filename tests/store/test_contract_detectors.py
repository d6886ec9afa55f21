"""Store contract, detectors part: home rules, saved detector state, the bounded
replay of recent readings. Runs on SQLite and TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import detectors.runtime as runtime_module
from detectors.runtime import DetectorRuntime
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


async def _bed_homes(store: Store, n: int) -> list[Device]:
    beds = []
    for h in range(n):
        await store.create_home(Home(f"c{h}", "Home"))
        await store.create_resident(Resident(f"c{h}-r1", f"c{h}", "R"))
        bed = Device(f"c{h}-bed", f"c{h}", DeviceKind.BED_BAND, f"c{h}-r1")
        await store.create_device(bed)
        beds.append(bed)
    return beds


async def _runtime_with_changes(store: Store, homes: int) -> DetectorRuntime:
    """A runtime whose detectors hold 3 changed entries per home (bed exit,
    inactivity and device health each note a home's first bed-band reading)."""
    beds = await _bed_homes(store, homes)
    runtime = DetectorRuntime(store, default_timezone="Asia/Shanghai")
    await runtime.reload()
    runtime.detectors.begin(T)
    for bed in beds:
        fields = {"hr": 60, "rr": 14, "in_bed": True, "movement": 3}
        reading = Reading(bed.home_id, bed.id, DeviceKind.BED_BAND, T, T, 1, None, fields)
        runtime.detectors.on_reading(reading, bed)
    return runtime


async def test_a_big_checkpoint_is_written_in_chunks_with_pauses_between(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "CHECKPOINT_CHUNK", 100)
    runtime = await _runtime_with_changes(store, 100)
    pauses = 0

    async def pause() -> None:
        nonlocal pauses
        pauses += 1

    assert await runtime.checkpoint(T, pause=pause) == 300
    # 3 full chunks taken (a pause after each), then 3 written (a pause between two)
    assert pauses == 5
    rows = await store.load_detector_state()
    assert len([r for r in rows if r.detector != runtime_module.RUNTIME]) == 300
    assert DetectorStateRow(runtime_module.RUNTIME, "as_of", {"at": T.isoformat()}) in rows
    assert await runtime.checkpoint(T + timedelta(seconds=1), force=True) == 0  # nothing new


async def test_a_checkpoint_broken_off_midway_keeps_the_rest_for_the_next(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "CHECKPOINT_CHUNK", 100)
    runtime = await _runtime_with_changes(store, 100)
    calls = 0

    async def pause() -> None:  # the first pause between written chunks fails
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("stopped midway")

    with pytest.raises(RuntimeError, match="midway"):
        await runtime.checkpoint(T, pause=pause)
    rows = await store.load_detector_state()
    assert len(rows) == 100  # one chunk written, and no as_of yet
    assert all(r.detector != runtime_module.RUNTIME for r in rows)
    assert await runtime.checkpoint(T, force=True) == 200  # the rest, then as_of
    assert len(await store.load_detector_state()) == 301
