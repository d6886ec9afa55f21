"""Care-centre accounts (admin only). Passwords go in, never come out.

A new password must pass ``eldercare.passwords.check_new_password`` (length,
breached list, guessability): 422 with the reason otherwise. A password or
role change and a deletion end the account's tokens and live streams at once.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response

from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import UnlockRead, UserCreate, UserRead, UserUpdate
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

    async def check_admin_remains(username: str) -> None:
        """Refuse to demote or delete the last admin: nobody could manage accounts."""
        admins = [u for u in await store.list_users() if u.role is Role.ADMIN]
        if [u.username for u in admins] == [username]:
            raise HTTPException(409, f"{username} is the last admin; make another admin first")

    @router.get("", response_model=list[UserRead], summary="List accounts")
    async def list_users(_: Admin) -> list[User]:
        return await store.list_users()

    @router.post(
        "", response_model=UserRead, status_code=201, summary="Add an account", responses=ERRORS
    )
    async def create_user(body: UserCreate, _: Admin) -> User:
        password_hash = await _hash_new(body.password, body.username)
        return await store.create_user(User(body.username, password_hash, body.role, body.phone))

    @router.patch(
        "/{username}", response_model=UserRead, summary="Change an account", responses=ERRORS
    )
    async def update_user(username: str, body: UserUpdate, _: Admin) -> User:
        """Change the role, phone or password. A new password or role ends the
        account's tokens (it logs in again) and closes its live streams."""
        changes = body.changes()
        current = await store.get_user(username)
        if current.role is Role.ADMIN and changes.get("role", Role.ADMIN) is not Role.ADMIN:
            await check_admin_remains(username)
        if "password" in changes:
            changes["password_hash"] = await _hash_new(changes.pop("password"), username)
        updated = await store.update_user(username, changes)
        if updated.token_version != current.token_version:
            auth.sessions_ended(username)
        return updated

    @router.delete("/{username}", status_code=204, summary="Remove an account", responses=ERRORS)
    async def delete_user(username: str, _: Admin) -> Response:
        """Tokens already issued to the account stop working at once; its live
        streams are closed."""
        current = await store.get_user(username)
        if current.role is Role.ADMIN:
            await check_admin_remains(username)
        await store.delete_user(username)
        auth.sessions_ended(username)
        return Response(status_code=204)

    @router.post(
        "/{username}/unlock",
        response_model=UnlockRead,
        summary="Clear an account's failed logins",
        responses={404: ERRORS[404]},
    )
    async def unlock(username: str, _: Admin) -> UnlockRead:
        """Clear the failed logins for this username from every address, so
        nobody has to wait (this process; the throttle is kept in memory)."""
        await store.get_user(username)
        return UnlockRead(username=username, addresses=auth.limiter.unlock(username))

    @router.post(
        "/{username}/revoke",
        status_code=204,
        summary="End an account's sessions",
        responses={404: ERRORS[404]},
    )
    async def revoke(username: str, _: Admin) -> Response:
        """End every token of the account (a lost tablet) and close its live
        streams; the account logs in again."""
        await auth.revoke(username)
        return Response(status_code=204)

    return router
