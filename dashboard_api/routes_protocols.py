"""Response protocols, protocol ticks, notes and calls (Issue 15 items 3 and 4).

- ``GET, PUT, DELETE /api/v1/protocols``: a care centre's checklists per alert
  kind (supervisors); PUT replaces the centre's own, DELETE goes back to the
  packaged default (``alerts/policies/protocols.toml``).
- ``GET /api/v1/alerts/{id}/protocol``: the checklist of the alert's kind in
  its centre, each step with who ticked it and when.
- ``POST /api/v1/alerts/{id}/protocol/{step}``, ``/notes``, ``/calls``: what an
  operator did, each one entry on the alert's timeline with who and when
  (events ``protocol_step``, ``note``, ``call``), and a change on the live
  stream so every screen shows it.
"""

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field, field_validator

from alerts.protocols import (
    LANGUAGES,
    ProtocolError,
    Protocols,
    ProtocolStep,
    as_data,
    effective,
    load_default_protocols,
    parse_protocols,
)
from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import MAX_ROW_ID, TimelineEntryRead
from dashboard_api.tenancy import home_organisation, scope
from eldercare.domain import DEFAULT_ORGANISATION, Alert, AlertKind, AlertStatus, Role, User
from eldercare.domain import TimelineEntry as Entry
from eldercare.store.base import NotFound, Store

log = logging.getLogger("eldercare.api")

CALL_OUTCOMES = ("answered", "no_answer", "busy", "wrong_number")
CALLEES = ("resident", "contact", "other")


class ProtocolStepRead(BaseModel):
    id: str
    text: dict[str, str] = Field(description="by language: zh-CN, en")
    done: bool = False
    by: str | None = Field(None, description="who ticked it")
    at: datetime | None = Field(None, description="when it was ticked")


class AlertProtocolRead(BaseModel):
    alert_id: int
    kind: AlertKind
    source: Literal["centre", "default"]
    steps: list[ProtocolStepRead]


class ProtocolsRead(BaseModel):
    organisation_id: str
    protocols: dict[str, Any] = Field(
        description='every kind: {"steps": [{"id", "zh-CN", "en"}]}, the form PUT takes'
    )
    centre_kinds: list[AlertKind] = Field(
        description="the kinds the centre has replaced; the others are the default"
    )
    updated_at: datetime | None = None
    updated_by: str | None = None


class NoteCreate(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    watch: bool = Field(False, description="mark the resident to watch (shift handover)")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a note needs some text")
        return value.strip()


class CallCreate(BaseModel):
    callee: Literal["resident", "contact", "other"]
    contact_id: int | None = Field(None, ge=1, le=MAX_ROW_ID, description="for callee contact")
    name: str | None = Field(None, max_length=200, description="for callee other")
    phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9][0-9 ()-]{2,31}$")
    outcome: Literal["answered", "no_answer", "busy", "wrong_number"]
    note: str | None = Field(None, max_length=500)


ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "No such alert"}}


async def centre_protocols(store: Store, org: str) -> Protocols | None:
    """The centre's own protocols; None (the defaults) if it has none, or if the
    stored document no longer passes the checks (an alert kind renamed by an
    upgrade): logged, never a 500 in the middle of an alarm."""
    stored = await store.get_protocols(org)
    if stored is None:
        return None
    try:
        return parse_protocols(stored.document, f"stored protocols of {org}")
    except ProtocolError as exc:
        log.error("%s; showing the default protocols", exc)
        return None


def _alert_org(alert: Alert) -> str:
    return alert.organisation_id or DEFAULT_ORGANISATION


