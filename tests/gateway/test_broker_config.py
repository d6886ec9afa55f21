"""``eldercare broker-config`` over a real Mosquitto started with what it wrote
(issue 13 item 3, issue 20 item 1): devices publish only their own topics and
read nothing, no anonymous client, the gateway's client id is bound to its
account, new devices after a re-run and SIGHUP, TLS."""

from __future__ import annotations

import asyncio
import base64
import getpass
import shutil
import ssl
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.broker_config import (
    BrokerConfigError,
    BrokerOptions,
    Generated,
    generate,
    hash_password,
    queued_messages,
    topic_grant,
    verify_password,
)
from eldercare.cli import main
from eldercare.clock import WallClock
from eldercare.domain import URGENT_SESSION_SUFFIX, Device, DeviceKind, Home
from eldercare.metrics import Metrics
from eldercare.store import Store, open_store
from gateway.intake import Gateway, GatewayConfig
from gateway.registry_cache import RegistryCache
from tests.gateway.test_intake import Recorder, eventually, publish, wait_readings
from tests.gateway.test_session_takeover import Attacker
from tests.harness.mosquitto import Mosquitto, StartMosquitto, free_port

pytestmark = pytest.mark.mosquitto

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
GW_PASSWORD = "gateway-secret-4e1b"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path}/t.db")
    await store.migrate()
    for home in ("h1", "h2"):
        await store.create_home(Home(id=home, name=home))
    await store.create_device(Device(id="h1-sos", home_id="h1", kind=DeviceKind.SOS_BUTTON))
    await store.create_device(Device(id="h1-door", home_id="h1", kind=DeviceKind.DOOR))
    await store.create_device(Device(id="h2-sos", home_id="h2", kind=DeviceKind.SOS_BUTTON))
    try:
        yield store
    finally:
        await store.close()


@dataclass
class Setup:
    broker: Mosquitto
    options: BrokerOptions
    generated: Generated
    gateway: Gateway
    metrics: Metrics
    passwords: dict[str, str]
    registry: RegistryCache

    def device(self, username: str, **kwargs: Any) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            self.broker.port,
            username=username,
            password=self.passwords[username],
            identifier=kwargs.pop("identifier", f"{username}-{uuid.uuid4().hex[:4]}"),
            protocol=aiomqtt.ProtocolVersion.V311,
            **kwargs,
        )


@pytest.fixture
async def setup(
    store: Store, tmp_path: Path, mosquitto_with_config: StartMosquitto
) -> AsyncIterator[Setup]:
    port = free_port()
    gw_user = f"gw-{uuid.uuid4().hex[:6]}"
    options = BrokerOptions(
        out_dir=tmp_path / "broker",
        port=port,
        bind="127.0.0.1",
        gateway_user=gw_user,
        gateway_password=GW_PASSWORD,
        persistence_dir=str(tmp_path / "data"),
        run_as=getpass.getuser(),
    )
    generated = await generate(store, options, NOW)
    broker = mosquitto_with_config(generated.conf.read_text(), port)
    metrics = Metrics()
    registry = RegistryCache(store, miss_reload_interval=0.2)
    await registry.load()
    gateway = Gateway(
        GatewayConfig(
            host="127.0.0.1",
            port=port,
            username=gw_user,
            password=GW_PASSWORD,
            client_id=gw_user,
        ),
        store=store,
        registry=registry,
        clock=WallClock(),
        metrics=metrics,
        sink=Recorder(),
    )
    task = asyncio.create_task(gateway.run())

    async def up() -> bool:
        if task.done():
            task.result()
        return gateway.connected

    await eventually(up, "the gateway connected with its account")
    passwords = dict(generated.new_passwords) | {gw_user: GW_PASSWORD}
    try:
        yield Setup(broker, options, generated, gateway, metrics, passwords, registry)
    finally:
        await gateway.stop(timeout=5)
        await task


def event(device: str, home: str = "h1") -> str:
    return f"eldercare/v1/{home}/{device}/event"


async def test_every_device_gets_an_account_shown_once_and_stored_hashed(
    setup: Setup, store: Store
) -> None:
    assert sorted(setup.generated.new_passwords) == ["h1-door", "h1-sos", "h2-sos"]
    stored = {c.username: c for c in await store.list_mqtt_credentials()}
    assert sorted(stored) == sorted([*setup.generated.new_passwords, setup.options.gateway_user])
    for username, password in setup.passwords.items():
        assert password not in stored[username].password_hash
        assert verify_password(password, stored[username].password_hash)
    passwd = setup.generated.passwd.read_text()
    assert all(password not in passwd for password in setup.passwords.values())


