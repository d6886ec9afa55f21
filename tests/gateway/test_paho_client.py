"""``gateway.paho_client.BufferedClient`` receives what stock paho receives.

Both subscribe on one real Mosquitto and are sent the same messages; what
their ``on_message`` sees must be equal, field by field, whichever way the
buffered client decoded each message (its own MQTT 5 path for a PUBLISH
without properties, paho's for the rest).
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.paho_client import READ_SIZE, BufferedClient
from tests.harness import subscriber as harness
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

Seen = tuple[str, bytes | bytearray, int, bool, bool, str]


class Subscriber(harness.Subscriber[Seen]):
    """Records every message as comparable fields, and whether it had a packet id."""

    def __init__(
        self, cls: type[mqtt.Client], port: int, topic: str, protocol: int, *, hooked: bool = False
    ) -> None:
        self.mids_nonzero: list[bool] = []
        self.hooked = hooked
        super().__init__(port, topic, cls=cls, protocol=protocol)

    def before_connect(self) -> None:
        if self.hooked:
            assert isinstance(self.client, BufferedClient)
            self.client.on_plain_publish = self._on_plain_publish

    def record(self, msg: mqtt.MQTTMessage) -> Seen:
        self.mids_nonzero.append(msg.mid != 0)
        props = msg.properties.json() if msg.properties is not None else {}  # type: ignore[no-untyped-call]
        return (msg.topic, msg.payload, msg.qos, msg.retain, msg.dup, str(props))

    def _on_plain_publish(
        self, topic: bytes, payload: bytes, mid: int, qos: int, retain: bool
    ) -> None:
        self.seen.append((topic.decode(), payload, qos, retain, False, "{}"))
        self.mids_nonzero.append(mid != 0)


def _wait_for(subs: list[Subscriber], n: int) -> None:
    deadline = time.monotonic() + 10
    while any(len(s.seen) < n for s in subs) and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311])
def test_the_buffered_client_receives_what_stock_paho_receives(
    mosquitto: Mosquitto, protocol: int
) -> None:
    base = f"t/{uuid.uuid4().hex[:6]}"
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    # a retained message first: both see it on subscribing, retain flag set
    pub.publish(f"{base}/retained", b"kept", qos=1, retain=True).wait_for_publish(5)
    ours = Subscriber(BufferedClient, mosquitto.port, f"{base}/#", protocol)
    stock = Subscriber(mqtt.Client, mosquitto.port, f"{base}/#", protocol)
    hooked = Subscriber(BufferedClient, mosquitto.port, f"{base}/#", protocol, hooked=True)
    try:
        with_props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        with_props.ContentType = "application/json"
        with_props.UserProperty = ("source", "test")
        sent: list[tuple[str, bytes, int, Properties | None]] = [
            (f"{base}/a/event", b'{"hr": 62}', 1, None),
            (f"{base}/a/event", b'{"hr": 63}', 0, None),
            (f"{base}/b/event", b"", 1, None),
            (f"{base}/b/\u5e8a/event", "床".encode(), 1, None),  # non-ASCII topic
            (f"{base}/c/event", b"x" * (READ_SIZE * 2 + 17), 1, None),  # spans buffers
            (f"{base}/d/event", b'{"action": "press"}', 1, with_props),
            (f"{base}/d/event", b"\x00\x01binary", 0, with_props),
        ]
        sent += [(f"{base}/many/{i}", f'{{"seq": {i}}}'.encode(), 1, None) for i in range(500)]
        for topic, payload, qos, props in sent:
            pub.publish(topic, payload, qos=qos, properties=props)
        _wait_for([ours, stock, hooked], len(sent) + 1)
        assert len(stock.seen) == len(sent) + 1
        assert ours.seen == stock.seen
        # on_plain_publish: the same, without an MQTTMessage (MQTT 5 without
        # properties; the rest still comes to on_message)
        assert hooked.seen == stock.seen
        assert hooked.mids_nonzero == stock.mids_nonzero
        assert ours.seen[0][3] is True  # the retained one, flagged as such
        assert "UserProperty" in ours.seen[6][5] or protocol == mqtt.MQTTv311
        # QoS 1 messages carry their packet id, QoS 0 ones none
        assert ours.mids_nonzero == stock.mids_nonzero
    finally:
        ours.close()
        stock.close()
        hooked.close()
        pub.loop_stop()
        pub.disconnect()


def _publish_packet(topic: bytes, payload: bytes, qos: int, mid: int, props: bytes) -> bytearray:
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    return bytearray(body + props + payload)


def _decode(header: int, packet: bytearray, protocol: int = mqtt.MQTTv5) -> mqtt.MQTTMessage | None:
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion(protocol))
    client._in_packet["command"] = header
    client._in_packet["packet"] = packet
    return client._plain_v5_publish()


def test_a_v5_publish_without_properties_is_decoded_without_paho() -> None:
    msg = _decode(0x32 | 0x08 | 0x01, _publish_packet(b"e/h/d/event", b"{}", 1, 513, b"\x00"))
    assert msg is not None
    assert (msg.topic, msg.payload, msg.qos, msg.mid, msg.dup, msg.retain) == (
        "e/h/d/event",
        b"{}",
        1,
        513,
        True,
        True,
    )
    assert msg.properties is not None and msg.properties.json() == {}  # type: ignore[no-untyped-call]
    qos0 = _decode(0x30, _publish_packet(b"t", b"p", 0, 0, b"\x00"))
    assert qos0 is not None and (qos0.topic, qos0.payload, qos0.mid) == ("t", b"p", 0)


@pytest.mark.parametrize(
    ("header", "packet", "protocol"),
    [
        (0x32, _publish_packet(b"t", b"p", 1, 7, b"\x02\x01\x01"), mqtt.MQTTv5),  # properties
        (0x34, _publish_packet(b"t", b"p", 2, 7, b"\x00"), mqtt.MQTTv5),  # QoS 2
        (0x32, bytearray(b"\x00\x09ab"), mqtt.MQTTv5),  # topic longer than the packet
        (0x32, _publish_packet(b"t", b"p", 1, 7, b""), mqtt.MQTTv311),  # not MQTT 5
    ],
    ids=["properties", "qos2", "malformed", "v311"],
)
def test_other_publish_packets_are_left_to_paho(
    header: int, packet: bytearray, protocol: int
) -> None:
    assert _decode(header, packet, protocol) is None


def _framed(header: int, body: bytes) -> bytes:
    """A packet as on the wire: header byte, remaining length (varint), body."""
    length, out = len(body), bytearray([header])
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (128 if length else 0))
        if not length:
            return bytes(out + body)


def _buffered(data: bytes) -> BufferedClient:
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client._buffered, client._buffered_pos, client._buffered_sock = data, 0, client._sock
    return client


def test_whole_publishes_are_framed_from_the_buffer_and_cut_ones_left_to_paho() -> None:
    small = bytes(_publish_packet(b"t", b"p", 1, 7, b"\x00"))
    big = bytes(_publish_packet(b"t", b"x" * 300, 1, 8, b"\x00"))  # 2 length bytes
    wire = _framed(0x32, small) + _framed(0x32, big) + _framed(0xD0, b"") + _framed(0x32, small)
    client = _buffered(wire)
    assert client._buffered_publish() == (0x32, bytearray(small))
    assert client._buffered_publish() == (0x32, bytearray(big))
    assert client._buffered_publish() is None  # a PINGRESP: paho's
    assert client._buffered_pos == len(_framed(0x32, small)) + len(_framed(0x32, big))

    whole = _framed(0x32, big)
    for cut in (1, 2, len(whole) - 1):  # in the length bytes, after them, one byte short
        client = _buffered(whole[:cut])
        assert client._buffered_publish() is None
        assert client._buffered_pos == 0  # nothing taken: paho reads on from here


def _manual_session(port: int, client_id: str) -> tuple[BufferedClient, list[mqtt.MQTTMessage]]:
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    client = BufferedClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=False,
        manual_ack=True,
    )
    client.on_message = lambda c, u, m: got.append(m)
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", port)
    client.subscribe("acks/#", qos=1)
    client.loop_start()
    assert subscribed.wait(5), "no SUBACK in 5 s"
    return client, got


def test_ack_many_acknowledges_exactly_the_messages_given(mosquitto: Mosquitto) -> None:
    client_id = f"acks-{uuid.uuid4().hex[:8]}"
    client, got = _manual_session(mosquitto.port, client_id)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    try:
        for i in range(40):
            pub.publish(f"acks/{i}", str(i), qos=1)
        _wait_until(lambda: len(got) == 40)
        assert len(got) == 40
        client.ack_many([m.mid for m in got[:25]])  # the last 15 are left unacked
        _wait_until(lambda: client.want_write() is False)
        client.disconnect()
        client.loop_stop()

        again, redelivered = _manual_session(mosquitto.port, client_id)
        pub.publish("acks/marker", "end", qos=1)  # queued after any redelivery
        _wait_until(lambda: any(m.topic == "acks/marker" for m in redelivered))
        topics = [m.topic for m in redelivered if m.topic != "acks/marker"]
        assert sorted(topics) == sorted(f"acks/{i}" for i in range(25, 40))
        again.ack_many([m.mid for m in redelivered])
        again.disconnect()
        again.loop_stop()
    finally:
        pub.loop_stop()
        pub.disconnect()


def _wait_until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_per_topic_callbacks_still_get_their_messages(mosquitto: Mosquitto) -> None:
    special: list[str] = []
    ours = Subscriber(BufferedClient, mosquitto.port, "cb/#", mqtt.MQTTv5)
    ours.client.message_callback_add("cb/+/special", lambda c, u, m: special.append(m.topic))
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    try:
        for topic in ("cb/a/plain", "cb/a/special", "cb/b/plain"):
            pub.publish(topic, b"x", qos=1)
        _wait_until(lambda: len(special) + len(ours.seen) >= 3)
        assert special == ["cb/a/special"]
        assert [s[0] for s in ours.seen] == ["cb/a/plain", "cb/b/plain"]
    finally:
        ours.close()
        pub.loop_stop()
        pub.disconnect()
