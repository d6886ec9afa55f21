"""The MQTT store of the engine keeps every PUBACKed reading under its home's
partition, including a device's first message sent right behind its CONNECT.

That message was lost before the store had its own subject transform: the NATS
MQTT listener applies the account's mapping only from a connection's second
read, so a PUBLISH in the same TCP read as the CONNECT was kept unmapped, where
no partition's consumer had interest, and dropped after its PUBACK (1 reading of
1,812 in some runs of the scale-out test, always a first one).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter

import nats
import nats.js.api
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext

from gateway.nats_connect import connect_options
from gateway.nats_intake import EngineSetupError, NatsConfig, durable, ensure_consumers
from gateway.partitions import MQTT_STORE, partition_of
from tests.e2e.helpers import eventually
from tests.harness.nats import PASSWORD, USER, NatsCluster

DEVICES = 24


def _mqtt_string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    length, encoded = len(body), b""
    while True:
        digit, length = length % 128, length // 128
        encoded += bytes([digit | (0x80 if length else 0)])
        if not length:
            return bytes([first_byte]) + encoded + body


def _connect_and_publish_in_one_write(
    port: int, client_id: str, topic: str, payload: bytes
) -> bool:
    """A device that sends CONNECT and a QoS 1 PUBLISH in one write (MQTT 3.1.1
    allows packets before the CONNACK); True if the PUBLISH was PUBACKed."""
    connect = _packet(
        0x10,
        _mqtt_string("MQTT")
        + bytes([4, 0xC2])  # 3.1.1; username, password, clean session
        + (30).to_bytes(2, "big")
        + _mqtt_string(client_id)
        + _mqtt_string(USER)
        + _mqtt_string(PASSWORD),
    )
    publish = _packet(0x32, _mqtt_string(topic) + (1).to_bytes(2, "big") + payload)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(connect + publish)
        received = b""
        while b"\x40\x02\x00\x01" not in received:  # PUBACK of packet 1
            chunk = sock.recv(256)
            if not chunk:
                return False
            received += chunk
    return True


async def _jetstream(cluster: NatsCluster) -> tuple[NatsClient, JetStreamContext]:
    """A connection, once the cluster has elected its JetStream leader."""
    nc = await nats.connect(**connect_options(cluster.servers))
    js = nc.jetstream(timeout=5.0)

    async def ready() -> bool | None:
        try:
            await js.account_info()
            return True
        except Exception:
            return None

    await eventually(ready, timeout=60, interval=0.3)
    return nc, js


async def test_a_reading_sent_with_its_connect_is_kept_in_its_homes_partition(
    nats_cluster: NatsCluster,
) -> None:
    config = NatsConfig(
        servers=nats_cluster.servers,
        worker_id="test",
        partitions=nats_cluster.partitions,
        replicas=3,
    )
    nc, js = await _jetstream(nats_cluster)
    try:
        await ensure_consumers(js, config)  # as the first worker does
        node = next(iter(nats_cluster.nodes.values()))
        homes = [f"first-{i}" for i in range(DEVICES)]
        for home in homes:
            body = json.dumps({"ts": "2026-12-04T02:00:00+00:00", "seq": 0, "hr": 61}).encode()
            acked = await asyncio.to_thread(
                _connect_and_publish_in_one_write,
                node.mqtt_port,
                f"{home}-bed",
                f"eldercare/v1/{home}/{home}-bed/event",
                body,
            )
            assert acked
        expected = Counter(partition_of(h, config.partitions) for h in homes)
        waiting = {}
        for p in range(config.partitions):
            info = await js.consumer_info(MQTT_STORE, durable(p))
            waiting[p] = info.num_pending or 0
        assert waiting == {p: expected.get(p, 0) for p in range(config.partitions)}
    finally:
        await nc.close()


async def test_a_worker_with_another_partition_count_is_refused(
    nats_cluster: NatsCluster,
) -> None:
    nc, js = await _jetstream(nats_cluster)
    try:
        first = NatsConfig(servers=nats_cluster.servers, worker_id="a", partitions=8, replicas=3)
        await ensure_consumers(js, first)
        await ensure_consumers(js, first)  # again: nothing changes
        other = NatsConfig(servers=nats_cluster.servers, worker_id="b", partitions=16, replicas=3)
        with pytest.raises(EngineSetupError, match="ELDERCARE_ENGINE_PARTITIONS=16"):
            await ensure_consumers(js, other)
    finally:
        await nc.close()


async def test_a_store_the_listener_made_gets_the_transform(nats_cluster: NatsCluster) -> None:
    """Devices connected before any worker: the listener made the store, without
    the transform; the first worker adds it and keeps the listener's settings."""
    nc, js = await _jetstream(nats_cluster)
    try:
        await js.add_stream(
            name=MQTT_STORE,
            subjects=["$MQTT.msgs.>"],
            retention=nats.js.api.RetentionPolicy.INTEREST,
            storage=nats.js.api.StorageType.FILE,
            num_replicas=3,
        )
        config = NatsConfig(servers=nats_cluster.servers, worker_id="a", partitions=8, replicas=3)
        await ensure_consumers(js, config)
        info = await js.stream_info(MQTT_STORE)
        assert info.config.subject_transform is not None
        assert info.config.subject_transform.dest.startswith("$MQTT.msgs.ec.{{partition(8,1)}}")
        assert info.config.retention == nats.js.api.RetentionPolicy.INTEREST
        assert info.config.num_replicas == 3
    finally:
        await nc.close()
