"""Alerts: the list, one alert with its timeline, staff actions and the live stream."""

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from alerts.events import AlertBus, AlertEvent
from alerts.lifecycle import IllegalTransition, check_transition
from dashboard_api import audit
from dashboard_api.alert_detail import load_detail
from dashboard_api.auth import Auth, Session
from dashboard_api.context import AppContext
from dashboard_api.models import (
    MAX_ROW_ID,
    AlertChangeRead,
    AlertDetail,
    AlertPage,
    AlertRead,
    DispatchRequest,
    ResolveRequest,
    Time,
)
from dashboard_api.tenancy import scope
from eldercare.domain import Alert, AlertStatus, Role, Severity, User
from eldercare.store.base import AlertFilter, Store
from eldercare.tenancy import alert_organisation

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert"},
    409: {"description": "The alert's status does not allow this; `detail` says why"},
}


E = TypeVar("E", AlertStatus, Severity)


def _enum_list(kind: type[E], name: str, raw: list[str] | None) -> list[E]:
    """Values from repeated (`?status=a&status=b`) or comma-separated parameters."""
    values: list[E] = []
    for part in (p.strip() for item in raw or [] for p in item.split(",")):
        if not part:
            continue
        try:
            values.append(kind(part))
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise HTTPException(422, f"{name}: {part!r} is not one of {allowed}") from None
    return values


