"""The registry: homes, residents, devices and family contacts.

Reads need an operator, writes a supervisor. Every home, resident or device
write calls ``ctx.on_registry_change()`` so the gateway drops its cached view.
A body naming a home or resident that does not exist is a 422; a taken id, a
device ``source`` another device has, or a row still in use is a 409 with the
store's reason.

Every read is scoped to the caller's organisation (``dashboard_api.tenancy``):
another centre's row is a 404 in a path and a 422 in a body, exactly as a
missing one.
"""

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.device_online import device_online
from dashboard_api.models import (
    MAX_ROW_ID,
    ContactCreate,
    ContactRead,
    ContactUpdate,
    DeviceCreate,
    DeviceRead,
    DeviceStatusRead,
    DeviceUpdate,
    HomeCreate,
    HomeRead,
    HomeStatusRead,
    HomeUpdate,
    LatestVitalsRead,
    ResidentCreate,
    ResidentRead,
    ResidentUpdate,
    RuleRead,
    check_device_fields,
    check_device_source,
    source_dict,
)
from dashboard_api.tenancy import home_organisation, scope
from detectors.config import DEFAULTS, Rules
from eldercare.device_source import parse_source
from eldercare.domain import Device, DeviceKind, Home, Resident, Role, User
from eldercare.store.base import NotFound

T = TypeVar("T")

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found"},
    409: {"description": "The id is taken, or the row is still in use"},
    422: {"description": "Invalid fields, or a home/resident that does not exist"},
}


