"""The store: one protocol, two backends (SQLite, TimescaleDB).

``open_store(url)`` picks the backend from the URL; it does not migrate, so
callers run ``await store.migrate()`` themselves (``eldercare db migrate``).
"""

from __future__ import annotations

from eldercare.store.base import (
    AlertFilter,
    Conflict,
    LivenessUpdate,
    MqttCredential,
    NotFound,
    StatusUpdate,
    Store,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "AlertFilter",
    "Conflict",
    "LivenessUpdate",
    "MqttCredential",
    "NotFound",
    "StatusUpdate",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "open_store",
    "sqlite_path",
]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def sqlite_path(database_url: str) -> str:
    """``sqlite:///./x.db`` → ``./x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``."""
    if not database_url.startswith(SQLITE_PREFIX):
        raise StoreError(f"not a SQLite URL: {database_url!r} (expected sqlite:///path)")
    path = database_url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    if not path:
        raise StoreError(f"the SQLite URL {database_url!r} names no file")
    return path


async def open_store(database_url: str) -> Store:
    """Open the store the URL names: ``sqlite:///path`` or ``postgresql://…``."""
    if database_url.startswith(SQLITE_PREFIX):
        from eldercare.store.sqlite import SQLiteStore

        return await SQLiteStore.open(sqlite_path(database_url))
    if database_url.startswith(POSTGRES_PREFIXES):
        from eldercare.store.postgres import PostgresStore

        return await PostgresStore.open(database_url)
    scheme = database_url.partition(":")[0] or database_url
    raise StoreError(
        f"unsupported database URL scheme {scheme!r}; use sqlite:///path or postgresql://…"
    )
