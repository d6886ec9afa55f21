"""Lines that come in floods go out at most once a second, with a count; times
printed on the console say their zone."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from eldercare.logs import FloodFilter, JsonFormatter, clock_time

ACCEPT = "socket.accept() out of system resource\nsocket: <asyncio.TransportSocket fd=7>"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _logger(flood: FloodFilter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(flood)
    logger = logging.getLogger("asyncio")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger, out


@pytest.fixture
def restore_asyncio_logger() -> object:
    logger = logging.getLogger("asyncio")
    saved = (list(logger.handlers), logger.propagate)
    yield None
    logger.handlers[:], logger.propagate = saved


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_asyncio_logger")
def test_accept_errors_go_out_once_a_second_with_the_count() -> None:
    clock = FakeClock()
    flood = FloodFilter(clock=clock)
    logger, out = _logger(flood)
    for second in range(3):
        for i in range(1000):  # 1,000 accept errors a second, as under a connection flood
            clock.now = 1000.0 + second + i / 1000
            logger.error(ACCEPT)
    lines = _lines(out)
    assert len(lines) == 3
    assert "suppressed" not in lines[0]
    assert [line["suppressed"] for line in lines[1:]] == [999, 999]
    assert all(str(line["msg"]).startswith(ACCEPT.splitlines()[0]) for line in lines)


@pytest.mark.usefixtures("restore_asyncio_logger")
def test_what_was_held_back_is_told_when_the_flood_stops() -> None:
    clock = FakeClock()
    flood = FloodFilter(clock=clock)
    logger, out = _logger(flood)
    for i in range(500):
        clock.now = 1000.0 + i / 1000
        logger.error(ACCEPT)
    assert flood.summaries() == []  # the second is not over yet
    clock.now = 1001.5
    for record in flood.summaries():
        logger.handle(record)
    assert flood.summaries() == []  # told once
    lines = _lines(out)
    assert len(lines) == 2
    assert lines[1]["suppressed"] == 499
    assert lines[1]["msg"] == (
        "499 more like this held back: socket.accept() out of system resource"
    )


@pytest.mark.usefixtures("restore_asyncio_logger")
def test_other_lines_are_never_held_back() -> None:
    clock = FakeClock()
    flood = FloodFilter(clock=clock)
    logger, out = _logger(flood)
    for i in range(50):
        logger.warning("alert %d raised: sos critical at h1", i)
    assert len(_lines(out)) == 50


def test_console_times_carry_their_zone() -> None:
    at = datetime(2026, 11, 26, 4, 0, 1, tzinfo=UTC)
    assert clock_time(at) == "04:00:01 UTC"
    assert clock_time(at.astimezone(ZoneInfo("Asia/Shanghai"))) == "12:00:01 UTC+08:00"
    assert clock_time(at.astimezone(ZoneInfo("America/St_Johns"))) == "00:30:01 UTC-03:30"
    with pytest.raises(ValueError):
        clock_time(datetime(2026, 11, 26, 4, 0, 1))
