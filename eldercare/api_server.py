"""The API's HTTP server: uvicorn (h11) with a read timeout and a connection cap.

uvicorn has no timeout for a request being read: a client that opens a
connection and sends its headers a byte at a time keeps it (and a file handle)
for ever, and its ``limit_concurrency`` answers 503 to everyone, ``/healthz``
too, once slow clients hold the slots (Issue 20 item 3). Here:

- **read timeout**: a connection that has not sent a whole request (headers and
  body) within ``read_timeout`` seconds of its first byte (or of being opened)
  is closed; between requests uvicorn's keep-alive timeout (5 s) applies;
- **connection cap**: at ``max_connections`` open connections, a new one closes
  the oldest connection that has no request under way (one still sending its
  headers, or idle between requests), so a quick client (a probe, a screen) gets
  in while slow ones hold the rest; when every connection has a request under
  way, the new one is closed at once;
- no WebSocket upgrades (the API has none): an upgraded connection would leave
  the guard's count;
- the cap stays below the process's open-file limit (raised to its hard limit
  at start): ``FILE_RESERVE`` handles are kept for the store, the broker and the
  listening socket, and the accept backlog is ``ACCEPT_BACKLOG``, so a burst of
  connections accepted at once cannot run the process out of handles.

What it closes is logged by ``eldercare.api.connections``; the logging set-up
(``eldercare.logs.FloodFilter``) lets such a line through at most once a second,
with the number held back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import Iterator
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("eldercare.api.connections")

FILE_RESERVE = 256
"""Open-file handles kept for everything but API connections."""
ACCEPT_BACKLOG = 128
"""Connections the kernel queues and asyncio accepts in one go (uvicorn: 2048)."""
KEEP_ALIVE_S = 5
_REQUEST_UNDER_WAY = (h11.SEND_BODY, h11.DONE, h11.MUST_CLOSE)


class ConnectionGuard:
    """The open connections of one server, oldest first among the evictable."""

    def __init__(self, max_connections: int, read_timeout: float) -> None:
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.open: set[GuardedH11Protocol] = set()
        self.idle: dict[GuardedH11Protocol, None] = {}
        """Connections without a request under way, oldest first (a dict keeps order)."""
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0

    def admit(self, conn: GuardedH11Protocol) -> bool:
        if len(self.open) >= self.max_connections:
            victim = next(iter(self.idle), None)
            if victim is None:
                self.refused += 1
                log.warning(
                    "connection limit reached (%d, every one with a request under way): "
                    "refused a new connection",
                    self.max_connections,
                    extra={"refused_total": self.refused},
                )
                return False
            self.evicted += 1
            log.warning(
                "connection limit reached (%d): closed the oldest connection without a request",
                self.max_connections,
                extra={"evicted_total": self.evicted},
            )
            self.gone(victim)
            victim.close()
        self.open.add(conn)
        self.idle[conn] = None
        return True

    def busy(self, conn: GuardedH11Protocol) -> None:
        self.idle.pop(conn, None)

    def waiting(self, conn: GuardedH11Protocol) -> None:
        if conn in self.open:
            self.idle.setdefault(conn, None)

    def gone(self, conn: GuardedH11Protocol) -> None:
        self.open.discard(conn)
        self.idle.pop(conn, None)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol under a ``ConnectionGuard`` (set by ``protocol_for``)."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self.guard.admit(self):
            transport.abort()
            return
        self._admitted = True
        super().connection_made(transport)
        self._start_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._stop_read_timer()
        self.guard.gone(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:  # (the rest of) a request's headers still to come
            self.guard.waiting(self)
            self._start_read_timer()
        elif state is h11.SEND_BODY:
            self.guard.busy(self)
            self._start_read_timer()
        else:
            self.guard.busy(self)
            self._stop_read_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state not in _REQUEST_UNDER_WAY:
            self.guard.waiting(self)  # idle between requests: uvicorn's keep-alive timer runs

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def _start_read_timer(self) -> None:
        if self._read_timer is None:  # from the first byte: sending slowly does not extend it
            self._read_timer = self.loop.call_later(self.guard.read_timeout, self._too_slow)

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _too_slow(self) -> None:
        self._read_timer = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.guard.timed_out += 1
            log.warning(
                "closed a connection that sent no whole request within %g s",
                self.guard.read_timeout,
                extra={"timed_out_total": self.guard.timed_out},
            )
            self.transport.close()


def protocol_for(guard: ConnectionGuard) -> type[GuardedH11Protocol]:
    return type("ServerH11Protocol", (GuardedH11Protocol,), {"guard": guard})


def open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


def connection_cap(wanted: int, file_limit: int) -> int:
    """``wanted``, or less when the open-file limit cannot hold it and the reserve."""
    room = max(file_limit - FILE_RESERVE - ACCEPT_BACKLOG, 16)
    if wanted <= room:
        return wanted
    log.warning(
        "ELDERCARE_API_MAX_CONNECTIONS=%d does not fit the open-file limit (%d): "
        "the API takes at most %d connections (raise the limit, e.g. LimitNOFILE=)",
        wanted,
        file_limit,
        room,
    )
    return room


class ApiServer(uvicorn.Server):
    """uvicorn under a connection guard, without its own signal handlers: the
    service owns the shutdown order."""

    def __init__(self, config: uvicorn.Config, guard: ConnectionGuard) -> None:
        super().__init__(config)
        self.guard = guard

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_server(
    app: Any,
    *,
    host: str,
    port: int,
    max_connections: int,
    read_timeout: float,
) -> ApiServer:
    guard = ConnectionGuard(connection_cap(max_connections, open_file_limit()), read_timeout)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_for(guard),
        ws="none",  # the API has no WebSocket route; an upgrade would leave the guard
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
        timeout_keep_alive=KEEP_ALIVE_S,
        backlog=ACCEPT_BACKLOG,
        # X-Forwarded-For is read by the API only from ELDERCARE_TRUSTED_PROXIES
        # (dashboard_api/client_address.py); uvicorn's own handling would trust
        # 127.0.0.1 (or FORWARDED_ALLOW_IPS, often "*") and take what it says.
        proxy_headers=False,
    )
    return ApiServer(config, guard)
