"""The monthly response report for supervisors: JSON, CSV and PDF
(``alerts/monthly_report.py`` has the definitions)."""

import asyncio
import csv
import io
import re
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel

from alerts import monthly_pdf
from alerts.monthly_report import CSV_HEADER, Month, MonthlyGroups, csv_rows, groups, join, months
from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import MAX_YEAR, MIN_YEAR
from dashboard_api.tenancy import scope
from eldercare.domain import Role, User

MAX_MONTHS = 24
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


class MonthlyFiguresRead(BaseModel):
    alerts: int
    acknowledged: int
    unanswered: int
    acknowledged_within_60s: int
    acknowledged_within_60s_pct: float | None
    acknowledged_within_180s: int
    acknowledged_within_180s_pct: float | None
    window_decided: int
    on_site_within_window: int
    on_site_within_window_pct: float | None


class MonthlyGroupsRead(BaseModel):
    overall: MonthlyFiguresRead
    by_kind: dict[str, MonthlyFiguresRead]
    by_operator: dict[str, MonthlyFiguresRead]
    by_home: dict[str, MonthlyFiguresRead]


class MonthRead(MonthlyGroupsRead):
    month: str


class MonthlyReportRead(BaseModel):
    """Months ``from`` … ``to`` (inclusive), counted in ``timezone``."""

    from_month: str
    to_month: str
    timezone: str
    months: list[MonthRead]
    total: MonthlyGroupsRead


ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "a month is not YYYY-MM, `from` is after `to`, over 24 months,"
        " or an unknown time zone"
    },
}


def _parse_month(name: str, value: str) -> tuple[int, int]:
    m = _MONTH.fullmatch(value)
    if m is None:
        raise HTTPException(422, f"`{name}` must be a month as YYYY-MM, not {value!r}")
    year = int(m.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise HTTPException(
            422, f"`{name}`: {value!r} is out of range: give a month of {MIN_YEAR} to {MAX_YEAR}"
        )
    return year, int(m.group(2))


def _month_keys(first: tuple[int, int], last: tuple[int, int]) -> list[str]:
    keys, (y, mo) = [], first
    while (y, mo) <= last:
        keys.append(f"{y:04d}-{mo:02d}")
        y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
    return keys


def _next(y: int, mo: int) -> tuple[int, int]:
    return (y + 1, 1) if mo == 12 else (y, mo + 1)


def _back(y: int, mo: int, n: int) -> tuple[int, int]:
    index = y * 12 + (mo - 1) - n
    return index // 12, index % 12 + 1


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
    Supervisor = Annotated[User, Depends(auth.require(Role.SUPERVISOR))]
    FromQ = Annotated[
        str | None, Query(alias="from", description="first month, YYYY-MM (default: 5 before `to`)")
    ]
    ToQ = Annotated[str | None, Query(description="last month, YYYY-MM (default: this month)")]
    TzQ = Annotated[
        str | None,
        Query(description="IANA time zone the months are counted in (default: settings)"),
    ]

    font = monthly_pdf.find_cjk_font(ctx.settings.report_font)

    async def home_labels(org: str | None) -> dict[str, str]:
        """Per home id: its name and its residents' names (the PDF's home rows)."""
        names: dict[str, list[str]] = {}
        for r in await ctx.store.list_residents(organisation_id=org):
            names.setdefault(r.home_id, []).append(r.name)
        homes = await ctx.store.list_homes(org)
        return {h.id: " · ".join([h.name, *names.get(h.id, [])]) for h in homes}

    async def compute(
        user: User, from_: str | None, to: str | None, tz_name: str | None
    ) -> tuple[str, str, str, list[Month], MonthlyGroups]:
        try:
            tz = ZoneInfo(tz_name) if tz_name else ctx.settings.tz
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise HTTPException(422, f"`tz`: unknown time zone {tz_name!r}") from exc
        now = ctx.clock.now()
        today = now.astimezone(tz)
        last = _parse_month("to", to) if to else (today.year, today.month)
        first = _parse_month("from", from_) if from_ else _back(*last, 5)
        if first > last:
            raise HTTPException(422, "`from` must not be after `to`")
        keys = _month_keys(first, last)
        if len(keys) > MAX_MONTHS:
            raise HTTPException(422, f"ask for at most {MAX_MONTHS} months at a time")
        start = datetime(*first, 1, tzinfo=tz)
        end = datetime(*_next(*last), 1, tzinfo=tz)
        org = scope(user)
        rows = join(
            await ctx.store.list_alert_responses(start, end, org),
            await ctx.store.list_response_people(start, end, org),
        )
        return keys[0], keys[-1], str(tz), months(rows, keys, tz, now), groups(rows, now)

    @router.get(
        "/monthly",
        response_model=MonthlyReportRead,
        summary="Monthly response report: acknowledged within 60 / 180 s, on site in the window",
        responses=ERRORS,
    )
    async def monthly_report(
        user: Supervisor, from_: FromQ = None, to: ToQ = None, tz: TzQ = None
    ) -> MonthlyReportRead:
        """For your care centre's alerts, by month of their raise: the share
        acknowledged within 60 s and 180 s and with somebody on site within the
        response window, overall, by kind, per operator (of the first staff
        action) and per home."""
        first, last, tz_name, month_list, total = await compute(user, from_, to, tz)
        return MonthlyReportRead.model_validate(
            {
                "from_month": first,
                "to_month": last,
                "timezone": tz_name,
                "months": [{"month": m.month, **asdict(m.figures)} for m in month_list],
                "total": asdict(total),
            }
        )

    @router.get(
        "/monthly.csv",
        summary="Monthly response report as CSV",
        responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
        response_class=Response,
    )
    async def monthly_csv(
        user: Supervisor, from_: FromQ = None, to: ToQ = None, tz: TzQ = None
    ) -> Response:
        """Every figure of the monthly report, one row per month and group
        (``month`` ``all`` is the whole span)."""
        first, last, _, month_list, total = await compute(user, from_, to, tz)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(csv_rows(month_list, total))
        name = f"response-report-{first}-{last}.csv"
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get(
        "/monthly.pdf",
        summary="Monthly response report as PDF",
        responses={**ERRORS, 200: {"content": {"application/pdf": {}}}},
        response_class=Response,
    )
    async def monthly_pdf_export(
        user: Supervisor, from_: FromQ = None, to: ToQ = None, tz: TzQ = None
    ) -> Response:
        """The monthly report as a printable PDF, the same figures as the JSON."""
        first, last, tz_name, month_list, total = await compute(user, from_, to, tz)
        org = user.organisation_id or "all care centres"
        body = await asyncio.to_thread(
            monthly_pdf.render,
            org,
            f"{first} to {last}",
            tz_name,
            month_list,
            total,
            homes=await home_labels(scope(user)),
            font=font,
        )
        name = f"response-report-{first}-{last}.pdf"
        return Response(
            body,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
