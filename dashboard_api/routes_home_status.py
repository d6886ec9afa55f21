"""Every home's state in one request, for the home tiles of a large care centre
(``GET /api/v1/status/homes``): 2,000 homes need no request per home.

A home is ``alerting`` with an unresolved alert, else ``device_offline`` with a
device offline (the rule of ``device_online.py``), else ``all_well``.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.device_online import device_online
from dashboard_api.tenancy import scope
from detectors.config import Rules
from eldercare.domain import Alert, AlertStatus, Role, Severity, User
from eldercare.store.base import AlertFilter

UNRESOLVED = (
    AlertStatus.OPEN,
    AlertStatus.ACKNOWLEDGED,
    AlertStatus.DISPATCHED,
    AlertStatus.ON_SITE,
)
MAX_OPEN_ALERTS = 100_000


class HomeState(StrEnum):
    ALERTING = "alerting"
    DEVICE_OFFLINE = "device_offline"
    ALL_WELL = "all_well"


class TileAlertRead(BaseModel):
    id: int
    kind: str
    severity: Severity
    status: AlertStatus
    raised_at: datetime


class HomeTileRead(BaseModel):
    home_id: str
    name: str
    address: str
    residents: list[str]
    """resident names"""
    state: HomeState
    severity: Severity | None
    """the worst severity of its unresolved alerts"""
    alerts: list[TileAlertRead]
    devices: int
    devices_offline: list[str]
    devices_unknown: int
    """devices never heard from"""
    last_seen: datetime | None
    """the latest any of its devices was heard from"""


class HomeTilesRead(BaseModel):
    counts: dict[HomeState, int]
    """over every home of the care centre, before `q` and `state`"""
    homes: list[HomeTileRead]


def _worst(alerts: list[Alert]) -> Severity | None:
    return min((a.severity for a in alerts), key=lambda s: s.rank, default=None)


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/status", tags=["registry"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]
    errors: dict[int | str, dict[str, Any]] = {422: {"description": "an unknown `state`"}}

    @router.get(
        "/homes",
        response_model=HomeTilesRead,
        summary="Every home's state: open alerts, devices offline, last seen",
        responses=errors,
    )
    async def homes_status(
        user: Operator,
        q: Annotated[
            str | None, Query(max_length=200, description="home id, name or resident name contains")
        ] = None,
        state: Annotated[
            str | None, Query(description="alerting, device_offline or all_well")
        ] = None,
    ) -> HomeTilesRead:
        """One tile per home of your care centre, alerting first, then with a device
        offline, then by id; `counts` are over every home."""
        try:
            wanted = HomeState(state) if state else None
        except ValueError as exc:
            raise HTTPException(
                422, f"`state` must be alerting, device_offline or all_well, not {state!r}"
            ) from exc
        org, store, now = scope(user), ctx.store, ctx.clock.now()
        homes = await store.list_homes(org)
        residents: dict[str, list[str]] = {}
        for r in await store.list_residents(organisation_id=org):
            residents.setdefault(r.home_id, []).append(r.name)
        liveness = {lv.device_id: lv for lv in await store.list_all_liveness(org)}
        devices: dict[str, list[Any]] = {}
        for d in await store.list_devices(organisation_id=org):
            devices.setdefault(d.home_id, []).append(d)
        open_alerts: dict[str, list[Alert]] = {}
        flt = AlertFilter(status=UNRESOLVED, limit=MAX_OPEN_ALERTS, organisation_id=org)
        for a in await store.list_alerts(flt):
            open_alerts.setdefault(a.home_id, []).append(a)
        tiles: list[HomeTileRead] = []
        for home in homes:
            rules = Rules.merge(home.rules)
            offline, unknown, seen = [], 0, []
            for d in devices.get(home.id, []):
                lv = liveness.get(d.id)
                online = device_online(d.kind, lv, rules, now).online
                if online is False:
                    offline.append(d.id)
                elif online is None:
                    unknown += 1
                if lv is not None and lv.last_seen is not None:
                    seen.append(lv.last_seen)
            alerts = sorted(open_alerts.get(home.id, []), key=lambda a: (a.severity.rank, a.id))
            tile_state = (
                HomeState.ALERTING
                if alerts
                else HomeState.DEVICE_OFFLINE
                if offline
                else HomeState.ALL_WELL
            )
            tiles.append(
                HomeTileRead(
                    home_id=home.id,
                    name=home.name,
                    address=home.address,
                    residents=residents.get(home.id, []),
                    state=tile_state,
                    severity=_worst(alerts),
                    alerts=[
                        TileAlertRead(
                            id=a.id,
                            kind=a.kind.value,
                            severity=a.severity,
                            status=a.status,
                            raised_at=a.raised_at,
                        )
                        for a in alerts
                    ],
                    devices=len(devices.get(home.id, [])),
                    devices_offline=offline,
                    devices_unknown=unknown,
                    last_seen=max(seen, default=None),
                )
            )
        order = {HomeState.ALERTING: 0, HomeState.DEVICE_OFFLINE: 1, HomeState.ALL_WELL: 2}
        tiles.sort(key=lambda t: (order[t.state], t.severity.rank if t.severity else 9, t.home_id))
        counts = {s: sum(1 for t in tiles if t.state is s) for s in HomeState}
        if wanted is not None:
            tiles = [t for t in tiles if t.state is wanted]
        if q:
            needle = q.casefold()
            tiles = [
                t
                for t in tiles
                if needle in t.home_id.casefold()
                or needle in t.name.casefold()
                or any(needle in n.casefold() for n in t.residents)
            ]
        return HomeTilesRead(counts=counts, homes=tiles)

    return router