async def _referenced(lookup: Awaitable[T]) -> T:
    """A row the request body points at; missing is the body's fault (422)."""
    try:
        return await lookup
    except NotFound as exc:
        raise HTTPException(422, str(exc)) from exc


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["registry"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]
    ContactId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the contact's id")]
    store = ctx.store

    async def check_resident(user: User, home_id: str, resident_id: str | None) -> None:
        if resident_id is None:
            return
        resident = await _referenced(store.get_resident(resident_id, scope(user)))
        if resident.home_id != home_id:
            raise HTTPException(
                422, f"resident {resident_id} lives in home {resident.home_id}, not {home_id}"
            )

    # --- homes --------------------------------------------------------------------
    @router.get("/homes", response_model=list[HomeRead], summary="List homes")
    async def list_homes(user: Operator) -> list[Home]:
        return await store.list_homes(scope(user))

    @router.post(
        "/homes",
        response_model=HomeRead,
        status_code=201,
        summary="Add a home",
        responses=WRITE_ERRORS,
    )
    async def create_home(body: HomeCreate, user: Supervisor) -> Home:
        """In your own care centre; a platform admin names `organisation_id`."""
        home = Home(
            body.id,
            body.name,
            body.address,
            body.timezone or ctx.settings.timezone,
            body.rules,
            await home_organisation(store, user, body.organisation_id),
        )
        created = await store.create_home(home)
        ctx.on_registry_change()
        return created

    @router.get("/homes/{home_id}", response_model=HomeRead, summary="One home")
    async def get_home(home_id: str, user: Operator) -> Home:
        return await store.get_home(home_id, scope(user))

    @router.patch(
        "/homes/{home_id}",
        response_model=HomeRead,
        summary="Change a home",
        responses=WRITE_ERRORS,
    )
    async def update_home(home_id: str, body: HomeUpdate, user: Supervisor) -> Home:
        await store.get_home(home_id, scope(user))
        home = await store.update_home(home_id, body.changes())
        ctx.on_registry_change()
        return home

    @router.delete(
        "/homes/{home_id}", status_code=204, summary="Remove a home", responses=WRITE_ERRORS
    )
    async def delete_home(home_id: str, user: Supervisor) -> Response:
        """With its residents, devices and contacts; refused while it has unresolved alerts."""
        await store.get_home(home_id, scope(user))
        await store.delete_home(home_id)
        ctx.on_registry_change()
        return Response(status_code=204)

    @router.get("/homes/{home_id}/status", response_model=HomeStatusRead, summary="Device status")
    async def home_status(home_id: str, user: Operator) -> HomeStatusRead:
        """Per device: online, last seen and battery; per bed band its latest vital signs.

        `online` follows the supervision rule: a status `offline`, or silence for
        3 heartbeat intervals (mains devices 15 min, battery devices 3 h), is
        offline; a device that never published a status is judged by last seen."""
        home = await store.get_home(home_id, scope(user))
        devices = await store.list_devices(home_id)
        liveness = {lv.device_id: lv for lv in await store.list_liveness(home_id)}
        rules, now = Rules.merge(home.rules), ctx.clock.now()
        rows = []
        for device in devices:
            lv = liveness.get(device.id)
            online = device_online(device.kind, lv, rules, now)
            rows.append(
                DeviceStatusRead(
                    device_id=device.id,
                    kind=device.kind,
                    location=device.location,
                    resident_id=device.resident_id,
                    online=online.online,
                    online_basis=online.basis,
                    offline_after_s=int(online.offline_after.total_seconds()),
                    last_seen=lv.last_seen if lv else None,
                    battery=lv.battery if lv else None,
                )
            )
        vitals = [
            LatestVitalsRead(
                device_id=v.device_id,
                resident_id=v.resident_id,
                ts=v.ts,
                hr=v.hr,
                rr=v.rr,
                in_bed=v.in_bed,
            )
            for v in await store.latest_vitals(home_id)
        ]
        return HomeStatusRead(home_id=home_id, devices=rows, vitals=vitals)

    @router.get(
        "/homes/{home_id}/rules", response_model=list[RuleRead], summary="Detector settings"
    )
    async def home_rules(
        home_id: str, user: Operator, resident_id: str | None = None
    ) -> list[RuleRead]:
        """Every detector setting as it applies to the home (and to a resident of it,
        with ``resident_id``): the value, who set it, and the default's source."""
        home = await store.get_home(home_id, scope(user))
        limits: dict[str, float] = {}
        if resident_id is not None:
            resident = await store.get_resident(resident_id, scope(user))
            if resident.home_id != home_id:
                raise HTTPException(404, f"resident {resident_id} does not live in {home_id}")
            limits = resident.limits
        rows = []
        for name, default in DEFAULTS.items():
            set_by: Literal["default", "home", "resident"] = "default"
            value = default.value
            if name in home.rules:
                set_by, value = "home", home.rules[name]
            if name in limits:
                set_by, value = "resident", limits[name]
            rows.append(
                RuleRead(
                    name=name,
                    value=value,
                    default=default.value,
                    unit=default.unit,
                    set_by=set_by,
                    rule=default.rule,
                    source=default.source,
                )
            )
        return rows

    # --- residents ----------------------------------------------------------------
    @router.get("/residents", response_model=list[ResidentRead], summary="List residents")
    async def list_residents(user: Operator, home_id: str | None = None) -> list[Resident]:
        return await store.list_residents(home_id, scope(user))

    @router.post(
        "/residents",
        response_model=ResidentRead,
        status_code=201,
        summary="Add a resident",
        responses=WRITE_ERRORS,
    )
    async def create_resident(body: ResidentCreate, user: Supervisor) -> Resident:
        await _referenced(store.get_home(body.home_id, scope(user)))
        created = await store.create_resident(
            Resident(body.id, body.home_id, body.name, dict(body.limits))
        )
        ctx.on_registry_change()
        return created

    @router.get("/residents/{resident_id}", response_model=ResidentRead, summary="One resident")
    async def get_resident(resident_id: str, user: Operator) -> Resident:
        return await store.get_resident(resident_id, scope(user))

    @router.patch(
        "/residents/{resident_id}",
        response_model=ResidentRead,
        summary="Change a resident",
        responses=WRITE_ERRORS,
    )
    async def update_resident(resident_id: str, body: ResidentUpdate, user: Supervisor) -> Resident:
        await store.get_resident(resident_id, scope(user))  # the body cannot move it
        resident = await store.update_resident(resident_id, body.changes())
        ctx.on_registry_change()
        return resident

    @router.delete(
        "/residents/{resident_id}",
        status_code=204,
        summary="Remove a resident",
        responses=WRITE_ERRORS,
    )
    async def delete_resident(resident_id: str, user: Supervisor) -> Response:
        await store.get_resident(resident_id, scope(user))
        await store.delete_resident(resident_id)
        ctx.on_registry_change()
        return Response(status_code=204)

    # --- devices ------------------------------------------------------------------
    @router.get("/devices", response_model=list[DeviceRead], summary="List devices")
    async def list_devices(user: Operator, home_id: str | None = None) -> list[Device]:
        return await store.list_devices(home_id, scope(user))

    @router.post(
        "/devices",
        response_model=DeviceRead,
        status_code=201,
        summary="Add a device",
        responses=WRITE_ERRORS,
    )
    async def create_device(body: DeviceCreate, user: Supervisor) -> Device:
        """A `bed_band` needs the `resident_id` of a resident of the same home."""
        await _referenced(store.get_home(body.home_id, scope(user)))
        await check_resident(user, body.home_id, body.resident_id)
        device = Device(
            body.id,
            body.home_id,
            body.kind,
            body.resident_id,
            body.location,
            source_dict(body.source),
        )
        created = await store.create_device(device)
        ctx.on_registry_change()
        return created

    @router.get("/devices/{device_id}", response_model=DeviceRead, summary="One device")
    async def get_device(device_id: str, user: Operator) -> Device:
        return await store.get_device(device_id, scope(user))

    @router.patch(
        "/devices/{device_id}",
        response_model=DeviceRead,
        summary="Change a device",
        responses=WRITE_ERRORS,
    )
    async def update_device(device_id: str, body: DeviceUpdate, user: Supervisor) -> Device:
        current = await store.get_device(device_id, scope(user))
        changes = body.changes()
        kind = DeviceKind(changes.get("kind", current.kind))
        resident_id = changes.get("resident_id", current.resident_id)
        if "source" in changes:
            changes["source"] = source_dict(body.source)
        try:
            check_device_fields(kind, resident_id)
            source = changes.get("source", current.source)
            check_device_source(kind, None if source is None else parse_source(source))
        except ValueError as exc:  # pydantic's ValidationError is one too
            raise HTTPException(422, str(exc)) from exc
        if "resident_id" in changes:
            await check_resident(user, current.home_id, resident_id)
        device = await store.update_device(device_id, changes)
        ctx.on_registry_change()
        return device

    @router.delete(
        "/devices/{device_id}",
        status_code=204,
        summary="Remove a device",
        responses=WRITE_ERRORS,
    )
    async def delete_device(device_id: str, user: Supervisor) -> Response:
        await store.get_device(device_id, scope(user))
        await store.delete_device(device_id)
        ctx.on_registry_change()
        return Response(status_code=204)

    # --- contacts -----------------------------------------------------------------
    @router.get("/contacts", response_model=list[ContactRead], summary="List family contacts")
    async def list_contacts(user: Operator, home_id: str | None = None) -> list[ContactRead]:
        """Ordered by home, then priority (1 is called first)."""
        found = await store.list_contacts(home_id, scope(user))
        return [ContactRead.model_validate(c) for c in found]

    @router.post(
        "/contacts",
        response_model=ContactRead,
        status_code=201,
        summary="Add a family contact",
        responses=WRITE_ERRORS,
    )
    async def create_contact(body: ContactCreate, user: Supervisor) -> ContactRead:
        await _referenced(store.get_home(body.home_id, scope(user)))
        contact = await store.create_contact(
            body.home_id, body.name, body.phone, body.language, body.priority, body.sms_provider
        )
        return ContactRead.model_validate(contact)

    @router.get("/contacts/{contact_id}", response_model=ContactRead, summary="One contact")
    async def get_contact(contact_id: ContactId, user: Operator) -> ContactRead:
        return ContactRead.model_validate(await store.get_contact(contact_id, scope(user)))

    @router.patch(
        "/contacts/{contact_id}",
        response_model=ContactRead,
        summary="Change a contact",
        responses=WRITE_ERRORS,
    )
    async def update_contact(
        contact_id: ContactId, body: ContactUpdate, user: Supervisor
    ) -> ContactRead:
        await store.get_contact(contact_id, scope(user))  # the body cannot move it
        return ContactRead.model_validate(await store.update_contact(contact_id, body.changes()))

    @router.delete(
        "/contacts/{contact_id}",
        status_code=204,
        summary="Remove a contact",
        responses=WRITE_ERRORS,
    )
    async def delete_contact(contact_id: ContactId, user: Supervisor) -> Response:
        await store.get_contact(contact_id, scope(user))
        await store.delete_contact(contact_id)
        return Response(status_code=204)

    return router