async def test_a_device_publishes_only_its_own_topics(setup: Setup, store: Store) -> None:
    async with setup.device("h1-sos") as sos:
        # Another home's device, another device of its home, its id under another home,
        # and a topic outside the contract: the broker delivers none of them.
        for topic in (event("h2-sos", "h2"), event("h1-door"), event("h1-sos", "h2"), "x/y"):
            await publish(sos, topic, {"action": "press", "open": True})
        await publish(sos, event("h1-sos"), {"seq": 1, "action": "press"})  # its own
    await wait_readings(store, 1, "h1-sos")
    assert await store.count_readings() == 1
    assert await store.list_dead_letters() == []  # refused by the broker, not by the gateway
    assert setup.broker.log().count("Denied PUBLISH from h1-sos") == 4


async def test_a_payload_over_the_packet_limit_never_reaches_the_gateway(
    setup: Setup, store: Store
) -> None:
    """The generated max_packet_size (256 KiB): the broker drops the client that
    sends 8 MiB, before any of it reaches the gateway."""
    sender = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="big")
    sender.username_pw_set("h1-sos", setup.passwords["h1-sos"])
    dropped = threading.Event()
    sender.on_disconnect = lambda *args: dropped.set()
    sender.connect("127.0.0.1", setup.broker.port)
    sender.loop_start()
    try:
        sender.publish(event("h1-sos"), b"x" * (8 << 20), qos=1)
        assert await asyncio.to_thread(dropped.wait, 10), "the broker kept the client"
    finally:
        sender.loop_stop()
    async with setup.device("h1-sos") as sos:
        await publish(sos, event("h1-sos"), {"seq": 1, "action": "press"})
    await wait_readings(store, 1, "h1-sos")
    assert await store.list_dead_letters() == []


async def test_a_device_reads_nothing(setup: Setup, store: Store) -> None:
    async with setup.device("h1-door") as door:
        await door.subscribe("eldercare/v1/#", qos=1)
        await door.subscribe(event("h1-door"), qos=1)  # granted: Mosquitto filters on delivery
        async with setup.device("h1-sos") as sos:
            await publish(sos, event("h1-sos"), {"seq": 1, "action": "press"})
            await publish(door, event("h1-door"), {"seq": 1, "open": True})
        await wait_readings(store, 1, "h1-door")  # the gateway has read both
        await wait_readings(store, 1, "h1-sos")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await anext(door.messages)


async def test_no_client_gets_in_without_its_password(setup: Setup) -> None:
    anonymous = aiomqtt.Client("127.0.0.1", setup.broker.port, identifier="anon")
    with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed"):
        async with anonymous:
            pass
    wrong = aiomqtt.Client(
        "127.0.0.1", setup.broker.port, username="h1-sos", password="guess", identifier="x"
    )
    with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed"):
        async with wrong:
            pass


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_the_gateways_client_id_is_bound_to_its_account(
    setup: Setup, store: Store, protocol: str
) -> None:
    """The attack of issue 20 item 1, against the generated configuration."""
    gw_id = setup.options.gateway_user
    without = Attacker(setup.broker.port, gw_id, protocol)  # no account: refused
    assert without.answered.wait(5) and without.refused is not None
    without.close()
    # A device's account with the gateway's client id: the broker uses the account's
    # name as the id, so this is h1-sos's session, not the gateway's.
    holder = Attacker(
        setup.broker.port, gw_id, protocol, username="h1-sos", password=setup.passwords["h1-sos"]
    )
    assert holder.answered.wait(5) and holder.refused is None
    try:
        async with setup.device("h1-door") as door:
            await publish(door, event("h1-door"), {"seq": 1, "open": True})
        await wait_readings(store, 1, "h1-door")
        assert setup.gateway.connected
        assert setup.gateway.session_problem is None
        total = setup.metrics.value("eldercare_mqtt_session_takeovers_total", evidence="suspected")
        assert total == 0
    finally:
        holder.close()


