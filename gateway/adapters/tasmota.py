"""Tasmota Zigbee bridges (Zigbee2Tasmota): ``tele/<bridge>/SENSOR`` with ``ZbReceived``.

One bridge topic carries every Zigbee device of the bridge::

    {"ZbReceived": {"0x1234": {"Device": "0x1234", "Name": "door", "Contact": 1,
                               "Endpoint": 1, "LinkQuality": 66}}}

The entry whose key, ``Device`` or ``Name`` is the source's ``device`` is read
(short addresses compared without case); entries of devices not in the registry
are skipped, and a message with none of ours is dead-lettered as unknown.

- door: ``Contact`` 1 = open, 0 = closed (the inverse of Zigbee2MQTT's ``contact``)
- water: ``Water`` 1/0 → leak
- gas: ``Gas`` 1/0 → alarm
- sos_button: ``PersonalAlarm`` (IAS personal emergency device) 1 → a press on its
  rising edge, 0 → heartbeat
- fall_radar / bed_band: ``Occupancy`` 1/0 → presence / in_bed
- every kind: ``BatteryPercentage`` → battery
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eldercare.device_source import TasmotaSource
from eldercare.domain import DeviceKind
from gateway.adapters.base import Outcome, Route, Update, describe, json_object, percent, unmappable
from gateway.decode import Reason, Rejected

ECOSYSTEM = "tasmota"
_FIELDS: dict[DeviceKind, tuple[str, str]] = {
    DeviceKind.DOOR: ("Contact", "open"),
    DeviceKind.WATER: ("Water", "leak"),
    DeviceKind.GAS: ("Gas", "alarm"),
    DeviceKind.FALL_RADAR: ("Occupancy", "presence"),
    DeviceKind.BED_BAND: ("Occupancy", "in_bed"),
}


def decode(routes: Sequence[Route], topic: str, payload: bytes) -> list[tuple[Route, Outcome]]:
    body = json_object(ECOSYSTEM, payload)
    received = body.get("ZbReceived")
    if type(received) is not dict:
        raise unmappable(
            ECOSYSTEM, "ZbReceived", f"the payload has no ZbReceived object: {describe(body)}"
        )
    out: list[tuple[Route, Outcome]] = []
    for key, entry in received.items():
        if type(entry) is not dict:
            raise unmappable(
                ECOSYSTEM, f"ZbReceived.{key}", f"must be an object, got {describe(entry)}"
            )
        names = {str(key).lower(), str(entry.get("Device", "")).lower(), str(entry.get("Name", ""))}
        for route in routes:
            source = route.source
            assert isinstance(source, TasmotaSource)
            if source.device.lower() in names or source.device in names:
                out.append((route, _entry(route.device.kind, key, entry)))
    if not out:
        raise Rejected(
            Reason.UNKNOWN_DEVICE,
            f"{ECOSYSTEM}: ZbReceived on {topic!r} names {', '.join(map(str, received))}, "
            "which no device's source has",
        )
    return out


def _entry(kind: DeviceKind, key: str, entry: dict[str, Any]) -> Update:
    battery = percent(
        ECOSYSTEM, f"ZbReceived.{key}.BatteryPercentage", entry.get("BatteryPercentage")
    )
    if kind is DeviceKind.SOS_BUTTON:
        if "PersonalAlarm" in entry:
            return Update(battery=battery, latch=_bit(key, "PersonalAlarm", entry["PersonalAlarm"]))
        return Update(battery=battery)
    attribute, name = _FIELDS[kind]
    if attribute not in entry:
        return Update(battery=battery)
    return Update({name: _bit(key, attribute, entry[attribute])}, battery)


def _bit(key: str, attribute: str, value: Any) -> bool:
    if value in (0, 1) and type(value) in (int, bool):
        return bool(value)
    raise unmappable(
        ECOSYSTEM, f"ZbReceived.{key}.{attribute}", f"must be 0 or 1, got {describe(value)}"
    )
