"""Care-centre accounts (admin only). Passwords go in, never come out."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response

from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import UserCreate, UserRead, UserUpdate
from eldercare.domain import Role, User
from eldercare.passwords import hash_password

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user"},
    409: {"description": "The username is taken, or the change would leave no admin"},
}


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
        password_hash = await asyncio.to_thread(hash_password, body.password)
        return await store.create_user(User(body.username, password_hash, body.role, body.phone))

    @router.patch(
        "/{username}", response_model=UserRead, summary="Change an account", responses=ERRORS
    )
    async def update_user(username: str, body: UserUpdate, _: Admin) -> User:
        """Change the role, phone or password; a new password applies at the next login."""
        changes = body.changes()
        current = await store.get_user(username)
        if current.role is Role.ADMIN and changes.get("role", Role.ADMIN) is not Role.ADMIN:
            await check_admin_remains(username)
        if "password" in changes:
            changes["password_hash"] = await asyncio.to_thread(
                hash_password, changes.pop("password")
            )
        return await store.update_user(username, changes)

    @router.delete("/{username}", status_code=204, summary="Remove an account", responses=ERRORS)
    async def delete_user(username: str, _: Admin) -> Response:
        """Tokens already issued to the account stop working at once."""
        current = await store.get_user(username)
        if current.role is Role.ADMIN:
            await check_admin_remains(username)
        await store.delete_user(username)
        return Response(status_code=204)

    return router
