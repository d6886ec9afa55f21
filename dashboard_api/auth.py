"""Bearer tokens: the OAuth2 password flow and role checks.

Tokens are HS256 JWTs carrying the username (``sub``) and an expiry. The role
is read from the store on every request, so a demoted or deleted user loses
access at once, without waiting for the token to expire.

Failed logins are limited per username and per client address
(``dashboard_api.ratelimit``): past the limit the token endpoint answers 429
with ``Retry-After``. Browsers cannot send headers with ``EventSource``, so the
live stream alone also takes the token as ``?access_token=`` (``require_stream``).
"""

import asyncio
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from dashboard_api.context import AppContext
from dashboard_api.models import Token
from dashboard_api.ratelimit import LoginLimiter, TooManyAttempts
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
        self.limiter = LoginLimiter(ctx.clock)
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

    def require_stream(self, role: Role) -> Callable[..., Awaitable[User]]:
        """Like ``require``, but also takes the token as ``?access_token=``."""
        scheme = self._scheme

        async def dependency(
            header_token: Annotated[str | None, Depends(scheme)],
            access_token: Annotated[
                str | None,
                Query(
                    description="The bearer token, for clients that cannot send headers "
                    "(browser EventSource). Only this endpoint takes it."
                ),
            ] = None,
        ) -> User:
            user = await self.user_for(header_token or access_token)
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
        responses={
            401: {"description": "Wrong username or password"},
            429: {
                "description": "Too many failed logins for this username or address; "
                "`Retry-After` says how many seconds to wait",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            },
        },
    )
    async def token(
        request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
    ) -> Token:
        """OAuth2 password flow: form fields `username` and `password` → a bearer token.

        After 5 failed logins for one username, or 20 from one address, within
        15 minutes, further attempts are refused with 429 until the oldest
        failure is 15 minutes old."""
        address = request.client.host if request.client else "unknown"
        try:
            auth.limiter.check(form.username, address)
        except TooManyAttempts as exc:
            raise HTTPException(
                429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            ) from exc
        user = await auth.login(form.username, form.password)
        if user is None:
            auth.limiter.failed(form.username, address)
            raise _unauthorized("incorrect username or password")
        auth.limiter.succeeded(user.username)
        return Token(access_token=auth.issue(user.username), expires_in=auth.ttl)

    return router
