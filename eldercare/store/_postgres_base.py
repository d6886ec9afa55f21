"""TimescaleDB backend, base half: pool, life cycle, row mapping and intake.

Uses psycopg 3 async with a connection pool.

Readings live in a hypertable on ``ts`` and arrive by COPY into a per-connection
temp table, then ``INSERT … SELECT … ON CONFLICT DO NOTHING`` on the unique
(device_id, seq, ts) index. Each ``async with self._tx()`` block is one
transaction; driver errors become store errors there.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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

Conn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]

CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10.0
MIGRATION_LOCK = 0x_E1DE_CA4E
FINDING_RETRIES = 8
ALERT_COLS = (
    "id, home_id, subject, kind, severity, status, raised_at, last_seen_at, response_deadline,"
    " count, message, device_id, resident_id, responder, outcome, updated_at, organisation_id"
)
INSTALL_HINT = (
    "install it (scripts/install-timescaledb.sh) and add"
    " shared_preload_libraries = 'timescaledb' to postgresql.conf"
)
READINGS_IN = (
    "CREATE TEMP TABLE IF NOT EXISTS readings_in (home_id text, device_id text, kind text,"
    " ts timestamptz, received_at timestamptz, seq bigint, battery double precision,"
    " fields text, assigned boolean) ON COMMIT DELETE ROWS"
)


SQLSTATE_DUPLICATE = "EC001"
"""eldercare_record_finding: the finding's source_key was recorded concurrently."""
SQLSTATE_CONTENDED = "EC002"
"""eldercare_record_finding: other instances kept raising the same alert first."""


def _alert(r: Row) -> Alert:
    return Alert(
        id=r["id"],
        home_id=r["home_id"],
        subject=r["subject"],
        kind=AlertKind(r["kind"]),
        severity=Severity(r["severity"]),
        status=AlertStatus(r["status"]),
        raised_at=r["raised_at"],
        last_seen_at=r["last_seen_at"],
        response_deadline=r["response_deadline"],
        count=r["count"],
        message=r["message"],
        device_id=r["device_id"],
        resident_id=r["resident_id"],
        responder=r["responder"],
        outcome=None if r["outcome"] is None else Outcome(r["outcome"]),
        updated_at=r["updated_at"],
        # eldercare_record_finding (migration 0004) does not return it
        organisation_id=r.get("organisation_id"),
    )


def _home(r: Row) -> Home:
    return Home(r["id"], r["name"], r["address"], r["timezone"], r["rules"], r["organisation_id"])


def _resident(r: Row) -> Resident:
    return Resident(r["id"], r["home_id"], r["name"], r["limits"])


def _device(r: Row) -> Device:
    return Device(
        r["id"], r["home_id"], DeviceKind(r["kind"]), r["resident_id"], r["location"], r["source"]
    )


def _contact(r: Row) -> Contact:
    return Contact(
        r["id"],
        r["home_id"],
        r["name"],
        r["phone"],
        r["language"],
        r["priority"],
        r["sms_provider"],
    )


def _user(r: Row) -> User:
    return User(
        r["username"],
        r["password_hash"],
        Role(r["role"]),
        r["phone"],
        r["token_version"],
        r["organisation_id"],
    )


def _liveness(r: Row) -> DeviceLiveness:
    return DeviceLiveness(r["id"], r["last_seen"], r["battery"], r["online"])


def _timeline(r: Row) -> TimelineEntry:
    return TimelineEntry(r["alert_id"], r["at"], r["event"], r["actor"], r["details"], r["id"])


async def _rows(conn: Conn, query: Any, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchall()


async def _row(conn: Conn, query: Any, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchone()


async def _one(conn: Conn, query: Any, params: Sequence[Any], missing: str) -> Row:
    row = await _row(conn, query, params)
    if row is None:
        raise NotFound(missing)
    return row


async def _exists(conn: Conn, table: str, key_col: str, key: Any) -> bool:
    query = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(
        sql.Identifier(table), sql.Identifier(key_col)
    )
    return await _row(conn, query, (key,)) is not None


async def _update(conn: Conn, table: str, key_col: str, key: Any, changes: dict[str, Any]) -> None:
    if not changes:
        return
    sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in changes)
    query = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
        sql.Identifier(table), sets, sql.Identifier(key_col)
    )
    await conn.execute(query, (*changes.values(), key))


