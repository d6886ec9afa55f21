"""Times at the edges of the calendar, and cursors in other digits, are a 422
that says why, never a 500 (found by tests/fuzz/test_api_stateful.py).

A time in year 9999 with a negative offset is not a date once moved to UTC,
nor is the default span before a time in year 1; the API takes times in the
years 1900 to 8999. ``"²"`` passes ``str.isdigit`` but is no number.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from eldercare.domain import Role
from tests.api.conftest import TokenFor

LATE = "9999-12-31T23:00:00-05:00"
"""Year 10000 in UTC."""
EARLY = "0001-01-01T01:00:00Z"
"""Eight hours or a week before it is before year 1."""
RANGE = "is out of range: give a time in the years 1900 to 8999"


def _message(response: httpx.Response) -> str:
    detail: Any = response.json()["detail"]
    return detail if isinstance(detail, str) else " ".join(e["msg"] for e in detail)


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("POST", "/api/v1/silences", {}, {"home_id": "h1", "ends_at": LATE}),
        (
            "POST",
            "/api/v1/roster/shifts",
            {},
            {"username": "operator-user", "starts_at": LATE, "ends_at": LATE},
        ),
        ("GET", "/api/v1/alerts", {"since": LATE}, None),
        ("GET", "/api/v1/audit", {"since": LATE}, None),
        ("GET", "/api/v1/audit", {"until": EARLY}, None),
        ("GET", "/api/v1/handover", {"to": EARLY}, None),
        ("GET", "/api/v1/reports/response", {"to": EARLY}, None),
    ],
)
async def test_a_time_outside_the_calendar_is_a_422_saying_the_range(
    client: httpx.AsyncClient,
    token_for: TokenFor,
    method: str,
    path: str,
    params: dict[str, str],
    body: dict[str, str] | None,
) -> None:
    await token_for(Role.OPERATOR)  # the shift's account
    sup = await token_for(Role.SUPERVISOR)
    response = await client.request(method, path, params=params, json=body, headers=sup)
    assert response.status_code == 422, response.text
    assert RANGE in _message(response)


async def test_the_vitals_of_a_time_outside_the_calendar_are_a_422(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    made = await client.post(
        "/api/v1/residents", json={"id": "r1", "home_id": "h1", "name": "Wang"}, headers=sup
    )
    assert made.status_code == 201, made.text
    response = await client.get("/api/v1/residents/r1/vitals", params={"to": EARLY}, headers=sup)
    assert response.status_code == 422, response.text
    assert RANGE in _message(response)


@pytest.mark.parametrize("month", ["9999-12", "0000-01"])
async def test_a_monthly_report_past_the_calendar_is_a_422(
    client: httpx.AsyncClient, token_for: TokenFor, month: str
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    response = await client.get(
        "/api/v1/reports/monthly", params={"from": month, "to": month}, headers=sup
    )
    assert response.status_code == 422, response.text
    assert _message(response) == (f"`to`: {month!r} is out of range: give a month of 1900 to 8999")


async def test_the_last_hour_of_the_range_with_an_offset_still_answers(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    late = "8999-12-31T23:00:00-12:00"  # year 9000 in UTC: still a date
    response = await client.get("/api/v1/handover", params={"to": late}, headers=sup)
    assert response.status_code == 200, response.text
    assert response.json()["to"] == late
    assert response.json()["open"] == []


@pytest.mark.parametrize("path", ["/api/v1/alerts", "/api/v1/audit"])
async def test_a_cursor_in_other_digits_is_a_422(
    client: httpx.AsyncClient, token_for: TokenFor, path: str
) -> None:
    sup = await token_for(Role.SUPERVISOR)
    response = await client.get(path, params={"cursor": "²"}, headers=sup)
    assert response.status_code == 422, response.text
    assert _message(response) == "cursor: use the next_cursor of the previous page"
