"""The bench leaves no session behind on its broker: a drained session of parts
(a)/(b) left in place has every later message queued for it (see
``eldercare.bench.throughput.end_session``)."""

from __future__ import annotations

import pytest

from eldercare.bench.throughput import end_session, register_session
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_end_session_discards_the_session_register_session_left(
    mosquitto: Mosquitto, protocol: str
) -> None:
    register_session(mosquitto.port, "bench-t", protocol)
    assert end_session(mosquitto.port, "bench-t", protocol) is True  # it was there
    assert end_session(mosquitto.port, "bench-t", protocol) is False  # and now it is gone
