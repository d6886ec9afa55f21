"""Issue 20 items 2 and 3, as an attacker works: real HTTP against ``eldercare
serve`` in its own process.

- Huge bodies (by Content-Length or chunked), with and without a token, are
  refused (401 / 413) before they are read: the server's peak memory stays put.
- Hundreds of slow clients sending partial headers against a server with few
  file handles: /healthz still answers, the slow ones are closed after the read
  timeout, and the log says so a few times, not once per connection.
"""

from __future__ import annotations

import selectors
import socket
import time
from pathlib import Path

import httpx

from tests.api.serve_process import ServeProcess, serve

MIB = 1024 * 1024
HUGE = 200 * MIB


def _send_body(
    port: int, path: str, size: int, headers: dict[str, str], *, chunked: bool = False
) -> tuple[int, bytes, int]:
    """POST ``size`` bytes of body, stopping when the server answers or closes;
    return (status, response body, body bytes the socket took)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {size}\r\n"
    piece = b"x" * MIB
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    response = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n")
        sock.setblocking(False)
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            deadline = time.monotonic() + 120
            closed = False
            while not closed and time.monotonic() < deadline:
                for _key, events in sel.select(timeout=1):
                    if events & selectors.EVENT_READ:
                        try:
                            data = sock.recv(65536)
                        except (ConnectionResetError, BlockingIOError):
                            data = b""
                        response += data
                        closed = not data
                    answered = b"\r\n\r\n" in response
                    if events & selectors.EVENT_WRITE and sent < size and not answered:
                        try:
                            sent += sock.send(frame)
                        except BlockingIOError:
                            pass
                        except (BrokenPipeError, ConnectionResetError):
                            closed = True
                    elif sent >= size and b"\r\n\r\n" not in response:
                        if chunked:
                            sock.setblocking(True)
                            sock.sendall(b"0\r\n\r\n")  # the last chunk
                            sock.setblocking(False)
                        sel.modify(sock, selectors.EVENT_READ)
                if b"\r\n\r\n" in response and _complete(response):
                    break
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), f"no HTTP response: {response[:200]!r}"
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2], sent


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_huge_bodies_are_refused_before_they_are_read(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        bearer = {"Authorization": f"Bearer {server.token()}"}
        home = {"id": "h1", "name": "Home one", "address": "1 Main St"}
        ok = httpx.post(f"{server.api}/api/v1/homes", json=home, headers=bearer, timeout=10)
        assert ok.status_code == 201, ok.text  # an ordinary body still goes through
        before = server.peak_rss_mib()

        cases = [
            ("no token, Content-Length", {}, False, 401),
            ("no token, chunked", {}, True, 401),
            ("token, Content-Length", bearer, False, 413),
            ("token, chunked", bearer, True, 413),
        ]
        for name, headers, chunked, expected in cases:
            status, body, sent = _send_body(
                server.port, "/api/v1/homes", HUGE, headers, chunked=chunked
            )
            assert status == expected, (name, status, body)
            assert b'"detail"' in body, (name, body)
            assert sent < HUGE // 4, f"{name}: the server took {sent // MIB} MiB before answering"
        grown = server.peak_rss_mib() - before
        # Four 200 MiB bodies; read whole, each would have added well over 200 MiB.
        assert grown < 40, f"peak memory grew by {grown:.0f} MiB"
        assert httpx.get(f"{server.api}/healthz", timeout=5).status_code == 200


def test_a_body_over_the_setting_is_refused_with_its_limit(tmp_path: Path) -> None:
    with serve(tmp_path, {"ELDERCARE_API_MAX_BODY": "2000"}) as server:
        bearer = {"Authorization": f"Bearer {server.token()}"}
        big = {"id": "h2", "name": "x" * 3000, "address": "1 Main St"}
        resp = httpx.post(f"{server.api}/api/v1/homes", json=big, headers=bearer, timeout=10)
        assert resp.status_code == 413
        assert resp.json() == {"detail": "request body too large: at most 2000 bytes"}
        # The login form is limited too, and answered by its route under the limit.
        login = httpx.post(
            f"{server.api}/api/v1/auth/token",
            data={"username": "admin", "password": "y" * 3000},
            timeout=10,
        )
        assert login.status_code == 413


def _slow_clients(port: int, count: int) -> list[socket.socket]:
    """Connections that send the start of a request and never finish its headers."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(sock)
    return socks


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def _flood_lines(server: ServeProcess) -> list[dict[str, object]]:
    return [
        line
        for line in server.lines()
        if str(line.get("msg", "")).startswith("socket.accept() out of system resource")
        or line.get("logger") == "eldercare.api.connections"
    ]


def test_slow_clients_do_not_starve_healthz(tmp_path: Path) -> None:
    # 512 file handles in all, 600 slow clients: without a cap the process runs
    # out of handles and stops accepting anyone.
    started = time.monotonic()
    with serve(tmp_path, {"ELDERCARE_API_READ_TIMEOUT": "3"}, open_files=512) as server:
        socks = _slow_clients(server.port, 600)
        try:
            for attempt in range(3):
                resp = httpx.get(f"{server.api}/healthz", timeout=5)
                assert resp.status_code == 200, (attempt, resp.text)
            # The oldest slow clients were closed to let others in...
            assert sum(_closed_by_server(s) for s in socks[:300]) >= 250
            # ...and the rest go when the read timeout (3 s) is over.
            deadline = time.monotonic() + 20
            while not all(_closed_by_server(s) for s in socks[-50:]):
                assert time.monotonic() < deadline, "slow clients were never closed"
                time.sleep(0.2)
            # The log tells what it held back once its second is over.
            deadline = time.monotonic() + 10
            while _closed_told(lines := _flood_lines(server)) < 600:
                assert time.monotonic() < deadline, f"the log tells {_closed_told(lines)} of 600"
                time.sleep(0.2)
        finally:
            for sock in socks:
                sock.close()
        elapsed = time.monotonic() - started
    assert len(lines) <= 3 * (elapsed + 2), f"{len(lines)} flood lines in {elapsed:.0f} s"
    assert not [line for line in lines if "socket.accept()" in str(line["msg"])]


def _closed_told(lines: list[dict[str, object]]) -> int:
    """The connections the log says were closed: the counts on its latest lines."""
    return sum(
        max((int(str(line.get(total, 0))) for line in lines), default=0)
        for total in ("evicted_total", "timed_out_total", "refused_total")
    )


def test_a_slow_client_is_closed_after_the_read_timeout(tmp_path: Path) -> None:
    with serve(tmp_path, {"ELDERCARE_API_READ_TIMEOUT": "1"}) as server:
        [slow] = _slow_clients(server.port, 1)
        with slow:
            # Dribbling a byte now and then does not extend the time it has.
            deadline = time.monotonic() + 15
            while not _closed_by_server(slow):
                assert time.monotonic() < deadline, "a slow client kept its connection"
                slow.setblocking(True)
                try:
                    slow.sendall(b"x")
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(0.3)
        # A client that sends its request at once is served, and keeps its connection
        # between requests (keep-alive).
        with httpx.Client(base_url=server.api, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/healthz").status_code == 200


def test_upgrade_requests_do_not_use_up_the_connections(tmp_path: Path) -> None:
    with serve(tmp_path, {"ELDERCARE_API_MAX_CONNECTIONS": "20"}) as server:
        for _ in range(40):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(
                    b"GET /api/v1/alerts/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                )
                assert sock.recv(100).startswith(b"HTTP/1.1 ")
        assert httpx.get(f"{server.api}/healthz", timeout=5).status_code == 200
