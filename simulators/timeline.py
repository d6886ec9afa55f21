"""Turns a scenario into the messages its devices would send, in time order.

Besides the scenario's own events, the home lives: every device says
``online`` at the start and sends heartbeats at its interval, and the bed band
reports its current state (in bed or not, heart rate, respiration, movement)
every ``vitals_every``. An event's fields stay the device's state, so
``set = { in_bed = false }`` at 02:10 keeps the band reporting an empty bed
until another event changes it. Vitals wobble a little, seeded by the home
id, so two runs send the same bytes.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from eldercare.domain import DeviceKind
from simulators.devices import Message, SimDevice, home_devices
from simulators.scenario import Scenario

ASLEEP = {"in_bed": True, "hr": 60.0, "rr": 14.0, "movement": 3}
AWAKE_OUT_OF_BED = {"in_bed": False, "hr": None, "rr": None, "movement": 0}


def _bed_fields(state: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The band's report from its state: vitals wobble around the state's values."""
    out = dict(state)
    if out.get("in_bed") and out.get("hr") is not None and state.get("_steady") is not True:
        out["hr"] = round(float(out["hr"]) + rng.uniform(-3, 3), 1)
    if out.get("in_bed") and out.get("rr") not in (None, 0) and state.get("_steady") is not True:
        out["rr"] = round(float(out["rr"]) + rng.uniform(-1, 1), 1)
    out.pop("_steady", None)
    return out


def _apply_bed(state: dict[str, Any], fields: dict[str, Any]) -> None:
    """Getting out of bed empties the vitals; getting in brings ordinary ones back."""
    if fields.get("in_bed") is False:
        state.update(AWAKE_OUT_OF_BED)
    elif fields.get("in_bed") is True and not state.get("in_bed"):
        state.update(ASLEEP)
    state.update(fields)
    # Explicit vitals in an event are sent as given (a test of thresholds needs exact values).
    state["_steady"] = any(k in fields for k in ("hr", "rr"))


def scenario_messages(sc: Scenario, day: date) -> Iterator[Message]:
    """Every message of the scenario placed on ``day``, in time order."""
    devices = home_devices(sc.home.id, list(sc.home.devices))
    rng = random.Random(sc.home.id)
    start, end = sc.instant(day, sc.start), sc.instant(day, sc.end)
    bed = devices.get(DeviceKind.BED_BAND)
    if bed is not None:
        bed.state = dict(ASLEEP if sc.home.asleep else AWAKE_OUT_OF_BED)

    # (when, order, device kind, fields or None, status or None); "silent" is a status here
    plan: list[tuple[datetime, int, DeviceKind, dict[str, Any] | None, str | None]] = []
    n = 0
    for ev in sc.events:
        at = sc.instant(day, ev.at)
        last = sc.instant(day, ev.until) if ev.until is not None else at
        while at <= last:
            plan.append((at, n, ev.device, ev.fields, "silent" if ev.silent else ev.status))
            n += 1
            if ev.every is None:
                break
            at += ev.every
    plan.sort(key=lambda p: (p[0], p[1]))

    out: list[Message] = [d.status(start, True) for d in devices.values()]
    silenced: set[DeviceKind] = set()
    step = sc.home.vitals_every
    t = start
    i = 0
    while t <= end:
        nxt = min(t + step, end + timedelta(microseconds=1))
        # the scenario's own events up to (not including) the next background tick
        while i < len(plan) and plan[i][0] < nxt:
            at, _, kind, fields, status = plan[i]
            dev = devices[kind]
            if status == "silent":
                silenced.add(kind)
            elif status is not None:
                # A status payload has no timestamp: another device's report at the same
                # moment first, so a service on the event clock knows what time it is.
                out.extend(_clock_tick(devices, kind, at, rng))
                out.append(dev.status(at, status == "online"))
                if status == "offline":
                    silenced.add(kind)
                else:
                    silenced.discard(kind)
            elif fields is not None:
                if kind is DeviceKind.BED_BAND:
                    _apply_bed(dev.state, fields)
                    out.append(dev.event(at, _bed_fields(dev.state, rng)))
                else:
                    out.append(dev.event(at, dict(fields)))
            i += 1
        if t < end or t == end:
            out.extend(_background(devices, t, silenced, rng))
        t = nxt if nxt <= end else end + timedelta(seconds=1)
    out.sort(key=lambda m: m.ts)
    yield from out


def _clock_tick(
    devices: dict[DeviceKind, SimDevice], skip: DeviceKind, at: datetime, rng: random.Random
) -> list[Message]:
    for kind, dev in devices.items():
        if kind is not skip:
            fields = _bed_fields(dev.state, rng) if kind is DeviceKind.BED_BAND else {}
            return [dev.event(at, fields)]
    return []


def _background(
    devices: dict[DeviceKind, SimDevice],
    t: datetime,
    silenced: set[DeviceKind],
    rng: random.Random,
) -> list[Message]:
    msgs: list[Message] = []
    for kind, dev in devices.items():
        if kind in silenced:
            continue
        if kind is DeviceKind.BED_BAND:
            msgs.append(dev.event(t, _bed_fields(dev.state, rng)))
        elif dev.heartbeat_due(t):
            msgs.append(dev.heartbeat(t))
    return msgs


def merge(streams: Iterable[Iterator[Message]]) -> Iterator[Message]:
    """Several homes' messages as one stream in time order."""
    return heapq.merge(*streams, key=lambda m: m.ts)
