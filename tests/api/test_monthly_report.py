"""GET /api/v1/reports/monthly (+ .csv, .pdf): every figure of a known set of
alerts across two months, two kinds a month, two operators and two homes, on
SQLite and on TimescaleDB; another centre's alert counts nowhere."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from alerts import monthly_pdf
from alerts.events import AlertBus
from alerts.monthly_report import CSV_FIGURES, MonthlyGroups, figures
from alerts.service import AlertService
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from eldercare.clock import ManualClock
from eldercare.domain import (
    AlertKind,
    Finding,
    Home,
    Organisation,
    Outcome,
    Resident,
    Role,
    Severity,
    User,
)
from eldercare.metrics import Metrics
from eldercare.settings import Settings
from eldercare.store import open_store
from tests.api.conftest import PASSWORD

JAN = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 5, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def F(*values: Any) -> dict[str, Any]:
    """The figures in CSV_FIGURES order: alerts, acknowledged, unanswered,
    ack ≤60 s (n, %), ack ≤180 s (n, %), window decided, on site in window (n, %)."""
    return dict(zip(CSV_FIGURES, values, strict=True))


JAN_FIGURES = {
    # a1 fall h1 op-a ack 30 s on site 300 s; a2 sos h1 op-b ack 120 s on site 700 s
    # (late); a3 sos h2 op-a ack 200 s, resolved by phone at 400 s (nobody needed)
    "overall": F(3, 3, 0, 1, 33.3, 2, 66.7, 2, 1, 50.0),
    "by_kind": {
        "fall": F(1, 1, 0, 1, 100.0, 1, 100.0, 1, 1, 100.0),
        "sos": F(2, 2, 0, 0, 0.0, 1, 50.0, 1, 0, 0.0),
    },
    "by_operator": {
        "op-a": F(2, 2, 0, 1, 50.0, 1, 50.0, 1, 1, 100.0),
        "op-b": F(1, 1, 0, 0, 0.0, 1, 100.0, 1, 0, 0.0),
    },
    "by_home": {
        "h1": F(2, 2, 0, 1, 50.0, 2, 100.0, 2, 1, 50.0),
        "h2": F(1, 1, 0, 0, 0.0, 0, 0.0, 0, 0, None),
    },
}
FEB_FIGURES = {
    # a4 fall h2 op-b ack 45 s on site 500 s; a5 water_leak h1: nobody, ever
    "overall": F(2, 1, 1, 1, 50.0, 1, 50.0, 2, 1, 50.0),
    "by_kind": {
        "fall": F(1, 1, 0, 1, 100.0, 1, 100.0, 1, 1, 100.0),
        "water_leak": F(1, 0, 1, 0, 0.0, 0, 0.0, 1, 0, 0.0),
    },
    "by_operator": {"op-b": F(1, 1, 0, 1, 100.0, 1, 100.0, 1, 1, 100.0)},
    "by_home": {
        "h1": F(1, 0, 1, 0, 0.0, 0, 0.0, 1, 0, 0.0),
        "h2": F(1, 1, 0, 1, 100.0, 1, 100.0, 1, 1, 100.0),
    },
}
TOTAL = {
    "overall": F(5, 4, 1, 2, 40.0, 3, 60.0, 4, 2, 50.0),
    "by_kind": {
        "fall": F(2, 2, 0, 2, 100.0, 2, 100.0, 2, 2, 100.0),
        "sos": F(2, 2, 0, 0, 0.0, 1, 50.0, 1, 0, 0.0),
        "water_leak": F(1, 0, 1, 0, 0.0, 0, 0.0, 1, 0, 0.0),
    },
    "by_operator": {
        "op-a": F(2, 2, 0, 1, 50.0, 1, 50.0, 1, 1, 100.0),
        "op-b": F(2, 2, 0, 1, 50.0, 2, 100.0, 2, 1, 50.0),
    },
    "by_home": {
        "h1": F(3, 2, 1, 1, 33.3, 2, 66.7, 3, 1, 33.3),
        "h2": F(2, 2, 0, 1, 50.0, 1, 50.0, 1, 1, 100.0),
    },
}
EXPECTED = {
    "from_month": "2026-01",
    "to_month": "2026-02",
    "timezone": "UTC",
    "months": [{"month": "2026-01", **JAN_FIGURES}, {"month": "2026-02", **FEB_FIGURES}],
    "total": TOTAL,
}


@pytest.fixture
async def client(store_url: str, hashes: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    store = await open_store(store_url)
    await store.migrate()
    await store.create_organisation(Organisation("bee", "Centre Bee"))
    for home in ("h1", "h2"):
        await store.create_home(Home(home, f"Home {home}"))
    await store.create_resident(Resident("h1-r1", "h1", "曹秀英"))  # in the PDF's home rows
    await store.create_home(Home("bee-home", "Bumble House", organisation_id="bee"))
    for name, role, org in (
        ("op-a", Role.OPERATOR, "default"),
        ("op-b", Role.OPERATOR, "default"),
        ("sup", Role.SUPERVISOR, "default"),
        ("bee-op", Role.OPERATOR, "bee"),
    ):
        await store.create_user(User(name, hashes[PASSWORD], role, organisation_id=org))
    clock, bus, metrics = ManualClock(JAN), AlertBus(), Metrics()
    alerts = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=600,
        default_timezone="UTC",
        care_centre_phone="+8657100000000",
    )

    async def raise_(home: str, kind: AlertKind, at: datetime) -> int:
        finding = Finding(home, f"{home}-{kind}", kind, Severity.CRITICAL, at, f"{home}{kind}{at}")
        change = await alerts.handle_finding(finding)
        assert change is not None
        return change.alert.id

    a1 = await raise_("h1", AlertKind.FALL, JAN)
    a2 = await raise_("h1", AlertKind.SOS, JAN)
    a3 = await raise_("h2", AlertKind.SOS, JAN)
    bee = await raise_("bee-home", AlertKind.SOS, JAN)
    a4 = await raise_("h2", AlertKind.FALL, FEB)
    await raise_("h1", AlertKind.WATER_LEAK, FEB)  # nobody ever answers it
    for t0, at, action in [
        (JAN, 10, lambda: alerts.acknowledge(bee, "bee-op")),
        (JAN, 30, lambda: alerts.acknowledge(a1, "op-a")),
        (JAN, 120, lambda: alerts.acknowledge(a2, "op-b")),
        (JAN, 200, lambda: alerts.acknowledge(a3, "op-a")),
        (JAN, 300, lambda: alerts.arrive(a1, "op-b")),  # the arrival's actor is not the owner
        (JAN, 400, lambda: alerts.resolve(a3, "op-a", Outcome.FALSE_ALARM)),
        (JAN, 700, lambda: alerts.arrive(a2, "op-b")),
        (FEB, 45, lambda: alerts.dispatch(a4, "op-b", "Li")),
        (FEB, 500, lambda: alerts.arrive(a4, "op-b")),
    ]:
        clock.set(t0 + timedelta(seconds=at))
        await action()
    clock.set(NOW)
    ctx = AppContext(
        settings=Settings(secret_key="k" * 40, timezone="UTC"),
        store=store,
        alerts=alerts,
        bus=bus,
        clock=clock,
        metrics=metrics,
        readiness=_ready,
        on_registry_change=lambda: None,
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        form = {"username": "sup", "password": PASSWORD}
        token = (await c.post("/api/v1/auth/token", data=form)).json()["access_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c
    await store.close()


async def _ready() -> dict[str, bool]:
    return {"store": True}


SPAN = {"from": "2026-01", "to": "2026-02"}
FIGURES_NONE = figures([], NOW)
PDF_HOMES = {"h1": "h1 Home h1 · 曹秀英", "h2": "h2 Home h2"}
"""A home's row in the PDF: its id, name and residents' names."""


async def test_the_report_lists_every_figure_the_store_holds(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/reports/monthly", params=SPAN)
    assert response.status_code == 200, response.text
    assert response.json() == EXPECTED


async def test_months_are_counted_in_the_time_zone_asked(client: httpx.AsyncClient) -> None:
    """08:00 UTC on 10 January is still 10 January in Shanghai; one month only."""
    params = {"from": "2026-02", "to": "2026-02", "tz": "Asia/Shanghai"}
    body = (await client.get("/api/v1/reports/monthly", params=params)).json()
    assert [m["month"] for m in body["months"]] == ["2026-02"]
    assert body["total"]["overall"] == FEB_FIGURES["overall"]


async def test_the_csv_carries_the_same_figures(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/reports/monthly.csv", params=SPAN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "response-report-2026-01-2026-02.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    got: dict[tuple[str, str, str], dict[str, str]] = {
        (r["month"], r["group"], r["key"]): {k: r[k] for k in CSV_FIGURES} for r in rows
    }
    want: dict[tuple[str, str, str], dict[str, str]] = {}
    sections = [(m["month"], m) for m in EXPECTED["months"]] + [("all", EXPECTED["total"])]
    for label, g in sections:
        want[(label, "overall", "")] = g["overall"]
        for group in ("kind", "operator", "home"):
            for key, f in g[f"by_{group}"].items():
                want[(label, group, key)] = f
    assert got == {
        k: {n: "" if v is None else str(v) for n, v in f.items()} for k, f in want.items()
    }


def _cells(f: dict[str, Any]) -> str:
    def share(n: int, pct: float | None, whole: int) -> str:
        return f"{n}/{whole} ({'-' if pct is None else f'{pct:.1f}%'})"

    return " ".join(
        [
            str(f["alerts"]),
            share(f["acknowledged_within_60s"], f["acknowledged_within_60s_pct"], f["alerts"]),
            share(f["acknowledged_within_180s"], f["acknowledged_within_180s_pct"], f["alerts"]),
            share(f["on_site_within_window"], f["on_site_within_window_pct"], f["window_decided"]),
        ]
    )


async def test_the_pdf_carries_the_same_numbers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/reports/monthly.pdf", params=SPAN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    assert "bee" not in text.lower()
    parts = re.split(r"Month 2026-01|Month 2026-02|All months 2026-01 to 2026-02", text)
    assert len(parts) == 4, text
    for section, g in zip(parts[1:], [JAN_FIGURES, FEB_FIGURES, TOTAL], strict=True):
        assert f"overall {_cells(g['overall'])}" in section, section
        for group in ("kind", "operator", "home"):
            for key, f in g[f"by_{group}"].items():
                label = PDF_HOMES[key] if group == "home" else key
                assert f"{group} {label} {_cells(f)}" in section, (group, key, section)
        rows = len(re.findall(r"\b(?:overall|kind|operator|home) ", section))
        assert rows == 1 + sum(len(g[f"by_{x}"]) for x in ("kind", "operator", "home"))


async def test_the_pdf_prints_chinese_names_with_an_embedded_font(
    client: httpx.AsyncClient,
) -> None:
    font = monthly_pdf.find_cjk_font()
    assert font is not None, (
        "no CJK font installed: run scripts/install-test-deps.sh (Debian's fonts-wqy-microhei)"
    )
    response = await client.get("/api/v1/reports/monthly.pdf", params=SPAN)
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert text.count("曹秀英") == 3, text  # h1's row in January, February and the span
    assert "?" not in text.replace("'?'", ""), text
    fonts = {
        str(f["/BaseFont"])
        for page in reader.pages
        for f in page["/Resources"]["/Font"].values()  # type: ignore[index]
    }
    assert any("Hei" in f or "CJK" in f or "Fallback" in f for f in fonts), fonts


def test_without_a_cjk_font_the_pdf_says_why_names_are_question_marks() -> None:
    total = MonthlyGroups(FIGURES_NONE, {}, {}, {"h1": FIGURES_NONE})
    body = monthly_pdf.render("default", "2026-01", "UTC", [], total, homes={"h1": "曹秀英家"})
    text = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert monthly_pdf.NO_CJK_NOTE in text, text
    assert "home h1 ????" in text, text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-1"}, "`from` must be a month as YYYY-MM"),
        ({"to": "2026-13"}, "`to` must be a month as YYYY-MM"),
        ({"from": "2026-03", "to": "2026-02"}, "`from` must not be after `to`"),
        ({"from": "2024-01", "to": "2026-02"}, "at most 24 months"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
    ],
)
async def test_bad_months_are_refused_with_the_reason(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    for path in (
        "/api/v1/reports/monthly",
        "/api/v1/reports/monthly.csv",
        "/api/v1/reports/monthly.pdf",
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 422
        assert message in response.json()["detail"]


async def test_operators_may_not_read_it(client: httpx.AsyncClient) -> None:
    form = {"username": "op-a", "password": PASSWORD}
    token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
    for path in (
        "/api/v1/reports/monthly",
        "/api/v1/reports/monthly.csv",
        "/api/v1/reports/monthly.pdf",
    ):
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