async def test_a_new_device_after_a_rerun_and_sighup_and_a_deleted_one_is_out(
    setup: Setup, store: Store
) -> None:
    before = {c.username: c for c in await store.list_mqtt_credentials()}
    await store.create_device(Device(id="h1-water", home_id="h1", kind=DeviceKind.WATER))
    await store.delete_device("h1-door")
    setup.registry.invalidate()  # as the API does after a registry write
    again = await generate(store, setup.options, NOW)
    assert sorted(again.new_passwords) == ["h1-water"]  # the others keep theirs
    assert again.changed == ["h1-water"]
    assert again.removed == ["h1-door"]
    after = {c.username: c for c in await store.list_mqtt_credentials()}
    assert after["h1-sos"] == before["h1-sos"] and "h1-door" not in after
    setup.broker.reload()
    water = aiomqtt.Client(
        "127.0.0.1",
        setup.broker.port,
        username="h1-water",
        password=again.new_passwords["h1-water"],
        identifier="w",
    )

    async def reloaded() -> bool:
        try:
            async with water:
                await publish(water, event("h1-water"), {"seq": 1, "leak": False})
            return True
        except aiomqtt.MqttError:
            return False

    await eventually(reloaded, "the broker took the new account after SIGHUP")
    await wait_readings(store, 1, "h1-water")
    with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed"):
        async with setup.device("h1-door"):
            pass


async def test_without_an_acl_a_device_under_another_home_is_dead_lettered(
    mosquitto: Mosquitto, store: Store
) -> None:
    """A broker without the generated ACL lets it through; the gateway still refuses
    what it can tell (a device under another home's topic, an unknown device)."""
    registry = RegistryCache(store)
    await registry.load()
    gw = Gateway(
        GatewayConfig(host=mosquitto.host, port=mosquitto.port, client_id="gw-no-acl"),
        store=store,
        registry=registry,
        clock=WallClock(),
        metrics=Metrics(),
        sink=Recorder(),
    )
    task = asyncio.create_task(gw.run())

    async def up() -> bool:
        return gw.connected

    await eventually(up, "gateway connected")
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="h1-sos") as sos:
            await publish(sos, event("h1-sos", "h2"), {"action": "press"})
            await publish(sos, event("nobody", "h2"), {"action": "press"})

            async def both() -> bool:
                return len(await store.list_dead_letters()) == 2

            await eventually(both, "both dead-lettered")
        assert sorted(d.reason for d in await store.list_dead_letters()) == [
            "unknown_device",
            "wrong_home",
        ]
        assert await store.count_readings() == 0
    finally:
        await gw.stop(timeout=5)
        await task


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_the_tls_listener_carries_gateway_and_devices_and_refuses_plain_mqtt(
    store: Store, tmp_path: Path, mosquitto_with_config: StartMosquitto
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = BrokerOptions(
        out_dir=tmp_path / "broker",
        port=None,
        tls_port=port,
        bind="127.0.0.1",
        certfile=str(cert),
        keyfile=str(key),
        gateway_user="gw-tls",
        gateway_password=GW_PASSWORD,
        persistence_dir=str(tmp_path / "data"),
        run_as=getpass.getuser(),
    )
    generated = await generate(store, options, NOW)
    mosquitto_with_config(generated.conf.read_text(), port)
    context = ssl.create_default_context(cafile=str(cert))
    registry = RegistryCache(store)
    await registry.load()
    gateway = Gateway(
        GatewayConfig(
            host="127.0.0.1",
            port=port,
            username="gw-tls",
            password=GW_PASSWORD,
            client_id="gw-tls",
            tls=True,
            tls_context=context,
        ),
        store=store,
        registry=registry,
        clock=WallClock(),
        metrics=Metrics(),
        sink=Recorder(),
    )
    task = asyncio.create_task(gateway.run())
    try:

        async def up() -> bool:
            return gateway.connected

        await eventually(up, "the gateway connected over TLS")
        async with aiomqtt.Client(
            "127.0.0.1",
            port,
            username="h1-sos",
            password=generated.new_passwords["h1-sos"],
            tls_context=context,
            identifier="s",
        ) as sos:
            await publish(sos, event("h1-sos"), {"seq": 1, "action": "press"})
        await wait_readings(store, 1, "h1-sos")
    finally:
        await gateway.stop(timeout=5)
        await task
    plain = aiomqtt.Client("127.0.0.1", port, username="h1-sos", password="x", identifier="p")
    with pytest.raises((aiomqtt.MqttError, TimeoutError)):
        async with asyncio.timeout(3), plain:
            pass


async def test_the_command_prints_new_passwords_once(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    db = tmp_path / "t.db"
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("ELDERCARE_MQTT_URL", f"mqtt://gw:{GW_PASSWORD}@127.0.0.1:1883")
    out = tmp_path / "cfg"

    def run(*extra: str) -> str:
        args = ["broker-config", "--out", str(out), "--gateway-topic", "zigbee2mqtt/#", *extra]
        code = main(args)
        assert code == 0
        return capsys.readouterr().out

    first = await asyncio.to_thread(run)
    assert "4 made or changed" in first and "h1-sos " in first
    assert GW_PASSWORD not in first  # the URL's password is the gateway's: not shown
    assert "topic read zigbee2mqtt/#" in (out / "acl").read_text()
    second = await asyncio.to_thread(run)
    assert "0 made or changed" in second and "h1-sos " not in second
    creds = tmp_path / "new.csv"
    third = await asyncio.to_thread(run, "--rotate", "h1-sos", "--credentials-out", str(creds))
    assert "1 made or changed" in third and "h1-sos " not in third
    assert creds.read_text().splitlines()[1].startswith("h1-sos,")
    assert oct(creds.stat().st_mode & 0o777) == "0o600"


def test_our_hashes_and_mosquitto_passwds_agree(tmp_path: Path) -> None:
    file = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(file), "u", "p4ss"], check=True)
    theirs = file.read_text().strip().split(":", 1)[1]
    assert verify_password("p4ss", theirs) and not verify_password("p4sS", theirs)
    salt_b64 = theirs.split("$")[3]
    ours = hash_password("p4ss", salt=base64.b64decode(salt_b64), iterations=101)
    assert ours == theirs


