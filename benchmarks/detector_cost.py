"""Detector cost per reading (µs) and detector state memory per resident.

    .venv/bin/python -m benchmarks.detector_cost [--homes 1000] [--seconds 120]

Builds ``--homes`` homes with the six devices each, then feeds an ordinary
mix through one DetectorSet: every home's bed band once a second (vitals in
bed), and per home per minute a radar sample, a door event and a gas reading,
with a tick every simulated second. Prints µs per reading (readings and ticks
together), and the memory the detectors hold per resident (tracemalloc, after
the windows are full).
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from detectors.engine import build_detectors
from detectors.profiles import Profiles
from eldercare.domain import Device, DeviceKind, Home, Reading, Resident


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args()
    rng = random.Random(1)
    homes = [f"h{i}" for i in range(args.homes)]
    devices = {(h, k): Device(f"{h}-{k.value}", h, k, f"{h}-r1") for h in homes for k in DeviceKind}
    profiles = Profiles("Asia/Shanghai")
    profiles.replace(
        [Home(h, h) for h in homes],
        [Resident(f"{h}-r1", h, "r") for h in homes],
        devices.values(),
    )
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    engine = build_detectors(profiles)
    start = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    seq = 0
    n = 0
    elapsed = 0.0
    for s in range(args.seconds):
        now = start + timedelta(seconds=s)
        batch = []
        for h in homes:
            seq += 1
            bed = devices[(h, DeviceKind.BED_BAND)]
            fields = {
                "hr": rng.gauss(60, 3),
                "rr": rng.gauss(14, 1),
                "in_bed": True,
                "movement": rng.choice((0, 0, 5)),
            }
            batch.append((Reading(h, bed.id, bed.kind, now, now, seq, None, fields), bed))
            if s % 60 == hash(h) % 60:
                for kind, f in (
                    (DeviceKind.FALL_RADAR, {"presence": True, "fall": "none"}),
                    (DeviceKind.DOOR, {"open": False}),
                    (DeviceKind.GAS, {"lel": 1.0}),
                ):
                    d = devices[(h, kind)]
                    batch.append((Reading(h, d.id, kind, now, now, seq, 90.0, f), d))
        t0 = time.perf_counter()
        engine.begin(now)
        for reading, device in batch:
            engine.on_reading(reading, device)
        engine.on_tick(now)
        elapsed += time.perf_counter() - t0
        n += len(batch)
    after = tracemalloc.take_snapshot()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    tracemalloc.stop()
    # timing again without tracemalloc's overhead
    engine2 = build_detectors(profiles)
    t0 = time.perf_counter()
    m = 0
    for s in range(min(args.seconds, 60)):
        now = start + timedelta(days=1, seconds=s)
        engine2.begin(now)
        for h in homes:
            seq += 1
            bed = devices[(h, DeviceKind.BED_BAND)]
            fields = {"hr": 60.0 + s % 3, "rr": 14.0, "in_bed": True, "movement": 0}
            engine2.on_reading(Reading(h, bed.id, bed.kind, now, now, seq, None, fields), bed)
            m += 1
        engine2.on_tick(now)
    clean = time.perf_counter() - t0
    print(f"homes: {args.homes}, simulated seconds: {args.seconds}, readings: {n}")
    mixed, per_bed = elapsed / n * 1e6, clean / m * 1e6
    print(f"detector cost, mixed readings + ticks (tracemalloc on): {mixed:.1f} µs/reading")
    print(f"detector cost, bed-band readings + ticks (tracemalloc off): {per_bed:.1f} µs/reading")
    print(f"detector state memory: {held / args.homes / 1024:.1f} KiB per resident (home)")
    windows = engine.vitals.memory_bytes() / args.homes
    print(f"numpy window buffers alone: {windows:.0f} B per resident")


if __name__ == "__main__":
    main()
