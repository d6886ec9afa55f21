"""Liveness, readiness and metrics: no token needed (probes and Prometheus)."""

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from dashboard_api.context import AppContext
from dashboard_api.models import Health, Readiness
from eldercare.domain import Severity
from eldercare.store.base import StoreError

log = logging.getLogger("eldercare.api")

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

DESCRIPTIONS = {
    "eldercare_detector_seconds": "Time the detectors took per gateway batch",
    "eldercare_pipeline_seconds": "Time per gateway batch through detectors and alerts",
}


def describe(ctx: AppContext) -> None:
    """Help texts of the series this router renders; a counter others increment
    (escalation steps, SMS outcomes…) renders as soon as it is first counted."""
    for name, text in DESCRIPTIONS.items():
        ctx.metrics.describe(name, "histogram", text)


def build_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["health"])
    describe(ctx)

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
        """200 only when every check passes, else 503 naming the ones that failed and
        why (`reasons`): e.g. `mqtt_session` fails for 5 minutes after another client
        took the gateway's MQTT session."""
        try:
            checks = await ctx.readiness()
        except Exception as exc:  # a failing probe means "not ready", never a 500
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"detail": f"readiness check failed: {exc}"}, status_code=503)
        reasons = ctx.readiness_reasons() if ctx.readiness_reasons is not None else {}
        failed = sorted(name for name, ok in checks.items() if not ok)
        if failed:
            why = "; ".join(f"{name}: {reasons[name]}" for name in failed if name in reasons)
            return JSONResponse(
                {
                    "detail": f"not ready: {', '.join(failed)}" + (f" ({why})" if why else ""),
                    "checks": checks,
                    "reasons": reasons,
                },
                status_code=503,
            )
        return Readiness(status="ready", checks=checks, reasons=reasons)

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics() -> PlainTextResponse:
        """Counters, gauges and histograms in the Prometheus text format 0.0.4:
        ingest (`eldercare_messages_received_total`, `eldercare_readings_stored_total`),
        dead letters by reason (`eldercare_dead_letters_total`), open alerts by severity
        (`eldercare_open_alerts`, read from the store), alerts, notifications,
        escalation and SMS outcomes, detector and pipeline latency."""
        try:
            open_alerts = await ctx.store.count_open_alerts()
        except StoreError as exc:  # metrics must still render; the gauge is left out
            log.warning("open alert count failed: %s", exc)
            open_alerts = None
        if open_alerts is not None:
            values: dict[tuple[tuple[str, str], ...], float] = {
                (("severity", s.value),): float(open_alerts.get(s, 0)) for s in Severity
            }
            ctx.metrics.gauge(
                "eldercare_open_alerts", lambda: values, "Alerts not resolved, by severity"
            )
        return PlainTextResponse(ctx.metrics.render(), media_type=PROMETHEUS_TEXT)

    return router
