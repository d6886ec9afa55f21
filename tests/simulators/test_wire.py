"""``simulators.wire.WirePublisher`` on a real Mosquitto: a stock paho subscriber
receives exactly what it published, every QoS 1 message is acknowledged, packet
ids cycle past 65,535 without collisions, and errors name the broker."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from simulators import wire
from simulators.load import run_load
from simulators.wire import WireError, WirePublisher, random_client_id
from tests.harness import subscriber as harness
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

Seen = tuple[str, bytes, int, bool]


class Subscriber(harness.Subscriber[Seen]):
    """Stock paho, QoS 1, recording (topic, payload, qos, retain) of every message."""

    def record(self, msg: mqtt.MQTTMessage) -> Seen:
        return (msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))


def _until(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _publisher(port: int, **kw: Any) -> WirePublisher:
    pub = WirePublisher("127.0.0.1", port, client_id=random_client_id("t"), **kw)
    pub.connect()
    return pub


def _payload_for(topic: str, qos: int, remaining: int) -> bytes:
    """A payload that makes the PUBLISH's remaining length exactly ``remaining``."""
    return b"r" * (remaining - 2 - len(topic.encode()) - (2 if qos else 0))


def test_a_subscriber_receives_exactly_what_was_published(mosquitto: Mosquitto) -> None:
    base = f"t/{uuid.uuid4().hex[:6]}"
    pub = _publisher(mosquitto.port)
    sub: Subscriber | None = None
    try:
        # retained before anyone subscribes: the subscriber gets it with the flag set
        pub.publish(f"{base}/kept", b"kept", qos=1, retain=True)
        pub.flush()
        assert _until(lambda: pub.acked == 1), "the retained message was not acknowledged"
        sub = Subscriber(mosquitto.port, f"{base}/#")
        sent: list[Seen] = [
            (f"{base}/h1/h1-bed/event", b'{"hr": 62, "rr": 14, "in_bed": true}', 1, False),
            (f"{base}/h1/h1-bed/event", b'{"hr": 63}', 0, False),
            # published retained, but delivered to a live subscription: retain 0
            (f"{base}/h1/h1-door/status", b"online", 1, False),
            (f"{base}/h2/\u5e8a/event", "床 ünïcode".encode(), 1, False),  # non-ASCII topic
            (f"{base}/empty", b"", 1, False),
            (f"{base}/binary", bytes(range(256)), 0, False),
            (f"{base}/big", bytes(range(256)) * 300, 1, False),  # 76,800 B > 64 KiB
        ]
        # remaining lengths at the varint boundaries: 1, 2, 3 and 4 bytes
        for remaining in (127, 128, 16_383, 16_384, 2_097_151, 2_097_152):
            topic = f"{base}/len{remaining}"
            sent.append((topic, _payload_for(topic, 1, remaining), 1, False))
        topic = f"{base}/len-qos0"
        sent.append((topic, _payload_for(topic, 0, 16_384), 0, False))
        sent += [(f"{base}/many/{i}", f'{{"seq": {i}}}'.encode(), i % 2, False) for i in range(500)]
        for topic, payload, qos, _ in sent:
            # str payloads too, as run_load publishes them
            body: str | bytes = payload.decode() if topic.endswith("/event") else payload
            pub.publish(topic, body, qos=qos, retain=topic.endswith("/status"))
        assert pub.close() is True
        qos1 = 1 + sum(qos for _, _, qos, _ in sent)
        assert pub.acked == qos1 and pub.unacked == 0
        assert pub.sent == 1 + len(sent)
        seen = sub.wait_for(1 + len(sent))
        time.sleep(0.2)  # anything extra (a duplicate) would come in now
        assert seen[0] == (f"{base}/kept", b"kept", 1, True)
        assert seen[1:] == sent
    finally:
        pub.close()
        if sub is not None:
            sub.close()


def test_packet_ids_cycle_past_65535_without_collisions(mosquitto: Mosquitto) -> None:
    base = f"t/{uuid.uuid4().hex[:6]}"
    sub = Subscriber(mosquitto.port, f"{base}/#")
    pub = _publisher(mosquitto.port)
    n = 70_000
    try:
        for i in range(n):
            pub.publish(f"{base}/{i % 50}", str(i), qos=1)
        assert pub.close(timeout=20) is True
        # The reader checks every PUBACK's id against the one expected next: a
        # collision or a packet id 0 (the broker disconnects on it) fails here.
        assert pub.acked == n
        seen = sub.wait_for(n, timeout=20)
        assert len(seen) == n
        assert sorted(int(p) for _, p, _, _ in seen) == list(range(n))
    finally:
        pub.close()
        sub.close()


def test_a_full_window_waits_for_acknowledgements(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "MAX_UNACKED", 40)
    base = f"t/{uuid.uuid4().hex[:6]}"
    sub = Subscriber(mosquitto.port, f"{base}/#")
    pub = _publisher(mosquitto.port)
    peak = 0
    try:
        for i in range(2_000):
            pub.publish(f"{base}/w", str(i), qos=1)
            peak = max(peak, pub.unacked)
        assert peak == 40  # it reached the window and never went past it
        assert pub.close() is True and pub.acked == 2_000
        assert [p for _, p, _, _ in sub.wait_for(2_000)] == [str(i).encode() for i in range(2_000)]
    finally:
        pub.close()
        sub.close()


