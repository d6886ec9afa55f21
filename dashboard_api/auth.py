"""Bearer tokens: the OAuth2 password flow and role checks.

Tokens are HS256 JWTs carrying the username (``sub``) and an expiry. The role
is read from the store on every request, so a demoted or deleted user loses
access at once, without waiting for the token to expire.
"""

import asyncio
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from dashboard_api.context import AppContext
from dashboard_api.models import Token
from eldercare.domain import Role, User
from eldercare.passwords import hash_password, verify_password
from eldercare.store.base import NotFound

TOKEN_PATH = "/api/v1/auth/token"
ALGORITHM = "HS256"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers=_CHALLENGE)


class Auth:
    """Issues and checks tokens for one app; ``require(role)`` makes a dependency."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._key = ctx.settings.secret_key or secrets.token_urlsafe(32)
        self._ttl = int(ctx.settings.token_ttl)
        self._scheme = OAuth2PasswordBearer(
            tokenUrl=TOKEN_PATH,
            auto_error=False,
            description="Bearer token from POST /api/v1/auth/token",
        )

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """Checked when the username is unknown, so both paths take as long."""
        return hash_password(secrets.token_urlsafe(16))

    @property
    def ttl(self) -> int:
        return self._ttl

    def issue(self, username: str) -> str:
        now = int(time.time())
        claims = {"sub": username, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    async def login(self, username: str, password: str) -> User | None:
        """The user if the password is right, else None."""
        try:
            user = await self._ctx.store.get_user(username)
        except NotFound:
            await asyncio.to_thread(verify_password, self._dummy_hash, password)
            return None
        ok = await asyncio.to_thread(verify_password, user.password_hash, password)
        return user if ok else None

    async def user_for(self, token: str | None) -> User:
        if not token:
            raise _unauthorized("not authenticated: send Authorization: Bearer <token>")
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("token expired: log in again") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized("invalid token") from exc
        try:
            return await self._ctx.store.get_user(str(claims["sub"]))
        except NotFound as exc:
            raise _unauthorized("this account no longer exists") from exc

    def require(self, role: Role) -> Callable[..., Awaitable[User]]:
        """A dependency that yields the caller's account if its role allows ``role``."""
        scheme = self._scheme

        async def dependency(token: Annotated[str | None, Depends(scheme)]) -> User:
            user = await self.user_for(token)
            if not user.role.allows(role):
                raise HTTPException(
                    status_code=403,
                    detail=f"this needs the {role.value} role; you are {user.role.value}",
                )
            return user

        return dependency


def build_router(auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    @router.post(
        "/token",
        response_model=Token,
        summary="Log in",
        responses={401: {"description": "Wrong username or password"}},
    )
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
        """OAuth2 password flow: form fields `username` and `password` → a bearer token."""
        user = await auth.login(form.username, form.password)
        if user is None:
            raise _unauthorized("incorrect username or password")
        return Token(access_token=auth.issue(user.username), expires_in=auth.ttl)

    return router
