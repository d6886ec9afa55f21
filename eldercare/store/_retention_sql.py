"""Retention SQL both backends share (``?`` placeholders; PostgreSQL uses ``%s``)."""

from __future__ import annotations

DEAD_LETTERS_OLD = "FROM dead_letters WHERE received_at < ?"
"""The dead letters received before the cutoff (timestamptz on PostgreSQL,
ISO-8601 UTC text on SQLite: both compare in time order)."""

COUNT_DEAD_LETTERS_SQL = f"SELECT count(*) AS n {DEAD_LETTERS_OLD}"
DELETE_DEAD_LETTERS_SQL = f"DELETE {DEAD_LETTERS_OLD}"
