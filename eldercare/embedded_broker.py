"""The embedded MQTT broker for the demo (amqtt, MQTT 3.1.1, in-process).

Production uses Mosquitto or any MQTT 5 broker through ELDERCARE_MQTT_URL.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

log = logging.getLogger("eldercare.broker")


class BrokerPortTaken(RuntimeError):
    def __init__(self, port: int) -> None:
        super().__init__(
            f"port {port} is taken, so the embedded MQTT broker cannot start; "
            "stop what uses it or set ELDERCARE_EMBEDDED_MQTT_PORT to a free port"
        )
        self.port = port


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def any_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._broker: Any = None

    async def start(self) -> None:
        if not port_is_free(self.host, self.port):
            raise BrokerPortTaken(self.port)
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
