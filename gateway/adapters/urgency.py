"""Which ecosystem messages take the gateway's fast lane (GatewayConfig.fast_lane).

The native lane picks its messages by a cheap test on the payload's bytes; the
ecosystems say the same things in other words. A message goes fast when its
device's kind is in the fast lane and its payload may hold a press, a fall, a
gas alarm or a leak (as in the native lane, a false match only makes a message
fast; heartbeats and ordinary states stay in the normal lane). Runs in paho's
thread: dict lookups and ``in`` on bytes only.
"""

from __future__ import annotations

from eldercare.domain import DeviceKind
from gateway.adapters.routing import Match

_Z2M: dict[DeviceKind, tuple[bytes, ...]] = {
    DeviceKind.SOS_BUTTON: (
        b'"emergency"',
        b'"sos"',
        b'"panic"',
        b'"single"',
        b'"double"',
        b'"hold"',
        b'"long"',
        b'"press',
    ),
    DeviceKind.FALL_RADAR: (b'"maybe_fall"', b'"fall"', b'"fall_warning"', b'"fall_alarm"'),
    DeviceKind.GAS: (b'"gas":true', b'"gas": true', b'"smoke":true', b'"smoke": true'),
    DeviceKind.WATER: (b'"water_leak":true', b'"water_leak": true'),
}
_SHELLY: dict[DeviceKind, tuple[bytes, ...]] = {
    DeviceKind.GAS: (b"mild", b"heavy"),
    DeviceKind.WATER: (b"true",),
}
_TASMOTA: tuple[bytes, ...] = (b'"PersonalAlarm":1', b'"Water":1', b'"Gas":1')


def urgent(match: Match, payload: bytes) -> bool:
    """Whether this message of a device with a source may raise a critical alert."""
    kind = match.routes[0].device.kind
    if match.ecosystem == "zigbee2mqtt":
        markers = _Z2M.get(kind)
        return match.part == "state" and markers is not None and any(m in payload for m in markers)
    if match.ecosystem == "esphome":
        # A binary sensor turning ON (an SOS button, a leak, gas, a fall; presence too).
        return kind is not DeviceKind.BED_BAND and payload.strip() == b"ON"
    if match.ecosystem == "shelly":
        markers = _SHELLY.get(kind)
        return markers is not None and payload.strip() in markers
    return any(m in payload.replace(b" ", b"") for m in _TASMOTA)