def test_bad_options_are_refused_with_a_reason(tmp_path: Path) -> None:
    assert topic_grant("zigbee2mqtt/#") == ("read", "zigbee2mqtt/#")
    assert topic_grant("readwrite shellies/+/relay/0") == ("readwrite", "shellies/+/relay/0")
    for bad in ("a/#/b", "a/b+", "delete x/#", "", "read a b"):
        with pytest.raises(BrokerConfigError):
            topic_grant(bad)
    with pytest.raises(BrokerConfigError, match="TLS"):
        BrokerOptions(out_dir=tmp_path, tls_port=8883)
    with pytest.raises(BrokerConfigError, match="no listener"):
        BrokerOptions(out_dir=tmp_path, port=None)


def test_the_queue_holds_minutes_of_the_registrys_traffic() -> None:
    beds = [Device(f"b{i}", "h", DeviceKind.BED_BAND, f"r{i}") for i in range(1000)]
    others = [Device(f"d{i}", "h", DeviceKind.DOOR) for i in range(6000)]
    assert queued_messages(beds + others, 10) == (1000 + 100) * 600
    assert queued_messages(others[:10], 10) == 100_000


async def test_the_urgent_session_has_an_account_with_the_gateways_password(
    setup: Setup, store: Store
) -> None:
    """``<gateway>-urgent`` (gateway/urgent_session.py) logs in with the gateway's
    password, reads the critical devices' events on its own session, and a device
    cannot use its name."""
    gw_user = setup.options.gateway_user
    sink = Recorder()
    urgent = Gateway(
        GatewayConfig(
            host="127.0.0.1",
            port=setup.broker.port,
            username=gw_user + URGENT_SESSION_SUFFIX,
            password=GW_PASSWORD,
            client_id=gw_user + URGENT_SESSION_SUFFIX,
            fast_lane={"sos_button": (b'"action"',)},
            urgent_session=True,
        ),
        store=store,
        registry=setup.registry,
        clock=WallClock(),
        metrics=Metrics(),
        sink=sink,
    )
    task = asyncio.create_task(urgent.run())
    try:

        async def up() -> bool:
            if task.done():
                task.result()
            return urgent.connected

        await eventually(up, "the urgent session connected with its account")
        async with setup.device("h2-sos") as sos:
            await publish(sos, event("h2-sos", "h2"), {"seq": 1, "action": "press"})

        async def pressed() -> bool:
            return any(r.device_id == "h2-sos" for r in sink.readings)

        await eventually(pressed, "the press read on the urgent session")
    finally:
        await urgent.stop(timeout=5)
        await task
    acl = setup.generated.acl.read_text()
    assert f"user {gw_user}{URGENT_SESSION_SUFFIX}\ntopic read eldercare/v1/#\n" in acl
    await store.create_device(
        Device(id=gw_user + URGENT_SESSION_SUFFIX, home_id="h1", kind=DeviceKind.DOOR)
    )
    with pytest.raises(BrokerConfigError, match="urgent session"):
        await generate(store, setup.options, NOW)
