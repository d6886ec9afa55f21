"""A scale-out worker's detectors (detectors/runtime.py ``Scope``) on each backend:
a new owner of a partition rebuilds its homes' state from what the last owner
saved, and only theirs; a bed exit before the handover is raised once, at exit
plus the wait, by the new owner."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from detectors.runtime import RUNTIME, DetectorRuntime, Scope
from eldercare.clock import ManualClock
from eldercare.domain import AlertKind, Device, DeviceKind, Finding, Home, Reading, Resident
from eldercare.store.base import Store
from gateway.partitions import partition_of

T = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # night in the homes' zone (UTC)
A, B = "hA", "hB"  # partitions 0 and 1 of 2
WAIT = timedelta(minutes=30)  # bed_exit_min's default


def _scope(*partitions: int) -> Scope:
    return Scope(frozenset(partitions), functools.partial(partition_of, partitions=2))


async def _homes(store: Store) -> dict[str, Device]:
    beds = {}
    for h in (A, B):
        await store.create_home(Home(h, h, "", "UTC"))
        await store.create_resident(Resident(f"{h}-r", h, "Wang"))
        beds[h] = await store.create_device(Device(f"{h}-bed", h, DeviceKind.BED_BAND, f"{h}-r"))
    return beds


def _bed(device: Device, ts: datetime, in_bed: bool, seq: int) -> Reading:
    fields = {"hr": 60, "rr": 14, "in_bed": in_bed, "movement": 3}
    return Reading(device.home_id, device.id, DeviceKind.BED_BAND, ts, ts, seq, None, fields)


def _bed_exits(signals: object) -> list[Finding]:
    assert isinstance(signals, list | tuple)
    return [
        s for s in signals if isinstance(s, Finding) and s.kind is AlertKind.BED_EXIT_NOT_RETURNED
    ]


async def test_the_new_owner_of_a_partition_raises_a_bed_exit_once_at_the_right_time(
    store: Store,
) -> None:
    assert (partition_of(A, 2), partition_of(B, 2)) == (0, 1)
    beds = await _homes(store)
    exit_at = T + timedelta(minutes=1)
    # The first owner of both partitions: both residents leave their beds at 01:01.
    first = DetectorRuntime(store, default_timezone="UTC", scope=_scope(0, 1))
    await first.reload()
    first.detectors.begin(T)
    for bed in beds.values():
        assert first.detectors.on_reading(_bed(bed, T, True, 1), bed) == []
        assert first.detectors.on_reading(_bed(bed, exit_at, False, 2), bed) == []
    saved_at = exit_at + timedelta(seconds=2)
    await first.checkpoint(saved_at, force=True)
    rows = await store.load_detector_state()
    assert {r.key for r in rows if r.detector == RUNTIME} == {"as_of/0", "as_of/1"}

    # It dies; another worker gains partition 0 only and rebuilds it from the store.
    second = DetectorRuntime(store, default_timezone="UTC", scope=_scope(0))
    clock = ManualClock(saved_at)
    assert _bed_exits(await second.start(clock)) == []
    assert second.profiles.device(beds[A].id) is not None
    assert second.profiles.device(beds[B].id) is None  # another worker's home
    assert _bed_exits(second.detectors.on_tick(exit_at + WAIT - timedelta(seconds=1))) == []
    raised = _bed_exits(second.detectors.on_tick(exit_at + WAIT))
    assert [(f.home_id, f.at) for f in raised] == [(A, exit_at + WAIT)]
    assert _bed_exits(second.detectors.on_tick(exit_at + WAIT + timedelta(minutes=5))) == []

    # Home B's resident is still out: the owner of partition 1 raises hers, not A's.
    third = DetectorRuntime(store, default_timezone="UTC", scope=_scope(1))
    await third.start(ManualClock(saved_at))
    raised = _bed_exits(third.detectors.on_tick(exit_at + WAIT))
    assert [f.home_id for f in raised] == [B]
