"""SQLite backend, base half: connection, life cycle, row mapping and intake.

stdlib sqlite3 in WAL mode, driven from one worker thread.

Every call runs on a single-thread executor that owns the connection, so the
event loop never blocks and the connection is never shared between threads.
Timestamps are ISO-8601 UTC text with microseconds; they sort as text.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, Self, TypeVar

from eldercare.domain import (
    Alert,
    AlertKind,
    AlertStatus,
    Contact,
    DeadLetter,
    Device,
    DeviceKind,
    DeviceLiveness,
    Home,
    Outcome,
    Reading,
    Resident,
    Role,
    Severity,
    TimelineEntry,
    User,
)
from eldercare.store._common import (
    ASSIGNED_TS_WINDOW,
    NO_SEQ,
    load_migrations,
    require_aware,
    unique_in_batch,
)
from eldercare.store._vitals_sql import Dialect, rollup_upsert
from eldercare.store.base import (
    Conflict,
    LivenessUpdate,
    NotFound,
    StoreError,
    StoreUnavailable,
)

P = ParamSpec("P")
T = TypeVar("T")

ALERT_COLS = (
    "id, home_id, subject, kind, severity, status, raised_at, last_seen_at, response_deadline,"
    " count, message, device_id, resident_id, responder, outcome, updated_at, organisation_id"
)


INSERT_READING = (
    "INSERT OR IGNORE INTO readings"
    " (home_id, device_id, kind, ts, received_at, seq, battery, fields)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _sqlite_value(alias: str, metric: str) -> str:
    # REAL (* 1.0), so that a sum of integers divides as floats
    return (
        f"CASE WHEN json_type({alias}.fields, '$.{metric}') IN ('integer', 'real')"
        f" THEN json_extract({alias}.fields, '$.{metric}') * 1.0 END"
    )


SQLITE_VITALS = Dialect(
    minute="strftime('%Y-%m-%dT%H:%M:00.000000+00:00', s.ts)",
    bucket="(CAST(strftime('%s', p.t) AS INTEGER) / {b}) * {b}",
    value=_sqlite_value,
    param=lambda name: f":{name}",
)

ROLL_UP_INSERTED = rollup_upsert(
    SQLITE_VITALS,
    "(SELECT device_id, ts, fields FROM readings WHERE rowid IN (SELECT value FROM json_each(?)))",
)
"""The rollups of the readings just inserted (their rowids as a JSON array)."""


def _ts(dt: datetime) -> str:
    return require_aware(dt).astimezone(UTC).isoformat(timespec="microseconds")


def _opt_ts(dt: datetime | None) -> str | None:
    return None if dt is None else _ts(dt)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _opt_dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        id=row["id"],
        home_id=row["home_id"],
        subject=row["subject"],
        kind=AlertKind(row["kind"]),
        severity=Severity(row["severity"]),
        status=AlertStatus(row["status"]),
        raised_at=_dt(row["raised_at"]),
        last_seen_at=_dt(row["last_seen_at"]),
        response_deadline=_dt(row["response_deadline"]),
        count=row["count"],
        message=row["message"],
        device_id=row["device_id"],
        resident_id=row["resident_id"],
        responder=row["responder"],
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        updated_at=_opt_dt(row["updated_at"]),
        organisation_id=row["organisation_id"],
    )


def _home(row: sqlite3.Row) -> Home:
    return Home(
        row["id"],
        row["name"],
        row["address"],
        row["timezone"],
        json.loads(row["rules"]),
        row["organisation_id"],
    )


def _resident(row: sqlite3.Row) -> Resident:
    return Resident(row["id"], row["home_id"], row["name"], json.loads(row["limits"]))


def _device(row: sqlite3.Row) -> Device:
    source = row["source"]
    return Device(
        row["id"],
        row["home_id"],
        DeviceKind(row["kind"]),
        row["resident_id"],
        row["location"],
        None if source is None else json.loads(source),
    )


def _contact(row: sqlite3.Row) -> Contact:
    return Contact(
        row["id"],
        row["home_id"],
        row["name"],
        row["phone"],
        row["language"],
        row["priority"],
        row["sms_provider"],
    )


def _user(row: sqlite3.Row) -> User:
    return User(
        row["username"],
        row["password_hash"],
        Role(row["role"]),
        row["phone"],
        row["token_version"],
        row["organisation_id"],
    )


def _liveness(row: sqlite3.Row) -> DeviceLiveness:
    online = row["online"]
    return DeviceLiveness(
        row["id"],
        _opt_dt(row["last_seen"]),
        row["battery"],
        None if online is None else bool(online),
    )


def _timeline(row: sqlite3.Row) -> TimelineEntry:
    return TimelineEntry(
        alert_id=row["alert_id"],
        at=_dt(row["at"]),
        event=row["event"],
        actor=row["actor"],
        details=json.loads(row["details"]),
        id=row["id"],
    )


def _statements(script: str) -> Iterator[str]:
    """Split a script into complete statements (sqlite3.complete_statement)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if buf.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()
    ):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buf!r}")


