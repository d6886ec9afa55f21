"""Backup and restore of the store through the command line, on the harness's real
TimescaleDB and on SQLite: dump, wipe, restore, and the store API gives back the
same registry, alerts, timelines, escalation steps, readings and dead letters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from eldercare import cli
from eldercare.domain import AlertKind, Finding, Severity
from eldercare.store import open_store
from tests.ops.data import bed_reading, populate, snapshot

NOW = datetime.now(UTC).replace(microsecond=0)


async def _populated(url: str) -> object:
    store = await open_store(url)
    try:
        await store.migrate()
        await populate(store, NOW)
        return await snapshot(store)
    finally:
        await store.close()


async def _snapshot(url: str) -> object:
    store = await open_store(url)
    try:
        return await snapshot(store)
    finally:
        await store.close()


def _db(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str
) -> tuple[int, str]:
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", url)
    monkeypatch.setenv("ELDERCARE_LOG_FORMAT", "text")
    code = cli.main(["db", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _recreate(server: str, name: str) -> None:
    """Wipe: drop the database and make it again, empty."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _pg_facts(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        facts = conn.execute(
            "SELECT (SELECT count(*) FROM show_chunks('readings')),"
            " (SELECT count(*) FROM timescaledb_information.hypertables"
            "   WHERE hypertable_name = 'readings'),"
            " current_setting('timescaledb.restoring')"
        ).fetchone()
        assert facts is not None
        return tuple(facts)


@pytest.fixture
def pg_db(pg_server: str) -> Iterator[tuple[str, str]]:
    name = f"bk_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{pg_server}/{name}", name
    finally:
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.mark.postgres
async def test_timescaledb_backup_wipe_restore_gives_the_same_store(
    pg_server: str,
    pg_db: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, name = pg_db
    before = await _populated(url)
    facts = _pg_facts(url)
    assert facts[:2] == (4, 1)  # readings on four days: four chunks of the hypertable
    file = tmp_path / "store.dump"

    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, "backup", str(file))
    assert code == 0, out
    assert f"wrote {file}" in out

    _recreate(pg_server, name)
    assert await asyncio.to_thread(_pg_tables, url) == 0

    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, "restore", str(file))
    assert code == 0, out
    assert await _snapshot(url) == before
    assert _pg_facts(url) == (4, 1, "off")  # a hypertable again, not left restoring

    # The restored store goes on: new readings in a new chunk, new alerts after the old.
    store = await open_store(url)
    try:
        assert await store.insert_readings([bed_reading(NOW - timedelta(days=20), 7_777)]) == 1
        finding = Finding("h1", "h1", AlertKind.WATER_LEAK, Severity.HIGH, NOW, "k-after")
        change = await store.record_finding(finding, 600)
        assert change is not None and change.created
        assert change.alert.id == max(a.id or 0 for a in before.alerts) + 1  # type: ignore[attr-defined]
    finally:
        await store.close()
    assert _pg_facts(url)[0] == 5


def _pg_tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.postgres
async def test_timescaledb_restore_over_a_store_needs_replace(
    pg_db: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = pg_db
    before = await _populated(url)
    file = tmp_path / "store.dump"
    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, "backup", str(file))
    assert code == 0, out
    store = await open_store(url)  # the store moves on after the backup
    try:
        await store.insert_readings([bed_reading(NOW, 99_999)])
        await store.delete_contact((await store.list_contacts())[0].id)
    finally:
        await store.close()

    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, "restore", str(file))
    assert code == 1
    assert "not empty" in out and "--replace" in out
    assert await _snapshot(url) != before  # refused: nothing changed

    args = ("restore", str(file), "--replace")
    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, *args)
    assert code == 0, out
    assert await _snapshot(url) == before


async def test_sqlite_backup_wipe_restore_gives_the_same_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    url = f"sqlite:///{path}"
    before = await _populated(url)
    file = tmp_path / "demo.backup"
    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, "backup", str(file))
    assert code == 0, out
    for extra in ("", "-wal", "-shm"):  # wipe
        Path(f"{path}{extra}").unlink(missing_ok=True)

    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, "restore", str(file))
    assert code == 0, out
    assert await _snapshot(url) == before

    code, out = await asyncio.to_thread(_db, monkeypatch, capsys, url, "restore", str(file))
    assert code == 1 and "--replace" in out  # over a store: refused
    code, out = await asyncio.to_thread(
        _db, monkeypatch, capsys, url, "restore", str(file), "--replace"
    )
    assert code == 0, out
    assert await _snapshot(url) == before


async def test_a_backup_of_the_other_backend_or_no_backup_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'a.db'}"
    await _populated(sqlite_url)
    file = tmp_path / "a.backup"
    assert _db(monkeypatch, capsys, sqlite_url, "backup", str(file))[0] == 0
    pg_url = "postgresql://nobody@127.0.0.1:1/none"
    code, out = _db(monkeypatch, capsys, pg_url, "restore", str(file))
    assert code == 1 and "is not a PostgreSQL backup made by pg_dump" in out
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    other = f"sqlite:///{tmp_path / 'b.db'}"
    code, out = _db(monkeypatch, capsys, other, "restore", str(junk))
    assert code == 1 and "is not a SQLite backup (unknown format)" in out
    code, out = _db(monkeypatch, capsys, other, "backup", str(tmp_path / "x"))
    assert code == 1 and "there is no SQLite database" in out
