"""A replayed ordinary day and night raises nothing; saved state resumes after a restart."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from detectors.engine import build_detectors
from eldercare.domain import AlertKind, DeviceKind, Reading
from tests.detectors.rig import Rig, local

BED, RADAR, DOOR = DeviceKind.BED_BAND, DeviceKind.FALL_RADAR, DeviceKind.DOOR
GAS, WATER, SOS = DeviceKind.GAS, DeviceKind.WATER, DeviceKind.SOS_BUTTON


def _ordinary_day(rng: random.Random) -> list[tuple[datetime, DeviceKind, dict[str, object]]]:
    """Events of one day from 18:00 to 18:00 the next day, local time."""
    ev: list[tuple[datetime, DeviceKind, dict[str, object]]] = []
    start = local(18, day=-1)

    def at(h: float) -> datetime:
        return start + timedelta(hours=h)

    # evening in the flat: radar presence, the door once, cooking
    for m in range(0, 270, 5):
        ev.append((at(m / 60), RADAR, {"presence": True, "fall": "none", "posture": "sitting"}))
    ev.append((at(0.5), DOOR, {"open": True}))
    ev.append((at(0.5) + timedelta(seconds=40), DOOR, {"open": False}))
    for m in range(0, 40):
        ev.append((at(0.25) + timedelta(minutes=m), GAS, {"lel": rng.uniform(0, 4)}))
    # 22:30 to bed; sleep with breathing vitals every 2 s until 06:30; out at 02:00 for 12 min
    t = at(4.5)
    end = at(12.5)
    trip = (local(2), local(2, 12))
    while t < end:
        in_bed = not (trip[0] <= t < trip[1])
        if in_bed:
            fields: dict[str, object] = {
                "hr": rng.gauss(58, 3),
                "rr": rng.gauss(14, 1),
                "in_bed": True,
                "movement": rng.choice([0, 0, 0, 0, 3, 10]),
            }
            if rng.random() < 0.001:  # single outliers
                fields["hr"] = rng.choice([25, 180])
        else:
            fields = {"hr": None, "rr": None, "in_bed": False, "movement": 0}
        ev.append((t, BED, fields))
        t += timedelta(seconds=2)
    ev.append((local(2, 3), RADAR, {"presence": True, "fall": "none", "posture": "standing"}))
    ev.append((local(2, 4), RADAR, {"presence": True, "fall": "suspected", "posture": "sitting"}))
    ev.append((local(2, 4, 5), RADAR, {"presence": True, "fall": "none", "posture": "standing"}))
    ev.append((local(2, 5), WATER, {"leak": False}))
    # the day: breakfast, door use, out shopping and back, lunch, a nap in the chair
    for h in (7, 7.5, 8, 9, 11, 12, 12.5, 13, 15, 16, 17, 17.9):
        ev.append(
            (at(13 + h - 7), RADAR, {"presence": True, "fall": "none", "posture": "standing"})
        )
    ev.append((local(9, 30), DOOR, {"open": True}))
    ev.append((local(9, 30, 20), DOOR, {"open": False}))
    ev.append((local(10, 45), DOOR, {"open": True}))
    ev.append((local(10, 45, 30), DOOR, {"open": False}))
    ev.append((local(10, 47), RADAR, {"presence": True, "fall": "none", "posture": "standing"}))
    for m in range(0, 30):
        ev.append((local(11, 30) + timedelta(minutes=m), GAS, {"lel": rng.uniform(0, 6)}))
    # heartbeats with battery of every device: battery devices hourly, mains every 5 min
    for minute in range(0, 24 * 60, 5):
        for kind in (GAS, RADAR, BED):
            ev.append((start + timedelta(minutes=minute, seconds=7), kind, {}))
        if minute % 60 == 0:
            for kind in (SOS, DOOR, WATER):
                ev.append((start + timedelta(minutes=minute, seconds=9), kind, {}))
    ev.sort(key=lambda e: e[0])
    return ev


def test_an_ordinary_day_and_night_raises_nothing() -> None:
    rig = Rig()
    events = _ordinary_day(random.Random(7))
    last_tick = events[0][0]
    for ts, kind, fields in events:
        battery = 80.0 if kind in (SOS, DOOR, WATER) else None
        rig.send(kind, ts, battery=battery, **fields)
        if ts - last_tick >= timedelta(seconds=30):
            rig.tick(ts)
            last_tick = ts
    rig.tick(events[-1][0] + timedelta(seconds=1))
    assert len(events) > 14_000
    assert rig.findings() == [], [f.message for f in rig.findings()]


def test_saved_state_resumes_an_out_of_bed_wait_after_a_restart() -> None:
    rig = Rig()
    rig.send(BED, local(2, 9), in_bed=True, hr=60, rr=14)
    rig.send(BED, local(2, 10), in_bed=False, hr=None, rr=None)
    saved = rig.set.dump()
    assert any(name == "bed_exit" for name, _, _ in saved)

    fresh = build_detectors(rig.profiles)  # a new process
    for name, key, state in saved:
        if state is not None:
            fresh.load(name, key, state)
    assert [
        s for s in fresh.on_tick(local(2, 39, 59)) if s.kind is AlertKind.BED_EXIT_NOT_RETURNED
    ] == []
    fired = [s for s in fresh.on_tick(local(2, 40)) if s.kind is AlertKind.BED_EXIT_NOT_RETURNED]
    assert len(fired) == 1 and fired[0].at == local(2, 40)
    # the original would have made the same finding: the store keeps only one
    original = [s for s in rig.tick(local(2, 40)) if s.kind is AlertKind.BED_EXIT_NOT_RETURNED]
    assert original[0].source_key == fired[0].source_key
    # a reading replayed after the restart (already applied before it) changes nothing
    bed = rig.devices[BED]
    replayed = Reading("h1", bed.id, BED, local(2, 10), local(2, 10), 2, None, {"in_bed": False})
    assert list(fresh.on_reading(replayed, bed)) == []
    assert [s for s in fresh.on_tick(local(3)) if s.kind is AlertKind.BED_EXIT_NOT_RETURNED] == []
