"""Another client with the gateway's MQTT client id takes its session (issue 20
item 1): the gateway counts, logs and reports it. Real Mosquitto, an attacker on
stock paho."""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from eldercare.metrics import Metrics
from tests.gateway.test_intake import StartGateway, eventually, sqlite_store, start_gateway
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

__all__ = ["sqlite_store", "start_gateway"]  # fixtures used by name


class Attacker:
    """A paho client that connects once with ``client_id``, keeping the session."""

    def __init__(self, port: int, client_id: str, protocol: str, **auth: str) -> None:
        v5 = protocol == "5"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            **({} if v5 else {"clean_session": False}),
        )
        if auth:
            self.client.username_pw_set(auth["username"], auth["password"])
        self.answered = threading.Event()
        self.refused: Any = None
        self.client.on_connect = self._on_connect
        self.client.reconnect_delay_set(60, 60)  # once: no fight over the session here
        if v5:
            self.client.connect("127.0.0.1", port, clean_start=False)
        else:
            self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, u: Any, f: Any, rc: Any, p: Any = None) -> None:
        self.refused = rc if rc.is_failure else None
        self.answered.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client.on_connect = None  # no cycle: paho closes its socket pair when freed


TAKEOVERS = "eldercare_mqtt_session_takeovers_total"


def takeovers(metrics: Metrics) -> float:
    """Both kinds of evidence: Mosquitto 2.0.11 closes the old connection without the
    MQTT 5 reason code 0x8E (newer brokers send it), so here both are 'suspected'."""
    return metrics.value(TAKEOVERS, evidence="broker") + metrics.value(
        TAKEOVERS, evidence="suspected"
    )


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_session_takeover_is_counted_logged_and_reported(
    start_gateway: StartGateway,
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
) -> None:
    caplog.set_level(logging.ERROR, logger="eldercare.gateway.intake")
    running = await start_gateway(protocol=protocol)
    gateway = running.gateway
    assert gateway.session_problem is None
    client_id: str = start_gateway.client_id  # type: ignore[attr-defined]
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]

    attacker = Attacker(mosquitto.port, client_id, protocol)
    try:

        async def counted() -> bool:
            return takeovers(metrics) >= 1

        await eventually(counted, "the takeover counted")
    finally:
        attacker.close()
    problem = gateway.session_problem
    assert problem is not None and client_id in problem
    assert "another client connects with the gateway's client id" in problem
    logged = [r for r in caplog.records if "took the gateway's MQTT session" in r.getMessage()]
    assert logged and logged[0].client_id == client_id  # type: ignore[attr-defined]

    async def back() -> bool:
        return gateway.connected

    await eventually(back, "the gateway reconnected", timeout=10)


async def test_a_gateway_stopped_and_started_again_is_no_takeover(
    start_gateway: StartGateway, mosquitto: Mosquitto
) -> None:
    first = await start_gateway(protocol="5")
    await first.stop()
    second = await start_gateway(protocol="5")
    await second.stop()
    metrics: Metrics = start_gateway.metrics  # type: ignore[attr-defined]
    assert takeovers(metrics) == 0
    assert first.gateway.session_problem is None and second.gateway.session_problem is None
