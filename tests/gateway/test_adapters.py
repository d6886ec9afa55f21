"""The ecosystem adapters, decoded from fixtures written from each ecosystem's own
documentation (each fixture file cites its sources), one file per device model.

Pure: the routing index and the decoder of gateway/adapters, no broker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from eldercare.device_source import parse_source, source_key
from eldercare.domain import Device, DeviceKind, Reading, StatusChange
from gateway.adapters import SourceDecoder, SourceIndex
from gateway.adapters.urgency import urgent
from gateway.decode import Rejected

FIXTURES = sorted((Path(__file__).parent / "adapter_fixtures").glob("*.json"))
AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _devices(fixture: dict[str, Any]) -> list[tuple[Device, list[dict[str, Any]]]]:
    blocks = fixture.get("devices") or [fixture]
    return [
        (Device(f"dev-{i}", "h1", DeviceKind(b["kind"]), "r1", "", b["source"]), b["messages"])
        for i, b in enumerate(blocks)
    ]


def _payload(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_decodes_to_native_readings(path: Path) -> None:
    fixture = json.loads(path.read_text(encoding="utf-8"))
    assert fixture["sources"], "every fixture cites where its payloads come from"
    devices = _devices(fixture)
    index = SourceIndex([d for d, _ in devices])
    decoder = SourceDecoder()
    for device, messages in devices:
        for n, msg in enumerate(messages):
            where = f"{path.stem} {device.kind.value} message {n}: {msg['topic']}"
            expect = msg["expect"]
            match = index.match(msg["topic"])
            assert match is not None, f"{where}: no route"
            payload = _payload(msg["payload"])
            retain = bool(msg.get("retain", False))
            if "dead" in expect:
                with pytest.raises(Rejected) as info:
                    decoder.decode(match, msg["topic"], payload, retain, AT, AT)
                assert info.value.reason == expect["dead"], where
                for part in expect["detail"]:
                    assert part in info.value.detail, f"{where}: {info.value.detail!r}"
                continue
            items = [
                i
                for i in decoder.decode(match, msg["topic"], payload, retain, AT, AT)
                if i.device_id == device.id
            ]
            assert len(items) == 1, f"{where}: {items}"
            item = items[0]
            if "online" in expect:
                assert isinstance(item, StatusChange), where
                assert item.online is expect["online"], where
            else:
                assert isinstance(item, Reading), where
                assert item.fields == expect["fields"], where
                assert item.battery == expect.get("battery"), where
                assert item.kind is device.kind and item.ts == AT and item.ts_assigned


def test_subscriptions_follow_the_sources() -> None:
    devices = [
        Device("a", "h1", DeviceKind.SOS_BUTTON, None, "", {"type": "zigbee2mqtt", "topic": "z/a"}),
        Device("b", "h1", DeviceKind.WATER, None, "", {"type": "esphome", "node": "leak-b"}),
        Device("c", "h1", DeviceKind.GAS, None, "", {"type": "shelly", "id": "shellygas-C"}),
        Device(
            "d", "h1", DeviceKind.DOOR, None, "", {"type": "tasmota", "topic": "t/S", "device": "1"}
        ),
        Device(
            "e",
            "h1",
            DeviceKind.WATER,
            None,
            "",
            {"type": "tasmota", "topic": "t/S", "device": "2"},
        ),
        Device("f", "h1", DeviceKind.DOOR),  # native: nothing to subscribe to
    ]
    subs = SourceIndex(devices).subscriptions
    assert sorted(subs) == [
        "leak-b/+/+/state",
        "leak-b/status",
        "shellies/shellygas-C/online",
        "shellies/shellygas-C/sensor/+",
        "t/S",
        "z/a",
        "z/a/availability",
    ]
    assert subs["leak-b/+/+/state"].retained_always and not subs["z/a"].retained_always


def test_a_topic_no_source_names_is_an_unknown_device() -> None:
    with pytest.raises(Rejected) as info:
        SourceDecoder().decode(None, "zigbee2mqtt/nobody", b"{}", False, AT, AT)
    assert info.value.reason == "unknown_device" and "zigbee2mqtt/nobody" in info.value.detail


def test_a_retained_press_is_never_a_new_press() -> None:
    device = Device(
        "s", "h1", DeviceKind.SOS_BUTTON, None, "", {"type": "zigbee2mqtt", "topic": "z/s"}
    )
    index = SourceIndex([device])
    match = index.match("z/s")
    payload = b'{"action": "emergency"}'
    (old,) = SourceDecoder().decode(match, "z/s", payload, True, AT, AT)
    (new,) = SourceDecoder().decode(match, "z/s", payload, False, AT, AT)
    assert isinstance(old, Reading) and old.fields == {}
    assert isinstance(new, Reading) and new.fields == {"action": "press"}


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ({"type": "zigbee2mqtt", "topic": "zigbee2mqtt/+"}, "wildcards"),
        ({"type": "zigbee2mqtt", "topic": "eldercare/v1/h1/d1/event"}, "native"),
        ({"type": "zigbee2mqtt", "topic": "zigbee2mqtt/bridge/devices"}, "bridge"),
        ({"type": "zigbee2mqtt", "topic": "zigbee2mqtt/sos/availability"}, "availability"),
        ({"type": "esphome", "node": "bad node"}, "pattern"),
        ({"type": "shelly"}, "id"),
        ({"type": "tasmota", "topic": "tele/zb/SENSOR"}, "device"),
        ({"type": "hue", "id": "x"}, "hue"),
    ],
)
def test_a_wrong_source_is_refused_with_its_field(source: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_source(source)
    assert problem in str(info.value)


def test_source_keys_tell_addresses_apart() -> None:
    one = {"type": "tasmota", "topic": "tele/zb/SENSOR", "device": "0x12AB"}
    same = {"type": "tasmota", "topic": "tele/zb/SENSOR", "device": "0x12ab"}
    other = {"type": "tasmota", "topic": "tele/zb/SENSOR", "device": "0x12AC"}
    assert source_key(one) == source_key(same) != source_key(other)


@pytest.mark.parametrize(
    ("kind", "source", "topic", "payload", "fast"),
    [
        (
            "sos_button",
            {"type": "zigbee2mqtt", "topic": "z/s"},
            "z/s",
            b'{"action":"emergency"}',
            True,
        ),
        ("sos_button", {"type": "zigbee2mqtt", "topic": "z/s"}, "z/s", b'{"action":""}', False),
        (
            "fall_radar",
            {"type": "zigbee2mqtt", "topic": "z/r"},
            "z/r",
            b'{"fall_down_status":"none"}',
            False,
        ),
        (
            "fall_radar",
            {"type": "zigbee2mqtt", "topic": "z/r"},
            "z/r",
            b'{"fall_down_status":"fall"}',
            True,
        ),
        (
            "water",
            {"type": "esphome", "node": "n"},
            "n/binary_sensor/water_leak/state",
            b"ON",
            True,
        ),
        (
            "water",
            {"type": "esphome", "node": "n"},
            "n/binary_sensor/water_leak/state",
            b"OFF",
            False,
        ),
        ("gas", {"type": "shelly", "id": "g"}, "shellies/g/sensor/gas", b"heavy", True),
        ("gas", {"type": "shelly", "id": "g"}, "shellies/g/sensor/gas", b"test", False),
        (
            "sos_button",
            {"type": "tasmota", "topic": "t/S", "device": "1"},
            "t/S",
            b'{"ZbReceived":{"1":{"PersonalAlarm": 1}}}',
            True,
        ),
    ],
)
def test_urgent_ecosystem_messages_are_told_apart_from_heartbeats(
    kind: str, source: dict[str, Any], topic: str, payload: bytes, fast: bool
) -> None:
    index = SourceIndex([Device("d", "h1", DeviceKind(kind), None, "", source)])
    match = index.match(topic)
    assert match is not None
    assert urgent(match, payload) is fast


def test_a_batch_decoded_again_after_a_store_error_decodes_the_same() -> None:
    source = {"type": "esphome", "node": "bed-sos", "objects": {"red": "action"}}
    device = Device("s", "h1", DeviceKind.SOS_BUTTON, None, "", source)
    match = SourceIndex([device]).match("bed-sos/binary_sensor/red/state")
    decoder = SourceDecoder()
    undo: dict[str, Any] = {}
    (first,) = decoder.decode(match, "bed-sos/binary_sensor/red/state", b"ON", False, AT, AT, undo)
    assert isinstance(first, Reading) and first.fields == {"action": "press"}
    decoder.rollback(undo)  # the batch failed later on: it is decoded again
    (again,) = decoder.decode(match, "bed-sos/binary_sensor/red/state", b"ON", False, AT, AT)
    assert isinstance(again, Reading) and again.fields == {"action": "press"}
