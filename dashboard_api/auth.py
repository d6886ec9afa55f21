"""Bearer tokens: the OAuth2 password flow, renewal, logout and role checks.

Tokens are HS256 JWTs carrying the username (``sub``), the account's token
version (``ver``), the session (``sid``, made at login, kept by renewals) and
an expiry. They are signed with ``ELDERCARE_SECRET_KEY`` or, when it is unset,
with a key generated once and kept in the store (``service_secrets``), so
tokens outlive a restart and every instance accepts them.

The account is read from the store on every request: a deleted account, a
token version that moved on (a password or role change, a revocation), or a
session ended by a logout, ends the token at once. An open live stream of
that account (or session) is closed too: at once in this process, within one
keep-alive interval on other instances (the stream re-reads the account).
``POST /api/v1/auth/renew`` trades a valid token for a fresh one, so a wall
screen that renews stays signed in; ``GET /api/v1/auth/me`` names the account
and its role (the screen offers supervisors' editors by it).

Failed logins are throttled per (username, address) and per address
(``dashboard_api.ratelimit``): 429 with ``Retry-After``; never for everyone.
Browsers cannot send headers with ``EventSource``, so the live stream alone
also takes the token as ``?access_token=`` (``require_stream``).
"""

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from dashboard_api.client_address import client_address
from dashboard_api.context import AppContext
from dashboard_api.models import Token, UserRead
from dashboard_api.ratelimit import LoginLimiter, TooManyAttempts
from eldercare.domain import Role, User
from eldercare.logs import add_secret
from eldercare.passwords import hash_password, verify_password
from eldercare.settings import check_secret_key
from eldercare.store.base import NotFound, StoreUnavailable

log = logging.getLogger("eldercare.api.auth")

TOKEN_PATH = "/api/v1/auth/token"
ALGORITHM = "HS256"
SIGNING_KEY_NAME = "token_signing_key"
"""The stored key's name in ``service_secrets`` (used when ELDERCARE_SECRET_KEY is unset)."""
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_ENDED = (
    "event: ended\ndata: "
    + json.dumps({"reason": "this session ended (logout, account changed or removed)"})
    + "\n\n"
).encode()


@dataclass(frozen=True, slots=True)
class Session:
    """A checked token: whose it is and which login it comes from."""

    user: User
    sid: str


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers=_CHALLENGE)


def _forbidden(user: User, role: Role) -> HTTPException:
    return HTTPException(
        status_code=403, detail=f"this needs the {role.value} role; you are {user.role.value}"
    )