def _ticks(timeline: list[Entry]) -> dict[str, Entry]:
    return {
        str(e.details.get("step")): e
        for e in reversed(timeline)
        if e.event == "protocol_step" and e.details.get("step")
    }


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["protocols"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]
    AlertId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the alert's id")]
    OrgQuery = Annotated[
        str | None, Query(description="platform admins: the care centre (default: default)")
    ]
    defaults = load_default_protocols()

    async def _steps_for(alert: Alert) -> tuple[str, tuple[ProtocolStep, ...]]:
        centre = await centre_protocols(ctx.store, _alert_org(alert))
        return effective(defaults, centre)[alert.kind]

    async def _read_protocols(org: str) -> ProtocolsRead:
        stored = await ctx.store.get_protocols(org)
        centre = await centre_protocols(ctx.store, org)
        merged = effective(defaults, centre)
        return ProtocolsRead(
            organisation_id=org,
            protocols=as_data({k: steps for k, (_, steps) in merged.items()}),
            centre_kinds=[k for k, (src, _) in merged.items() if src == "centre"],
            updated_at=None if stored is None else stored.updated_at,
            updated_by=None if stored is None else stored.updated_by,
        )

    @router.get("/protocols", response_model=ProtocolsRead, summary="The centre's protocols")
    async def get_protocols(user: Supervisor, organisation_id: OrgQuery = None) -> ProtocolsRead:
        """The checklist of every alert kind as the centre's screens show it."""
        return await _read_protocols(await home_organisation(ctx.store, user, organisation_id))

    @router.put("/protocols", response_model=ProtocolsRead, summary="Replace the protocols")
    async def put_protocols(
        user: Supervisor,
        document: Annotated[
            dict[str, Any],
            Body(
                description='{"<kind>": {"steps": [{"id", "zh-CN", "en"}]}}: the kinds named'
                " replace the default; the others keep it",
                examples=[
                    {
                        "fall": {
                            "steps": [
                                {"id": "call", "zh-CN": "拨打老人电话", "en": "Call the resident"}
                            ]
                        }
                    }
                ],
            ),
        ],
        organisation_id: OrgQuery = None,
    ) -> ProtocolsRead:
        """Replace the centre's own protocols (all of them: send every kind you
        change). Alerts already open show the new checklist; steps ticked before
        stay on their timelines."""
        org = await home_organisation(ctx.store, user, organisation_id)
        try:
            checked = parse_protocols(document, "protocols")
        except ProtocolError as exc:
            raise HTTPException(422, str(exc)) from None
        if not checked:
            raise HTTPException(422, "protocols: name at least one kind (DELETE restores defaults)")
        await ctx.store.save_protocols(org, as_data(checked), ctx.clock.now(), user.username)
        return await _read_protocols(org)

    @router.delete("/protocols", response_model=ProtocolsRead, summary="Back to the defaults")
    async def delete_protocols(user: Supervisor, organisation_id: OrgQuery = None) -> ProtocolsRead:
        """Forget the centre's own protocols: every kind shows the default again."""
        org = await home_organisation(ctx.store, user, organisation_id)
        await ctx.store.delete_protocols(org)
        return await _read_protocols(org)

    @router.get(
        "/alerts/{alert_id}/protocol",
        response_model=AlertProtocolRead,
        summary="The alert's checklist",
        responses=ERRORS,
    )
    async def alert_protocol(alert_id: AlertId, user: Operator) -> AlertProtocolRead:
        """The checklist of the alert's kind in its care centre, each step with
        who ticked it and when (from the timeline)."""
        alert = await ctx.store.get_alert(alert_id, scope(user))
        source, steps = await _steps_for(alert)
        ticks = _ticks(await ctx.store.get_timeline(alert_id))
        return AlertProtocolRead(
            alert_id=alert_id,
            kind=alert.kind,
            source=source,  # type: ignore[arg-type]
            steps=[
                ProtocolStepRead(
                    id=s.id,
                    text=s.text,
                    done=s.id in ticks,
                    by=ticks[s.id].actor if s.id in ticks else None,
                    at=ticks[s.id].at if s.id in ticks else None,
                )
                for s in steps
            ],
        )

    async def _record(alert: Alert, event: str, actor: str, details: dict[str, Any]) -> Entry:
        entry = await ctx.store.add_timeline(
            Entry(alert.id, ctx.clock.now(), event, actor, details)
        )
        ctx.bus.publish(event, alert)  # every screen reloads the alert's timeline
        return entry

    @router.post(
        "/alerts/{alert_id}/protocol/{step_id}",
        response_model=TimelineEntryRead,
        status_code=201,
        summary="Tick a protocol step",
        responses={**ERRORS, 409: {"description": "Already ticked, or the alert is resolved"}},
    )
    async def tick_step(
        alert_id: AlertId,
        step_id: Annotated[str, Path(max_length=40, description="the step's id")],
        user: Operator,
    ) -> TimelineEntryRead:
        """The step is done: on the timeline with who and when."""
        alert = await ctx.store.get_alert(alert_id, scope(user))
        _, steps = await _steps_for(alert)
        step = next((s for s in steps if s.id == step_id), None)
        if step is None:
            known = ", ".join(s.id for s in steps)
            raise HTTPException(
                422, f"step: {step_id!r} is not a step of the {alert.kind.value} protocol ({known})"
            )
        if alert.status is AlertStatus.RESOLVED:
            raise HTTPException(409, f"alert {alert_id} is resolved")
        done = _ticks(await ctx.store.get_timeline(alert_id)).get(step_id)
        if done is not None:
            raise HTTPException(
                409, f"step {step_id!r} was ticked by {done.actor} at {done.at.isoformat()}"
            )
        details = {"step": step.id, "kind": alert.kind.value, "text": step.text}
        entry = await _record(alert, "protocol_step", user.username, details)
        return TimelineEntryRead.model_validate(entry)

    @router.post(
        "/alerts/{alert_id}/notes",
        response_model=TimelineEntryRead,
        status_code=201,
        summary="Add a note",
        responses=ERRORS,
    )
    async def add_note(alert_id: AlertId, body: NoteCreate, user: Operator) -> TimelineEntryRead:
        """A free-text note on the timeline; `watch` puts the resident on the next
        shift handover's list of residents to watch."""
        alert = await ctx.store.get_alert(alert_id, scope(user))
        details = {"text": body.text, "watch": body.watch}
        return TimelineEntryRead.model_validate(
            await _record(alert, "note", user.username, details)
        )

    @router.post(
        "/alerts/{alert_id}/calls",
        response_model=TimelineEntryRead,
        status_code=201,
        summary="Record a phone call",
        responses=ERRORS,
    )
    async def add_call(alert_id: AlertId, body: CallCreate, user: Operator) -> TimelineEntryRead:
        """Who was called (`resident`, a family `contact` by `contact_id`, or
        `other` by `name`) and the outcome: `answered`, `no_answer`, `busy`,
        `wrong_number`; with an optional note."""
        org = scope(user)
        alert = await ctx.store.get_alert(alert_id, org)
        name, phone = body.name, body.phone
        if body.callee == "contact":
            if body.contact_id is None:
                raise HTTPException(422, "contact_id: needed to record a call to a contact")
            try:
                contact = await ctx.store.get_contact(body.contact_id, org)
            except NotFound:
                contact = None
            if contact is None or contact.home_id != alert.home_id:
                raise HTTPException(
                    422, f"contact_id: no contact {body.contact_id} of this alert's home"
                )
            name, phone = contact.name, phone or contact.phone
        elif body.contact_id is not None:
            raise HTTPException(422, "contact_id: only for callee contact")
        elif body.callee == "resident":
            if alert.resident_id:
                try:
                    name = (await ctx.store.get_resident(alert.resident_id, org)).name
                except NotFound:
                    name = name or alert.resident_id
        elif not (name and name.strip()):
            raise HTTPException(422, "name: say whom you called")
        details = {
            "callee": body.callee,
            "contact_id": body.contact_id,
            "name": name.strip() if name else None,
            "phone": phone,
            "outcome": body.outcome,
            "note": body.note.strip() if body.note and body.note.strip() else None,
        }
        return TimelineEntryRead.model_validate(
            await _record(alert, "call", user.username, details)
        )

    return router


__all__ = ["CALLEES", "CALL_OUTCOMES", "LANGUAGES", "build_router"]