async def _check_organisation(conn: Conn, organisation_id: str, what: str) -> None:
    if not await _exists(conn, "organisations", "id", organisation_id):
        raise Conflict(f"{what} names organisation {organisation_id!r}, which does not exist")


async def _check_home(conn: Conn, home_id: str, what: str) -> None:
    if not await _exists(conn, "homes", "id", home_id):
        raise Conflict(f"{what} names home {home_id!r}, which does not exist")


async def _check_device_refs(conn: Conn, device: Device) -> None:
    what = f"device {device.id!r}"
    await _check_home(conn, device.home_id, what)
    if device.resident_id is None:
        return
    row = await _row(conn, "SELECT home_id FROM residents WHERE id = %s", (device.resident_id,))
    if row is None:
        raise Conflict(f"{what} names resident {device.resident_id!r}, which does not exist")
    if row["home_id"] != device.home_id:
        raise Conflict(
            f"{what} is in home {device.home_id!r} but resident {device.resident_id!r}"
            f" lives in home {row['home_id']!r}"
        )


async def _check_timescaledb(conn: Conn, where: str) -> None:
    """Refuse a server without TimescaleDB available and loaded."""
    row = await _row(
        conn,
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS ok,"
        " current_setting('timescaledb.license', true) AS license",
    )
    assert row is not None
    if not row["ok"]:
        raise StoreUnavailable(
            f"the server at {where} has no TimescaleDB extension; {INSTALL_HINT}"
        )
    if row["license"] is None:
        raise StoreUnavailable(
            f"the server at {where} has the TimescaleDB extension but does not load it;"
            " add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart it"
        )


_JSON = json.JSONEncoder(separators=(",", ":")).encode
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@functools.lru_cache(maxsize=4096)
def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


SMALL_BATCH = 16
"""Up to this many readings are inserted from arrays in one statement; more go
through COPY into ``readings_in`` and one INSERT from there."""
COPY_CHUNK = 250
"""COPY rows built between two yields to the event loop (a 1,000-reading batch
built at once held it ~40 ms under load)."""

INSERT_READINGS = (
    "INSERT INTO readings (home_id, device_id, kind, ts, received_at, seq, battery, fields)"
    " SELECT i.home_id, i.device_id, i.kind, i.ts, i.received_at, i.seq, i.battery,"
    " i.fields::jsonb FROM {source} i"
    " WHERE NOT (i.assigned AND i.seq >= 0 AND EXISTS (SELECT 1 FROM readings r"
    " WHERE r.device_id = i.device_id AND r.seq = i.seq"
    " AND r.ts BETWEEN i.ts - %(w)s AND i.ts + %(w)s))"
    " ON CONFLICT DO NOTHING"
)
"""New readings from ``{source}`` (same columns as ``readings_in``); a reading whose
time the gateway assigned is a redelivery if its device has its seq near that time."""


def _pg_value(alias: str, metric: str) -> str:
    return (
        f"CASE WHEN jsonb_typeof({alias}.fields->'{metric}') = 'number'"
        f" THEN ({alias}.fields->>'{metric}')::float8 END"
    )


PG_VITALS = Dialect(
    # time_bucket's default origin is on a minute; the explicit one is the epoch.
    minute="time_bucket(INTERVAL '1 minute', s.ts)",
    bucket="time_bucket({b}, p.t, TIMESTAMPTZ '1970-01-01 00:00:00+00')",
    value=_pg_value,
    param=lambda name: f"%({name})s",
)


INSERT_AND_ROLL_UP = (
    "WITH ins AS (" + INSERT_READINGS + " RETURNING device_id, ts, fields),"
    " rolled AS (" + rollup_upsert(PG_VITALS, "ins") + ") SELECT count(*) AS n FROM ins"
)
"""The readings and, in the same statement, the rollups of those actually inserted."""

UNNEST_READINGS = (
    "(SELECT * FROM unnest(%(h)s::text[], %(d)s::text[], %(k)s::text[], %(t)s::timestamptz[],"
    " %(r)s::timestamptz[], %(s)s::bigint[], %(b)s::float8[], %(f)s::text[], %(a)s::boolean[])"
    " AS u(home_id, device_id, kind, ts, received_at, seq, battery, fields, assigned))"
)


