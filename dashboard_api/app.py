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

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from alerts.lifecycle import IllegalTransition
from dashboard_api import auth, routes_alerts, routes_health, routes_registry, routes_users
from dashboard_api.context import AppContext
from eldercare.store.base import Conflict, NotFound, StoreUnavailable

log = logging.getLogger("eldercare.api")

DESCRIPTION = """\
Care-centre API of the eldercare safety-monitoring service: live alerts and the
staff actions on them, the registry of homes, residents, devices and family
contacts, and care-centre accounts.

Log in at `POST /api/v1/auth/token` and send `Authorization: Bearer <token>`.
Roles: **operator** (watch, acknowledge, dispatch, resolve), **supervisor**
(+ registry), **admin** (+ accounts).
"""

TAGS = [
    {"name": "auth", "description": "Log in for a bearer token."},
    {"name": "alerts", "description": "Alerts, their timelines, staff actions, live stream."},
    {"name": "registry", "description": "Homes, residents, devices and family contacts."},
    {"name": "users", "description": "Care-centre accounts (admin only)."},
    {"name": "health", "description": "Probes and Prometheus metrics (no token)."},
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


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="Eldercare safety monitoring",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
    )
    tokens = auth.Auth(ctx)
    app.include_router(auth.build_router(tokens))
    app.include_router(routes_alerts.build_router(ctx, tokens))
    app.include_router(routes_registry.build_router(ctx, tokens))
    app.include_router(routes_users.build_router(ctx, tokens))
    app.include_router(routes_health.build_router(ctx))
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(IllegalTransition, _illegal_transition)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    return app
