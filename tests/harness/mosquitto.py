"""A real Mosquitto broker for tests: own config and persistence in a temp dir, free port.

Fixture ``mosquitto`` (function scope: the broker starts in ~20 ms) yields a
:class:`Mosquitto` with ``host``, ``port``, ``url`` and ``restart()``. The broker
keeps persistent sessions across ``restart()`` (``persistence true``), queues up
to 100,000 messages per offline client and lets 1,000 be in flight, so a batch
is not limited to mosquitto's default 20 for MQTT 3.1.1 clients.

Fixture ``mosquitto_with_config`` starts brokers with a configuration of the
test's (e.g. one ``eldercare broker-config`` wrote), on a port from ``free_port()``.

A missing ``/usr/sbin/mosquitto`` fails the test: nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from eldercare.localservers import LocalServerError, TempMosquitto, free_port, require_mosquitto

Mosquitto = TempMosquitto
StartMosquitto = Callable[[str, int], Mosquitto]
"""(configuration, its listener's port) -> a running broker."""


def _require_binary() -> None:
    try:
        require_mosquitto()
    except LocalServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A fresh broker for one test."""
    _require_binary()
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto_with_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartMosquitto]:
    """``start(config, port)``: a broker with that configuration, stopped after the test."""
    _require_binary()
    started: list[Mosquitto] = []

    def start(config: str, port: int) -> Mosquitto:
        broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"), port=port, config=config)
        started.append(broker)
        broker.start()
        return broker

    try:
        yield start
    finally:
        for broker in started:
            broker.stop()


__all__ = ["Mosquitto", "StartMosquitto", "free_port", "mosquitto", "mosquitto_with_config"]
