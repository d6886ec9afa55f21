"""The FastAPI application: ``create_app(ctx)`` wires the routers to one context.

Nothing is configured at import time: the composition root builds an
``AppContext`` and calls ``create_app``; tests do the same with a real store.

Errors are JSON ``{"detail": ...}``::

    NotFound (store)            404
    Conflict (store)            409  a taken id, a row still in use
    IllegalTransition (alerts)  409  the alert's status does not allow the action
    StoreUnavailable (store)    503
    request validation          422  FastAPI's list of field errors

The router modules build their routes inside ``build_router(ctx, auth)`` and
use local ``Annotated[User, Depends(...)]`` aliases; they must not use
``from __future__ import annotations``, or FastAPI cannot resolve those aliases.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from alerts.lifecycle import IllegalTransition
from dashboard_api import (
    audit,
    auth,
    routes_alerts,
    routes_cn_sms,
    routes_floods,
    routes_handover,
    routes_health,
    routes_home_status,
    routes_monthly,
    routes_organisations,
    routes_protocols,
    routes_records,
    routes_registry,
    routes_reports,
    routes_roster,
    routes_twilio,
    routes_users,
    routes_vitals,
)
from dashboard_api.context import AppContext
from dashboard_api.middleware import DOCS_PATHS, BodyLimit, SecurityHeaders
from eldercare.store.base import Conflict, NotFound, StoreUnavailable

log = logging.getLogger("eldercare.api")

STATIC = Path(__file__).parent / "static"

DESCRIPTION = """\
Care-centre API of the eldercare safety-monitoring service: live alerts and the
staff actions on them, the registry of homes, residents, devices and family
contacts, and care-centre accounts.

Log in at `POST /api/v1/auth/token` and send `Authorization: Bearer <token>`.
Roles: **operator** (watch, acknowledge, dispatch, resolve), **supervisor**
(+ registry, reports), **admin** (+ accounts). Every account belongs to one
care centre (organisation) and sees and changes that centre's rows only:
another centre's id answers 404 exactly like a missing one. A **platform
admin** (an admin of no centre) manages the centres (`/api/v1/organisations`)
and sees every one. Failed logins are throttled
per username and address (429 with `Retry-After`), never for everyone.
`POST /api/v1/auth/renew` gives a fresh token for a valid one;
`POST /api/v1/auth/logout` ends the session.

Lists page with a cursor: pass the `next_cursor` of one page as `?cursor=` to
get the next. Errors are JSON `{"detail": ...}`: 401 no or bad token, 403 the
role does not allow it, 404 not found, 409 a conflict (an illegal alert
transition, a taken id, a home with open alerts), 422 invalid input.

The live stream `GET /api/v1/alerts/stream` is Server-Sent Events with
`Last-Event-ID` replay; it alone also takes the token as `?access_token=`,
because browsers cannot send headers with EventSource. The care-centre
screen is served at `/`.
"""

TAGS = [
    {"name": "auth", "description": "Log in for a bearer token, renew it, log out."},
    {"name": "alerts", "description": "Alerts, their timelines, staff actions, live stream."},
    {"name": "registry", "description": "Homes, residents, devices and family contacts."},
    {"name": "users", "description": "Care-centre accounts (admin only)."},
    {
        "name": "roster",
        "description": "Who is on duty, free or on an alert; assigning an alert to a responder.",
    },
    {
        "name": "organisations",
        "description": "The care centres of the installation (platform admins only).",
    },
    {"name": "reports", "description": "Response times against the window (supervisors)."},
    {"name": "protocols", "description": "Response checklists per alert kind, notes, calls."},
    {"name": "handover", "description": "The shift handover report."},
    {"name": "audit", "description": "Who did what, when, from where (read-only)."},
    {"name": "health", "description": "Probes and Prometheus metrics (no token)."},
    {
        "name": "incidents",
        "description": "Alarm floods grouped into incidents; maintenance silences.",
    },
]


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc) or "not found"}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc) or "conflict"}, status_code=409)


async def _illegal_transition(request: Request, exc: Exception) -> JSONResponse:
    reason = exc.reason if isinstance(exc, IllegalTransition) else str(exc)
    return JSONResponse({"detail": reason}, status_code=409)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("store unavailable during %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "the database is unavailable; try again"}, status_code=503)


def _document_errors(app: FastAPI) -> None:
    """Our own 422s carry a sentence in ``detail``, FastAPI's a list of field
    errors: the documented schema says both."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        found = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if found is not None:
            found["properties"]["detail"] = {
                "title": "Detail",
                "description": "A sentence, or the list of invalid fields",
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                ],
            }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPIOffline(  # /docs and /redoc with assets from the package, not a CDN
        title="Eldercare safety monitoring",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def screen() -> FileResponse:
        """The care-centre screen (plain HTML, CSS and JS)."""
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    tokens = auth.Auth(ctx)
    app.include_router(auth.build_router(tokens))
    app.include_router(routes_alerts.build_router(ctx, tokens))
    app.include_router(routes_registry.build_router(ctx, tokens))
    app.include_router(routes_vitals.build_router(ctx, tokens))
    app.include_router(routes_users.build_router(ctx, tokens))
    app.include_router(routes_organisations.build_router(ctx, tokens))
    app.include_router(routes_reports.build_router(ctx, tokens))
    app.include_router(routes_monthly.build_router(ctx, tokens))
    app.include_router(routes_home_status.build_router(ctx, tokens))
    app.include_router(routes_health.build_router(ctx))
    app.include_router(routes_twilio.build_router(ctx))
    app.include_router(routes_cn_sms.build_router(ctx))
    app.include_router(routes_protocols.build_router(ctx, tokens))
    app.include_router(routes_handover.build_router(ctx, tokens))
    app.include_router(routes_floods.build_router(ctx, tokens))
    app.include_router(routes_records.build_router(ctx, tokens))
    app.include_router(audit.build_router(ctx, tokens))
    app.include_router(routes_roster.build_router(ctx, tokens))
    _document_errors(app)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(IllegalTransition, _illegal_transition)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    # Outermost last: the headers go on the body limit's 401/413 too.
    app.add_middleware(BodyLimit, max_body=ctx.settings.api_max_body)
    docs = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.add_middleware(SecurityHeaders, docs_paths=DOCS_PATHS | {p for p in docs if p})
    return app
