"""A minimal MQTT 3.1.1 publisher over a plain TCP socket, for load generation.

paho-mqtt costs 117 to 135 µs of CPU per QoS 1 publish here (message objects,
locks, its in-flight bookkeeping, one socket write each), this about 2 µs.
``eldercare bench`` runs its load generator on the same two cores as the
service it measures, so at 10,000 homes (10,000 msg/s) paho took 85 to 91 % of
a core from the service, this 3.4 %. Real devices are not on the service's
machine: the generator has to cost as little as possible. ``WirePublisher``
encodes each PUBLISH into a buffer (a few µs) and writes the buffer with one
``sendall`` per ``flush()``; a daemon thread counts the PUBACKs and answers
for keep-alive.

What it does not do: subscribe, QoS 2, TLS, MQTT 5, reconnect, or resend after
a lost connection (it raises; a load run is then over). PUBACKs must come in
the order of the PUBLISHes (MQTT 3.1.1 §4.6); the reader checks their packet
ids and fails the connection on any other.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import NoReturn

from simulators.player import PlayError

FLUSH_AT = 256 * 1024
"""Bytes buffered before ``publish`` flushes by itself."""

MAX_UNACKED = 60_000
"""QoS 1 messages sent but not yet acknowledged: packet ids cycle 1..65,535, so
far fewer than that may be outstanding or two would share an id."""

NO_PROGRESS_S = 60.0
"""How long a full window may wait for the broker to acknowledge anything."""

CONNECT_TIMEOUT_S = 10.0

_TOPIC_CACHE = 100_000
"""Encoded topics kept (a load run uses a fixed set; beyond this the cache starts over)."""

_CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}

_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"


class WireError(PlayError):
    """The broker refused, closed or stopped answering the connection."""


def random_client_id(prefix: str = "load") -> str:
    """A client id no other run uses (a broker drops the older of two equal ids)."""
    return f"{prefix}-{os.urandom(6).hex()}"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    if len(data) > 0xFFFF:
        raise ValueError("an MQTT string is at most 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


class WirePublisher:
    """One MQTT 3.1.1 connection (clean session) that only publishes.

    ``publish`` has the call shape of paho's ``Client.publish`` but only
    buffers; call ``flush()`` to send (it also flushes at 256 KiB). Not
    thread-safe: publish and flush from one thread.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
    ) -> None:
        if not 0 <= keepalive <= 0xFFFF:
            raise ValueError("keepalive is 0..65535 seconds")
        self.host = host
        self.port = port
        self.client_id = client_id
        self.username = username
        self.password = password
        self.keepalive = keepalive
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._buf = bytearray()
        self._topics: dict[str, bytes] = {}
        self._wlock = threading.Lock()
        self._last_write = 0.0
        self._ping_sent: float | None = None
        self._pingresps = 0
        self._sent = 0
        self._qos1 = 0
        self._mid = 0
        """The last packet id given (ids cycle 1..65535, never 0)."""
        self._acked = 0
        self._next_ack = 1
        self._waiting = False
        self._wake = threading.Event()
        self._error: str | None = None
        self._closing = False
        self._closed = False

    @property
    def where(self) -> str:
        return f"the MQTT broker at {self.host}:{self.port}"

    @property
    def sent(self) -> int:
        """Messages published (any QoS; some may still be in the buffer)."""
        return self._sent

    @property
    def acked(self) -> int:
        """QoS 1 messages the broker has acknowledged."""
        return self._acked

    @property
    def unacked(self) -> int:
        return self._qos1 - self._acked

    # -- connection ---------------------------------------------------------

    def connect(self) -> None:
        """Send CONNECT and wait for CONNACK (10 s); start the reader thread."""
        if self._sock is not None or self._closed:
            raise WireError(f"{self.where}: connect() once per WirePublisher")
        try:
            sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise WireError(f"cannot reach {self.where}: {exc}") from exc
        try:
            rest = self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A blocking sendall to a broker that stopped reading gives up after this.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 60, 0))
        self._sock = sock
        self._last_write = time.monotonic()
        self._reader = threading.Thread(
            target=self._read_loop, args=(rest,), name=f"wire-{self.client_id}", daemon=True
        )
        self._reader.start()

    def _handshake(self, sock: socket.socket) -> bytes:
        flags = 0x02  # clean session
        payload = _utf8(self.client_id)
        if self.username is not None:
            flags |= 0x80
            payload += _utf8(self.username)
            if self.password is not None:
                flags |= 0x40
                payload += _utf8(self.password)
        body = b"\x00\x04MQTT\x04" + bytes([flags]) + self.keepalive.to_bytes(2, "big") + payload
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        got = bytearray()
        try:
            sock.sendall(b"\x10" + _varint(len(body)) + body)
            while len(got) < 4:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(4096)
                if not chunk:
                    raise WireError(f"{self.where} closed the connection before its CONNACK")
                got += chunk
        except TimeoutError as exc:
            raise WireError(
                f"{self.where} sent no CONNACK within {CONNECT_TIMEOUT_S:.0f} s"
            ) from exc
        except OSError as exc:
            raise WireError(f"cannot connect to {self.where}: {exc}") from exc
        if got[0] != 0x20 or got[1] != 2:
            raise WireError(f"{self.where} answered CONNECT with packet type {got[0] >> 4}")
        code = got[3]
        if code:
            reason = _CONNACK_CODES.get(code, "unknown reason")
            raise WireError(f"{self.where} refused the connection: CONNACK code {code} ({reason})")
        return bytes(got[4:])

    def close(self, timeout: float = 10) -> bool:
        """Flush, wait up to ``timeout`` for every QoS 1 acknowledgement, send
        DISCONNECT, close. True if every QoS 1 message was acknowledged."""
        if self._closed:
            return self._error is None and self.unacked == 0
        self._closed = True
        sock = self._sock
        if sock is None:
            return True
        with contextlib.suppress(PlayError):
            if self._error is None:
                self.flush()
                self._wait(lambda: self.unacked == 0, timeout, overall=True)
        all_acked = self._error is None and self.unacked == 0
        self._closing = True
        if self._error is None:
            with contextlib.suppress(OSError), self._wlock:
                sock.sendall(_DISCONNECT)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        if self._reader is not None:
            self._reader.join(timeout=5)
        sock.close()
        return all_acked

    def __enter__(self) -> WirePublisher:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- publishing ---------------------------------------------------------

    def publish(self, topic: str, payload: str | bytes, qos: int = 0, retain: bool = False) -> None:
        """Encode one PUBLISH into the buffer (sent by ``flush()``)."""
        if self._error is not None or self._sock is None or self._closed:
            self._raise_unusable()
        head = self._topics.get(topic)
        if head is None:
            head = self._topic(topic)
        data = payload.encode() if isinstance(payload, str) else payload
        buf = self._buf
        if qos == 0:
            size = len(head) + len(data)
            first = 0x31 if retain else 0x30
        elif qos == 1:
            if self._qos1 - self._acked >= MAX_UNACKED:
                self._wait_for_window()
            size = len(head) + 2 + len(data)
            first = 0x33 if retain else 0x32
        else:
            raise ValueError(f"QoS {qos} is not supported (0 or 1)")
        if size < 128:
            buf.append(first)
            buf.append(size)
        elif size <= 0x0FFFFFFF:
            buf.append(first)
            buf += _varint(size)
        else:
            raise ValueError(f"an MQTT packet is at most 268,435,455 bytes, not {size}")
        buf += head
        if qos:
            self._mid = mid = self._mid % 0xFFFF + 1
            buf.append(mid >> 8)
            buf.append(mid & 0xFF)
            self._qos1 += 1
        buf += data
        self._sent += 1
        if len(buf) >= FLUSH_AT:
            self.flush()

    def _topic(self, topic: str) -> bytes:
        if not topic or "+" in topic or "#" in topic or "\x00" in topic:
            raise ValueError(f"cannot publish to topic {topic!r}")
        head = _utf8(topic)
        if len(self._topics) >= _TOPIC_CACHE:
            self._topics.clear()
        self._topics[topic] = head
        return head

    def flush(self) -> None:
        """Write everything buffered with one ``sendall``."""
        if self._error is not None or self._sock is None:
            self._raise_unusable()
        buf = self._buf
        if not buf:
            return
        with self._wlock:
            try:
                self._sock.sendall(buf)
            except OSError as exc:
                self._fail(f"{self.where}: sending failed: {exc}")
                self._raise_unusable()
            self._last_write = time.monotonic()
        buf.clear()

    def _raise_unusable(self) -> NoReturn:
        if self._error is not None:
            raise WireError(self._error)
        if self._sock is None:
            raise WireError(f"{self.where}: not connected (call connect() first)")
        raise WireError(f"{self.where}: the connection is closed")

    def _wait_for_window(self) -> None:
        self.flush()
        self._wait(lambda: self._qos1 - self._acked < MAX_UNACKED, NO_PROGRESS_S)

    def _wait(self, done: Callable[[], bool], timeout: float, *, overall: bool = False) -> None:
        """Until ``done()``; error after ``timeout`` without a new acknowledgement
        (``overall``: after ``timeout`` in all, returning quietly)."""
        last = self._acked
        deadline = time.monotonic() + timeout
        self._wake.clear()
        self._waiting = True
        try:
            while not done():
                if self._error is not None:
                    raise WireError(self._error)
                left = deadline - time.monotonic()
                if left <= 0:
                    if overall:
                        return
                    raise WireError(
                        f"{self.where} acknowledged nothing for {timeout:.0f} s "
                        f"({self.unacked} QoS 1 messages outstanding)"
                    )
                self._wake.wait(min(left, 1.0))
                self._wake.clear()
                if not overall and self._acked != last:
                    last = self._acked
                    deadline = time.monotonic() + timeout
        finally:
            self._waiting = False

    # -- the reader thread --------------------------------------------------

    def _fail(self, error: str) -> None:
        if self._error is None and not self._closing:
            self._error = error
        self._wake.set()

    def _read_loop(self, rest: bytes) -> None:
        sock = self._sock
        assert sock is not None
        buf = bytearray(rest)
        poll = min(1.0, self.keepalive / 4) if self.keepalive else 1.0
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        try:
            while True:
                if sel.select(poll):
                    chunk = sock.recv(65536)
                    if not chunk:
                        self._fail(f"{self.where} closed the connection")
                        return
                    buf += chunk
                if buf:
                    self._parse(buf)
                    if self._error is not None:
                        return
                self._keep_alive()
        except OSError as exc:
            self._fail(f"{self.where}: the connection failed: {exc}")
        except Exception as exc:  # a bug here must not leave publish() waiting 60 s
            self._fail(f"{self.where}: the reader thread failed: {exc!r}")
            raise
        finally:
            sel.close()
            self._wake.set()

    def _parse(self, buf: bytearray) -> None:
        """Consume the complete packets at the start of ``buf``."""
        n = len(buf) >> 2
        # The usual case: nothing but PUBACKs (4 bytes each, 0x40 0x02 id id).
        if (
            n
            and not len(buf) & 3
            and buf[0::4].count(0x40) == n
            and buf[1::4].count(0x02) == n
            and (buf[2] << 8) | buf[3] == self._next_ack
            and (buf[-2] << 8) | buf[-1] == (self._next_ack + n - 2) % 0xFFFF + 1
        ):
            self._acknowledged(n, (buf[-2] << 8) | buf[-1])
            buf.clear()
            return
        pos = 0
        end = len(buf)
        while pos + 2 <= end:
            # remaining length (1..4 bytes)
            size = shift = 0
            i = pos + 1
            while True:
                if i >= end:
                    del buf[:pos]
                    return
                byte = buf[i]
                size |= (byte & 0x7F) << shift
                i += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    self._fail(f"{self.where} sent a malformed packet")
                    return
            if i + size > end:
                break
            kind = buf[pos] >> 4
            if kind == 4 and size == 2:  # PUBACK
                mid = (buf[i] << 8) | buf[i + 1]
                if mid != self._next_ack:
                    self._fail(
                        f"{self.where} acknowledged packet id {mid}, expected {self._next_ack}"
                    )
                    return
                self._acknowledged(1, mid)
            elif kind == 13:  # PINGRESP
                self._ping_sent = None
                self._pingresps += 1
            else:
                self._fail(f"{self.where} sent an unexpected packet (type {kind})")
                return
            pos = i + size
        del buf[:pos]

    def _acknowledged(self, n: int, last: int) -> None:
        if self._acked + n > self._qos1:
            self._fail(f"{self.where} acknowledged more messages than were sent")
            return
        self._acked += n
        self._next_ack = last % 0xFFFF + 1
        if self._waiting:
            self._wake.set()

    def _keep_alive(self) -> None:
        if not self.keepalive or self._closing:
            return
        now = time.monotonic()
        if self._ping_sent is not None and now - self._ping_sent > self.keepalive:
            self._fail(f"{self.where} did not answer PINGREQ within {self.keepalive} s")
            return
        if now - self._last_write < self.keepalive / 2:
            return
        # Never wait for the writer: if it holds the lock, it is writing anyway.
        if not self._wlock.acquire(blocking=False):
            return
        try:
            assert self._sock is not None
            self._sock.sendall(_PINGREQ)
            self._last_write = now
            if self._ping_sent is None:
                self._ping_sent = now
        except OSError as exc:
            self._fail(f"{self.where}: sending PINGREQ failed: {exc}")
        finally:
            self._wlock.release()
