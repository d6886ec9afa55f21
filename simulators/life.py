"""Ordinary life in N homes for D days, seeded: what a false-alarm count is measured on.

Each day a resident goes to bed between 21:15 and 21:55, sleeps with
ordinary breathing and heart rate, may get up once or twice for the bathroom
(5 to 12 minutes), gets up between 06:05 and 07:00, moves about (radar
presence and posture), cooks twice (a little gas, under any alarm level),
goes out in the morning for one to two hours through the front door, and
comes back. Devices send heartbeats at their intervals. Nothing here should
raise an alert; ``eldercare sim life`` reports what the service raised.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from eldercare.domain import DeviceKind
from simulators.devices import Message, home_devices
from simulators.timeline import merge

K = DeviceKind


def _at(day: date, tz: ZoneInfo, hour: int, minute: float) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz) + timedelta(hours=hour, minutes=minute)


def _day_plan(
    rng: random.Random, day: date, tz: ZoneInfo
) -> list[tuple[datetime, DeviceKind, dict[str, Any]]]:
    """The day's events from waking (after the night that began the evening before)."""
    plan: list[tuple[datetime, DeviceKind, dict[str, Any]]] = []

    def add(at: datetime, kind: DeviceKind, **fields: Any) -> None:
        plan.append((at, kind, fields))

    # Night trips to the bathroom (the night began the evening before).
    for _ in range(rng.choice([0, 1, 1, 2])):
        out = _at(day, tz, rng.randint(0, 4), rng.uniform(0, 59))
        back = out + timedelta(minutes=rng.uniform(5, 12))
        add(out, K.BED_BAND, in_bed=False)
        add(
            out + timedelta(seconds=40),
            K.FALL_RADAR,
            presence=True,
            fall="none",
            posture="standing",
        )
        add(back - timedelta(seconds=40), K.FALL_RADAR, presence=False, fall="none")
        add(back, K.BED_BAND, in_bed=True)
    wake = _at(day, tz, 6, rng.uniform(5, 60))
    add(wake, K.BED_BAND, in_bed=False)
    add(wake + timedelta(minutes=1), K.FALL_RADAR, presence=True, fall="none", posture="standing")
    # Breakfast and lunch: a little gas, well under the alarm level.
    for hour in (7, 11):
        cook = _at(day, tz, hour, rng.uniform(0, 40))
        add(cook, K.GAS, lel=round(rng.uniform(0.5, 3), 1), alarm=False)
        add(cook + timedelta(minutes=20), K.GAS, lel=0, alarm=False)
        add(
            cook + timedelta(minutes=2),
            K.FALL_RADAR,
            presence=True,
            fall="none",
            posture="standing",
        )
    # Out in the morning, back one to two hours later.
    leave = _at(day, tz, 9, rng.uniform(0, 50))
    back = leave + timedelta(minutes=rng.uniform(60, 120))
    for t in (leave, back):
        add(t, K.DOOR, open=True)
        add(t + timedelta(seconds=rng.uniform(20, 90)), K.DOOR, open=False)
    add(leave + timedelta(minutes=2), K.FALL_RADAR, presence=False, fall="none")
    add(back + timedelta(minutes=2), K.FALL_RADAR, presence=True, fall="none", posture="sitting")
    # Afternoon and evening: moving about the flat.
    for hour in range(13, 21):
        posture = rng.choice(["sitting", "standing"])
        add(
            _at(day, tz, hour, rng.uniform(0, 59)),
            K.FALL_RADAR,
            presence=True,
            fall="none",
            posture=posture,
        )
    bed = _at(day, tz, 21, rng.uniform(15, 55))
    add(bed - timedelta(minutes=3), K.FALL_RADAR, presence=True, fall="none", posture="standing")
    add(bed, K.BED_BAND, in_bed=True)
    plan.sort(key=lambda p: p[0])
    return plan


def home_life(
    home_id: str, first_day: date, days: int, seed: int, tz: ZoneInfo, vitals_every: timedelta
) -> Iterator[Message]:
    """One home's messages from 07:30 of ``first_day - 1`` (awake) through ``days`` days."""
    rng = random.Random(f"{seed}:{home_id}")
    devices = home_devices(home_id)
    start = _at(first_day - timedelta(days=1), tz, 21, 0)
    bed = devices[K.BED_BAND]
    bed.state = {"in_bed": False, "hr": None, "rr": None, "movement": 0}
    plan = [(start + timedelta(minutes=10), K.BED_BAND, {"in_bed": True})]
    for d in range(days):
        plan += _day_plan(rng, first_day + timedelta(days=d), tz)
    # Every home runs to the same moment (after the last bedtime): a home that fell
    # silent earlier than the others would look offline to the service.
    end = _at(first_day + timedelta(days=days - 1), tz, 22, 30)

    out: list[Message] = [dev.status(start, True) for dev in devices.values()]
    i = 0
    t = start
    while t <= end:
        while i < len(plan) and plan[i][0] <= t:
            at, kind, fields = plan[i]
            dev = devices[kind]
            if kind is K.BED_BAND:
                dev.state.update(fields)
                out.append(dev.event(at, _vitals(dev.state, rng)))
            else:
                out.append(dev.event(at, dict(fields)))
            i += 1
        for kind, dev in devices.items():
            if kind is K.BED_BAND:
                out.append(dev.event(t, _vitals(dev.state, rng)))
            elif dev.heartbeat_due(t):
                out.append(dev.heartbeat(t))
        t += vitals_every
    out.sort(key=lambda m: m.ts)
    return iter(out)


def _vitals(state: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    if not state.get("in_bed"):
        return {"in_bed": False, "hr": None, "rr": None, "movement": 0}
    return {
        "in_bed": True,
        "hr": round(rng.gauss(62, 4), 1),
        "rr": round(rng.gauss(14.5, 1.2), 1),
        "movement": rng.randint(0, 8),
    }


def life(
    home_ids: list[str],
    first_day: date,
    days: int,
    seed: int = 1,
    tz: ZoneInfo | None = None,
    vitals_every: timedelta = timedelta(minutes=5),
) -> Iterator[Message]:
    """All homes' messages merged in time order."""
    zone = tz or ZoneInfo("Asia/Shanghai")
    return merge(home_life(h, first_day, days, seed, zone, vitals_every) for h in home_ids)