def _unnest_params(batch: Sequence[Reading]) -> dict[str, object]:
    return {
        "h": [r.home_id for r in batch],
        "d": [r.device_id for r in batch],
        "k": [r.kind.value for r in batch],
        "t": [require_aware(r.ts) for r in batch],
        "r": [require_aware(r.received_at) for r in batch],
        "s": [NO_SEQ if r.seq is None else int(r.seq) for r in batch],
        "b": [None if r.battery is None else float(r.battery) for r in batch],
        "f": [_JSON(r.fields) for r in batch],
        "a": [r.ts_assigned for r in batch],
        "w": ASSIGNED_TS_WINDOW,
    }


def _copy_line(r: Reading) -> str:
    """One row of ``readings_in`` in COPY text format (one buffer beats write_row)."""
    fields = _JSON(r.fields)  # JSON escapes control characters; only "\\" needs doubling
    if "\\" in fields:
        fields = fields.replace("\\", "\\\\")
    ts = require_aware(r.ts).isoformat()
    received = require_aware(r.received_at).isoformat()
    seq = NO_SEQ if r.seq is None else int(r.seq)
    battery = "\\N" if r.battery is None else repr(float(r.battery))
    return (
        f"{_copy_text(r.home_id)}\t{_copy_text(r.device_id)}\t{r.kind.value}\t{ts}"
        f"\t{received}\t{seq}\t{battery}\t{fields}\t{'t' if r.ts_assigned else 'f'}\n"
    )


async def _inserted(conn: Conn, query: str, params: dict[str, object]) -> int:
    row = await _row(conn, query, params)
    return 0 if row is None else int(row["n"])


async def _configure(conn: Conn) -> None:
    await conn.execute(READINGS_IN)
    await conn.commit()


