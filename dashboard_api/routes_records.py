"""The resident record (issue 15): health, language, hearing, how to get in.

``GET /api/v1/residents/{id}/record`` for every role: a supervisor or admin
sees the key-safe code, and each such view is written to the audit log; an
operator sees it only while an active alert of the resident's home is assigned
to them (claimed, or given by a supervisor: routes_roster.py), and otherwise
gets it masked with ``key_safe_code_hidden: true``.
``PUT`` (supervisors, admins) replaces the record, audited with the names of
the fields that changed (never their values).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from dashboard_api import audit
from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.record_models import KEY_SAFE_MASK, RecordFields, RecordRead
from dashboard_api.tenancy import scope
from eldercare.domain import Role, User
from eldercare.records import StoredRecord
from eldercare.store.base import Store

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such resident"},
    422: {"description": "Invalid fields; `detail` names them"},
}


def sees_key_safe(user: User, assigned: bool = False) -> bool:
    """Supervisors and admins; an operator while assigned to an active alert of
    the resident's home (the roster, issue 15 item 2)."""
    return assigned or user.role.allows(Role.SUPERVISOR)


async def assigned_to_home(store: Store, user: User, home_id: str, org: str) -> bool:
    """Whether an active alert of ``home_id`` is assigned to ``user``."""
    for a in await store.active_assignments(org):
        if a.username == user.username and (await store.get_alert(a.alert_id)).home_id == home_id:
            return True
    return False


def record_read(
    resident_id: str, stored: StoredRecord | None, user: User, assigned: bool = False
) -> RecordRead:
    fields = RecordFields.model_validate(stored.record if stored else {})
    values = fields.model_dump()
    code = values.pop("key_safe_code")
    hidden = not sees_key_safe(user, assigned)
    return RecordRead(
        resident_id=resident_id,
        **values,
        key_safe_code=KEY_SAFE_MASK if hidden and code is not None else code,
        key_safe_code_hidden=hidden,
        updated_at=stored.updated_at if stored else None,
        updated_by=stored.updated_by if stored else None,
    )


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/residents", tags=["registry"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]
    store = ctx.store

    async def organisation_of(resident_id: str, user: User) -> str:
        resident = await store.get_resident(resident_id, scope(user))
        return (await store.get_home(resident.home_id)).organisation_id

    async def view(resident_id: str, user: User, request: Request) -> RecordRead:
        stored = await store.get_resident_record(resident_id, scope(user))
        assigned = False
        if not sees_key_safe(user):
            resident = await store.get_resident(resident_id, scope(user))
            org = await organisation_of(resident_id, user)
            assigned = await assigned_to_home(store, user, resident.home_id, org)
        read = record_read(resident_id, stored, user, assigned)
        if read.key_safe_code is not None and not read.key_safe_code_hidden:
            org = await organisation_of(resident_id, user)
            await audit.write(
                ctx, auth, request, user, "record.view_key_safe", f"resident:{resident_id}", org
            )
        return read

    @router.get(
        "/{resident_id}/record",
        response_model=RecordRead,
        summary="A resident's record",
        responses={404: ERRORS[404]},
    )
    async def get_record(resident_id: str, user: Operator, request: Request) -> RecordRead:
        """Every field; an empty record (and `updated_at` null) if none was
        written yet. The key-safe code is shown to supervisors and admins only
        (and the view is audited); an operator sees it masked."""
        return await view(resident_id, user, request)

    @router.put(
        "/{resident_id}/record",
        response_model=RecordRead,
        summary="Replace a resident's record",
        responses=ERRORS,
    )
    async def put_record(
        resident_id: str, body: RecordFields, user: Supervisor, request: Request
    ) -> RecordRead:
        """The whole record: a field left out is emptied. Audited (which fields
        changed, not their values)."""
        before = await store.get_resident_record(resident_id, scope(user))
        old = RecordFields.model_validate(before.record if before else {}).model_dump(mode="json")
        new = body.model_dump(mode="json")
        changed = sorted(k for k in new if new[k] != old.get(k))
        stored = await store.put_resident_record(
            StoredRecord(resident_id, new, ctx.clock.now(), user.username)
        )
        org = await organisation_of(resident_id, user)
        await audit.write(
            ctx,
            auth,
            request,
            user,
            "record.update",
            f"resident:{resident_id}",
            org,
            {"fields": changed},
        )
        read = record_read(resident_id, stored, user)
        if read.key_safe_code is not None:
            await audit.write(
                ctx, auth, request, user, "record.view_key_safe", f"resident:{resident_id}", org
            )
        return read

    return router
