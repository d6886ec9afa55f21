"""Structured logs: one line per event; JSON when stderr is not a terminal.

Fields passed with ``extra={...}`` appear as JSON keys (or ``k=v`` on a
terminal). Configure once at start with ``setup_logging(settings)``. Every
time printed says its zone: log stamps are UTC (``12:00:01 UTC`` on a
terminal), times of a home carry their offset (``clock_time``).

Lines that come in floods (a full accept queue, slow or broken clients) go out
at most once a second each, with the number held back since the last one
(``FloodFilter``); every other line goes out as it comes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of msg with terminal colours
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(_extras(record))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = clock_time(datetime.fromtimestamp(record.created, UTC))
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(fmt: str = "auto", level: str = "INFO", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(FloodFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("amqtt", "transitions", "uvicorn.access", "httpx", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def clock_time(at: datetime) -> str:
    """``20:10:00 UTC+08:00``, ``12:00:01 UTC``: a time of day that says its zone."""
    offset = at.utcoffset()
    if offset is None:
        raise ValueError("a time without a zone cannot be printed with one")
    minutes = int(offset.total_seconds()) // 60
    zone = "UTC"
    if minutes:
        sign = "+" if minutes > 0 else "-"
        zone += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{at.strftime('%H:%M:%S')} {zone}"


FLOODS: Sequence[tuple[str, str]] = (
    ("asyncio", "socket.accept() out of system resource"),
    ("uvicorn.error", "Invalid HTTP request received."),
    ("uvicorn.error", "Exceeded concurrency limit."),
    ("eldercare.api.connections", ""),
)
"""(logger, start of the message) of the lines that come in floods; an empty
start takes each message template of that logger as its own kind."""


class FloodFilter(logging.Filter):
    """At most one line of each flood kind per ``interval`` seconds; the line that
    goes out carries ``suppressed``: how many of its kind were held back before it."""

    def __init__(
        self,
        floods: Sequence[tuple[str, str]] = FLOODS,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._floods = tuple(floods)
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = self._kind(record)
        if kind is None:
            return True
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            record.suppressed = held
        return True

    def _kind(self, record: logging.LogRecord) -> tuple[str, str] | None:
        template = record.msg if isinstance(record.msg, str) else str(record.msg)
        for name, start in self._floods:
            if record.name == name and template.startswith(start):
                return (name, start or template)
        return None
