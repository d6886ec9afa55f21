"""SQL shared by both backends for the monthly report and the home tiles (``?``
placeholders; PostgreSQL replaces them with ``%s``)."""

from __future__ import annotations

from dataclasses import dataclass

# Who answered each alert raised in [since, until): its home and the account of
# its first staff action (the same definition as RESPONSES_SQL's acknowledged_at).
RESPONSE_PEOPLE_SQL = """
SELECT a.id, a.home_id,
  (SELECT t.actor FROM alert_timeline t WHERE t.alert_id = a.id
     AND (t.event IN ('acknowledged', 'dispatched', 'on_site')
          OR (t.event = 'resolved' AND coalesce(t.actor, '') <> 'system'))
     ORDER BY t.at, t.id LIMIT 1) AS acknowledged_by
FROM alerts a WHERE a.raised_at >= ? AND a.raised_at < ? ORDER BY a.id
"""
RESPONSE_PEOPLE_IN_ORGANISATION_SQL = RESPONSE_PEOPLE_SQL.replace(
    " ORDER BY a.id", " AND a.organisation_id = ? ORDER BY a.id"
)

# Every device's liveness with its home, in one query (the home tiles).
LIVENESS_SQL = "SELECT d.id, d.last_seen, d.battery, d.online FROM devices d ORDER BY d.id"
LIVENESS_IN_ORGANISATION_SQL = (
    "SELECT d.id, d.last_seen, d.battery, d.online FROM devices d"
    " JOIN homes h ON h.id = d.home_id WHERE h.organisation_id = ? ORDER BY d.id"
)


@dataclass(frozen=True, slots=True)
class ResponsePeople:
    """Whose alert it was and who answered it first (the monthly report)."""

    alert_id: int
    home_id: str
    acknowledged_by: str | None
    """the account of the first staff action; None if staff never acted"""
