"""Structured logs: one line per event; JSON when stderr is not a terminal.

Fields passed with ``extra={...}`` appear as JSON keys (or ``k=v`` on a
terminal). Configure once at start with ``setup_logging(settings)``. Every
time printed says its zone: log stamps are UTC (``12:00:01 UTC`` on a
terminal), times of a home carry their offset (``clock_time``).

Lines that come in floods (a full accept queue, slow or broken clients) go out
at most once a second each, with the number held back since the last one
(``FloodFilter``); every other line goes out as it comes.

No line says a secret or a whole phone number (``Redactor``, applied to each
finished line, message, fields and traceback alike): phone numbers in E.164
form (also URL-encoded, ``%2B86…``) are masked as ``+86138****5678``; the
secrets of the settings (passwords, the signing key, the Twilio token, the CN
providers' secrets, the passwords in the database and broker URLs) and those
made at run time (``add_secret``: the signing key kept in the database) are
replaced by ``***``, as is the password of any ``scheme://user:password@`` URL.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "flood_summary",
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of msg with terminal colours
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


_PHONE = re.compile(r"(?<!\d)(\+|%2B)(\d{7,15})(?!\d)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@\"']+:)([^\s@\"']+)@", re.IGNORECASE)
MIN_SECRET_LENGTH = 4
"""Shorter values are not redacted (they would mask ordinary words)."""


def mask_phone(digits: str) -> str:
    """``8613800005678`` -> ``86138****5678``: at least four digits hidden, the
    country and operator prefix and the last four kept (to tell people apart)."""
    tail = 4 if len(digits) >= 10 else 2
    head = max(1, min(5, len(digits) - tail - 4))
    return f"{digits[:head]}****{digits[-tail:]}"


class Redactor:
    """Masks phone numbers and replaces known secrets in finished log lines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, values: Iterable[str | None]) -> None:
        found = set(self._secrets)
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                found.add(value)
                found.add(json.dumps(value, ensure_ascii=False)[1:-1])  # as a JSON line has it
        with self._lock:  # longest first: a secret containing another goes whole
            self._secrets = tuple(sorted(found, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._secrets = ()

    def __call__(self, line: str) -> str:
        for secret in self._secrets:
            if secret in line:
                line = line.replace(secret, "***")
        line = _URL_PASSWORD.sub(r"\1***@", line)
        return _PHONE.sub(lambda m: m.group(1) + mask_phone(m.group(2)), line)


REDACT = Redactor()
"""The redactor of every line the formatters write."""


def add_secret(*values: str | None) -> None:
    """Never write these values in a log line (e.g. a key read from the database)."""
    REDACT.add(values)


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
        return REDACT(json.dumps(doc, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = clock_time(datetime.fromtimestamp(record.created, UTC))
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return REDACT(line)


def setup_logging(
    fmt: str = "auto",
    level: str = "INFO",
    stream: TextIO | None = None,
    secrets: Iterable[str | None] = (),
) -> None:
    """``secrets``: values no line may say (``Settings.secret_values()``)."""
    REDACT.add(secrets)
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    flood = FloodFilter()
    handler.addFilter(flood)
    _send_summaries(handler, flood)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The libraries' own chatter (every HTTP request, every MQTT packet of the
    # embedded broker) only at DEBUG, where it goes through the same redaction.
    quiet = logging.NOTSET if level.upper() == "DEBUG" else logging.WARNING
    for noisy in ("amqtt", "transitions", "uvicorn.access", "httpx", "httpcore", "twilio"):
        logging.getLogger(noisy).setLevel(quiet)


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
    ("uvicorn.error", "Unsupported upgrade request."),
    ("uvicorn.error", "No supported WebSocket library detected."),
    ("eldercare.api.connections", ""),
)
"""(logger, start of the message) of the lines that come in floods; an empty
start takes each message template of that logger as its own kind."""


class FloodFilter(logging.Filter):
    """At most one line of each flood kind per ``interval`` seconds. What was held
    back is counted: the next line of its kind carries ``suppressed=N``, or, if
    none comes, ``summaries()`` gives one line "N more like this …" once the
    interval is over (``setup_logging`` sends those every interval)."""

    def __init__(
        self,
        floods: Sequence[tuple[str, str]] = FLOODS,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self._floods = tuple(floods)
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], tuple[int, logging.LogRecord]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "flood_summary", False):
            return True
        kind = self._kind(record)
        if kind is None:
            return True
        with self._lock:
            now = self._clock()
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                count = self._held.get(kind, (0, record))[0]
                self._held[kind] = (count + 1, record)
                return False
            self._last[kind] = now
            held = self._held.pop(kind, None)
        if held is not None:
            record.suppressed = held[0]
        return True

    def summaries(self) -> list[logging.LogRecord]:
        """One line per flood kind whose held-back lines are due to be told."""
        out = []
        with self._lock:
            now = self._clock()
            for kind, (count, last) in list(self._held.items()):
                if now - self._last[kind] < self.interval:
                    continue
                del self._held[kind]
                self._last[kind] = now
                summary = logging.makeLogRecord(
                    {
                        **_extras(last),
                        "name": last.name,
                        "levelno": last.levelno,
                        "levelname": last.levelname,
                        "msg": "%d more like this held back: %s",
                        "args": (count, last.getMessage().splitlines()[0]),
                        "suppressed": count,
                        "flood_summary": True,
                    }
                )
                out.append(summary)
        return out

    def _kind(self, record: logging.LogRecord) -> tuple[str, str] | None:
        template = record.msg if isinstance(record.msg, str) else str(record.msg)
        for name, start in self._floods:
            if record.name == name and template.startswith(start):
                return (name, start or template)
        return None


class _SummarySender(threading.Thread):
    """Sends the flood filter's summaries through its handler, every interval."""

    def __init__(self) -> None:
        super().__init__(name="log-flood-summaries", daemon=True)
        self.target: tuple[logging.Handler, FloodFilter] | None = None

    def run(self) -> None:
        while True:
            target = self.target
            time.sleep(target[1].interval if target else 1.0)
            if target is not None:
                for record in target[1].summaries():
                    target[0].handle(record)


_sender: _SummarySender | None = None


def _send_summaries(handler: logging.Handler, flood: FloodFilter) -> None:
    global _sender
    if _sender is None:
        _sender = _SummarySender()
        _sender.start()
    _sender.target = (handler, flood)