def _cursor(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ROW_ID:
        raise HTTPException(422, "cursor: use the next_cursor of the previous page")
    return int(raw)


def _read(alert: Alert) -> AlertRead:
    return AlertRead.model_validate(alert)


def format_event(event: AlertEvent, epoch: str) -> bytes:
    alert = AlertRead.model_validate(event.alert).model_dump()
    data = AlertChangeRead(**alert, change=event.change).model_dump_json()
    return f"id: {epoch}-{event.id}\nevent: alert\ndata: {data}\n\n".encode()


def _control(name: str, event_id: str, **data: Any) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()


def parse_event_id(raw: str | None, epoch: str) -> int | None:
    """The change number in a ``Last-Event-ID`` of this bus's epoch, else None."""
    if not raw:
        return None
    got_epoch, _, number = raw.strip().partition("-")
    if got_epoch != epoch or not (number.isascii() and number.isdigit()):
        return None
    return int(number)


Visible = Callable[[Alert], Awaitable[bool]]


def visible_to(store: Store, organisation_id: str | None) -> Visible | None:
    """Whether a live alert change belongs to the organisation (None: a platform
    admin sees all). An alert that does not carry its organisation is judged by
    its home's, read once per home and stream (a home never changes centre)."""
    if organisation_id is None:
        return None
    homes: dict[str, str] = {}

    async def visible(alert: Alert) -> bool:
        if alert.organisation_id is not None:
            return alert.organisation_id == organisation_id
        if alert.home_id not in homes:
            homes[alert.home_id] = await alert_organisation(store, alert)
        return homes[alert.home_id] == organisation_id

    return visible


async def event_stream(
    bus: AlertBus,
    keepalive_s: float,
    last_event_id: str | None = None,
    visible: Visible | None = None,
) -> AsyncGenerator[bytes, None]:
    """Alert changes as SSE until the client goes away (the response cancels us).

    First a ``ready`` event carrying the current id (so a reconnect always has
    a ``Last-Event-ID``), or, on a reconnect, the changes missed since
    ``last_event_id``; when those are no longer kept, a ``reload`` event. With
    ``visible``, the changes of alerts it refuses (another centre's) are left out."""
    async with bus.watch() as queue:
        sent = bus.last_id
        missed: list[AlertEvent] | None = []
        if last_event_id:
            after = parse_event_id(last_event_id, bus.epoch)
            missed = None if after is None else bus.replay(after)
        if missed is None:
            yield _control(
                "reload",
                f"{bus.epoch}-{sent}",
                reason="the changes since your last event are no longer kept; reload the list",
            )
        elif not last_event_id:
            yield _control("ready", f"{bus.epoch}-{sent}")
        for old in missed or ():
            if visible is None or await visible(old.alert):
                yield format_event(old, bus.epoch)
        while True:
            try:
                async with asyncio.timeout(keepalive_s):
                    event = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if event is None:  # too slow: dropped by the bus; EventSource reconnects
                return
            if event.id <= sent:  # already sent in the replay
                continue
            if visible is None or await visible(event.alert):
                yield format_event(event, bus.epoch)


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]
    AlertId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the alert's id")]
    StreamOperator = Annotated[Session, Depends(auth.require_stream(Role.OPERATOR))]

    async def audited(
        request: Request, user: User, action: str, alert: Alert, **details: Any
    ) -> AlertRead:
        """The alert as answered, after writing the action to the audit log."""
        org = alert.organisation_id or scope(user)
        target = f"alert:{alert.id}"
        await audit.write(ctx, auth, request, user, f"alert.{action}", target, org, details)
        return _read(alert)

    @router.get("", response_model=AlertPage, summary="List alerts, newest first")
    async def list_alerts(
        user: Operator,
        status: Annotated[list[str] | None, Query(description="e.g. open,acknowledged")] = None,
        home_id: str | None = None,
        severity: Annotated[list[str] | None, Query(description="e.g. critical,high")] = None,
        since: Annotated[Time | None, Query(description="raised at or after")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(description="next_cursor of the last page")] = None,
    ) -> AlertPage:
        """Filter by status, home, severity and raise time; page with `cursor`."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        flt = AlertFilter(
            status=_enum_list(AlertStatus, "status", status),
            home_id=home_id,
            severity=_enum_list(Severity, "severity", severity),
            since=since,
            before_id=_cursor(cursor),
            limit=limit + 1,  # one more tells whether there is a next page
            organisation_id=scope(user),
        )
        found = await ctx.store.list_alerts(flt)
        page = found[:limit]
        more = len(found) > limit
        return AlertPage(
            items=[_read(a) for a in page], next_cursor=str(page[-1].id) if more else None
        )

    @router.get(
        "/stream",
        summary="Live alert changes (Server-Sent Events)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(
        session: StreamOperator,
        last_event_id: Annotated[
            str | None,
            Header(
                alias="Last-Event-ID",
                description="Sent by EventSource on reconnect: the changes since are replayed",
            ),
        ] = None,
    ) -> StreamingResponse:
        """Events:

        - `ready` (first, `data` `{}`): subscribed; its `id` is the newest change.
        - `alert`: one per change, `data` = the alert with its `change`.
        - `reload`: after a reconnect with a `Last-Event-ID` whose changes are no
          longer kept (the last 1,000, or the service restarted): fetch the list again.

        Every event has an `id`; a client that reconnects with `Last-Event-ID`
        (EventSource does this itself) is sent the changes it missed. A comment
        line every 15 s keeps proxies from closing the connection. Browsers
        cannot set headers on EventSource, so this endpoint also takes the token
        as `?access_token=`. When the account's access ends (logout, password
        or role change, deletion) the stream sends `ended` and closes. Only the
        alerts of your own care centre are sent."""
        visible = visible_to(ctx.store, scope(session.user))
        events = event_stream(ctx.bus, ctx.sse_keepalive_s, last_event_id, visible)
        return StreamingResponse(
            auth.guard_stream(session, Role.OPERATOR, events, ctx.sse_keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get("/{alert_id}", response_model=AlertDetail, summary="One alert with its timeline")
    async def get_alert(alert_id: AlertId, user: Operator) -> AlertDetail:
        """Raised, notifications (channel, recipient, delivery status) and staff actions;
        and for the dispatcher: the home (address), resident, device, the family
        contacts with this alert's messages to them and their replies, how many
        distinct people were notified, the detector's details and the escalation steps."""
        org = scope(user)
        return await load_detail(ctx.store, await ctx.store.get_alert(alert_id, org), org)

    @router.post(
        "/{alert_id}/acknowledge",
        response_model=AlertRead,
        summary="Acknowledge",
        responses=ERRORS,
    )
    async def acknowledge(alert_id: AlertId, user: Operator, request: Request) -> AlertRead:
        """A member of staff has seen the alert and is on it."""
        await ctx.store.get_alert(alert_id, scope(user))
        alert = await ctx.alerts.acknowledge(alert_id, user.username)
        return await audited(request, user, "acknowledge", alert)

    @router.post(
        "/{alert_id}/dispatch", response_model=AlertRead, summary="Dispatch", responses=ERRORS
    )
    async def dispatch(
        alert_id: AlertId, body: DispatchRequest, user: Operator, request: Request
    ) -> AlertRead:
        """Somebody (`responder`) is on the way to the home."""
        await ctx.store.get_alert(alert_id, scope(user))
        alert = await ctx.alerts.dispatch(alert_id, user.username, body.responder)
        return await audited(request, user, "dispatch", alert, responder=body.responder)

    @router.post(
        "/{alert_id}/arrive", response_model=AlertRead, summary="Arrive on site", responses=ERRORS
    )
    async def arrive(alert_id: AlertId, user: Operator, request: Request) -> AlertRead:
        """The responder is at the door."""
        await ctx.store.get_alert(alert_id, scope(user))
        return await audited(
            request, user, "arrive", await ctx.alerts.arrive(alert_id, user.username)
        )

    @router.post(
        "/{alert_id}/resolve", response_model=AlertRead, summary="Resolve", responses=ERRORS
    )
    async def resolve(
        alert_id: AlertId, body: ResolveRequest, user: Operator, request: Request
    ) -> AlertRead:
        """Close the alert with an `outcome` and an optional `note`."""
        current = await ctx.store.get_alert(alert_id, scope(user))
        if body.outcome is None:
            check_transition(alert_id, current.status, AlertStatus.RESOLVED, None)
            raise IllegalTransition(  # not reached: check_transition refuses a missing outcome
                alert_id, current.status, AlertStatus.RESOLVED, "resolving needs an outcome"
            )
        alert = await ctx.alerts.resolve(alert_id, user.username, body.outcome, body.note)
        return await audited(request, user, "resolve", alert, outcome=body.outcome.value)

    return router
