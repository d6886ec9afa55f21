"""Conditions that clear are written on the open alert; only device conditions
resolve themselves (alerts about a person's safety are closed by people)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.events import AlertBus
from alerts.service import AlertService
from eldercare.clock import ManualClock
from eldercare.domain import (
    AlertKind,
    AlertStatus,
    Clearance,
    Device,
    DeviceKind,
    Finding,
    Home,
    Outcome,
    Severity,
)
from eldercare.metrics import Metrics
from eldercare.store import Store, open_store

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[AlertService]:
    store: Store = await open_store(f"sqlite:///{tmp_path}/a.db")
    await store.migrate()
    await store.create_home(Home("h1", "Home"))
    await store.create_device(Device("h1-water", "h1", DeviceKind.WATER))
    yield AlertService(
        store,
        ManualClock(T0),
        AlertBus(),
        Metrics(),
        response_window_s=600,
        default_timezone="Asia/Shanghai",
        care_centre_phone="+8657100000000",
    )
    await store.close()


def finding(kind: AlertKind, severity: Severity) -> Finding:
    return Finding("h1", "h1-water", kind, severity, T0, f"{kind}:1", device_id="h1-water")


async def test_leak_dry_is_noted_but_the_alert_stays_open(service: AlertService) -> None:
    change = await service.handle_finding(finding(AlertKind.WATER_LEAK, Severity.HIGH))
    assert change is not None
    at = T0 + timedelta(minutes=5)
    cleared = await service.handle_clearance(
        Clearance("h1", "h1-water", AlertKind.WATER_LEAK, at, "leak sensor dry")
    )
    assert cleared is not None and cleared.status is AlertStatus.OPEN
    timeline = await service.store.get_timeline(change.alert.id)
    assert [e.event for e in timeline] == ["raised", "cleared"]
    assert timeline[1].details["message"] == "leak sensor dry"
    assert timeline[1].at == at


async def test_device_back_online_resolves_its_offline_alert(service: AlertService) -> None:
    change = await service.handle_finding(finding(AlertKind.DEVICE_OFFLINE, Severity.WARNING))
    assert change is not None
    resolved = await service.handle_clearance(
        Clearance(
            "h1", "h1-water", AlertKind.DEVICE_OFFLINE, T0, "device back online", auto_resolve=True
        )
    )
    assert resolved is not None
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.outcome is Outcome.HANDLED
    events = [(e.event, e.actor) for e in await service.store.get_timeline(change.alert.id)]
    assert events[-1] == ("resolved", "system")


async def test_clearance_without_an_open_alert_changes_nothing(service: AlertService) -> None:
    assert (
        await service.handle_clearance(Clearance("h1", "h1-water", AlertKind.WATER_LEAK, T0, "dry"))
        is None
    )
