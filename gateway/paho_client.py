"""paho's client with buffered socket reads.

paho-mqtt 2.x reads a packet with one ``recv`` for the command byte, one per
byte of the remaining length and one for the body, and ``loop_read`` reads one
packet per ``select``: three to four system calls per message. In the gateway
each call also releases the GIL to the asyncio thread, which is busy decoding
and committing, and waits to get it back. Reading up to 64 KiB at a time and
handing paho its bytes from that buffer takes the receive rate of a draining
session from ~7,000 to ~11,200 msg/s on the bench machine (auto-ack, same
broker, same run: ``benchmarks/profile_pipeline.py`` and ``eldercare bench``).

Only the read path changes: paho still parses every packet, and ``loop_read``
keeps reading while buffered bytes remain (``select`` cannot see them). The
buffer belongs to one socket: a reconnect starts with an empty one.

One parse is shortened: an MQTT 5 PUBLISH without properties (what devices
send). paho builds a new ``Properties`` object for every PUBLISH (its
constructor fills two dicts of 27 names) and clears it with 27 ``hasattr``
calls before reading a properties length of zero: 19 µs per message against
2.6 µs for the same message in MQTT 3.1.1 (timeit, bench machine). Such a
PUBLISH is decoded here, with a shallow copy of one empty ``Properties`` on the
message; anything else (properties present, QoS 2, a malformed packet, paho's
logging switched on) goes to paho's own ``_handle_publish``.
"""

from __future__ import annotations

import copy
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

READ_SIZE = 65536
_NO_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class BufferedClient(mqtt.Client):
    """``paho.mqtt.client.Client`` that reads the socket in 64 KiB chunks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffered = b""
        self._buffered_pos = 0
        self._buffered_sock: object = None

    def _sock_recv(self, bufsize: int) -> bytes:
        sock = self._sock
        if self._buffered_sock is not sock:  # a new connection: nothing carries over
            self._buffered, self._buffered_pos, self._buffered_sock = b"", 0, sock
        if self._buffered_pos >= len(self._buffered):
            data = super()._sock_recv(READ_SIZE)  # BlockingIOError: nothing to read
            if not data:
                return data  # closed by the broker: paho sees it as before
            self._buffered, self._buffered_pos = data, 0
        pos = self._buffered_pos
        out = self._buffered[pos : pos + bufsize]
        self._buffered_pos = pos + len(out)
        return out

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._has_buffered():
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        message = self._plain_v5_publish()
        if message is None:
            return super()._handle_publish()
        self._handle_on_message(message)
        if message.qos == 1 and not self._manual_ack:
            return self._send_puback(message.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _plain_v5_publish(self) -> mqtt.MQTTMessage | None:
        """The message of an MQTT 5 QoS 0/1 PUBLISH without properties, decoded as
        paho would; None for any other packet (paho decodes it)."""
        if self._protocol != MQTTProtocolVersion.MQTTv5 or self._logger or self._on_log:
            return None
        header: int = self._in_packet["command"]
        packet: bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if qos == 2 or len(packet) < 3:
            return None
        pos = 2 + int.from_bytes(packet[:2], "big")
        if qos:
            pos += 2
        if pos >= len(packet) or packet[pos] != 0:  # properties, or malformed
            return None
        message = mqtt.MQTTMessage(
            mid=int.from_bytes(packet[pos - 2 : pos], "big") if qos else 0,
            topic=bytes(packet[2 : pos - 2 if qos else pos]),
        )
        message.dup = bool(header & 0x08)
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.properties = copy.copy(_NO_PROPERTIES)
        message.payload = bytes(packet[pos + 1 :])
        message.timestamp = mqtt.time_func()
        return message

    def _has_buffered(self) -> bool:
        return (
            self._buffered_sock is self._sock
            and self._sock is not None
            and self._buffered_pos < len(self._buffered)
        )


def buffering_supported() -> bool:
    """Whether this paho has the read hook the buffer relies on (2.x does)."""
    return callable(getattr(mqtt.Client, "_sock_recv", None))


__all__ = ["READ_SIZE", "BufferedClient", "buffering_supported"]
