"""Retention: old readings dropped (drop_chunks on TimescaleDB, DELETE on SQLite),
recent ones kept, alerts untouched; the service's own scheduled loop; db prune."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerts.channels import ConsoleSms
from eldercare import cli
from eldercare.app import Service
from eldercare.clock import ManualClock
from eldercare.domain import DeadLetter
from eldercare.retention import RetentionLoop, RetentionPolicy, prune_once
from eldercare.settings import Settings, SettingsError
from eldercare.store import Store, open_store
from tests.e2e.helpers import eventually, free_port
from tests.ops.data import EPOCH, bed_reading, populate, provision, snapshot

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(readings_days=400, dead_letter_days=90)


def _ages(readings: list[Any], now: datetime = NOW) -> list[int]:
    return sorted({(now - r.ts).days for r in readings})


async def _old_and_new(store: Store) -> None:
    await populate(store, NOW)  # readings 0..8 days old, alerts, dead letters
    old = [bed_reading(NOW - timedelta(days=d), seq=90_000 + d) for d in (401, 450, 700)]
    old.append(bed_reading(NOW - timedelta(days=399), seq=80_399))
    await store.insert_readings(old)
    await store.insert_dead_letters(
        [DeadLetter("eldercare/v1/h1/z/event", b"[", "bad_json", "old", NOW - timedelta(days=91))]
    )


def _chunks(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM show_chunks('readings')").fetchone()
        assert row is not None
        return int(row[0])


async def test_old_readings_and_dead_letters_go_recent_ones_and_alerts_stay(
    store: Store, store_url: str
) -> None:
    await _old_and_new(store)
    before = await snapshot(store)
    assert _ages(before.readings) == [0, 1, 3, 8, 399, 401, 450, 700]
    chunks_before = _chunks(store_url) if store_url.startswith("postgres") else None

    result = await prune_once(store, POLICY, NOW)

    after = await snapshot(store)
    assert _ages(after.readings) == [0, 1, 3, 8, 399]
    assert after.readings == [r for r in before.readings if (NOW - r.ts).days < 400]
    assert after.alerts == before.alerts
    assert after.timelines == before.timelines
    assert after.steps == before.steps
    assert after.registry == before.registry
    assert [d.detail for d in after.dead_letters] == ["not JSON", "no such device"]
    assert result.dead_letters == 1
    if chunks_before is not None:  # TimescaleDB: three daily chunks dropped whole
        assert result.readings_rows is None
        assert len(result.readings_chunks) == 3
        assert _chunks(store_url) == chunks_before - 3
    else:
        assert result.readings_rows == 3
    # New readings still go in, and a second run finds nothing more.
    assert await store.insert_readings([bed_reading(NOW, seq=123_456)]) == 1
    again = await prune_once(store, POLICY, NOW)
    assert (again.readings_chunks, again.readings_rows or 0, again.dead_letters) == ([], 0, 0)


async def test_dry_run_says_what_would_go_and_removes_nothing(store: Store) -> None:
    await _old_and_new(store)
    before = await snapshot(store)
    result = await prune_once(store, POLICY, NOW, dry_run=True)
    assert len(result.readings_chunks) == 3 or result.readings_rows == 3
    assert result.dead_letters == 1
    assert await snapshot(store) == before


async def test_zero_days_keeps_for_ever(store: Store) -> None:
    await _old_and_new(store)
    before = await snapshot(store)
    result = await prune_once(store, RetentionPolicy(0, 0), NOW)
    assert (result.readings_chunks, result.readings_rows or 0, result.dead_letters) == ([], 0, 0)
    assert await snapshot(store) == before


def test_settings_take_retention_ages_and_refuse_negative_ones() -> None:
    settings = Settings.load(env={"ELDERCARE_RETENTION_DAYS": "30"})
    assert RetentionPolicy.from_settings(settings) == RetentionPolicy(30, 90, 3600)
    assert Settings.load(env={}).retention_days == 400
    with pytest.raises(SettingsError, match="RETENTION_DAYS"):
        Settings.load(env={"ELDERCARE_DEAD_LETTER_RETENTION_DAYS": "-1"})
    with pytest.raises(SettingsError, match="RETENTION_EVERY"):
        Settings.load(env={"ELDERCARE_RETENTION_EVERY": "0"})


async def test_loop_runs_at_start_then_once_per_interval_of_its_clock(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'loop.db'}")
    try:
        await store.migrate()
        await provision(store)
        clock = ManualClock(NOW)
        loop = RetentionLoop(store, clock, RetentionPolicy(400, 90, every_s=3600))

        async def add_old(seq: int) -> None:
            await store.insert_readings([bed_reading(clock.now() - timedelta(days=500), seq)])

        await add_old(1)
        assert await loop.run_due() is not None  # at start
        assert await store.count_readings() == 0
        await add_old(2)
        clock.advance(59 * 60)
        assert await loop.run_due() is None  # not due yet
        assert await store.count_readings() == 1
        clock.advance(60)
        result = await loop.run_due()  # an hour after the first run
        assert result is not None and result.readings_rows == 1
        assert await store.count_readings() == 0
    finally:
        await store.close()


async def test_service_prunes_by_itself_at_start(mosquitto: Any, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'svc.db'}"
    store = await open_store(db)
    try:
        await store.migrate()
        await provision(store)
        now = datetime.now(UTC)
        await store.insert_readings(
            [bed_reading(now - timedelta(days=30), 1), bed_reading(now - timedelta(hours=1), 2)]
        )
    finally:
        await store.close()
    port = free_port()
    settings = Settings.load(env={}).with_(
        mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
        database_url=db,
        api_port=port,
        admin_password="s3cret-admin-pw",
        mqtt_client_id=f"gw-{port}",
        retention_days=7.0,
        spool_path=str(tmp_path / "spool.db"),
    )
    console = ConsoleSms()
    service = Service(settings, sms=console, voice=console)
    async with service:
        task = asyncio.create_task(service.run())

        async def pruned() -> list[Any] | None:
            left = await service.store.readings_since(EPOCH)
            return left if len(left) == 1 else None

        left = await eventually(pruned, timeout=15)
        assert left[0].seq == 2
        assert service.metrics.value("eldercare_retention_runs_total") == 1
        service.request_stop()
        await asyncio.wait_for(task, 15)


async def test_db_prune_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    store = await open_store(db)
    try:
        await store.migrate()
        await provision(store)
        now = datetime.now(UTC)
        await store.insert_readings(
            [bed_reading(now - timedelta(days=500), 1), bed_reading(now - timedelta(days=1), 2)]
        )
    finally:
        await store.close()
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", db)
    monkeypatch.setenv("ELDERCARE_LOG_FORMAT", "text")
    assert await asyncio.to_thread(cli.main, ["db", "prune", "--dry-run"]) == 0
    assert "readings older than 400 days: 1 would be deleted" in capsys.readouterr().out
    assert await asyncio.to_thread(cli.main, ["db", "prune"]) == 0
    out = capsys.readouterr().out
    assert "readings older than 400 days: 1 deleted" in out
    assert "dead letters older than 90 days: 0 deleted" in out
    store = await open_store(db)
    try:
        assert [r.seq for r in await store.readings_since(EPOCH)] == [2]
    finally:
        await store.close()
