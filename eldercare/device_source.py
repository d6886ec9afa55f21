"""Where a device's messages come from when it is not a native device (CONTRACT.md §1).

A device of the registry may carry a ``source``: the ecosystem that publishes
for it and its address there. The gateway subscribes to the topics it names and
maps the ecosystem's payloads to native readings (``gateway/adapters``)::

    {"type": "zigbee2mqtt", "topic": "zigbee2mqtt/bathroom_radar"}
    {"type": "esphome", "node": "bedroom-mr60bha2"}
    {"type": "shelly", "id": "shellyflood-A1B2C3"}
    {"type": "tasmota", "topic": "tele/zbbridge/SENSOR", "device": "0x1234"}

Validation lives here (pydantic) so the API, ``eldercare provision`` and the
gateway agree. ``source_key`` is the address as one string: two devices may not
share it (the store refuses a second one with a conflict).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

NATIVE_FIELDS: dict[str, frozenset[str]] = {
    "bed_band": frozenset({"hr", "rr", "in_bed", "movement"}),
    "sos_button": frozenset({"action"}),
    "door": frozenset({"open"}),
    "fall_radar": frozenset({"presence", "fall", "posture"}),
    "gas": frozenset({"lel", "alarm"}),
    "water": frozenset({"leak"}),
}
"""The native fields of each device kind (CONTRACT.md §1), plus ``battery``."""


def _check_topic(value: str) -> str:
    if "+" in value or "#" in value:
        raise ValueError("a topic here is one exact topic: no + or # wildcards")
    if value.startswith("$") or value.startswith("/") or value.endswith("/") or "//" in value:
        raise ValueError("a topic may not start with $ or /, end with /, or have an empty level")
    if value.startswith("eldercare/"):
        raise ValueError("eldercare/… is the native topic tree; native devices need no source")
    return value


Topic = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(_check_topic),
]
Level = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
"""One topic level: an ESPHome node or object id, a Shelly id, a Tasmota device."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_z2m_topic(value: str) -> str:
    parts = value.split("/")
    if len(parts) < 2 or parts[1] == "bridge" or parts[-1] in ("availability", "set", "get"):
        raise ValueError(
            "a Zigbee2MQTT device topic is <base>/<friendly_name>: not the bridge's topics, "
            "nor …/availability, …/set or …/get"
        )
    return value


class Zigbee2MqttSource(_Source):
    type: Literal["zigbee2mqtt"]
    topic: Annotated[Topic, AfterValidator(_check_z2m_topic)] = Field(
        description="zigbee2mqtt/<friendly_name>"
    )
    smoke: bool = Field(default=False, description="a gas device: also take `smoke` as the alarm")
    press_actions: tuple[Level, ...] | None = Field(
        default=None, description="`action` values that are a press (default: see README)"
    )


class EsphomeSource(_Source):
    type: Literal["esphome"]
    node: Level = Field(description="the ESPHome node name (its topic prefix by default)")
    topic_prefix: Topic | None = Field(default=None, description="if mqtt: topic_prefix is set")
    objects: dict[Level, Level] = Field(
        default_factory=dict,
        description="object_id -> native field of the device's kind (or battery), "
        "added to the defaults",
    )


class ShellySource(_Source):
    type: Literal["shelly"]
    id: Level = Field(description="the Gen1 device id, e.g. shellyflood-A1B2C3")


class TasmotaSource(_Source):
    type: Literal["tasmota"]
    topic: Topic = Field(description="the bridge's SENSOR topic, e.g. tele/zbbridge/SENSOR")
    device: Level = Field(description="the Zigbee short address (0x1234) or its ZbName")


Source = Annotated[
    Zigbee2MqttSource | EsphomeSource | ShellySource | TasmotaSource,
    Field(discriminator="type"),
]
SOURCE_TYPES = ("zigbee2mqtt", "esphome", "shelly", "tasmota")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Source)


AnySource = Zigbee2MqttSource | EsphomeSource | ShellySource | TasmotaSource


def parse_source(value: dict[str, Any]) -> AnySource:
    """A stored or sent source as its model; pydantic.ValidationError if it is wrong."""
    parsed: AnySource = _ADAPTER.validate_python(value)
    return parsed


def check_objects(kind: str, source: EsphomeSource) -> None:
    """ValueError if an ESPHome object is mapped to a field the kind does not have."""
    allowed = NATIVE_FIELDS[kind] | {"battery"}
    for object_id, name in source.objects.items():
        if name not in allowed:
            raise ValueError(
                f"objects.{object_id}: {name!r} is not a field of a {kind} "
                f"(one of {', '.join(sorted(allowed))})"
            )


def esphome_prefix(source: EsphomeSource) -> str:
    return source.topic_prefix or source.node


def source_key(source: dict[str, Any]) -> str:
    """The address as one string, unique across the registry."""
    kind = source.get("type")
    if kind == "zigbee2mqtt":
        return f"zigbee2mqtt:{source['topic']}"
    if kind == "esphome":
        return f"esphome:{source.get('topic_prefix') or source['node']}"
    if kind == "shelly":
        return f"shelly:{source['id']}"
    if kind == "tasmota":
        return f"tasmota:{source['topic']}#{str(source['device']).lower()}"
    raise ValueError(f"unknown source type {kind!r}")
