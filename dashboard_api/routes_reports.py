"""Reports for supervisors: how fast the care centre answered (the 10-minute window)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from alerts.escalation_report import ResponseFigures, figures, grouped
from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import Time
from dashboard_api.tenancy import scope
from eldercare.domain import Role, User

DEFAULT_SPAN = timedelta(days=7)
MAX_SPAN = timedelta(days=366)


class ResponseReportRead(BaseModel):
    """Counts and percentiles (seconds) for the alerts raised in [from, to)."""

    from_: datetime = Field(alias="from")
    to: datetime
    overall: ResponseFigures
    by_kind: dict[str, ResponseFigures]
    by_severity: dict[str, ResponseFigures]


ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "`from` is not before `to`, or the span is over 366 days"},
}


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]

    @router.get(
        "/response",
        response_model=ResponseReportRead,
        response_model_by_alias=True,
        summary="Response times: acknowledge, on site, within the window",
        responses=ERRORS,
    )
    async def response_report(
        user: Supervisor,
        from_: Annotated[
            Time | None,
            Query(alias="from", description="raised at or after (default: `to` − 7 days)"),
        ] = None,
        to: Annotated[Time | None, Query(description="raised before (default: now)")] = None,
    ) -> ResponseReportRead:
        """Time to acknowledge and to on-site (p50 / p90 / p99 / max), and the share
        of alerts with somebody on site within the response window, overall, by
        kind and by severity, for your own care centre's alerts. Times without an
        offset are UTC."""
        now = ctx.clock.now()
        end = _utc(to) or now
        start = _utc(from_) or end - DEFAULT_SPAN
        if start >= end:
            raise HTTPException(422, "`from` must be before `to`")
        if end - start > MAX_SPAN:
            raise HTTPException(422, "ask for at most 366 days at a time")
        rows = await ctx.store.list_alert_responses(start, end, scope(user))
        return ResponseReportRead.model_validate(
            {
                "from": start,
                "to": end,
                "overall": figures(rows, now),
                "by_kind": grouped(rows, lambda r: r.kind.value, now),
                "by_severity": grouped(rows, lambda r: r.severity.value, now),
            }
        )

    return router
