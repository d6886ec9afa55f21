"""Alarm floods and maintenance silences (Issue 15 item 5; alerts/incidents.py,
alerts/silences.py), scoped to the caller's care centre.

- ``GET /api/v1/incidents`` (operator): open (default) or all incidents with
  their member alert ids; ``GET /api/v1/incidents/{id}``: one with its member
  alerts; ``POST /api/v1/incidents/{id}/end`` (supervisor): end it now.
- ``POST /api/v1/silences`` (supervisor): silence a home, or one device of it,
  until ``ends_at``; ``GET /api/v1/silences`` (operator: the screen shows
  them) active and recently ended ones; ``GET /api/v1/silences/{id}``;
  ``POST /api/v1/silences/{id}/end`` (supervisor): end it now.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from alerts.silences import SilenceError, Silences
from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import MAX_ROW_ID, AlertRead, Id, Time
from dashboard_api.tenancy import scope
from eldercare.domain import DEFAULT_ORGANISATION, ID_PATTERN, Role, User
from eldercare.store.base import NotFound
from eldercare.store.floods import Incident, Silence

RECENT = timedelta(hours=24)
"""Silences that ended this long ago are still listed (the screen shows them)."""


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organisation_id: str
    kind: str
    cause: str
    """``status`` (devices said offline) or ``silence`` (they stopped talking)"""
    opened_at: datetime
    last_member_at: datetime
    members: int
    ended_at: datetime | None
    ended_by: str | None
    member_ids: list[int]


class IncidentDetail(IncidentRead):
    alerts: list[AlertRead]
    """The member alerts, newest first."""


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home_id: Id
    device_id: Id | None = None
    """One device of the home (default: the whole home)."""
    ends_at: Time
    """With an offset; must be in the future."""
    reason: str = Field(default="", max_length=500)


class SilenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organisation_id: str
    home_id: str
    device_id: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None
    ended_at: datetime | None
    ended_by: str | None
    active: bool


ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "No such incident or silence"}}
SILENCE_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "Unknown home or device, or an end time not in the future"}
}

IncidentId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
SilenceId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["incidents"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]
    silences = ctx.alerts.silences or Silences(ctx.store, ctx.clock, ctx.metrics)

    async def incident(incident_id: int, user: User) -> Incident:
        try:
            found = await ctx.store.get_incident(incident_id)
        except NotFound:
            found = None
        own = scope(user)
        if found is None or (own is not None and found.organisation_id != own):
            raise HTTPException(404, f"no incident {incident_id}")
        return found

    async def silence(silence_id: int, user: User) -> Silence:
        try:
            found = await ctx.store.get_silence(silence_id)
        except NotFound:
            found = None
        own = scope(user)
        if found is None or (own is not None and found.organisation_id != own):
            raise HTTPException(404, f"no silence {silence_id}")
        return found

    def silence_read(s: Silence) -> SilenceRead:
        now = ctx.clock.now()
        return SilenceRead.model_validate(
            {**{k: getattr(s, k) for k in Silence.__slots__}, "active": s.active(now)}
        )

    @router.get("/incidents", response_model=list[IncidentRead], summary="Alarm floods")
    async def list_incidents(
        user: Operator,
        status: Annotated[
            str, Query(pattern="^(open|all)$", description="`open` (default) or `all`")
        ] = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[IncidentRead]:
        """Incidents of your care centre, newest first: many alerts of one kind
        and cause at once (a power cut), shown as one; their family SMS are held back."""
        if ctx.alerts.floods is not None:
            await ctx.alerts.floods.expire()
        found = await ctx.store.list_incidents(scope(user), open_only=status == "open", limit=limit)
        return [IncidentRead.model_validate(i) for i in found]

    @router.get(
        "/incidents/{incident_id}",
        response_model=IncidentDetail,
        summary="One incident with its member alerts",
        responses=ERRORS,
    )
    async def get_incident(incident_id: IncidentId, user: Operator) -> IncidentDetail:
        found = await incident(incident_id, user)
        alerts = [await ctx.store.get_alert(i) for i in sorted(found.member_ids, reverse=True)]
        return IncidentDetail.model_validate(
            {
                **IncidentRead.model_validate(found).model_dump(),
                "alerts": [AlertRead.model_validate(a) for a in alerts],
            }
        )

    @router.post(
        "/incidents/{incident_id}/end",
        response_model=IncidentRead,
        summary="End an incident now",
        responses=ERRORS,
    )
    async def end_incident(incident_id: IncidentId, user: Supervisor) -> IncidentRead:
        """Alerts raised from now on escalate on their own again (members stay members)."""
        await incident(incident_id, user)
        if ctx.alerts.floods is not None:
            ended = await ctx.alerts.floods.end(incident_id, ctx.clock.now(), user.username)
        else:
            ended = await ctx.store.end_incident(incident_id, ctx.clock.now(), user.username)
        return IncidentRead.model_validate(ended)

    @router.post(
        "/silences",
        response_model=SilenceRead,
        status_code=201,
        summary="Silence a home or a device for maintenance",
        responses=SILENCE_ERRORS,
    )
    async def create_silence(body: SilenceCreate, user: Supervisor) -> SilenceRead:
        """Until ``ends_at`` no alert is raised from the home (or the device) except
        ``sos``. The silence is on the screen and on its open alerts' timelines."""
        own = scope(user)
        try:
            home = await ctx.store.get_home(body.home_id, own)
        except NotFound:
            raise HTTPException(422, f"home_id: no home {body.home_id!r}") from None
        if body.device_id is not None:
            try:
                device = await ctx.store.get_device(body.device_id, own)
            except NotFound:
                device = None
            if device is None or device.home_id != home.id:
                raise HTTPException(422, f"device_id: no device {body.device_id!r} in that home")
        try:
            made = await silences.create(
                home.organisation_id or DEFAULT_ORGANISATION,
                home.id,
                body.device_id,
                body.ends_at,
                body.reason,
                user.username,
            )
        except SilenceError as exc:
            raise HTTPException(422, str(exc)) from None
        return silence_read(made)

    @router.get("/silences", response_model=list[SilenceRead], summary="Maintenance silences")
    async def list_silences(
        user: Operator,
        home_id: Annotated[str | None, Query(pattern=ID_PATTERN.pattern)] = None,
    ) -> list[SilenceRead]:
        """Active silences and those that ended in the last 24 hours, newest first."""
        found = await ctx.store.list_silences(scope(user), since=ctx.clock.now() - RECENT)
        return [silence_read(s) for s in found if home_id is None or s.home_id == home_id]

    @router.get(
        "/silences/{silence_id}",
        response_model=SilenceRead,
        summary="One silence",
        responses=ERRORS,
    )
    async def get_silence(silence_id: SilenceId, user: Operator) -> SilenceRead:
        return silence_read(await silence(silence_id, user))

    @router.post(
        "/silences/{silence_id}/end",
        response_model=SilenceRead,
        summary="End a silence now",
        responses=ERRORS,
    )
    async def end_silence(silence_id: SilenceId, user: Supervisor) -> SilenceRead:
        found = await silence(silence_id, user)
        return silence_read(await silences.end(found, user.username))

    return router
