"""paho's client with buffered socket reads.

paho-mqtt 2.x reads a packet with one ``recv`` for the command byte, one per
byte of the remaining length and one for the body, and ``loop_read`` reads one
packet per ``select``: three to four system calls per message. In the gateway
each call also releases the GIL to the asyncio thread, which is busy decoding
and committing, and waits to get it back. Reading up to 64 KiB at a time and
handing paho its bytes from that buffer takes the receive rate of a draining
session from ~7,000 to ~11,200 msg/s on the bench machine (auto-ack, same
broker, same run: ``benchmarks/profile_pipeline.py`` and ``eldercare bench``).

``loop_read`` keeps reading while buffered bytes remain (``select`` cannot
see them). The buffer belongs to one socket: a reconnect starts with an empty
one. Acks can be sent many at a time (``ack_many``).

A PUBLISH that lies whole in the buffer is framed here instead of by paho's
byte-by-byte reads (``_packet_read``). A QoS 0/1 PUBLISH (MQTT 5: without
properties, which is what devices send) is then decoded here too: paho builds a
new ``Properties`` object for every MQTT 5 PUBLISH (its constructor fills two
dicts of 27 names) and clears it with 27 ``hasattr`` calls before reading a
properties length of zero, 19 µs per message against 2.6 µs for the same
message in MQTT 3.1.1 (timeit, bench machine). With ``on_plain_publish`` set
(the gateway does), such a PUBLISH reaches it as its wire fields, without an
``MQTTMessage`` (whose constructor builds a ``threading.Condition``); else it
reaches ``on_message`` with one shared empty ``Properties`` (read it, do not
change it), straight, unless per-topic callbacks were added
(``message_callback_add``). Anything else (properties present, QoS 2, a
malformed packet, paho's logging switched on) goes to paho's own
``_handle_publish``.

Per message in the paho thread (socket pair, 20,000 queued vitals messages,
same runs; throw-away script): paho's framing and an MQTTMessage 8.2 µs, framed here
6.1 µs, with ``on_plain_publish`` 4.3 µs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

READ_SIZE = 65536
_NO_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_PUBACK = struct.Struct("!BBH")


PlainPublish = tuple[bytes, bytes, int, int, bool]
"""topic (UTF-8 bytes), payload, mid (0 for QoS 0), qos, retain."""


class BufferedClient(mqtt.Client):
    """``paho.mqtt.client.Client`` that reads the socket in 64 KiB chunks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_plain_publish: Callable[[bytes, bytes, int, int, bool], None] | None = None
        """If set, called instead of ``on_message`` for a QoS 0/1 PUBLISH (MQTT 5:
        without properties), with its fields as they are on the wire (no
        ``MQTTMessage``: its constructor alone builds a ``threading.Condition``)."""
        self._buffered = b""
        self._buffered_pos = 0
        self._buffered_sock: object = None
        self._filtered = False
        """Whether per-topic callbacks were added (then paho dispatches every message)."""

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

    def _packet_read(self) -> MQTTErrorCode:
        # A whole PUBLISH waiting in the buffer is framed here, without paho's
        # three reads of it (command byte, length bytes one by one, body) and
        # their bookkeeping; paho then handles it as if it had read it. Anything
        # else (another packet, a packet cut by the end of the buffer, a packet
        # paho is part-way through) is paho's.
        ip = self._in_packet
        if ip["command"] == 0 and self._buffered_sock is self._sock:
            framed = self._buffered_publish()
            if framed is not None:
                ip["command"], ip["packet"] = framed
                try:
                    rc = self._handle_publish()
                except MalformedPacket as exc:
                    self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
                    rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
                finally:
                    ip["command"], ip["packet"] = 0, bytearray()
                with self._msgtime_mutex:
                    self._last_bytes_received = mqtt.time_func()
                return rc
        return super()._packet_read()

    def _buffered_publish(self) -> tuple[int, bytearray] | None:
        """(command byte, body) of a PUBLISH that lies whole in the buffer, taken
        out of it; None (nothing taken) for anything else."""
        buf, pos = self._buffered, self._buffered_pos
        end = len(buf)
        if pos >= end or buf[pos] & 0xF0 != mqtt.PUBLISH:
            return None
        length, mult, i = 0, 1, pos + 1
        while True:
            if i >= end or i - pos > 4:
                return None  # cut by the end of the buffer (or malformed: paho says so)
            byte = buf[i]
            length += (byte & 127) * mult
            mult *= 128
            i += 1
            if not byte & 128:
                break
        if i + length > end:
            return None
        self._buffered_pos = i + length
        return buf[pos], bytearray(buf[i : i + length])

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._has_buffered():
            rc = super().loop_read(max_packets)
        return rc

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered = True
        super().message_callback_add(sub, callback)

    def ack_many(self, mids: Sequence[int]) -> MQTTErrorCode:
        """Acknowledge QoS 1 messages (``manual_ack``) with one queued write.

        paho's ``ack`` queues one 4-byte PUBACK per message and wakes its network
        thread through a socket pair each time: 1,000 acks held the event loop
        ~40 ms under load. Here their bytes are joined into one packet entry,
        written by paho's thread like any other (same bytes on the wire).
        """
        if not mids:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
        return self._packet_queue(mqtt.PUBACK, packet, 0, 1)

    def _handle_publish(self) -> MQTTErrorCode:
        plain = self.on_plain_publish
        if plain is not None and not self._filtered:
            fields = self._plain_fields()
            if fields is not None:
                self._call(plain, *fields)
                if fields[3] == 1 and not self._manual_ack:
                    return self._send_puback(fields[2])
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        message = self._plain_v5_publish()
        if message is None:
            return super()._handle_publish()
        if self._filtered:
            self._handle_on_message(message)
        elif (on_message := self.on_message) is not None:
            # paho's _handle_on_message without its search of the (empty) table of
            # per-topic callbacks: 6 % of the gateway's time under load (py-spy)
            self._call(on_message, self, self._userdata, message)
        if message.qos == 1 and not self._manual_ack:
            return self._send_puback(message.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        """A message callback, as paho calls one (its mutex, its error handling)."""
        with self._in_callback_mutex:
            try:
                callback(*args)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise

    def _plain_fields(self) -> PlainPublish | None:
        """(topic, payload, mid, qos, retain) of a QoS 0/1 PUBLISH, MQTT 5 without
        properties or MQTT 3.1/3.1.1; None for any other packet (paho decodes it)."""
        if self._logger or self._on_log:
            return None
        header: int = self._in_packet["command"]
        packet: bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if qos == 2 or len(packet) < 3:
            return None
        pos = 2 + int.from_bytes(packet[:2], "big")
        if qos:
            pos += 2
        if self._protocol == MQTTProtocolVersion.MQTTv5:
            if pos >= len(packet) or packet[pos] != 0:  # properties, or malformed
                return None
            start = pos + 1
        elif pos > len(packet):  # malformed
            return None
        else:
            start = pos
        return (
            bytes(packet[2 : pos - 2 if qos else pos]),
            bytes(packet[start:]),
            int.from_bytes(packet[pos - 2 : pos], "big") if qos else 0,
            qos,
            bool(header & 0x01),
        )

    def _plain_v5_publish(self) -> mqtt.MQTTMessage | None:
        """The message of an MQTT 5 QoS 0/1 PUBLISH without properties, decoded as
        paho would; None for any other packet (paho decodes it)."""
        if self._protocol != MQTTProtocolVersion.MQTTv5:
            return None  # paho's decode of 3.1.1 is cheap: no properties to build
        fields = self._plain_fields()
        if fields is None:
            return None
        topic, payload, mid, qos, retain = fields
        message = mqtt.MQTTMessage(mid=mid, topic=topic)
        message.dup = bool(self._in_packet["command"] & 0x08)
        message.qos = qos
        message.retain = retain
        message.properties = _NO_PROPERTIES
        message.payload = payload
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


__all__ = ["READ_SIZE", "BufferedClient", "PlainPublish", "buffering_supported"]