class PostgresBase:
    """Connection pool, migrations and intake; PostgresStore adds registry and alerts."""

    def __init__(self, pool: AsyncConnectionPool[Conn], conninfo: str, where: str) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self.where = where

    @classmethod
    async def open(cls, url: str, min_size: int = 1, max_size: int = 10) -> Self:
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"bad PostgreSQL URL: {exc}") from exc
        where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        where += f"/{params.get('dbname', '')}"
        extra = {} if "connect_timeout" in params else {"connect_timeout": CONNECT_TIMEOUT_S}
        conninfo = make_conninfo(url, **extra)
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await _check_timescaledb(conn, where)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {where}: {exc}") from exc
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=POOL_TIMEOUT_S,
            configure=_configure,
            name="eldercare-store",
        )
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreUnavailable(f"cannot open connections to PostgreSQL at {where}") from exc
        return cls(pool, conninfo, where)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        """One pooled connection, one transaction; driver errors become store errors."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no PostgreSQL connection to {self.where}: {exc}") from exc
        except psycopg.IntegrityError as exc:
            raise Conflict(f"PostgreSQL refused the change: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.where} failed: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {self.where} failed: {exc}") from exc

    @asynccontextmanager
    async def _auto(self) -> AsyncIterator[Conn]:
        """Like ``_tx`` but in autocommit, for ONE statement: one round trip where a
        transaction takes three (BEGIN, the statement, COMMIT). Used on the alert
        path, where each round trip waits for a turn of a busy event loop."""
        async with self._tx() as conn:
            await conn.set_autocommit(True)
            try:
                yield conn
            finally:
                try:
                    await conn.set_autocommit(False)
                except psycopg.Error:
                    await conn.close()  # never back in the pool in autocommit

    # --- life cycle ---------------------------------------------------------------

    async def migrate(self) -> list[str]:
        try:
            async with await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True
            ) as conn:
                await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                return await self._migrate(conn)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.where} failed: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"migrating PostgreSQL at {self.where} failed: {exc}") from exc

    async def _migrate(self, conn: Conn) -> list[str]:
        await _check_timescaledb(conn, self.where)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"the server at {self.where} cannot create the TimescaleDB extension"
                f" ({exc}); {INSTALL_HINT}"
            ) from exc
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied: list[str] = []
        for migration in load_migrations("postgres"):
            async with conn.transaction():
                done = await _row(
                    conn, "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
                )
                if done:
                    continue
                await conn.execute(migration.sql.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied.append(migration.name)
        return applied

    async def ping(self) -> None:
        async with self._tx() as conn:
            await conn.execute("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()

    # --- intake ---------------------------------------------------------------------

    async def insert_readings(self, readings: Sequence[Reading]) -> int:
        batch = unique_in_batch(readings)
        if not batch:
            return 0
        if len(batch) <= SMALL_BATCH:
            # An SOS in the gateway's fast lane: one statement, not COPY + INSERT.
            async with self._auto() as conn:
                return await _inserted(
                    conn, INSERT_AND_ROLL_UP.format(source=UNNEST_READINGS), _unnest_params(batch)
                )
        async with self._tx() as conn:
            copy_sql = (
                "COPY readings_in (home_id, device_id, kind, ts, received_at, seq, battery,"
                " fields, assigned) FROM STDIN"
            )
            async with conn.cursor().copy(copy_sql) as copy:
                for start in range(0, len(batch), COPY_CHUNK):
                    if start:
                        await asyncio.sleep(0)  # ~10 ms of row building per chunk
                    chunk = batch[start : start + COPY_CHUNK]
                    await copy.write("".join(map(_copy_line, chunk)))
            return await _inserted(
                conn, INSERT_AND_ROLL_UP.format(source="readings_in"), {"w": ASSIGNED_TS_WINDOW}
            )

    async def count_readings(self, device_id: str | None = None) -> int:
        async with self._tx() as conn:
            if device_id is None:
                row = await _row(conn, "SELECT count(*) AS n FROM readings")
            else:
                query = "SELECT count(*) AS n FROM readings WHERE device_id = %s"
                row = await _row(conn, query, (device_id,))
            assert row is not None
            return int(row["n"])

    async def insert_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        async with (
            self._tx() as conn,
            conn.cursor().copy(
                "COPY dead_letters (received_at, topic, payload, reason, detail, payload_length)"
                " FROM STDIN"
            ) as copy,
        ):
            for d in letters:
                row = (
                    require_aware(d.received_at),
                    d.topic,
                    d.payload,
                    d.reason,
                    d.detail,
                    d.payload_length,
                )
                await copy.write_row(row)

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self._tx() as conn:
            rows = await _rows(
                conn,
                "SELECT * FROM dead_letters ORDER BY received_at DESC, id DESC LIMIT %s",
                (max(limit, 0),),
            )
        return [
            DeadLetter(
                r["topic"],
                bytes(r["payload"]),
                r["reason"],
                r["detail"],
                r["received_at"],
                r["payload_length"],
            )
            for r in rows
        ]

    async def update_liveness(self, updates: Sequence[LivenessUpdate]) -> None:
        if not updates:
            return
        # One statement for the whole batch (one row per device): an UPDATE per
        # device cost a round of psycopg work per message at 1 Hz vitals. Arrays
        # in binary (%b): the text format escapes each element by regex.
        async with self._auto() as conn:
            await conn.execute(
                "UPDATE devices AS d SET last_seen = COALESCE(v.last_seen, d.last_seen),"
                " battery = COALESCE(v.battery, d.battery), online = COALESCE(v.online, d.online)"
                " FROM unnest(%b::text[], %b::timestamptz[], %b::float8[], %b::boolean[])"
                " AS v(id, last_seen, battery, online) WHERE d.id = v.id",
                (
                    [u.device_id for u in updates],
                    [u.last_seen for u in updates],
                    [u.battery for u in updates],
                    [u.online for u in updates],
                ),
            )

    async def get_liveness(self, device_id: str) -> DeviceLiveness:
        query = "SELECT id, last_seen, battery, online FROM devices WHERE id = %s"
        async with self._tx() as conn:
            return _liveness(await _one(conn, query, (device_id,), f"no device {device_id!r}"))

    async def list_liveness(self, home_id: str) -> list[DeviceLiveness]:
        query = "SELECT id, last_seen, battery, online FROM devices WHERE home_id = %s ORDER BY id"
        async with self._tx() as conn:
            return [_liveness(r) for r in await _rows(conn, query, (home_id,))]
