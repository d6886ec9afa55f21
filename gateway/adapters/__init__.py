"""Adapters for off-the-shelf device ecosystems: Zigbee2MQTT, ESPHome, Shelly Gen1 and
Tasmota Zigbee bridges. A device whose registry entry has a ``source``
(eldercare/device_source.py) is reached on its ecosystem's topics; its payloads
are mapped to native readings here and then take the native path unchanged.

- ``routing.SourceIndex``: topic → device(s), and the topics to subscribe to
- ``native.SourceDecoder``: a message → native ``Reading`` / ``StatusChange``
- ``zigbee2mqtt``, ``esphome``, ``shelly``, ``tasmota``: one pure decoder each
- ``discovery``: what ``zigbee2mqtt/bridge/devices`` shows that the registry lacks
"""

from gateway.adapters.native import SourceDecoder
from gateway.adapters.routing import Match, SourceIndex, Subscription

__all__ = ["Match", "SourceDecoder", "SourceIndex", "Subscription"]
