"""Care-centre accounts (admin only). Passwords go in, never come out.

An admin sees and manages the accounts of their own care centre only (another
centre's account is a 404, like a missing one) and creates accounts in it; a
platform admin (no organisation) manages every centre's, and names the
organisation of a new account.

A new password must pass ``eldercare.passwords.check_new_password`` (length,
breached list, guessability): 422 with the reason otherwise. A password or
role change and a deletion end the account's tokens and live streams at once.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from dashboard_api import audit
from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import UnlockRead, UserCreate, UserRead, UserUpdate
from dashboard_api.tenancy import account_organisation, scope
from eldercare.domain import Role, User
from eldercare.passwords import WeakPassword, check_new_password, hash_password

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user"},
    409: {"description": "The username is taken, or the change would leave no admin"},
    422: {"description": "Invalid fields, or a password that is too short or too common"},
}


async def _hash_new(password: str, username: str) -> str:
    try:
        check_new_password(password, username)
    except WeakPassword as exc:
        raise HTTPException(422, f"password: {exc}") from exc
    return await asyncio.to_thread(hash_password, password)


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/users", tags=["users"])
    Admin = Annotated[User, Depends(auth.require(Role.ADMIN))]
    store = ctx.store

    async def audited(request: Request, user: User, action: str, account: User, **d: Any) -> None:
        target = f"user:{account.username}"
        org = account.organisation_id
        await audit.write(ctx, auth, request, user, f"user.{action}", target, org, d)

    async def check_admin_remains(account: User) -> None:
        """Refuse to demote or delete the last admin of a centre (or the last
        platform admin): nobody could manage its accounts."""
        org = account.organisation_id
        admins = [
            u
            for u in await store.list_users(org)
            if u.role is Role.ADMIN and u.organisation_id == org
        ]
        if [u.username for u in admins] == [account.username]:
            raise HTTPException(
                409, f"{account.username} is the last admin; make another admin first"
            )

    @router.get("", response_model=list[UserRead], summary="List accounts")
    async def list_users(user: Admin) -> list[User]:
        """The accounts of your care centre (a platform admin: every account)."""
        return await store.list_users(scope(user))

    @router.post(
        "", response_model=UserRead, status_code=201, summary="Add an account", responses=ERRORS
    )
    async def create_user(body: UserCreate, user: Admin, request: Request) -> User:
        """In your own care centre; a platform admin names `organisation_id` (or
        leaves it out for another platform admin)."""
        org = await account_organisation(store, user, body.organisation_id)
        if org is None and body.role is not Role.ADMIN:
            raise HTTPException(
                422, f"organisation_id: a {body.role.value} account needs an organisation"
            )
        password_hash = await _hash_new(body.password, body.username)
        made = await store.create_user(
            User(body.username, password_hash, body.role, body.phone, organisation_id=org)
        )
        await audited(request, user, "create", made, role=made.role.value)
        return made

    @router.patch(
        "/{username}", response_model=UserRead, summary="Change an account", responses=ERRORS
    )
    async def update_user(username: str, body: UserUpdate, user: Admin, request: Request) -> User:
        """Change the role, phone or password. A new password or role ends the
        account's tokens (it logs in again) and closes its live streams."""
        changes = body.changes()
        fields = sorted(changes)
        current = await store.get_user(username, scope(user))
        if current.role is Role.ADMIN and changes.get("role", Role.ADMIN) is not Role.ADMIN:
            if current.organisation_id is None:
                raise HTTPException(422, "role: a platform admin stays an admin")
            await check_admin_remains(current)
        if "password" in changes:
            changes["password_hash"] = await _hash_new(changes.pop("password"), username)
        updated = await store.update_user(username, changes)
        if updated.token_version != current.token_version:
            auth.sessions_ended(username)
        await audited(request, user, "update", updated, fields=fields)
        return updated

    @router.delete("/{username}", status_code=204, summary="Remove an account", responses=ERRORS)
    async def delete_user(username: str, user: Admin, request: Request) -> Response:
        """Tokens already issued to the account stop working at once; its live
        streams are closed."""
        current = await store.get_user(username, scope(user))
        if current.role is Role.ADMIN:
            await check_admin_remains(current)
        await store.delete_user(username)
        auth.sessions_ended(username)
        await audited(request, user, "delete", current)
        return Response(status_code=204)

    @router.post(
        "/{username}/unlock",
        response_model=UnlockRead,
        summary="Clear an account's failed logins",
        responses={404: ERRORS[404]},
    )
    async def unlock(username: str, user: Admin, request: Request) -> UnlockRead:
        """Clear the failed logins for this username from every address, so
        nobody has to wait (this process; the throttle is kept in memory)."""
        account = await store.get_user(username, scope(user))
        addresses = auth.limiter.unlock(username)
        await audited(request, user, "unlock", account, addresses=addresses)
        return UnlockRead(username=username, addresses=addresses)

    @router.post(
        "/{username}/revoke",
        status_code=204,
        summary="End an account's sessions",
        responses={404: ERRORS[404]},
    )
    async def revoke(username: str, user: Admin, request: Request) -> Response:
        """End every token of the account (a lost tablet) and close its live
        streams; the account logs in again."""
        account = await store.get_user(username, scope(user))
        await auth.revoke(username)
        await audited(request, user, "revoke", account)
        return Response(status_code=204)

    return router
