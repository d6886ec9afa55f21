"""Decode cost per message (µs): each ecosystem's adapter next to the native format.

    .venv/bin/python -m benchmarks.adapter_decode_cost [--devices 10000] [--rounds 15]

What the gateway does per message in its asyncio thread, in one process and run:
native = ``parse_topic`` + registry dict lookup + ``decode_event``; an ecosystem =
``SourceIndex.match`` (topic → device) + ``SourceDecoder.decode`` (payload →
native ``Reading``, merged state and its undo record, the same
``check_kind_fields``). A bed band at
1 Hz is the bulk of the traffic, so each format decodes a bed-band reading
(Zigbee2MQTT: one full-state JSON; ESPHome: one plain heart-rate value; Tasmota:
one ZbReceived entry with Occupancy; Shelly has no bed band: its flood sensor),
one message per device, ``--devices`` devices, best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from eldercare.domain import Device, DeviceKind
from gateway.adapters import SourceDecoder, SourceIndex
from gateway.decode import decode_event, parse_topic

AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _best(rounds: int, n: int, work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    n = args.devices
    bed = DeviceKind.BED_BAND
    native = {f"b{i}": Device(f"b{i}", f"h{i}", bed, f"h{i}-r1") for i in range(n)}
    native_msgs = [
        (
            f"eldercare/v1/h{i}/b{i}/event",
            json.dumps({"ts": 1796284800000 + i, "seq": i, "hr": 64, "rr": 14, "in_bed": True}),
        )
        for i in range(n)
    ]

    def run_native() -> None:
        for topic, payload in native_msgs:
            _, device_id, _ = parse_topic(topic)
            decode_event(topic, payload.encode(), AT, native.get(device_id))

    cases: dict[str, tuple[list[Device], list[tuple[str, bytes, bool]]]] = {
        "zigbee2mqtt": (
            [
                Device(
                    f"z{i}",
                    "h",
                    bed,
                    "r",
                    "",
                    {"type": "zigbee2mqtt", "topic": f"zigbee2mqtt/b{i}"},
                )
                for i in range(n)
            ],
            [
                (
                    f"zigbee2mqtt/b{i}",
                    json.dumps(
                        {"heart_rate": 64, "breath_rate": 14, "presence": True, "linkquality": 90}
                    ).encode(),
                    False,
                )
                for i in range(n)
            ],
        ),
        "esphome": (
            [
                Device(f"e{i}", "h", bed, "r", "", {"type": "esphome", "node": f"n{i}"})
                for i in range(n)
            ],
            [(f"n{i}/sensor/heart_rate/state", b"64.0", False) for i in range(n)],
        ),
        "shelly": (
            [
                Device(
                    f"s{i}", "h", DeviceKind.WATER, None, "", {"type": "shelly", "id": f"sf-{i}"}
                )
                for i in range(n)
            ],
            [(f"shellies/sf-{i}/sensor/flood", b"false", False) for i in range(n)],
        ),
        "tasmota": (
            [
                Device(
                    f"t{i}",
                    "h",
                    bed,
                    "r",
                    "",
                    {
                        "type": "tasmota",
                        "topic": f"tele/zb{i // 50}/SENSOR",
                        "device": f"0x{i:04X}",
                    },
                )
                for i in range(n)
            ],
            [
                (
                    f"tele/zb{i // 50}/SENSOR",
                    json.dumps(
                        {"ZbReceived": {f"0x{i:04X}": {"Device": f"0x{i:04X}", "Occupancy": 1}}}
                    ).encode(),
                    False,
                )
                for i in range(n)
            ],
        ),
    }
    runs: dict[str, Callable[[], None]] = {"native (eldercare/v1 JSON)": run_native}
    for name, (devices, msgs) in cases.items():
        index = SourceIndex(devices)
        decoder = SourceDecoder()

        def run(
            msgs: list[tuple[str, bytes, bool]] = msgs,
            index: SourceIndex = index,
            decoder: SourceDecoder = decoder,
        ) -> None:
            undo: dict[str, object] = {}  # as the gateway decodes: per batch of 1,000
            for i, (topic, payload, retain) in enumerate(msgs):
                if not i % 1000:
                    undo = {}
                decoder.decode(index.match(topic), topic, payload, retain, AT, AT, undo)

        runs[name] = run
    # Round-robin: every format is timed once per round, so all see the same load
    # of a shared machine; the best round of each is printed.
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name, work in runs.items():
            best[name] = min(best[name], _best(1, n, work))
    print(f"decode cost per message, {n} devices, best of {args.rounds} rounds")
    for name, us in best.items():
        print(f"  {name:32} {us:6.2f} µs")


if __name__ == "__main__":
    main()
