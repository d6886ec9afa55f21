"""Every simulator's payloads pass the gateway's decoder (CONTRACT.md §1)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from eldercare.domain import Device, DeviceKind
from gateway.decode import decode_event, decode_status, parse_topic
from simulators.devices import Message, SimDevice, home_devices
from simulators.life import life
from simulators.load import run_load
from simulators.payloads import NORMAL, bed_band, fall_radar, gas, sos_cancel, sos_press
from simulators.scenario import load
from simulators.timeline import scenario_messages

LIBRARY = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"


def registry_for(messages: list[Message]) -> dict[str, Device]:
    kinds = {suffix: kind for kind, suffix in _suffixes().items()}
    out: dict[str, Device] = {}
    for m in messages:
        home, dev, _ = parse_topic(m.topic)
        out[dev] = Device(dev, home, kinds[dev.rsplit("-", 1)[1]], None)
    return out


def _suffixes() -> dict[DeviceKind, str]:
    from simulators.home import DEVICE_SUFFIX

    return DEVICE_SUFFIX


def decode_all(messages: list[Message]) -> int:
    devices = registry_for(messages)
    received = max(m.ts for m in messages) + timedelta(seconds=1)
    for m in messages:
        _, dev, channel = parse_topic(m.topic)
        if channel == "event":
            decode_event(m.topic, m.payload, received, devices[dev])
        else:
            decode_status(m.topic, m.payload, received, devices[dev])
    return len(messages)


def test_each_kind_events_heartbeats_and_status_decode() -> None:
    t = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    msgs: list[Message] = []
    samples = {
        DeviceKind.BED_BAND: [bed_band(), bed_band(hr=None, rr=None, in_bed=False)],
        DeviceKind.SOS_BUTTON: [sos_press(), sos_cancel()],
        DeviceKind.DOOR: [{"open": True}, {"open": False}],
        DeviceKind.FALL_RADAR: [fall_radar(fall="detected", posture="floor"), fall_radar()],
        DeviceKind.GAS: [gas(lel=12, alarm=True), gas(lel=None, alarm=False)],
        DeviceKind.WATER: [{"leak": True}, {"leak": False}],
    }
    for kind, dev in home_devices("h1").items():
        msgs.append(dev.status(t, True))
        msgs.append(dev.heartbeat(t))
        msgs.extend(dev.event(t + timedelta(seconds=i), f) for i, f in enumerate(samples[kind]))
        msgs.append(dev.event(t, NORMAL[kind]))
        msgs.append(dev.status(t, False))
    assert decode_all(msgs) == len(msgs)


def test_battery_drains_and_seq_increases() -> None:
    dev = SimDevice("h1", DeviceKind.DOOR)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    first = json.loads(dev.heartbeat(t).payload)
    later = json.loads(dev.heartbeat(t + timedelta(days=100)).payload)
    assert later["seq"] == first["seq"] + 1
    assert first["battery"] == 100 and 65 < later["battery"] < 75
    assert "battery" not in json.loads(SimDevice("h1", DeviceKind.GAS).heartbeat(t).payload)


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.toml")), ids=lambda p: p.stem)
def test_every_library_scenario_decodes(path: Path) -> None:
    sc = load(path)
    assert decode_all(list(scenario_messages(sc, date(2026, 11, 20)))) > 0


def test_ordinary_life_decodes_and_is_in_time_order() -> None:
    msgs = list(life(["a1", "a2"], date(2026, 11, 18), 2, seed=3))
    assert [m.ts for m in msgs] == sorted(m.ts for m in msgs)
    assert decode_all(msgs) > 1000


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: str, qos: int = 0) -> None:
        self.sent.append((topic, payload.encode()))


def test_load_payloads_decode() -> None:
    rec = _Recorder()
    report = run_load(rec, homes=20, seconds=0.5)  # type: ignore[arg-type]
    assert report.vitals == 20 and report.sent == len(rec.sent)
    now = datetime.now(UTC)
    msgs = [Message(now, topic, payload) for topic, payload in rec.sent]
    assert decode_all(msgs) == len(msgs)
