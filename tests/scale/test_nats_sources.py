"""Off-the-shelf devices in engine mode (``gateway/nats_sources.py``): Zigbee2MQTT
messages published at QoS 0 to the NATS MQTT listener reach the worker that owns
their home's partition through the bridge that the holder of partition 0 runs,
on a real 3-node NATS cluster, two ``eldercare worker`` processes and
TimescaleDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.domain import Device, DeviceKind, Home, Resident
from eldercare.store import open_store
from gateway.nats_connect import connect_options
from gateway.nats_sources import mqtt_topic, nats_subject
from gateway.partitions import partition_of
from tests.e2e.helpers import eventually
from tests.harness.nats import PASSWORD, USER, NatsCluster
from tests.scale.test_nats_workers import _leases

HOMES = 8


def test_topics_convert_as_the_nats_mqtt_listener_does() -> None:
    assert nats_subject("zigbee2mqtt/hall_sos") == "zigbee2mqtt.hall_sos"
    assert nats_subject("bedroom-mr60bha2/+/+/state") == "bedroom-mr60bha2.*.*.state"
    assert nats_subject("tele/zb.bridge/#") == "tele.zb//bridge.>"
    assert mqtt_topic("tele.zb//bridge.SENSOR") == "tele/zb.bridge/SENSOR"
    # NATS refuses whitespace; an empty level is not converted here
    assert nats_subject("zigbee2mqtt/hall sos") is None
    assert nats_subject("zigbee2mqtt//x") is None


@pytest.fixture
def workers() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    started: dict[str, subprocess.Popen[bytes]] = {}
    yield started
    for proc in started.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started.values():
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _rows(pg_url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(query, args).fetchall()


async def test_zigbee2mqtt_devices_reach_their_homes_workers(
    nats_cluster: NatsCluster,
    pg_url: str,
    tmp_path: Path,
    workers: dict[str, subprocess.Popen[bytes]],
) -> None:
    homes = [f"z{i}" for i in range(HOMES)]
    store = await open_store(pg_url)
    try:
        await store.migrate()
        for h in homes:
            await store.create_home(Home(h, h))
            await store.create_resident(Resident(f"{h}-r", h, f"Resident {h}"))
            await store.create_device(
                Device(
                    f"{h}-sos",
                    h,
                    DeviceKind.SOS_BUTTON,
                    f"{h}-r",
                    source={"type": "zigbee2mqtt", "topic": f"zigbee2mqtt/{h}_sos"},
                )
            )
            await store.create_device(
                Device(
                    f"{h}-door",
                    h,
                    DeviceKind.DOOR,
                    source={"type": "zigbee2mqtt", "topic": f"zigbee2mqtt/{h}_door"},
                )
            )
    finally:
        await store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_DATABASE_URL=pg_url,
        ELDERCARE_ENGINE_URL=nats_cluster.engine_url,
        ELDERCARE_ENGINE_PARTITIONS=str(nats_cluster.partitions),
        ELDERCARE_ENGINE_LEASE="3",
        ELDERCARE_ENGINE_REPLICAS="3",
        ELDERCARE_LOG_FORMAT="json",
        ELDERCARE_SPOOL_PATH=str(tmp_path / "spool.db"),
    )
    for w in ("w1", "w2"):
        with open(tmp_path / f"{w}.log", "ab") as log:
            workers[w] = subprocess.Popen(
                [sys.executable, "-m", "eldercare", "worker"],
                env={**env, "ELDERCARE_WORKER_ID": w},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    nc = await nats.connect(**connect_options(nats_cluster.servers), max_reconnect_attempts=-1)
    try:
        js = nc.jetstream(timeout=3.0)

        async def both_own() -> dict[int, tuple[str, int]] | None:
            held = await _leases(js)
            owners = {w for w, _ in held.values()}
            return held if len(held) == nats_cluster.partitions and owners == {"w1", "w2"} else None

        held = await eventually(both_own, timeout=60, interval=0.2)
    finally:
        await nc.close()
    bridge = held[0][0]
    owners = {h: held[partition_of(h, nats_cluster.partitions)][0] for h in homes}
    assert set(owners.values()) == {"w1", "w2"}, f"all homes on one worker: {owners}"

    node = next(iter(nats_cluster.nodes.values()))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="z2m", protocol=mqtt.MQTTv311)
    client.username_pw_set(USER, PASSWORD)
    client.connect("127.0.0.1", node.mqtt_port)
    client.loop_start()
    try:

        def publish(topic: str, body: dict[str, Any]) -> None:
            client.publish(topic, json.dumps(body), qos=0).wait_for_publish(5)

        # The bridge subscribes once its worker holds partition 0: until then a QoS 0
        # message has no taker, as with a broker nobody listens to. Press again until
        # the first alert shows the bridge is up.
        async def bridged() -> bool | None:
            publish("zigbee2mqtt/z0_door", {"contact": True, "battery": 90})
            rows = _rows(pg_url, "SELECT count(*) FROM readings WHERE device_id = 'z0-door'")
            return True if rows[0][0] > 0 else None

        await eventually(bridged, timeout=30, interval=0.5)
        for h in homes:
            publish(f"zigbee2mqtt/{h}_sos", {"action": "emergency", "battery": 100})
            publish(f"zigbee2mqtt/{h}_sos", {"action": "", "battery": 100})
            for contact in (False, True, False):  # open, closed, open: in this order
                publish(f"zigbee2mqtt/{h}_door", {"contact": contact, "battery": 90})
        publish("zigbee2mqtt/z1_sos", {"action": "arm_all_zones", "battery": 100})

        async def raised() -> list[tuple[Any, ...]] | None:
            rows = _rows(
                pg_url, "SELECT home_id, count FROM alerts WHERE kind = 'sos' ORDER BY home_id"
            )
            return rows if len(rows) == HOMES else None

        sos = await eventually(raised, timeout=30, interval=0.3)
        assert sos == [(h, 1) for h in sorted(homes)]

        async def doors() -> dict[str, list[bool]] | None:
            out: dict[str, list[bool]] = {}
            for device, fields in _rows(
                pg_url,
                "SELECT device_id, fields FROM readings WHERE kind = 'door' ORDER BY ts, seq",
            ):
                out.setdefault(device, []).append(fields["open"])
            done = all(len(out.get(f"{h}-door", [])) >= 3 for h in homes)
            return out if done else None

        opened = await eventually(doors, timeout=30, interval=0.3)
        for h in homes:
            assert opened[f"{h}-door"][-3:] == [True, False, True], (h, opened[f"{h}-door"])

        async def dead() -> list[tuple[Any, ...]] | None:
            rows = _rows(pg_url, "SELECT topic, reason, detail FROM dead_letters")
            return rows or None

        letters = await eventually(dead, timeout=30, interval=0.3)
        assert [(t, r) for t, r, _ in letters] == [("zigbee2mqtt/z1_sos", "unmappable")]
        assert "arm_all_zones" in letters[0][2]
        print(
            f"\nbridge on {bridge}; homes per worker:"
            f" { {w: sum(1 for o in owners.values() if o == w) for w in ('w1', 'w2')} }"
        )
    finally:
        client.disconnect()
        client.loop_stop()
        sock = client.socket()
        if sock is not None:
            sock.close()
