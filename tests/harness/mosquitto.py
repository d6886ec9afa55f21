"""A real Mosquitto broker for tests: own config and persistence in a temp dir, free port.

Fixture ``mosquitto`` (function scope: the broker starts in ~20 ms) yields a
:class:`Mosquitto` with ``host``, ``port``, ``url`` and ``restart()``. The broker
keeps persistent sessions across ``restart()`` (``persistence true``), queues up
to 100,000 messages per offline client and lets 1,000 be in flight, so a batch
is not limited to mosquitto's default 20 for MQTT 3.1.1 clients.

A missing ``/usr/sbin/mosquitto`` fails the test: nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eldercare.localservers import LocalServerError, TempMosquitto, require_mosquitto

Mosquitto = TempMosquitto


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
