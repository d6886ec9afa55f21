"""Vital-sign history of a resident: min / avg / max per time bucket (whole-minute
buckets from the store's per-minute rollups, see eldercare/store/_vitals_sql.py)."""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from dashboard_api.auth import Auth
from dashboard_api.context import AppContext
from dashboard_api.models import Time, VitalsRead
from dashboard_api.tenancy import scope
from eldercare.domain import Role, User
from eldercare.store.base import VitalsQuery

MAX_BUCKETS = 10_000
DEFAULT_SPAN = timedelta(hours=24)
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such resident"},
    422: {"description": "A bad metric, time range or bucket; `detail` says which"},
}


def parse_bucket(raw: str) -> int:
    """``60``, ``60s``, ``5m``, ``1h``, ``1d`` → seconds (at least 1)."""
    match = _DURATION.match(raw)
    seconds = int(match[1]) * _UNIT_S[match[2]] if match else 0
    if seconds < 1:
        raise HTTPException(422, f"bucket: {raw!r} is not a duration like 60, 30s, 5m, 1h or 1d")
    return seconds


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def build_router(ctx: AppContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["registry"])
    Operator = Annotated[User, Depends(auth.require(Role.OPERATOR))]

    @router.get(
        "/residents/{resident_id}/vitals",
        response_model=VitalsRead,
        summary="Vital-sign history (min / avg / max per bucket)",
        responses=ERRORS,
    )
    async def vitals(
        resident_id: str,
        user: Operator,
        metric: Annotated[
            Literal["hr", "rr"], Query(description="hr = heart rate, rr = respiration")
        ] = "hr",
        start: Annotated[
            Time | None,
            Query(alias="from", description="RFC 3339; default `to` minus 24 hours"),
        ] = None,
        end: Annotated[
            Time | None, Query(alias="to", description="RFC 3339, excluded; default now")
        ] = None,
        bucket: Annotated[
            str,
            Query(
                description="bucket width: seconds, or with a unit s, m, h, d (e.g. 5m)",
                examples=["1m"],
            ),
        ] = "1m",
    ) -> Response:
        """From the bed bands assigned to the resident. Buckets line up with the
        Unix epoch (a 1-minute bucket starts on the minute); buckets without a
        measurement are left out, so gaps show as gaps. At most 10,000 buckets.
        Buckets of whole minutes come from the per-minute rollups the intake keeps
        (the same figures as from the readings)."""
        resident = await ctx.store.get_resident(resident_id, scope(user))
        bucket_s = parse_bucket(bucket)
        to = _aware(end) if end is not None else ctx.clock.now()
        frm = _aware(start) if start is not None else to - DEFAULT_SPAN
        if frm >= to:
            raise HTTPException(422, "from must be before to")
        if (to - frm).total_seconds() / bucket_s > MAX_BUCKETS:
            raise HTTPException(
                422, f"that range has more than {MAX_BUCKETS} buckets; use a wider bucket"
            )
        found = await ctx.store.vitals_buckets(VitalsQuery(resident.id, metric, frm, to, bucket_s))
        body = VitalsRead.model_validate(
            {
                "resident_id": resident.id,
                "metric": metric,
                "from": frm,
                "to": to,
                "bucket_seconds": bucket_s,
                "buckets": [
                    {"start": b.start, "count": b.count, "min": b.min, "avg": b.avg, "max": b.max}
                    for b in found
                ],
            }
        )
        # Validated once and serialised by pydantic; FastAPI would validate and encode
        # the 1,440 buckets of a day again (most of the request's time).
        return Response(body.model_dump_json(), media_type="application/json")

    return router
