"""The audit log (issue 15): who did what, when, from where.

``write`` is called by the routes that show a key-safe code, change a resident
record, act on an alert (acknowledge, dispatch, arrive, resolve) or change an
account. The address is the client's (``client_address``: the connection's,
or X-Forwarded-For behind a trusted proxy). Entries are only ever added:
there is no route to change or remove one.

``GET /api/v1/audit`` (supervisors and admins) lists the entries of the
caller's care centre, newest first, filtered by ``since``/``until``/``actor``;
``?format=csv`` gives the same rows as CSV (every matching row, no paging).
"""

import csv
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from dashboard_api.auth import Auth
from dashboard_api.client_address import client_address
from dashboard_api.context import AppContext
from dashboard_api.models import MAX_ROW_ID, Time
from dashboard_api.record_models import AuditPage, AuditRead
from dashboard_api.tenancy import scope
from eldercare.domain import Role, User
from eldercare.records import AuditEntry, AuditQuery

CSV_COLUMNS = ("id", "at", "actor", "address", "action", "target", "organisation_id", "details")
CSV_MAX_ROWS = 100_000


async def write(
    ctx: AppContext,
    auth: Auth,
    request: Request,
    user: User,
    action: str,
    target: str,
    organisation_id: str | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry for ``user``'s request."""
    entry = AuditEntry(
        at=ctx.clock.now(),
        actor=user.username,
        address=client_address(request, auth.proxies),
        action=action,
        target=target,
        organisation_id=organisation_id,
        details=details or {},
    )
    return await ctx.store.add_audit(entry)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _read(entry: AuditEntry) -> AuditRead:
    assert entry.id is not None, "a stored entry has an id"
    return AuditRead(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        address=entry.address,
        action=entry.action,
        target=entry.target,
        organisation_id=entry.organisation_id,
        details=entry.details,
    )


def to_csv(entries: list[AuditRead]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.id,
                e.at.isoformat(),
                e.actor,
                e.address,
                e.action,
                e.target,
                e.organisation_id or "",
                json.dumps(e.details, ensure_ascii=False, sort_keys=True),
            ]
        )
    return out.getvalue()


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]

    @router.get(
        "",
        response_model=AuditPage,
        summary="The audit log, newest first",
        responses={200: {"content": {"text/csv": {}}}, 422: {"description": "Bad filter"}},
    )
    async def list_audit(
        user: Supervisor,
        since: Annotated[Time | None, Query(description="at or after")] = None,
        until: Annotated[Time | None, Query(description="before")] = None,
        actor: Annotated[str | None, Query(max_length=200, description="a username")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        cursor: Annotated[str | None, Query(description="next_cursor of the last page")] = None,
        format: Annotated[Literal["json", "csv"], Query(description="csv: every row")] = "json",
    ) -> Any:
        """Views of key-safe codes, record edits, alert actions and account
        changes in your care centre (a platform admin: all). Read-only: the log
        has no route to change or remove an entry. `?format=csv` exports every
        matching entry (up to 100,000) as CSV, ignoring `limit` and `cursor`."""
        since, until = _aware(since), _aware(until)
        if since is not None and until is not None and until <= since:
            raise HTTPException(422, "until: must be after since")
        before: int | None = None
        if cursor is not None:
            if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > MAX_ROW_ID:
                raise HTTPException(422, "cursor: use the next_cursor of the previous page")
            before = int(cursor)
        csv_out = format == "csv"
        query = AuditQuery(
            organisation_id=scope(user),
            since=since,
            until=until,
            actor=actor,
            before_id=None if csv_out else before,
            limit=CSV_MAX_ROWS if csv_out else limit + 1,
        )
        found = [_read(e) for e in await ctx.store.list_audit(query)]
        if csv_out:
            return Response(
                to_csv(found),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
            )
        page = found[:limit]
        more = len(found) > limit
        return AuditPage(items=page, next_cursor=str(page[-1].id) if more else None)

    return router
