"""Probes and metrics: open to load balancers and Prometheus without a token."""

from __future__ import annotations

import httpx

from tests.api.conftest import RaiseAlert


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_only_when_every_check_passes(
    client: httpx.AsyncClient, checks: dict[str, bool]
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"broker": True, "store": True}
    checks["broker"] = False
    down = await client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["detail"] == "not ready: broker"
    assert down.json()["checks"]["store"] is True


async def test_metrics_are_prometheus_text(
    client: httpx.AsyncClient, raise_alert: RaiseAlert
) -> None:
    await raise_alert()
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'eldercare_alerts_raised_total{kind="fall",severity="critical"} 1' in response.text


async def test_errors_are_json_with_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
