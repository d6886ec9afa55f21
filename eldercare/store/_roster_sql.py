"""Duty roster and alert assignment SQL both backends share (migration 0018).

Written with ``%s`` placeholders (PostgreSQL); the SQLite mixin swaps them for ``?``.
"""

from __future__ import annotations

SHIFT_ADD = (
    "INSERT INTO duty_shifts (organisation_id, username, starts_at, ends_at)"
    " VALUES (%s, %s, %s, %s) RETURNING *"
)
SHIFTS_ENDING_AFTER = (
    "SELECT * FROM duty_shifts WHERE organisation_id = %s AND ends_at > %s ORDER BY starts_at, id"
)
SHIFT_DELETE = "DELETE FROM duty_shifts WHERE id = %s AND organisation_id = %s"
ASSIGN = (
    "INSERT INTO alert_assignments (alert_id, username, assigned_at, assigned_by)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (alert_id) DO UPDATE SET"
    " username = excluded.username, assigned_at = excluded.assigned_at,"
    " assigned_by = excluded.assigned_by"
)
ASSIGNMENT_GET = "SELECT * FROM alert_assignments WHERE alert_id = %s"
ASSIGNMENTS_ACTIVE = (
    "SELECT a.* FROM alert_assignments a JOIN alerts al ON al.id = a.alert_id"
    " WHERE al.status IN ('open', 'acknowledged', 'dispatched', 'on_site')"
    " AND al.organisation_id = %s ORDER BY a.alert_id"
)
