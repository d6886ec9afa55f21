"""The local durable spool: what must not wait for PostgreSQL, kept on this disk.

When the store is unreachable (``StoreUnavailable``), the gateway writes each
batch it cannot commit (readings, dead letters, liveness) here instead, with
``synchronous=FULL`` so it is on disk before the batch is acknowledged; the
alert path keeps here the findings and clearances it could not record, the
provisional alerts it showed the screen and the first SMS it sent for them
(``alerts/standby.py``). When the store answers again the standby replays the
spool into it, oldest first, and deletes each row after the store took it: a
crash between the two replays that row again, which the store absorbs
(readings are de-duplicated on device + seq, findings are idempotent on their
key, a sent SMS is adopted by its escalation step, never sent again).

One SQLite file (``ELDERCARE_SPOOL_PATH``), written by one process. Rows hold
pickles of the domain's own frozen dataclasses: the spool is read back by the
release that wrote it, so drain it (start the service with PostgreSQL up)
before an upgrade. Calls run in a worker thread, one at a time, so an fsync
never holds the event loop.

    down       the store is known to be unreachable (set by whoever met it)
    batches    batches waiting for the store (the gateway spools while > 0)
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from eldercare.domain import Alert, DeadLetter, Reading, Signal
from eldercare.store.base import LivenessUpdate

log = logging.getLogger("eldercare.spool")

FORMAT = 1
"""Bumped when the pickled rows change shape; a spool of another format is refused."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, spooled_at REAL NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, spooled_at REAL NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS provisional (
    finding_key TEXT PRIMARY KEY, id INTEGER NOT NULL, raised_at TEXT NOT NULL,
    body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sends (
    finding_key TEXT NOT NULL, raised_at TEXT NOT NULL, step TEXT NOT NULL,
    recipient TEXT NOT NULL, to_phone TEXT NOT NULL, body TEXT NOT NULL,
    state TEXT NOT NULL, provider_id TEXT, status TEXT, error TEXT, channel TEXT,
    at REAL NOT NULL, PRIMARY KEY (finding_key, raised_at, step, recipient));
"""

T = TypeVar("T")


class SpoolError(Exception):
    """The spool file cannot be opened or used; ``str(exc)`` is meant for people."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    id: int
    readings: list[Reading]
    dead: list[DeadLetter]
    liveness: list[LivenessUpdate]


@dataclass(frozen=True, slots=True)
class SpooledSend:
    """An SMS the standby sent (or began to send) while the store was away."""

    finding_key: str
    raised_at: str
    """The finding's time (ISO): the alert it becomes has it as ``raised_at``."""
    step: str
    recipient: str
    to_phone: str
    body: str
    state: str
    """``sending`` (given to the provider, no answer yet), ``sent`` or ``failed``."""
    provider_id: str | None = None
    status: str | None = None
    error: str | None = None
    channel: str | None = None


def finding_key(home_id: str, subject: str, kind: str) -> str:
    """What identifies an open alert: one per (home, subject, kind)."""
    return f"{home_id}|{subject}|{kind}"


