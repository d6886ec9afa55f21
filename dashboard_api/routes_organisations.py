"""Care centres (organisations) of the installation: platform admins only.

A platform admin is an admin account with no organisation (``eldercare users
add NAME --role admin --platform``). An admin of one care centre gets a 403
here; the centre's own rows are managed through the other routers, which
keep every account to its organisation (``dashboard_api.tenancy``).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import OrganisationCreate, OrganisationRead
from eldercare.domain import Organisation, User

ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "The id is taken"},
    422: {"description": "Invalid fields"},
}


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"])
    Platform = Annotated[User, Depends(auth.require_platform())]
    store = ctx.store

    @router.get("", response_model=list[OrganisationRead], summary="List care centres")
    async def list_organisations(_: Platform) -> list[Organisation]:
        return await store.list_organisations()

    @router.post(
        "",
        response_model=OrganisationRead,
        status_code=201,
        summary="Add a care centre",
        responses=ERRORS,
    )
    async def create_organisation(body: OrganisationCreate, _: Platform) -> Organisation:
        """Then add its first admin with `POST /api/v1/users` naming `organisation_id`;
        that admin adds the centre's accounts, and its supervisors its homes."""
        return await store.create_organisation(Organisation(body.id, body.name))

    return router
