"""SQL of resident records and the audit log shared by both backends (``%s``
placeholders; SQLite's replace them with ``?``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eldercare.records import AuditQuery
from eldercare.store._common import in_organisation

GET_RECORD_SQL = "SELECT * FROM resident_records WHERE resident_id = %s"
PUT_RECORD_SQL = (
    "INSERT INTO resident_records (resident_id, record, updated_at, updated_by)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (resident_id) DO UPDATE SET"
    " record = excluded.record, updated_at = excluded.updated_at,"
    " updated_by = excluded.updated_by"
)
ADD_AUDIT_SQL = (
    "INSERT INTO audit_log (organisation_id, at, actor, address, action, target, details)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


def resident_in_scope(organisation_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The resident's row if it is in the organisation (None: in any)."""
    where = ["id = %s", *in_organisation("residents", organisation_id, "%s")]
    params = () if organisation_id is None else (organisation_id,)
    return f"SELECT id FROM residents WHERE {' AND '.join(where)}", params


def list_audit(q: AuditQuery, at: Callable[[Any], Any]) -> tuple[str, list[Any]]:
    """The query of ``list_audit``; ``at`` turns a datetime into the backend's value."""
    where: list[str] = []
    params: list[Any] = []
    if q.organisation_id is not None:
        where.append("organisation_id = %s")
        params.append(q.organisation_id)
    if q.since is not None:
        where.append("at >= %s")
        params.append(at(q.since))
    if q.until is not None:
        where.append("at < %s")
        params.append(at(q.until))
    if q.actor is not None:
        where.append("actor = %s")
        params.append(q.actor)
    if q.before_id is not None:
        where.append("id < %s")
        params.append(q.before_id)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    params.append(q.limit)
    return f"SELECT * FROM audit_log{clause} ORDER BY id DESC LIMIT %s", params
