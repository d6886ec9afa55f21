"""ASGI middleware around the whole API: request body limits and security headers.

``BodyLimit`` (Issue 20 item 2) answers before the application reads anything:

- a body sent to a route that needs a token (``/api/v1/…`` but ``/api/v1/auth/…``)
  without ``Authorization: Bearer …`` is answered 401, unread;
- a body larger than ``max_body`` bytes is answered 413: at once by its
  ``Content-Length``, or, for a chunked body, as soon as the bytes counted so far
  pass the limit.

Both answers close the connection (``Connection: close``), so the rest of the
body is never read. A body with a token that turns out to be wrong is read (at
most ``max_body`` bytes) and then refused by the route.

``SecurityHeaders`` (Issue 13 item 4) puts on every response a Content-Security-
Policy that allows scripts from the service only (no inline script, no inline
event handler), ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY``. The API docs pages
(Swagger UI, ReDoc) start their viewer with an inline script that FastAPI writes:
their policy allows exactly that script by its SHA-256 hash, and the origins the
page itself loads its scripts and styles from.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_PREFIX = "/api/v1/"
"""Routes under here need a bearer token ..."""
OPEN_PREFIXES = ("/api/v1/auth/",)
"""... except these (logging in)."""

SCREEN_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Styles may be inline (chart libraries size their canvas that way); scripts may not.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "media-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
COMMON_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.S | re.I)
_LOADED_FROM = re.compile(
    rb"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["'](https?://[^/"'\s]+)""", re.I
)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        chunked = "transfer-encoding" in headers
        length = _length(declared)
        has_body = chunked or bool(length)
        if has_body and _needs_token(scope["path"]) and not _has_bearer(headers):
            await _refuse(
                scope,
                receive,
                send,
                401,
                "not authenticated: send Authorization: Bearer <token>",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        if length is not None and length > self.max_body:
            await _refuse(scope, receive, send, 413, self._too_large())
            return
        if not chunked:  # the HTTP server holds a body to its Content-Length
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    refused = True
                    if not started:
                        await _refuse(scope, receive, send, 413, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the application's answer to the cut body: ours went out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    def _too_large(self) -> str:
        return f"request body too large: at most {self.max_body} bytes"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, docs_paths: Collection[str] = DOCS_PATHS) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs_page(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_headers(message, SCREEN_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the (small) page until it is whole, to hash its inline scripts."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_when_whole(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            _add_headers(start, docs_csp(body))
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, send_when_whole)


def docs_csp(page: bytes) -> str:
    """The policy of an API docs page: its own inline scripts (by hash) and the
    origins it loads scripts and styles from, nothing else."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.finditer(page)
    ]
    origins = sorted({m.group(1).decode("ascii", "replace") for m in _LOADED_FROM.finditer(page)})
    directives = [
        ["default-src", "'self'"],
        ["script-src", "'self'", *hashes, *origins],
        ["style-src", "'self'", "'unsafe-inline'", *origins],
        ["img-src", "'self'", "data:", *origins],
        ["worker-src", "'self'", "blob:"],
        ["connect-src", "'self'"],
        ["object-src", "'none'"],
        ["base-uri", "'none'"],
        ["frame-ancestors", "'none'"],
    ]
    return "; ".join(" ".join(parts) for parts in directives)


def _add_headers(start: Message, csp: str) -> None:
    headers = MutableHeaders(scope=start)
    headers.setdefault("content-security-policy", csp)
    for name, value in COMMON_HEADERS.items():
        headers.setdefault(name, value)


def _length(declared: str | None) -> int | None:
    if declared is None:
        return None
    try:
        return int(declared)
    except ValueError:
        return None  # the HTTP server refuses a malformed Content-Length before us


def _needs_token(path: str) -> bool:
    return path.startswith(TOKEN_PREFIX) and not path.startswith(OPEN_PREFIXES)


def _has_bearer(headers: Headers) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    extra: dict[str, str] | None = None,
) -> None:
    headers = {"Connection": "close", **(extra or {})}
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(
        scope, receive, send
    )