class SQLiteBase:
    """Connection, migrations and intake; SQLiteStore adds registry and alerts."""

    def __init__(self, path: str, executor: ThreadPoolExecutor, conn: sqlite3.Connection) -> None:
        self.path = path
        self._executor = executor
        self._conn = conn
        self._closed = False

    @classmethod
    async def open(cls, path: str, busy_timeout_ms: int = 5000) -> Self:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, path, busy_timeout_ms)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(path, executor, conn)

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._closed:
            raise StoreUnavailable(f"the SQLite store at {self.path} is closed")
        loop = asyncio.get_running_loop()
        call = functools.partial(_guard, self.path, functools.partial(fn, *args, **kwargs))
        return await loop.run_in_executor(self._executor, call)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- life cycle ---------------------------------------------------------------

    async def migrate(self) -> list[str]:
        return await self._run(self._migrate)

    def _migrate(self) -> list[str]:
        conn = self._conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied: list[str] = []
        for migration in load_migrations("sqlite"):
            with self._tx():
                done = conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
                ).fetchone()
                if done:
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, _ts(datetime.now(UTC))),
                )
            applied.append(migration.name)
        return applied

    async def ping(self) -> None:
        await self._run(lambda: self._conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        self._closed = True
        try:
            await loop.run_in_executor(self._executor, self._conn.close)
        finally:
            self._executor.shutdown(wait=True)

    # --- registry helpers -----------------------------------------------------------

    def _one(self, sql: str, params: Sequence[Any], missing: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        if row is None:
            raise NotFound(missing)
        return row

    def _exists(self, table: str, key_col: str, key: Any) -> bool:
        sql = f"SELECT 1 FROM {table} WHERE {key_col} = ?"
        return self._conn.execute(sql, (key,)).fetchone() is not None

    def _update(self, table: str, key_col: str, key: Any, changes: dict[str, Any]) -> None:
        if not changes:
            return
        sets = ", ".join(f"{col} = ?" for col in changes)
        sql = f"UPDATE {table} SET {sets} WHERE {key_col} = ?"
        self._conn.execute(sql, (*changes.values(), key))

    def _check_organisation(self, organisation_id: str, what: str) -> None:
        if not self._exists("organisations", "id", organisation_id):
            raise Conflict(f"{what} names organisation {organisation_id!r}, which does not exist")

    def _check_home(self, home_id: str, what: str) -> None:
        if not self._exists("homes", "id", home_id):
            raise Conflict(f"{what} names home {home_id!r}, which does not exist")

    def _check_device_refs(self, device: Device) -> None:
        what = f"device {device.id!r}"
        self._check_home(device.home_id, what)
        if device.resident_id is None:
            return
        row = self._conn.execute(
            "SELECT home_id FROM residents WHERE id = ?", (device.resident_id,)
        ).fetchone()
        if row is None:
            raise Conflict(f"{what} names resident {device.resident_id!r}, which does not exist")
        if row["home_id"] != device.home_id:
            raise Conflict(
                f"{what} is in home {device.home_id!r} but resident {device.resident_id!r}"
                f" lives in home {row['home_id']!r}"
            )

    # --- intake ---------------------------------------------------------------------

    async def insert_readings(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        return await self._run(self._insert_readings, unique_in_batch(readings))

    def _insert_readings(self, batch: list[Reading]) -> int:
        with self._tx() as conn:
            rows = []
            for r in batch:
                if r.ts_assigned and r.seq is not None:
                    found = conn.execute(
                        "SELECT 1 FROM readings WHERE device_id = ? AND seq = ?"
                        " AND ts BETWEEN ? AND ? LIMIT 1",
                        (
                            r.device_id,
                            r.seq,
                            _ts(r.ts - ASSIGNED_TS_WINDOW),
                            _ts(r.ts + ASSIGNED_TS_WINDOW),
                        ),
                    ).fetchone()
                    if found:
                        continue
                rows.append(
                    (
                        r.home_id,
                        r.device_id,
                        r.kind.value,
                        _ts(r.ts),
                        _ts(r.received_at),
                        NO_SEQ if r.seq is None else r.seq,
                        r.battery,
                        _json(r.fields),
                    )
                )
            inserted: list[int | None] = []
            for row in rows:
                cur = conn.execute(INSERT_READING, row)
                if cur.rowcount > 0:
                    inserted.append(cur.lastrowid)
            if inserted:
                conn.execute(ROLL_UP_INSERTED, (json.dumps(inserted),))
            return len(inserted)

    async def count_readings(self, device_id: str | None = None) -> int:
        return await self._run(self._count_readings, device_id)

    def _count_readings(self, device_id: str | None) -> int:
        if device_id is None:
            row = self._conn.execute("SELECT count(*) FROM readings").fetchone()
        else:
            sql = "SELECT count(*) FROM readings WHERE device_id = ?"
            row = self._conn.execute(sql, (device_id,)).fetchone()
        return int(row[0])

    async def insert_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            await self._run(self._insert_dead_letters, letters)

    def _insert_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO dead_letters (received_at, topic, payload, reason, detail,"
                " payload_length) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (_ts(d.received_at), d.topic, d.payload, d.reason, d.detail, d.payload_length)
                    for d in letters
                ],
            )

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        sql = "SELECT * FROM dead_letters ORDER BY received_at DESC, id DESC LIMIT ?"
        rows = await self._run(lambda: self._conn.execute(sql, (max(limit, 0),)).fetchall())
        return [
            DeadLetter(
                r["topic"],
                bytes(r["payload"]),
                r["reason"],
                r["detail"],
                _dt(r["received_at"]),
                r["payload_length"],
            )
            for r in rows
        ]

    async def update_liveness(self, updates: Sequence[LivenessUpdate]) -> None:
        if updates:
            await self._run(self._update_liveness, updates)

    def _update_liveness(self, updates: Sequence[LivenessUpdate]) -> None:
        with self._tx() as conn:
            conn.executemany(
                "UPDATE devices SET last_seen = COALESCE(?, last_seen),"
                " battery = COALESCE(?, battery), online = COALESCE(?, online) WHERE id = ?",
                [
                    (
                        _opt_ts(u.last_seen),
                        u.battery,
                        None if u.online is None else int(u.online),
                        u.device_id,
                    )
                    for u in updates
                ],
            )

    async def get_liveness(self, device_id: str) -> DeviceLiveness:
        sql = "SELECT id, last_seen, battery, online FROM devices WHERE id = ?"
        row = await self._run(self._one, sql, (device_id,), f"no device {device_id!r}")
        return _liveness(row)

    async def list_liveness(self, home_id: str) -> list[DeviceLiveness]:
        sql = "SELECT id, last_seen, battery, online FROM devices WHERE home_id = ? ORDER BY id"
        rows = await self._run(lambda: self._conn.execute(sql, (home_id,)).fetchall())
        return [_liveness(r) for r in rows]


def _connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the SQLite database at {path}: {exc}") from exc
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreUnavailable(f"cannot use the SQLite database at {path}: {exc}") from exc
    return conn


def _guard(path: str, call: Callable[[], T]) -> T:
    """Run ``call``, turning driver errors into store errors."""
    try:
        return call()
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"the SQLite store refused the change: {exc}") from exc
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"the SQLite database at {path} failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"the SQLite database at {path} failed: {exc}") from exc
