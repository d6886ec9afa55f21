"""Backup and restore of the store: ``eldercare db backup FILE`` / ``db restore FILE``.

TimescaleDB: ``pg_dump --format=custom`` of the database (the pg_dump of the
server's major version), restored the way TimescaleDB documents it: ``CREATE
EXTENSION timescaledb``, ``SELECT timescaledb_pre_restore()``, ``pg_restore``
(one transaction, stop at the first error), ``SELECT timescaledb_post_restore()``
(also after a failed restore, so the database does not stay in restoring mode).

SQLite: the sqlite3 online backup API, page by page, consistent while the
service writes; restore copies the file's pages back over the database.

A backup is written to ``FILE.partial`` and renamed when complete. A restore
refuses a database that has tables or other clients (stop the service first)
unless ``replace=True``, which wipes it first.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eldercare.store import POSTGRES_PREFIXES, SQLITE_PREFIX, sqlite_path

PG_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
CONNECT_TIMEOUT_S = 10


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why."""


def backup(database_url: str, file: Path) -> str:
    """Write a backup of the store at ``database_url`` to ``file``; say what was written."""
    partial = file.with_name(file.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if database_url.startswith(SQLITE_PREFIX):
            _sqlite_backup(Path(sqlite_path(database_url)), partial)
        elif database_url.startswith(POSTGRES_PREFIXES):
            _pg_backup(database_url, partial)
        else:
            raise BackupError(f"cannot back up {database_url.partition(':')[0]!r} databases")
        os.replace(partial, file)
    finally:
        partial.unlink(missing_ok=True)
    return f"wrote {file} ({file.stat().st_size:,} bytes)"


def restore(database_url: str, file: Path, *, replace: bool = False) -> str:
    """Restore ``file`` (a backup of the same backend) into the store at ``database_url``."""
    try:
        with file.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {file}: {exc.strerror}") from exc
    if database_url.startswith(SQLITE_PREFIX):
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{file} is not a SQLite backup ({_kind(head)})")
        _sqlite_restore(file, Path(sqlite_path(database_url)), replace)
    elif database_url.startswith(POSTGRES_PREFIXES):
        if not head.startswith(PG_MAGIC):
            raise BackupError(f"{file} is not a PostgreSQL backup made by pg_dump ({_kind(head)})")
        _pg_restore(database_url, file, replace)
    else:
        raise BackupError(f"cannot restore into {database_url.partition(':')[0]!r} databases")
    return f"restored {file}"


def _kind(head: bytes) -> str:
    if head.startswith(SQLITE_MAGIC):
        return "it is a SQLite database"
    if head.startswith(PG_MAGIC):
        return "it is a PostgreSQL dump"
    return "unknown format"


# --- SQLite ---------------------------------------------------------------------------


def _is_eldercare_sqlite(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    return row is not None


def _sqlite_backup(db: Path, out: Path) -> None:
    if not db.exists():
        raise BackupError(f"there is no SQLite database at {db}")
    src = sqlite3.connect(db)
    try:
        if not _is_eldercare_sqlite(src):
            raise BackupError(f"{db} is not an eldercare database (no schema_migrations table)")
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _sqlite_restore(file: Path, db: Path, replace: bool) -> None:
    src = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        check = src.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{file} is damaged: {check}")
        if not _is_eldercare_sqlite(src):
            raise BackupError(f"{file} is not an eldercare backup (no schema_migrations table)")
        dst = sqlite3.connect(db)
        try:
            tables = dst.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
            if tables.fetchone()[0] and not replace:
                raise BackupError(
                    f"{db} is not empty; stop the service and pass --replace to overwrite it"
                )
            src.backup(dst)  # every page of dst is replaced
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"SQLite restore from {file} failed: {exc}") from exc
    finally:
        src.close()


# --- PostgreSQL -----------------------------------------------------------------------


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment that carries it (so it
    shows in no process list)."""
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except psycopg.ProgrammingError as exc:
        raise BackupError(f"bad PostgreSQL URL: {exc}") from exc
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = password
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    return make_conninfo("", **params), env


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise BackupError(f"cannot reach PostgreSQL: {exc}") from exc


def _tool(name: str, url: str) -> str:
    """pg_dump / pg_restore of the server's major version (Debian keeps one per version)."""
    with _connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    major = row[0] if row else 0
    for path in (Path(f"/usr/lib/postgresql/{major}/bin/{name}"),):
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}):\n{done.stderr.strip()}")


def _pg_backup(url: str, out: Path) -> None:
    conninfo, env = _split_url(url)
    with _connect(url) as conn:
        if conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone() == (None,):
            raise BackupError("that database is not an eldercare store (no schema_migrations)")
    cmd = [_tool("pg_dump", url), "--format=custom", f"--file={out}", f"--dbname={conninfo}"]
    # TimescaleDB's catalog makes pg_dump warn about circular foreign keys; harmless.
    _run(cmd, env, "pg_dump")


def _pg_restore(url: str, file: Path, replace: bool) -> None:
    conninfo, env = _split_url(url)
    pg_restore = _tool("pg_restore", url)
    listing = subprocess.run(
        [pg_restore, "--list", str(file)], env=env, capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        raise BackupError(f"{file} is not a readable pg_dump archive: {listing.stderr.strip()}")
    if "TABLE public schema_migrations" not in listing.stdout:
        raise BackupError(f"{file} is not an eldercare backup (no schema_migrations table)")
    with _connect(url) as conn:
        _check_target(conn, replace)
    if replace:
        with _connect(url) as conn:  # DROP EXTENSION first in a fresh session
            _wipe(conn)
    with _connect(url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
    try:
        cmd = [pg_restore, "--single-transaction", "--exit-on-error", f"--dbname={conninfo}"]
        _run([*cmd, str(file)], env, "pg_restore")
    finally:
        with _connect(url) as conn:
            conn.execute("SELECT timescaledb_post_restore()")


def _check_target(conn: psycopg.Connection[tuple[object, ...]], replace: bool) -> None:
    others = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchone()
    if others and others[0]:
        raise BackupError(
            f"{others[0]} other connection(s) to this database: stop the service"
            " (systemctl stop eldercare) and try again"
        )
    tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    if tables and tables[0] and not replace:
        raise BackupError(
            f"the database is not empty ({tables[0]} tables); restore into an empty"
            " database, or pass --replace to wipe this one first"
        )


def _wipe(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute("DROP EXTENSION IF EXISTS timescaledb CASCADE")
    conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
    conn.execute(sql.SQL("CREATE SCHEMA public AUTHORIZATION pg_database_owner"))
    conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
    conn.execute("COMMENT ON SCHEMA public IS 'standard public schema'")
