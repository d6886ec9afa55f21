"""A real PostgreSQL 15 + TimescaleDB for the tests, on a free port in a temp dir.

``pg_server`` (session) starts it and yields its base URL; ``pg_url`` makes a
fresh database per test; ``pg_plain_server`` is a second server without
TimescaleDB loaded; ``store`` is a migrated store on each backend.
PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from eldercare.store import Store, open_store

PG_BIN = Path("/usr/lib/postgresql/15/bin")
TIMESCALEDB_CONTROL = Path("/usr/share/postgresql/15/extension/timescaledb.control")
START_TIMEOUT_S = 30.0


@dataclass
class PgServer:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def url(self, dbname: str = "postgres") -> str:
        return f"{self.base_url}/{dbname}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _start(timescaledb: bool) -> PgServer:
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"PostgreSQL 15 is not installed ({PG_BIN / 'postgres'} is missing)")
    root = Path(tempfile.mkdtemp(prefix="eldercare-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for path in (root, sock):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
    done = subprocess.run(_as_postgres() + initdb, capture_output=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {done.stderr.decode(errors='replace')}")
    port = _free_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    if timescaledb:
        options |= {
            "shared_preload_libraries": "timescaledb",
            "timescaledb.license": "apache",
            "timescaledb.max_background_workers": "0",
            "timescaledb.telemetry_level": "off",
        }
    cmd = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock)]
    for key, value in options.items():
        cmd += ["-c", f"{key}={value}"]
    log = root / "postgres.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(_as_postgres() + cmd, stdout=out, stderr=subprocess.STDOUT)
    server = PgServer(root, port, proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return server
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")
                _stop(server)
                pytest.fail(f"PostgreSQL did not start on port {port}:\n{text}")
            time.sleep(0.1)


def _stop(server: PgServer) -> None:
    """Fast shutdown (SIGINT) of the postmaster we started, then remove its files."""
    pid_file = server.root / "data" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        pid = server.proc.pid
    try:
        os.kill(pid, signal.SIGINT)
        server.proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL 15 server with TimescaleDB; yields its base URL (no database)."""
    if not TIMESCALEDB_CONTROL.exists():
        pytest.fail(
            f"TimescaleDB is not installed ({TIMESCALEDB_CONTROL} is missing);"
            " run scripts/install-timescaledb.sh first"
        )
    server = _start(timescaledb=True)
    try:
        yield server.base_url
    finally:
        _stop(server)


@pytest.fixture(scope="session")
def pg_plain_server() -> Iterator[str]:
    """A second PostgreSQL 15 server without TimescaleDB in shared_preload_libraries."""
    server = _start(timescaledb=False)
    try:
        yield server.base_url
    finally:
        _stop(server)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on ``pg_server``, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{pg_server}/{name}"
    finally:
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(query.format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A migrated store on each backend, closed after the test."""
    opened = await open_store(store_url)
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.close()
