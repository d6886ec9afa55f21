"""A real PostgreSQL 15 + TimescaleDB for the tests, on a free port in a temp dir.

``pg_server`` (session) starts it and yields its base URL; ``pg_url`` makes a
fresh database per test; ``pg_plain_server`` is a second server without
TimescaleDB loaded; ``store`` is a migrated store on each backend.
PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from eldercare.localservers import (
    TIMESCALEDB_CONTROL,
    LocalServerError,
    TempPostgres,
    start_postgres,
    stop_postgres,
)
from eldercare.store import Store, open_store

PgServer = TempPostgres


def _start(timescaledb: bool) -> TempPostgres:
    try:
        return start_postgres(timescaledb)
    except LocalServerError as exc:
        pytest.fail(str(exc), pytrace=False)


_stop = stop_postgres


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
