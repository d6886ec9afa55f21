"""SQL text shared by both backends for the care centre's protocols and the
shift handover (Issue 15 items 3 and 6); ``{p}`` is the backend's placeholder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredProtocols:
    """A care centre's own protocols document (``alerts.protocols.as_data`` form)."""

    organisation_id: str
    document: dict[str, Any]
    updated_at: datetime
    updated_by: str | None


GET_PROTOCOLS = (
    "SELECT organisation_id, document, updated_at, updated_by FROM organisation_protocols"
    " WHERE organisation_id = {p}"
)
SAVE_PROTOCOLS = (
    "INSERT INTO organisation_protocols (organisation_id, document, updated_at, updated_by)"
    " VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (organisation_id) DO UPDATE SET"
    " document = excluded.document, updated_at = excluded.updated_at,"
    " updated_by = excluded.updated_by"
)
DELETE_PROTOCOLS = "DELETE FROM organisation_protocols WHERE organisation_id = {p}"


def timeline_window_sql(p: str, n_events: int, scoped: bool) -> str:
    """Entries of ``n_events`` event names with start <= at < end (and of one
    organisation's alerts when ``scoped``), oldest first."""
    events = ", ".join([p] * n_events)
    sql = (
        "SELECT t.* FROM alert_timeline t JOIN alerts a ON a.id = t.alert_id"
        f" WHERE t.event IN ({events}) AND t.at >= {p} AND t.at < {p}"
    )
    if scoped:
        sql += f" AND a.organisation_id = {p}"
    return sql + " ORDER BY t.at, t.id"
