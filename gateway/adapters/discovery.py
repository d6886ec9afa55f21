"""What the broker shows that the registry lacks: ``eldercare provision --discover``.

Zigbee2MQTT publishes its device list, retained, on ``<base>/bridge/devices``: a
JSON array of ``{"friendly_name", "ieee_address", "type", "definition": {"model",
"vendor", "description", "exposes": [...]}}``. Each exposed feature has a
``property`` (composite and specific features nest theirs under ``features``).
A kind is suggested from those properties; devices already in the registry
(by their source topic) and the coordinator are left out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import aiomqtt

from eldercare.domain import Device

# Most telling first: a radar with presence and fall status is a fall radar.
_KIND_BY_PROPERTY: tuple[tuple[str, str], ...] = (
    ("fall_down_status", "fall_radar"),
    ("fall_status", "fall_radar"),
    ("heart_rate", "bed_band"),
    ("water_leak", "water"),
    ("gas", "gas"),
    ("smoke", "gas"),
    ("contact", "door"),
)
_SOS_ACTIONS = frozenset({"emergency", "sos", "panic"})


@dataclass(frozen=True, slots=True)
class Suggestion:
    friendly_name: str
    topic: str
    model: str
    vendor: str
    kind: str | None
    """None: nothing the service can use was recognised."""
    why: str

    def source(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "zigbee2mqtt", "topic": self.topic}
        if self.why == "smoke":
            out["smoke"] = True
        return out


def _features(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict):
            yield item
            yield from _features(item.get("features") or ())


def suggest_kind(exposes: Iterable[Any]) -> tuple[str | None, str]:
    features = list(_features(exposes))
    props = {f.get("property") for f in features}
    for prop, kind in _KIND_BY_PROPERTY:
        if prop in props:
            return kind, prop
    for f in features:
        if f.get("property") == "action" and _SOS_ACTIONS & set(f.get("values") or ()):
            return "sos_button", "action"
    return None, "no contact, water_leak, gas, smoke, fall or SOS action exposed"


def suggest(bridge_devices: Any, registry: Iterable[Device], base: str) -> list[Suggestion]:
    """The Zigbee2MQTT devices whose topic no registered device's source names."""
    known = {
        d.source.get("topic")
        for d in registry
        if d.source is not None and d.source.get("type") == "zigbee2mqtt"
    }
    out: list[Suggestion] = []
    for entry in bridge_devices if isinstance(bridge_devices, list) else ():
        if not isinstance(entry, dict) or entry.get("type") == "Coordinator":
            continue
        name = entry.get("friendly_name")
        if not isinstance(name, str):
            continue
        topic = f"{base}/{name}"
        if topic in known:
            continue
        definition = entry.get("definition") or {}
        kind, why = suggest_kind(definition.get("exposes") or ())
        out.append(
            Suggestion(
                name,
                topic,
                str(definition.get("model", "")),
                str(definition.get("vendor", "")),
                kind,
                why,
            )
        )
    return out


async def read_bridge_devices(
    host: str,
    port: int,
    base: str,
    timeout: float,
    username: str | None = None,
    password: str | None = None,
) -> Any:
    """The retained ``<base>/bridge/devices`` list; TimeoutError if none comes."""
    async with aiomqtt.Client(host, port, username=username, password=password) as client:
        await client.subscribe(f"{base}/bridge/devices", qos=1)
        async with asyncio.timeout(timeout):
            async for message in client.messages:
                payload = message.payload
                text = payload.decode() if isinstance(payload, bytes | bytearray) else payload
                return json.loads(str(text))
    raise TimeoutError  # pragma: no cover - the loop returns or times out