class Auth:
    """Issues and checks tokens for one app; ``require(role)`` makes a dependency."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self.limiter = LoginLimiter(ctx.clock)
        self.proxies = ctx.settings.proxy_networks()
        """ELDERCARE_TRUSTED_PROXIES: whose X-Forwarded-For names the client"""
        check_secret_key(ctx.settings.secret_key)
        self._key: str | None = ctx.settings.secret_key
        self._ttl = int(ctx.settings.token_ttl)
        self._streams: dict[str, dict[asyncio.Event, str]] = {}
        """username → the open live streams' end signals and their sessions"""
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

    async def _signing_key(self) -> str:
        if self._key is None:
            self._key = await self._ctx.store.get_or_create_secret(
                SIGNING_KEY_NAME, secrets.token_urlsafe(48), datetime.now(UTC)
            )
            add_secret(self._key)  # never in a log line
        return self._key

    async def issue(self, user: User, sid: str | None = None) -> str:
        """A token for ``user``: a new session, or a renewal of session ``sid``."""
        now = int(time.time())
        claims = {
            "sub": user.username,
            "ver": user.token_version,
            "sid": sid or secrets.token_urlsafe(12),
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(claims, await self._signing_key(), algorithm=ALGORITHM)

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
        return (await self.session_for(token)).user

    async def session_for(self, token: str | None) -> Session:
        if not token:
            raise _unauthorized("not authenticated: send Authorization: Bearer <token>")
        try:
            claims = jwt.decode(
                token,
                await self._signing_key(),
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "ver", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("token expired: log in again") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized("invalid token") from exc
        sid = str(claims["sid"])
        try:
            user, ended = await self._ctx.store.get_session_user(str(claims["sub"]), sid)
        except NotFound as exc:
            raise _unauthorized("this account no longer exists") from exc
        if claims["ver"] != user.token_version or ended:
            raise _unauthorized(
                "this session has ended (logged out, or the password or role changed): log in again"
            )
        return Session(user, sid)

    # --- ending sessions ---------------------------------------------------------------

    async def revoke(self, username: str) -> None:
        """End every token of the account and close its live streams."""
        await self._ctx.store.revoke_tokens(username)
        self.sessions_ended(username)

    async def log_out(self, session: Session) -> None:
        """End one session (its tokens and live streams); the account's others go on."""
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self._ttl + 60)
        await self._ctx.store.end_session(session.sid, session.user.username, now, until)
        self.sessions_ended(session.user.username, session.sid)

    def sessions_ended(self, username: str, sid: str | None = None) -> None:
        """The account's tokens (or session ``sid``'s) no longer work: close those
        live streams in this process now."""
        streams = self._streams.get(username, {})
        for ended, of in list(streams.items()):
            if sid is None or of == sid:
                ended.set()

    async def _still_allowed(self, session: Session, role: Role) -> bool:
        try:
            now, ended = await self._ctx.store.get_session_user(session.user.username, session.sid)
        except NotFound:
            return False
        except StoreUnavailable as exc:
            # The database is away: a stream that was allowed stays open (the screen
            # must hear alerts raised during the outage); checked again next time.
            log.warning("live stream of %s not re-checked: %s", session.user.username, exc)
            return True
        return (
            now.token_version == session.user.token_version and now.role.allows(role) and not ended
        )

    async def guard_stream(
        self, session: Session, role: Role, chunks: AsyncGenerator[bytes, None], recheck_s: float
    ) -> AsyncGenerator[bytes, None]:
        """Pass ``chunks`` on until the account's access ends, then send an ``ended``
        event and stop. Ends at once on ``sessions_ended`` here; the account is
        re-read from the store every ``recheck_s`` (for changes made elsewhere)."""
        ended = asyncio.Event()
        username = session.user.username
        self._streams.setdefault(username, {})[ended] = session.sid
        stop = asyncio.create_task(ended.wait())
        step: asyncio.Task[bytes] | None = None
        loop = asyncio.get_running_loop()
        checked = loop.time()

        async def next_chunk() -> bytes:
            return await anext(chunks)

        try:
            while True:
                if step is None:
                    step = asyncio.create_task(next_chunk())
                timeout = max(0.0, checked + recheck_s - loop.time())
                done, _ = await asyncio.wait(
                    {step, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if stop in done:
                    yield _ENDED
                    return
                if loop.time() >= checked + recheck_s:
                    checked = loop.time()
                    if not await self._still_allowed(session, role):
                        yield _ENDED
                        return
                if step in done:
                    try:
                        chunk = step.result()
                    except StopAsyncIteration:
                        return
                    step = None
                    yield chunk
        finally:
            waiting = self._streams.get(username)
            if waiting is not None:
                waiting.pop(ended, None)
                if not waiting:
                    del self._streams[username]
            stop.cancel()
            if step is not None:
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
            await chunks.aclose()

    # --- dependencies ------------------------------------------------------------------

    def require(self, role: Role) -> Callable[..., Awaitable[User]]:
        """A dependency that yields the caller's account if its role allows ``role``."""
        scheme = self._scheme

        async def dependency(token: Annotated[str | None, Depends(scheme)]) -> User:
            user = await self.user_for(token)
            if not user.role.allows(role):
                raise _forbidden(user, role)
            return user

        return dependency

    def require_platform(self) -> Callable[..., Awaitable[User]]:
        """A dependency that yields the caller's account if it is a platform admin
        (an admin of no organisation: manages the care centres)."""
        admin = self.require(Role.ADMIN)

        async def dependency(user: Annotated[User, Depends(admin)]) -> User:
            if not user.platform:
                raise HTTPException(
                    status_code=403,
                    detail="this needs the platform admin role (an admin of no care centre);"
                    f" you are an admin of {user.organisation_id}",
                )
            return user

        return dependency

    def require_session(self, role: Role) -> Callable[..., Awaitable[Session]]:
        """Like ``require``, but yields the session (account and login)."""
        scheme = self._scheme

        async def dependency(token: Annotated[str | None, Depends(scheme)]) -> Session:
            session = await self.session_for(token)
            if not session.user.role.allows(role):
                raise _forbidden(session.user, role)
            return session

        return dependency

    def require_stream(self, role: Role) -> Callable[..., Awaitable[Session]]:
        """Like ``require_session``, but also takes the token as ``?access_token=``."""
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
        ) -> Session:
            session = await self.session_for(header_token or access_token)
            if not session.user.role.allows(role):
                raise _forbidden(session.user, role)
            return session

        return dependency


def build_router(auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
    Signed = Annotated[Session, Depends(auth.require_session(Role.OPERATOR))]

    @router.post(
        "/token",
        response_model=Token,
        summary="Log in",
        responses={
            401: {"description": "Wrong username or password"},
            429: {
                "description": "Too many failed logins for this username from this address, "
                "or from this address; `Retry-After` says how many seconds to wait",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            },
        },
    )
    async def token(
        request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
    ) -> Token:
        """OAuth2 password flow: form fields `username` and `password` → a bearer token.

        Failed logins are throttled per username and address: after 4 failures
        for one username from one address, that address waits 15 s before its
        next try for that username, doubling with each further failure up to 15
        minutes (the same after 20 failures from one address for any names).
        Other addresses are not affected; a correct password or an admin's
        `POST /api/v1/users/{username}/unlock` clears it."""
        address = client_address(request, auth.proxies)
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
        auth.limiter.succeeded(user.username, address)
        return Token(access_token=await auth.issue(user), expires_in=auth.ttl)

    @router.post(
        "/renew",
        response_model=Token,
        summary="Renew a token",
        responses={401: {"description": "The token is expired, revoked or invalid"}},
    )
    async def renew(session: Signed) -> Token:
        """A valid token → a new one with a fresh expiry (same account, same
        session). The screen renews at half the token's life, so it stays
        signed in; a logout, a password or role change ends renewals too."""
        token = await auth.issue(session.user, session.sid)
        return Token(access_token=token, expires_in=auth.ttl)

    @router.get("/me", response_model=UserRead, summary="Who you are signed in as")
    async def me(session: Signed) -> UserRead:
        """The account behind the token: its role decides which editors the
        screen offers (the API checks the role of every request anyway)."""
        return UserRead.model_validate(session.user)

    @router.post("/logout", status_code=204, summary="Log out")
    async def logout(
        session: Signed,
        everywhere: Annotated[
            bool, Query(description="end every session of this account, not only this one")
        ] = False,
    ) -> Response:
        """Ends this session: its tokens (and renewals) stop working and its live
        streams close; the account's other screens stay signed in. With
        `?everywhere=true`, every session of the account ends."""
        if everywhere:
            await auth.revoke(session.user.username)
        else:
            await auth.log_out(session)
        return Response(status_code=204)

    return router