def test_a_refused_or_unreachable_broker_is_named(
    mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(WireError, match=f"cannot reach the MQTT broker at 127.0.0.1:{free}"):
        WirePublisher("127.0.0.1", free, client_id="t-refused").connect()

    # a broker that wants a password: CONNACK code 5
    locked = Mosquitto(tmp_path_factory.mktemp("locked"))
    conf = locked.conf_path.read_text()
    locked.conf_path.write_text(conf.replace("allow_anonymous true", "allow_anonymous false"))
    locked.start()
    try:
        with pytest.raises(
            WireError,
            match=rf"127\.0\.0\.1:{locked.port} refused the connection: CONNACK code 5 \(not auth",
        ):
            WirePublisher("127.0.0.1", locked.port, client_id="t-locked").connect()
    finally:
        locked.stop()

    # the broker going away: publish and flush say so instead of losing messages
    pub = _publisher(mosquitto.port)
    pub.publish("t/before", "x", qos=1)
    pub.flush()
    assert _until(lambda: pub.acked == 1)
    mosquitto.stop()

    def refused() -> bool:
        try:
            pub.publish("t/after", "x", qos=1)
            pub.flush()
        except WireError as exc:
            assert f"the MQTT broker at 127.0.0.1:{mosquitto.port}" in str(exc)
            return True
        return False

    assert _until(refused), "publishing went on after the broker closed the connection"
    assert pub.close() is False


def test_qos_2_and_wildcard_topics_are_rejected(mosquitto: Mosquitto) -> None:
    pub = _publisher(mosquitto.port)
    try:
        with pytest.raises(ValueError, match="QoS 2"):
            pub.publish("t/x", "x", qos=2)
        with pytest.raises(ValueError, match="topic"):
            pub.publish("t/+/x", "x")
        assert pub.sent == 0
    finally:
        assert pub.close() is True


def test_an_idle_connection_is_kept_alive_with_pings(mosquitto: Mosquitto) -> None:
    """Keepalive 1 s: after 0.5 s without writing, the reader thread sends PINGREQ
    and reads the PINGRESP; the connection stays usable. (Mosquitto 2.0 checks
    keepalives only every few seconds, so waiting for it to drop a silent client
    would take too long for a test.)"""
    sub = Subscriber(mosquitto.port, "t/idle")
    pub = _publisher(mosquitto.port, keepalive=1)
    try:
        assert _until(lambda: pub._pingresps >= 2, timeout=5), "no PINGRESP in 5 s"
        pub.publish("t/idle", "still here", qos=1)
        assert pub.close() is True and pub.acked == 1
        assert sub.wait_for(1) == [("t/idle", b"still here", 1, False)]
    finally:
        pub.close()
        sub.close()


def test_the_buffer_flushes_itself_at_256_kib(mosquitto: Mosquitto) -> None:
    pub = _publisher(mosquitto.port)
    try:
        # 1,024 bytes a packet: 3 of fixed header, 2 + 3 of topic, 2 of packet id, payload
        for _ in range(300):
            pub.publish("t/f", b"p" * 1_014, qos=1)
        assert wire.FLUSH_AT == 256 * 1_024
        assert _until(lambda: pub.acked == 256), f"acked {pub.acked}, not the first 256 KiB"
        time.sleep(0.1)  # the other 44 stay in the buffer until flush()
        assert pub.acked == 256
        pub.flush()
        assert _until(lambda: pub.acked == 300)
    finally:
        assert pub.close() is True


def test_the_reader_checks_every_puback_id() -> None:
    """PUBACKs come in the order of the PUBLISHes (MQTT 3.1.1 §4.6): the reader
    expects each id in turn, across the wrap 65535 -> 1, split over reads, in its
    bulk path (nothing but PUBACKs) and packet by packet; any other id fails the
    connection. (Mosquitto never gets this wrong, so it is fed bytes here.)"""
    pub = WirePublisher("127.0.0.1", 1, client_id="t-parse")
    pub._qos1, pub._acked, pub._next_ack = 70_000, 65_532, 65_533
    buf = bytearray(b"\x40\x02\xff\xfd\x40\x02\xff\xfe")  # bulk
    pub._parse(buf)
    assert (pub.acked, bytes(buf)) == (65_534, b"")
    buf += b"\x40\x02\xff\xff\x40\x02\x00\x01\xd0\x00\x40\x02\x00"  # + PINGRESP, split
    pub._parse(buf)
    assert (pub.acked, pub._pingresps, bytes(buf)) == (65_536, 1, b"\x40\x02\x00")
    buf += b"\x02\x40\x02\x00\x03"
    pub._parse(buf)
    assert (pub.acked, bytes(buf)) == (65_538, b"")
    buf += b"\x40\x02\x00\x04\x40\x02\x00\x09"  # bulk-shaped, but 9 is not next after 4
    pub._parse(buf)
    assert pub.acked == 65_539
    with pytest.raises(WireError, match="acknowledged packet id 9, expected 5"):
        pub.publish("t/x", "x")


def test_run_load_over_the_wire_publisher(mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.port, "eldercare/v1/#")
    pub = _publisher(mosquitto.port)
    try:
        report = run_load(pub, homes=20, seconds=1.5, prefix="w")
        assert pub.close() is True
        assert report.vitals == 40 and report.heartbeats > 0
        assert pub.sent == pub.acked == report.sent
        seen = sub.wait_for(report.sent)
        time.sleep(0.2)  # anything extra would come in now
        assert len(seen) == report.sent
        bed = [t for t, _, _, _ in seen if t.endswith("-bed/event")]
        assert sorted(set(bed)) == sorted(f"eldercare/v1/w{h}/w{h}-bed/event" for h in range(20))
        assert all(qos == 1 for _, _, qos, _ in seen)
    finally:
        pub.close()
        sub.close()
