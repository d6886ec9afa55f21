"""Vitals history and the latest vitals on a home's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from eldercare.domain import Device, DeviceKind, Reading, Resident, Role
from eldercare.store import Store
from eldercare.store.base import VitalsQuery
from tests.api.conftest import TokenFor

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
async def operator(store: Store, token_for: TokenFor) -> dict[str, str]:
    await store.create_resident(Resident("r1", "h1", "Wang"))
    await store.create_device(Device("bed1", "h1", DeviceKind.BED_BAND, "r1"))
    readings = [
        Reading("h1", "bed1", DeviceKind.BED_BAND, T0 + timedelta(seconds=10 * i), T0, i, 80,
                {"hr": 60 + i, "rr": 14, "in_bed": True})
        for i in range(12)  # two minutes at one reading per 10 s
    ]  # fmt: skip
    await store.insert_readings(readings)
    return await token_for(Role.OPERATOR)


async def test_vitals_min_avg_max_per_bucket(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    params = {"metric": "hr", "from": T0.isoformat(), "to": "2026-01-10T09:00:00Z", "bucket": "1m"}
    body = (await client.get("/api/v1/residents/r1/vitals", params=params, headers=operator)).json()
    assert body["resident_id"] == "r1" and body["metric"] == "hr"
    assert body["bucket_seconds"] == 60
    assert body["from"].startswith("2026-01-10T08:00:00")
    assert [b["start"][:19] for b in body["buckets"]] == [
        "2026-01-10T08:00:00",
        "2026-01-10T08:01:00",
    ]
    first, second = body["buckets"]
    assert (first["count"], first["min"], first["avg"], first["max"]) == (6, 60, 62.5, 65)
    assert (second["min"], second["max"]) == (66, 71)
    rr = await client.get(
        "/api/v1/residents/r1/vitals",
        params={**params, "metric": "rr", "bucket": "1h"},
        headers=operator,
    )
    assert rr.json()["buckets"][0]["count"] == 12


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"metric": "spo2"}, "metric"),
        ({"bucket": "fast"}, "bucket"),
        ({"bucket": "0"}, "bucket"),
        ({"from": "2026-01-10T09:00:00Z", "to": "2026-01-10T08:00:00Z"}, "before"),
        ({"from": "2025-01-10T09:00:00Z", "to": "2026-01-10T08:00:00Z", "bucket": "1s"}, "buckets"),
        ({"from": "yesterday"}, "from"),
    ],
)
async def test_bad_vitals_queries_are_422(
    client: httpx.AsyncClient, operator: dict[str, str], params: dict[str, str], why: str
) -> None:
    response = await client.get("/api/v1/residents/r1/vitals", params=params, headers=operator)
    assert response.status_code == 422, response.text
    assert why in response.text


async def test_vitals_of_an_unknown_resident_is_404(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    response = await client.get("/api/v1/residents/nobody/vitals", headers=operator)
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


async def test_home_status_carries_the_latest_vitals(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    body = (await client.get("/api/v1/homes/h1/status", headers=operator)).json()
    (vitals,) = body["vitals"]
    assert vitals["resident_id"] == "r1" and vitals["device_id"] == "bed1"
    assert (vitals["hr"], vitals["rr"], vitals["in_bed"]) == (71, 14, True)
    assert vitals["ts"].startswith("2026-01-10T08:01:50")


async def test_vitals_up_to_now_from_rollups_match_the_readings(
    client: httpx.AsyncClient, operator: dict[str, str], store: Store
) -> None:
    # The last ten minutes at one reading per 7 s, some sent twice; `to` = now, mid-minute.
    now = datetime.now(UTC)
    recent = [
        Reading("h1", "bed1", DeviceKind.BED_BAND, now - timedelta(seconds=7 * i), now, 1000 + i,
                80, {"hr": 50 + i % 40, "rr": 10 + i % 7, "in_bed": True})
        for i in range(1, 86)
    ]  # fmt: skip
    assert await store.insert_readings(recent) == 85
    assert await store.insert_readings(recent[::3]) == 0  # redelivered
    for bucket, seconds in (("1m", 60), ("5m", 300), ("15s", 15)):
        response = await client.get(
            "/api/v1/residents/r1/vitals",
            params={"metric": "hr", "bucket": bucket},
            headers=operator,
        )
        body = response.json()
        query = VitalsQuery(
            "r1",
            "hr",
            datetime.fromisoformat(body["from"]),
            datetime.fromisoformat(body["to"]),
            seconds,
        )
        raw = await store.vitals_buckets(query, rollups=False)
        served = [
            (datetime.fromisoformat(b["start"]), b["count"], b["min"], b["avg"], b["max"])
            for b in body["buckets"]
        ]
        assert served == [(b.start, b.count, b.min, b.avg, b.max) for b in raw], bucket
        assert sum(b["count"] for b in body["buckets"]) == 85, bucket
