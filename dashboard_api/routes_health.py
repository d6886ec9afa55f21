"""Liveness, readiness and metrics: no token needed (probes and Prometheus)."""

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from dashboard_api.context import AppContext
from dashboard_api.models import Health, Readiness

log = logging.getLogger("eldercare.api")

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def build_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health, summary="Liveness")
    async def healthz() -> Health:
        """200 while the process serves requests."""
        return Health(status="ok")

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="Readiness (broker and store)",
        responses={503: {"description": "A dependency is down; `detail` names it"}},
    )
    async def readyz() -> Readiness | JSONResponse:
        """200 only when every check passes, else 503 naming the ones that failed."""
        try:
            checks = await ctx.readiness()
        except Exception as exc:  # a failing probe means "not ready", never a 500
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"detail": f"readiness check failed: {exc}"}, status_code=503)
        failed = sorted(name for name, ok in checks.items() if not ok)
        if failed:
            return JSONResponse(
                {"detail": f"not ready: {', '.join(failed)}", "checks": checks}, status_code=503
            )
        return Readiness(status="ready", checks=checks)

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics() -> PlainTextResponse:
        """Counters and gauges in the Prometheus text format 0.0.4."""
        return PlainTextResponse(ctx.metrics.render(), media_type=PROMETHEUS_TEXT)

    return router
