"""Which registered device a topic belongs to, and which topics to subscribe to.

Built from the registry's device list (``RegistryCache`` rebuilds it at every
load). A lookup is a dict access or two: exact topics (Zigbee2MQTT state and
availability, ESPHome status, Shelly online, Tasmota bridge topics), then the
ESPHome ``<prefix>/<component>/<object_id>/state`` and Shelly
``shellies/<id>/sensor/<name>`` shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from eldercare.device_source import (
    EsphomeSource,
    ShellySource,
    TasmotaSource,
    Zigbee2MqttSource,
    esphome_prefix,
    parse_source,
)
from eldercare.domain import Device
from gateway.adapters.base import Route

log = logging.getLogger("eldercare.gateway.adapters")


@dataclass(frozen=True, slots=True)
class Match:
    ecosystem: str
    part: str
    """What the topic is: ``state`` / ``availability`` (Zigbee2MQTT), ``status`` or
    ``<component>/<object_id>`` (ESPHome), ``online`` or a sensor name (Shelly),
    ``sensor`` (Tasmota)."""
    routes: tuple[Route, ...]


@dataclass(frozen=True, slots=True)
class Subscription:
    topic: str
    retained_always: bool
    """Ask for the retained messages on every subscribe (ESPHome: its states are
    retained and partial, so the adapter learns each device's state again after a
    reconnect). Others: only on a new subscription."""


class SourceIndex:
    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self._exact: dict[str, Match] = {}
        self._esphome: dict[str, Route] = {}
        self._shelly: dict[str, Route] = {}
        self.subscriptions: dict[str, Subscription] = {}
        tasmota: dict[str, list[Route]] = {}
        for device in devices:
            if device.source is None:
                continue
            try:
                source = parse_source(device.source)
            except ValidationError as exc:  # written by a newer version, or by hand
                log.error(
                    "device source not understood; its messages are not taken",
                    extra={"device": device.id, "error": str(exc)},
                )
                continue
            route = Route(device, source)
            if isinstance(source, Zigbee2MqttSource):
                self._add_exact(source.topic, Match("zigbee2mqtt", "state", (route,)))
                avail = f"{source.topic}/availability"
                self._add_exact(avail, Match("zigbee2mqtt", "availability", (route,)))
            elif isinstance(source, EsphomeSource):
                prefix = esphome_prefix(source)
                self._esphome[prefix] = route
                self._add_exact(f"{prefix}/status", Match("esphome", "status", (route,)))
                self._subscribe(f"{prefix}/+/+/state", retained_always=True)
            elif isinstance(source, ShellySource):
                self._shelly[source.id] = route
                self._add_exact(f"shellies/{source.id}/online", Match("shelly", "online", (route,)))
                self._subscribe(f"shellies/{source.id}/sensor/+")
            elif isinstance(source, TasmotaSource):
                tasmota.setdefault(source.topic, []).append(route)
        for topic, routes in tasmota.items():
            self._add_exact(topic, Match("tasmota", "sensor", tuple(routes)))

    def _add_exact(self, topic: str, match: Match) -> None:
        self._exact[topic] = match
        self._subscribe(topic, retained_always=match.ecosystem == "esphome")

    def _subscribe(self, topic: str, *, retained_always: bool = False) -> None:
        self.subscriptions[topic] = Subscription(topic, retained_always)

    def match(self, topic: str) -> Match | None:
        found = self._exact.get(topic)
        if found is not None:
            return found
        if topic.endswith("/state"):
            head, _, tail = topic[: -len("/state")].rpartition("/")
            prefix, _, component = head.rpartition("/")
            route = self._esphome.get(prefix)
            if route is not None and component and tail:
                return Match("esphome", f"{component}/{tail}", (route,))
        if topic.startswith("shellies/"):
            parts = topic.split("/")
            if len(parts) == 4 and parts[2] == "sensor":
                route = self._shelly.get(parts[1])
                if route is not None:
                    return Match("shelly", parts[3], (route,))
        return None
