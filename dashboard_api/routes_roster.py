"""Responders and the duty roster (Issue 15 item 2; an extension of CONTRACT.md).

``GET /api/v1/roster`` says who is on duty now (by shift) with their phone and
whether they are free or on an alert (an active alert assigned to them), and
lists the shifts to come. Supervisors add and remove shifts. An alert is
assigned to one responder: an operator claims it (``POST
/api/v1/alerts/{id}/claim``) or a supervisor gives it to someone of the centre
(``POST /api/v1/alerts/{id}/assign``); the newest assignment wins. Each
assignment goes on the alert's timeline (``assigned``, actor: who did it,
``details.responder``: to whom) and on the live stream (change ``assigned``),
so every screen shows it at once.

Everything is the caller's care centre's: another centre's shifts, accounts
and alerts are 404 / 422 like missing ones. A platform admin names the centre
(``organisation_id``) when reading the roster.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dashboard_api import audit
from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import MAX_ROW_ID, AwareTime, Id, Username
from dashboard_api.tenancy import scope
from eldercare.domain import Alert, AlertStatus, Role, TimelineEntry, User
from eldercare.roster import Assignment, Shift
from eldercare.store.base import NotFound
from eldercare.tenancy import alert_organisation

MAX_SHIFT = timedelta(hours=24)

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert or shift"},
    409: {"description": "The alert is no longer active"},
    422: {"description": "Invalid fields, or an account not of this care centre"},
}


class ShiftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    starts_at: AwareTime
    ends_at: AwareTime = Field(description="exclusive; at most 24 h after starts_at")


class ShiftRead(BaseModel):
    id: int
    username: str
    starts_at: datetime
    ends_at: datetime


class ResponderRead(BaseModel):
    username: str
    role: Role
    phone: str | None
    shift_id: int
    shift_ends_at: datetime
    free: bool
    alerts: list[int] = Field(description="the active alerts assigned to them")


class RosterRead(BaseModel):
    at: datetime
    on_duty: list[ResponderRead]
    shifts: list[ShiftRead] = Field(description="shifts on now or to come, earliest first")


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username


class AssignmentRead(BaseModel):
    alert_id: int
    username: str | None = Field(description="the responder; null: nobody yet")
    assigned_at: datetime | None = None
    assigned_by: str | None = None


def _shift_read(s: Shift) -> ShiftRead:
    assert s.id is not None
    return ShiftRead(id=s.id, username=s.username, starts_at=s.starts_at, ends_at=s.ends_at)


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["roster"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]
    AlertId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the alert's id")]
    ShiftId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the shift's id")]
    store = ctx.store

    def centre(user: User, named: str | None) -> str:
        own = scope(user)
        if own is not None:
            if named is not None and named != own:
                raise HTTPException(422, f"organisation_id: no organisation {named!r}")
            return own
        if named is None:
            raise HTTPException(422, "organisation_id: a platform admin names the care centre")
        return named

    @router.get("/roster", response_model=RosterRead, summary="Who is on duty")
    async def roster(
        user: Operator,
        organisation_id: Annotated[Id | None, Query(description="platform admin only")] = None,
    ) -> RosterRead:
        """Staff on duty now with their phone and whether they are free or on an
        alert, and the shifts on now or to come."""
        org = centre(user, organisation_id)
        now = ctx.clock.now()
        shifts = await store.list_shifts(org, now)
        busy: dict[str, list[int]] = {}
        for a in await store.active_assignments(org):
            busy.setdefault(a.username, []).append(a.alert_id)
        accounts = {u.username: u for u in await store.list_users(org)}
        on_duty: list[ResponderRead] = []
        seen: set[str] = set()
        for s in shifts:
            account = accounts.get(s.username)
            if not s.covers(now) or account is None or s.username in seen:
                continue
            seen.add(s.username)
            assert s.id is not None
            mine = busy.get(s.username, [])
            on_duty.append(
                ResponderRead(
                    username=s.username,
                    role=account.role,
                    phone=account.phone,
                    shift_id=s.id,
                    shift_ends_at=s.ends_at,
                    free=not mine,
                    alerts=mine,
                )
            )
        return RosterRead(at=now, on_duty=on_duty, shifts=[_shift_read(s) for s in shifts])

    @router.post(
        "/roster/shifts",
        response_model=ShiftRead,
        status_code=201,
        summary="Put someone on duty",
        responses=ERRORS,
    )
    async def add_shift(body: ShiftCreate, user: Supervisor, request: Request) -> ShiftRead:
        """A shift for an account of your care centre (a platform admin: of the
        account's centre), at most 24 h long."""
        if body.ends_at <= body.starts_at:
            raise HTTPException(422, "ends_at: the shift must end after it starts")
        if body.ends_at - body.starts_at > MAX_SHIFT:
            raise HTTPException(422, "ends_at: a shift is at most 24 hours long")
        try:
            account = await store.get_user(body.username, scope(user))
        except NotFound as exc:
            raise HTTPException(422, f"username: no account {body.username!r}") from exc
        if account.organisation_id is None:
            raise HTTPException(422, f"username: {body.username!r} works for no care centre")
        shift = Shift(account.organisation_id, account.username, body.starts_at, body.ends_at)
        made = _shift_read(await store.add_shift(shift))
        details = {"username": made.username, "starts_at": made.starts_at.isoformat()}
        details["ends_at"] = made.ends_at.isoformat()
        org = account.organisation_id
        await audit.write(
            ctx, auth, request, user, "roster.add_shift", f"shift:{made.id}", org, details
        )
        return made

    @router.delete(
        "/roster/shifts/{shift_id}",
        status_code=204,
        summary="Remove a shift",
        responses={404: ERRORS[404], 422: ERRORS[422]},
    )
    async def delete_shift(
        shift_id: ShiftId,
        user: Supervisor,
        request: Request,
        organisation_id: Annotated[Id | None, Query(description="platform admin only")] = None,
    ) -> Response:
        org = centre(user, organisation_id)
        await store.delete_shift(shift_id, org)
        await audit.write(ctx, auth, request, user, "roster.delete_shift", f"shift:{shift_id}", org)
        return Response(status_code=204)

    async def assign(
        alert: Alert, responder: str, by: User, request: Request, action: str
    ) -> AssignmentRead:
        if alert.status is AlertStatus.RESOLVED:
            raise HTTPException(409, f"alert {alert.id} is {alert.status.value}; nothing to assign")
        now = ctx.clock.now()
        done = await store.assign_alert(Assignment(alert.id, responder, now, by.username))
        await store.add_timeline(
            TimelineEntry(alert.id, now, "assigned", by.username, {"responder": responder})
        )
        ctx.bus.publish("assigned", alert)
        org = await alert_organisation(store, alert)
        details = {"responder": responder}
        await audit.write(ctx, auth, request, by, action, f"alert:{alert.id}", org, details)
        return AssignmentRead(
            alert_id=alert.id,
            username=done.username,
            assigned_at=done.assigned_at,
            assigned_by=done.assigned_by,
        )

    @router.get(
        "/alerts/{alert_id}/assignment",
        response_model=AssignmentRead,
        summary="Who the alert is assigned to",
        responses={404: ERRORS[404]},
    )
    async def get_assignment(alert_id: AlertId, user: Operator) -> AssignmentRead:
        await store.get_alert(alert_id, scope(user))
        found = await store.get_assignment(alert_id)
        if found is None:
            return AssignmentRead(alert_id=alert_id, username=None)
        return AssignmentRead(
            alert_id=alert_id,
            username=found.username,
            assigned_at=found.assigned_at,
            assigned_by=found.assigned_by,
        )

    @router.post(
        "/alerts/{alert_id}/claim",
        response_model=AssignmentRead,
        summary="Take the alert (assign it to yourself)",
        responses=ERRORS,
    )
    async def claim(alert_id: AlertId, user: Operator, request: Request) -> AssignmentRead:
        """You are the alert's responder from now on (replacing anyone before)."""
        alert = await store.get_alert(alert_id, scope(user))
        return await assign(alert, user.username, user, request, "alert.claim")

    @router.post(
        "/alerts/{alert_id}/assign",
        response_model=AssignmentRead,
        summary="Give the alert to a responder",
        responses=ERRORS,
    )
    async def assign_to(
        alert_id: AlertId, body: AssignRequest, user: Supervisor, request: Request
    ) -> AssignmentRead:
        """To an account of the alert's care centre."""
        alert = await store.get_alert(alert_id, scope(user))
        org = await alert_organisation(store, alert)
        try:
            await store.get_user(body.username, org)
        except NotFound as exc:
            raise HTTPException(422, f"username: no account {body.username!r}") from exc
        return await assign(alert, body.username, user, request, "alert.assign")

    return router