class Spool:
    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        self.down = False
        """The store is known to be unreachable: the alert path does not wait for it."""
        self.reason: str | None = None
        """Why, as the store said it (for ``/readyz``)."""
        self.down_since: float | None = None
        """time.monotonic() when it went down."""
        self.batches = self._count("batches")
        self.signals = self._count("signals")
        self.provisional = self._count("provisional")
        self.sends = self._count("sends")
        """SMS rows kept (0: the escalation engine has nothing to adopt)."""

    @classmethod
    def open(cls, path: str | Path) -> Spool:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)  # staff phones and texts
            os.close(fd)
            conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # on disk before the ack
            conn.executescript(SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
            elif row[0] != str(FORMAT):
                conn.close()
                raise SpoolError(
                    f"the spool at {target} has format {row[0]}, this release reads {FORMAT}:"
                    " start the release that wrote it with PostgreSQL up to drain it"
                )
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"cannot open the spool at {target}: {exc}") from exc
        spool = cls(target, conn)
        if spool.batches or spool.signals:
            log.warning(
                "the spool holds work from before the restart; it is replayed into the store",
                extra={"batches": spool.batches, "signals": spool.signals, "path": str(target)},
            )
        return spool

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- the store's state ----------------------------------------------------------
    def mark_down(self, exc: BaseException) -> None:
        if not self.down:
            self.down_since = time.monotonic()
            log.error(
                "the store is unreachable: batches and alerts go to the local spool",
                extra={"error": str(exc), "path": str(self.path)},
            )
        self.down = True
        self.reason = str(exc)

    def mark_up(self) -> None:
        if self.down:
            took = None if self.down_since is None else time.monotonic() - self.down_since
            log.warning(
                "the store answers again: replaying the spool",
                extra={"down_s": None if took is None else round(took, 1)},
            )
        self.down = False
        self.reason = None
        self.down_since = None

    @property
    def active(self) -> bool:
        """Batches go to the spool: the store is down, or older batches wait in it."""
        return self.down or self.batches > 0

    # --- batches (the gateway) ------------------------------------------------------
    async def put_batch(
        self,
        readings: Sequence[Reading],
        dead: Sequence[DeadLetter],
        liveness: Sequence[LivenessUpdate],
    ) -> None:
        body = pickle.dumps((list(readings), list(dead), list(liveness)), protocol=5)
        await self._run(self._insert, "batches", body)
        self.batches += 1

    async def take_batches(self, limit: int) -> list[SpooledBatch]:
        rows = await self._run(self._select, "batches", limit)
        return [SpooledBatch(i, *pickle.loads(body)) for i, body in rows]

    async def delete_batches(self, ids: Sequence[int]) -> None:
        await self._run(self._delete, "batches", list(ids))
        self.batches = max(0, self.batches - len(ids))

    # --- signals (the alert path) ---------------------------------------------------
    async def put_signal(self, signal: Signal) -> None:
        await self._run(self._insert, "signals", pickle.dumps(signal, protocol=5))
        self.signals += 1

    async def take_signals(self, limit: int) -> list[tuple[int, Signal]]:
        rows = await self._run(self._select, "signals", limit)
        return [(i, pickle.loads(body)) for i, body in rows]

    async def delete_signals(self, ids: Sequence[int]) -> None:
        await self._run(self._delete, "signals", list(ids))
        self.signals = max(0, self.signals - len(ids))

    # --- provisional alerts and their SMS -------------------------------------------
    async def add_provisional(self, key: str, alert: Alert) -> Alert | None:
        """Keep ``alert`` (its id made here: negative) for ``key``; None if one is kept."""

        def add(conn: sqlite3.Connection) -> Alert | None:
            if conn.execute("SELECT 1 FROM provisional WHERE finding_key = ?", (key,)).fetchone():
                return None
            row = conn.execute("SELECT min(id) FROM provisional").fetchone()
            new_id = min(-1, (row[0] or 0) - 1)
            kept = _with_id(alert, new_id)
            conn.execute(
                "INSERT INTO provisional VALUES (?, ?, ?, ?)",
                (key, new_id, alert.raised_at.isoformat(), pickle.dumps(kept, protocol=5)),
            )
            return kept

        kept = await self._run(add)
        if kept is not None:
            self.provisional += 1
        return kept

    async def list_provisional(self) -> list[tuple[str, Alert]]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT finding_key, body FROM provisional ORDER BY id DESC"
            ).fetchall()
        )
        return [(key, pickle.loads(body)) for key, body in rows]

    async def drop_provisional(self, key: str) -> None:
        await self._run(
            lambda c: c.execute("DELETE FROM provisional WHERE finding_key = ?", (key,))
        )
        self.provisional = max(0, self.provisional - 1)

    async def begin_send(self, send: SpooledSend) -> bool:
        """Record ``send`` as ``sending`` before the provider is called; False if this
        (finding, step, recipient) was already begun: it is not sent again."""

        def begin(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO sends VALUES (?, ?, ?, ?, ?, ?, 'sending', NULL, NULL,"
                " NULL, ?, ?)",
                (
                    send.finding_key,
                    send.raised_at,
                    send.step,
                    send.recipient,
                    send.to_phone,
                    send.body,
                    send.channel,
                    time.time(),
                ),
            )
            return cur.rowcount == 1

        begun = await self._run(begin)
        if begun:
            self.sends += 1
        return begun

    async def finish_send(
        self,
        send: SpooledSend,
        state: str,
        *,
        provider_id: str | None = None,
        status: str | None = None,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE sends SET state = ?, provider_id = ?, status = ?, error = ?,"
                " channel = coalesce(?, channel) WHERE finding_key = ? AND raised_at = ?"
                " AND step = ? AND recipient = ?",
                (
                    state,
                    provider_id,
                    status,
                    error,
                    channel,
                    send.finding_key,
                    send.raised_at,
                    send.step,
                    send.recipient,
                ),
            )
        )

    async def sends_for(self, key: str, raised_at: str) -> list[SpooledSend]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT finding_key, raised_at, step, recipient, to_phone, body, state,"
                " provider_id, status, error, channel FROM sends"
                " WHERE finding_key = ? AND raised_at = ?",
                (key, raised_at),
            ).fetchall()
        )
        return [SpooledSend(*row) for row in rows]

    async def drop_send(self, send: SpooledSend) -> None:
        await self._run(
            lambda c: c.execute(
                "DELETE FROM sends WHERE finding_key = ? AND raised_at = ? AND step = ?"
                " AND recipient = ?",
                (send.finding_key, send.raised_at, send.step, send.recipient),
            )
        )
        self.sends = max(0, self.sends - 1)

    async def prune_sends(self, older_than_s: float) -> int:
        """Sends never adopted (their alert was already open, or resolved before its
        step ran) are kept this long, then dropped."""
        cur = await self._run(
            lambda c: c.execute("DELETE FROM sends WHERE at < ?", (time.time() - older_than_s,))
        )
        self.sends = self._count("sends")
        return int(cur.rowcount)

    # --- plumbing -------------------------------------------------------------------
    def _count(self, table: str) -> int:
        with self._lock:
            row = self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0])

    @staticmethod
    def _insert(conn: sqlite3.Connection, table: str, body: bytes) -> None:
        conn.execute(
            f"INSERT INTO {table} (spooled_at, body) VALUES (?, ?)",
            (time.time(), body),
        )

    @staticmethod
    def _select(conn: sqlite3.Connection, table: str, limit: int) -> list[tuple[int, bytes]]:
        return conn.execute(
            f"SELECT id, body FROM {table} ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()

    @staticmethod
    def _delete(conn: sqlite3.Connection, table: str, ids: list[int]) -> None:
        conn.execute("BEGIN")
        conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])
        conn.execute("COMMIT")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        def locked() -> T:
            with self._lock:
                try:
                    return fn(self._conn, *args)
                except sqlite3.Error as exc:
                    raise SpoolError(f"the spool at {self.path} failed: {exc}") from exc

        return await asyncio.to_thread(locked)


def _with_id(alert: Alert, new_id: int) -> Alert:
    return replace(alert, id=new_id)
