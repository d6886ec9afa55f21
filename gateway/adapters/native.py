"""From an adapter's outcome to the native ``Reading`` / ``StatusChange`` (CONTRACT.md §1).

Everything after this is the native path, unchanged: the same validation
(``check_kind_fields``), the same store, detectors and alerts.

- Time: these ecosystems send no ``ts`` or ``seq``; the reading's time is the
  receive time (``ts_assigned``), as for a native payload without ``ts``.
- ESPHome and Tasmota give one value per message. A bed band needs ``hr``,
  ``rr`` and ``in_bed``, a fall radar ``presence`` and ``fall``: the decoder keeps
  each such device's last values (in memory) and sends the whole state with
  every change. Not yet known: ``hr``/``rr`` null, ``fall`` ``none``; ``in_bed``
  true while a heart or breath rate above 0 is measured, ``presence`` true while
  a fall is reported (the radar sees someone).
- A press is an event, not a state: a retained message never raises one, and a
  button state (ESPHome ``ON``, Tasmota ``PersonalAlarm`` 1) raises it only on
  its rising edge, so the state sent again at a reconnect is no second press.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eldercare.domain import Device, DeviceKind, Reading, StatusChange
from gateway.adapters import esphome, shelly, tasmota, zigbee2mqtt
from gateway.adapters.base import Availability, Outcome, Route, Update
from gateway.adapters.routing import Match
from gateway.decode import Reason, Rejected, check_kind_fields

_DECODERS: dict[str, Callable[[Route, str, bytes], Outcome]] = {
    "zigbee2mqtt": zigbee2mqtt.decode,
    "esphome": esphome.decode,
    "shelly": shelly.decode,
}
_MERGED = frozenset({DeviceKind.BED_BAND, DeviceKind.FALL_RADAR})


class SourceDecoder:
    """Decodes the messages of devices with a ``source``; holds their last values."""

    def __init__(self) -> None:
        self._known: dict[str, dict[str, Any]] = {}
        self._latched: set[str] = set()

    def decode(
        self,
        match: Match | None,
        topic: str,
        payload: bytes,
        retain: bool,
        received_at: datetime,
        status_at: datetime,
        undo: dict[str, Any] | None = None,
    ) -> list[Reading | StatusChange]:
        """Raises Rejected (unknown_device, unmappable, …) for what cannot be taken.

        ``undo`` (if given) collects each touched device's state as it was before,
        so ``rollback(undo)`` makes a batch that is decoded again (after a store
        error) decode the same: an SOS state seen twice would be no press."""
        if match is None:
            raise Rejected(
                Reason.UNKNOWN_DEVICE,
                f"no device in the registry has a source that names topic {topic!r}",
            )
        if match.ecosystem == "tasmota":
            pairs = tasmota.decode(match.routes, topic, payload)
        else:
            route = match.routes[0]
            pairs = [(route, _DECODERS[match.ecosystem](route, match.part, payload))]
        out: list[Reading | StatusChange] = []
        for route, outcome in pairs:
            device = route.device
            if isinstance(outcome, Availability):
                out.append(StatusChange(device.home_id, device.id, outcome.online, status_at))
            else:
                if undo is not None and device.id not in undo:
                    known = self._known.get(device.id)
                    undo[device.id] = (
                        None if known is None else dict(known),
                        device.id in self._latched,
                    )
                out.append(self._reading(match.ecosystem, device, outcome, retain, received_at))
        return out

    def rollback(self, undo: dict[str, Any]) -> None:
        """Put back the device state ``decode`` changed while filling ``undo``."""
        for device_id, (known, latched) in undo.items():
            if known is None:
                self._known.pop(device_id, None)
            else:
                self._known[device_id] = known
            if latched:
                self._latched.add(device_id)
            else:
                self._latched.discard(device_id)
        undo.clear()

    def _reading(
        self, ecosystem: str, device: Device, update: Update, retain: bool, at: datetime
    ) -> Reading:
        kind = device.kind
        fields = dict(update.fields)
        if update.latch is not None:
            was = device.id in self._latched
            if update.latch:
                self._latched.add(device.id)
            else:
                self._latched.discard(device.id)
            if update.latch and not was:
                fields["action"] = "press"
        if retain and fields.get("action") == "press":
            del fields["action"]  # old state replayed by the broker, not a new press
        if fields and kind in _MERGED:
            known = self._known.setdefault(device.id, {})
            known.update(fields)
            fields = _complete(kind, known)
        if fields:
            try:
                check_kind_fields(kind, fields)
            except Rejected as rej:
                raise Rejected(rej.reason, f"{ecosystem}: {rej.detail}") from None
        return Reading(
            home_id=device.home_id,
            device_id=device.id,
            kind=kind,
            ts=at,
            received_at=at,
            seq=None,
            battery=update.battery,
            fields=fields,
            ts_assigned=True,
        )


def _complete(kind: DeviceKind, known: dict[str, Any]) -> dict[str, Any]:
    if kind is DeviceKind.BED_BAND:
        hr, rr = known.get("hr"), known.get("rr")
        in_bed = known.get("in_bed")
        if in_bed is None:
            in_bed = (hr or 0) > 0 or (rr or 0) > 0
        out = {"hr": hr, "rr": rr, "in_bed": in_bed}
        if "movement" in known:
            out["movement"] = known["movement"]
        return out
    fall = known.get("fall", "none")
    presence = known.get("presence")
    fields: dict[str, Any] = {
        "presence": (fall != "none") if presence is None else presence,
        "fall": fall,
    }
    if "posture" in known:
        fields["posture"] = known["posture"]
    return fields
