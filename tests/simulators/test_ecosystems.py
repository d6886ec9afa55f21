"""The ecosystem simulator against the gateway's adapters: a native event published
as a Zigbee2MQTT, ESPHome, Shelly or Tasmota device would, then decoded, is the same
native event again (the last reading carries the whole state)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from eldercare.domain import Device, DeviceKind, Reading, StatusChange
from gateway.adapters import SourceDecoder, SourceIndex
from simulators.ecosystems import NotSupported, availability, messages

AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
SOURCES: dict[str, dict[str, Any]] = {
    "zigbee2mqtt": {"type": "zigbee2mqtt", "topic": "zigbee2mqtt/dev"},
    "esphome": {"type": "esphome", "node": "dev"},
    "shelly": {"type": "shelly", "id": "shellydev-1"},
    "tasmota": {"type": "tasmota", "topic": "tele/zb/SENSOR", "device": "0x00AA"},
}
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("door", {"open": True}),
    ("door", {"open": False}),
    ("water", {"leak": True}),
    ("gas", {"alarm": True}),
    ("gas", {"alarm": False}),
    ("fall_radar", {"presence": True, "fall": "detected"}),
    ("fall_radar", {"presence": False, "fall": "none"}),
    ("bed_band", {"hr": 62.0, "rr": 14.0, "in_bed": True}),
    ("sos_button", {"action": "press"}),
]


def _decode(kind: str, source: dict[str, Any], sent: list[tuple[str, bytes, bool]]) -> list[Any]:
    device = Device("d", "h1", DeviceKind(kind), "r1", "", source)
    index = SourceIndex([device])
    decoder = SourceDecoder()
    out: list[Any] = []
    for topic, payload, _retain in sent:
        # Published retained by the device, but received live by a subscriber.
        out += decoder.decode(index.match(topic), topic, payload, False, AT, AT)
    return out


@pytest.mark.parametrize("ecosystem", SOURCES)
@pytest.mark.parametrize(
    ("kind", "fields"), EVENTS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(EVENTS)]
)
def test_a_native_event_survives_the_round_trip(
    ecosystem: str, kind: str, fields: dict[str, Any]
) -> None:
    source = SOURCES[ecosystem]
    try:
        sent = messages(kind, source, fields, battery=80)
    except NotSupported:
        assert ecosystem == "shelly" and kind in ("fall_radar", "bed_band", "sos_button")
        return
    readings = [r for r in _decode(kind, source, sent) if isinstance(r, Reading)]
    states = [r.fields for r in readings if r.fields]
    if kind == "sos_button":
        presses = [f for f in states if f.get("action") == "press"]
        assert len(presses) == 1, "one press, and its follow-up is no second press"
    elif ecosystem == "tasmota" and kind in ("bed_band", "fall_radar"):
        # Occupancy only: no heart or breath rate, no fall state on a Tasmota bridge.
        name = "in_bed" if kind == "bed_band" else "presence"
        assert states[-1][name] is fields[name]
    else:
        assert states[-1] == fields
    assert any(r.battery == 80 for r in readings)


@pytest.mark.parametrize("ecosystem", ["zigbee2mqtt", "esphome", "shelly"])
def test_availability_round_trip(ecosystem: str) -> None:
    source = SOURCES[ecosystem]
    for online in (True, False):
        (status,) = _decode("water", source, [availability(source, online)])
        assert isinstance(status, StatusChange) and status.online is online
