"""``eldercare db backup | restore | prune | backfill-vitals`` (``db migrate`` stays
in cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from eldercare.settings import Settings

COMMANDS = ("backup", "restore", "prune", "backfill-vitals")


def add_parsers(dbsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = dbsub.add_parser(
        "backup",
        help="write a backup of the store to FILE (pg_dump, or SQLite's backup API)",
        description="TimescaleDB: pg_dump --format=custom of the database; SQLite: an online "
        "copy of the database file. Safe while the service runs.",
    )
    p.add_argument("file", type=Path, help="where to write the backup")
    p = dbsub.add_parser(
        "restore",
        help="restore a backup made by 'db backup' (stop the service first)",
        description="TimescaleDB: timescaledb_pre_restore(), pg_restore in one transaction, "
        "timescaledb_post_restore(); then the schema is migrated. Refuses a database that "
        "has tables unless --replace.",
    )
    p.add_argument("file", type=Path, help="a file written by 'eldercare db backup'")
    p.add_argument(
        "--replace", action="store_true", help="wipe the database first (everything in it goes)"
    )
    p = dbsub.add_parser(
        "prune",
        help="drop readings and dead letters past their retention age now",
        description="What the service does at start and every ELDERCARE_RETENTION_EVERY "
        "seconds: readings older than ELDERCARE_RETENTION_DAYS (TimescaleDB: drop_chunks, "
        "whole daily chunks), vitals rollups older than ELDERCARE_VITALS_ROLLUP_RETENTION_DAYS "
        "(weekly chunks), dead letters older than ELDERCARE_DEAD_LETTER_RETENTION_DAYS.",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    p = dbsub.add_parser(
        "backfill-vitals",
        help="count the per-minute vitals rollups of readings stored before migration 0015",
        description="Once after upgrading a store that has readings: recounts the per-minute "
        "rollups the vitals history is served from, from the readings, an hour per "
        "transaction (intake waits at most that hour). Safe while the service runs and to "
        "run again (a minute's rollup becomes what its readings give).",
    )
    p.add_argument("--from", dest="start", type=_utc, help="RFC 3339; default: oldest reading")
    p.add_argument("--to", dest="end", type=_utc, help="RFC 3339, excluded; default: all")


def main(settings: Settings, args: argparse.Namespace) -> int:
    from eldercare.backup import BackupError, backup, restore
    from eldercare.store.base import StoreError

    try:
        if args.db_command == "backup":
            print(backup(settings.database_url, args.file))
            return 0
        if args.db_command == "restore":
            print(restore(settings.database_url, args.file, replace=args.replace))
            return asyncio.run(_migrate_after_restore(settings, args.file))
        if args.db_command == "prune":
            return asyncio.run(_prune(settings, args.dry_run))
        if args.db_command == "backfill-vitals":
            return asyncio.run(_backfill_vitals(settings, args.start, args.end))
    except (BackupError, StoreError) as exc:
        print(f"eldercare db {args.db_command}: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(args.db_command)


async def _migrate_after_restore(settings: Settings, file: str) -> int:
    from pathlib import Path

    from eldercare.cli_audit import audit_cli
    from eldercare.store import open_store

    store = await open_store(settings.database_url)
    try:
        applied = await store.migrate()
        # in the restored database: the log says when it was put back, and from what
        await audit_cli(store, "db.restore", f"file:{Path(file).name}", None)
    finally:
        await store.close()
    if applied:
        print(f"migrated the restored schema: {', '.join(applied)}")
    return 0


def _utc(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from exc
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


async def _backfill_vitals(settings: Settings, start: datetime | None, end: datetime | None) -> int:
    from eldercare.store import open_store

    store = await open_store(settings.database_url)
    try:
        await store.migrate()
        written = await store.backfill_vitals(start, end)
    finally:
        await store.close()
    print(f"vitals rollups backfilled: {written} device-minutes written")
    return 0


async def _prune(settings: Settings, dry_run: bool) -> int:
    from eldercare.clock import make_clock
    from eldercare.retention import RetentionPolicy, describe, prune_once
    from eldercare.store import open_store

    policy = RetentionPolicy.from_settings(settings)
    store = await open_store(settings.database_url)
    try:
        await store.migrate()
        result = await prune_once(store, policy, make_clock("wall").now(), dry_run=dry_run)
        if not dry_run:
            from eldercare.cli_audit import audit_cli

            said = describe(result, policy)
            await audit_cli(store, "db.prune", "database", None, {"result": said})
    finally:
        await store.close()
    print(describe(result, policy, dry_run=dry_run))
    return 0
