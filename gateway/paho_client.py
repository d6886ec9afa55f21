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
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_SIZE = 65536


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
