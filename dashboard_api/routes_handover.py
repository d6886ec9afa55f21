"""``GET /api/v1/handover``: what the next shift needs to know (Issue 15 item 6).

For a window (default: the last 8 hours; or ``from`` / ``to``), of the caller's
care centre:

- ``open``: every alert not resolved now (whenever raised), most severe first;
- ``resolved``: the alerts resolved within the window, with outcome, note, who
  and when;
- ``offline_devices``: devices whose status is offline now, or that have an
  alert ``device_offline`` not resolved;
- ``watch``: residents to watch: two or more alerts raised within the window,
  or a note marked ``watch`` within the window (on any of their alerts). An
  alert of a home with no resident (gas, water, door) counts for the home
  (``resident_id`` null).

The printable page is ``/static/handover.html`` (the same data, print CSS).
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import AlertRead, Time
from dashboard_api.tenancy import scope
from eldercare.domain import Alert, AlertKind, AlertStatus, Role, User
from eldercare.store.base import AlertFilter

DEFAULT_HOURS = 8
MAX_WINDOW = timedelta(days=7)
WATCH_ALERTS = 2
"""Alerts raised within the window that put a resident on the watch list."""
ACTIVE = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED, AlertStatus.ON_SITE)
SEVERITY_RANK = {"critical": 0, "high": 1, "warning": 2, "info": 3}
ALL = 1_000_000


class HandoverAlert(AlertRead):
    home_name: str | None
    resident_name: str | None


class HandoverResolved(HandoverAlert):
    resolved_at: datetime
    resolved_by: str | None
    note: str | None


class OfflineDevice(BaseModel):
    device_id: str
    home_id: str
    home_name: str | None
    kind: str
    location: str | None
    last_seen: datetime | None
    status_offline: bool = Field(description="its status topic or supervision says offline")
    open_alert_id: int | None = Field(description="its device_offline alert not resolved")


class WatchNote(BaseModel):
    alert_id: int
    at: datetime
    by: str | None
    text: str


class WatchResident(BaseModel):
    home_id: str
    home_name: str | None
    resident_id: str | None
    resident_name: str | None
    alerts: int = Field(description="alerts raised within the window")
    kinds: list[AlertKind]
    notes: list[WatchNote] = Field(description="notes marked watch within the window")


class HandoverRead(BaseModel):
    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    open: list[HandoverAlert]
    resolved: list[HandoverResolved]
    offline_devices: list[OfflineDevice]
    watch: list[WatchResident]
    watch_rule: str

    model_config = {"populate_by_name": True}


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None or dt.tzinfo is not None:
        return dt
    return dt.replace(tzinfo=UTC)


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["handover"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]

    @router.get(
        "/handover",
        response_model=HandoverRead,
        response_model_by_alias=True,
        summary="Shift handover report",
    )
    async def handover(
        user: Operator,
        start: Annotated[
            Time | None, Query(alias="from", description="default: `to` − 8 h")
        ] = None,
        end: Annotated[Time | None, Query(alias="to", description="default: now")] = None,
    ) -> HandoverRead:
        """Open alerts, alerts resolved in the window with their outcomes, devices
        offline and residents to watch (2+ alerts in the window, or a note marked
        watch). Times are UTC unless they carry an offset."""
        end = _aware(end) or ctx.clock.now()
        start = _aware(start) or end - timedelta(hours=DEFAULT_HOURS)
        if start >= end:
            raise HTTPException(422, "from: must be before to")
        if end - start > MAX_WINDOW:
            raise HTTPException(422, "from: the window is at most 7 days")
        org = scope(user)
        store = ctx.store
        homes = {h.id: h for h in await store.list_homes(org)}
        residents = {r.id: r for r in await store.list_residents(organisation_id=org)}
        devices = await store.list_devices(organisation_id=org)

        def named(alert: Alert) -> dict[str, str | None]:
            home = homes.get(alert.home_id)
            resident = residents.get(alert.resident_id or "")
            return {
                "home_name": home.name if home else None,
                "resident_name": resident.name if resident else None,
            }

        def read(alert: Alert) -> HandoverAlert:
            return HandoverAlert.model_validate(
                {**AlertRead.model_validate(alert).model_dump(), **named(alert)}
            )

        active = await store.list_alerts(AlertFilter(status=ACTIVE, organisation_id=org, limit=ALL))
        active.sort(key=lambda a: (SEVERITY_RANK[a.severity.value], a.raised_at, a.id))

        resolved: list[HandoverResolved] = []
        for entry in await store.list_timeline_window(["resolved"], start, end, org):
            alert = await store.get_alert(entry.alert_id, org)
            resolved.append(
                HandoverResolved(
                    **read(alert).model_dump(),
                    resolved_at=entry.at,
                    resolved_by=entry.actor,
                    note=entry.details.get("note"),
                )
            )

        offline_alerts = {a.device_id: a.id for a in active if a.kind is AlertKind.DEVICE_OFFLINE}
        liveness = {d.device_id: d for d in await store.list_all_liveness(org)}
        offline: list[OfflineDevice] = []
        for device in devices:
            live = liveness.get(device.id)
            down = live is not None and live.online is False
            if down or device.id in offline_alerts:
                home = homes.get(device.home_id)
                offline.append(
                    OfflineDevice(
                        device_id=device.id,
                        home_id=device.home_id,
                        home_name=home.name if home else None,
                        kind=device.kind.value,
                        location=device.location,
                        last_seen=live.last_seen if live else None,
                        status_offline=down,
                        open_alert_id=offline_alerts.get(device.id),
                    )
                )

        raised = [
            a
            for a in await store.list_alerts(
                AlertFilter(since=start, organisation_id=org, limit=ALL)
            )
            if a.raised_at < end
        ]
        counts: dict[tuple[str, str | None], list[Alert]] = defaultdict(list)
        for alert in raised:
            counts[(alert.home_id, alert.resident_id)].append(alert)
        notes: dict[tuple[str, str | None], list[WatchNote]] = defaultdict(list)
        for entry in await store.list_timeline_window(["note"], start, end, org):
            if entry.details.get("watch") is True:
                alert = await store.get_alert(entry.alert_id, org)
                notes[(alert.home_id, alert.resident_id)].append(
                    WatchNote(
                        alert_id=alert.id,
                        at=entry.at,
                        by=entry.actor,
                        text=str(entry.details.get("text", "")),
                    )
                )
        keys = {k for k, v in counts.items() if len(v) >= WATCH_ALERTS} | set(notes)
        watch = []
        for home_id, resident_id in sorted(keys, key=lambda k: (k[0], k[1] or "")):
            mine = counts.get((home_id, resident_id), [])
            home = homes.get(home_id)
            resident = residents.get(resident_id or "")
            watch.append(
                WatchResident(
                    home_id=home_id,
                    home_name=home.name if home else None,
                    resident_id=resident_id,
                    resident_name=resident.name if resident else None,
                    alerts=len(mine),
                    kinds=sorted({a.kind for a in mine}),
                    notes=notes.get((home_id, resident_id), []),
                )
            )

        return HandoverRead.model_validate(
            {
                "from": start,
                "to": end,
                "open": [read(a) for a in active],
                "resolved": resolved,
                "offline_devices": offline,
                "watch": watch,
                "watch_rule": f"{WATCH_ALERTS}+ alerts raised in the window,"
                " or a note marked watch",
            }
        )

    return router
