"""The gateway's sink: committed readings go through the detectors, and their
findings become alerts. Runs before the gateway acknowledges the batch, so a
crash here means redelivery, and raising is idempotent on the finding's key."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from alerts.service import AlertService
from detectors.base import Detector
from eldercare.clock import Clock
from eldercare.domain import Device, Finding, Reading, StatusChange
from eldercare.metrics import Metrics

log = logging.getLogger("eldercare.pipeline")


class Pipeline:
    def __init__(
        self,
        detectors: Sequence[Detector],
        alerts: AlertService,
        clock: Clock,
        lookup: Callable[[str], Awaitable[Device | None]],
        metrics: Metrics,
    ) -> None:
        self.detectors = detectors
        self.alerts = alerts
        self.clock = clock
        self.lookup = lookup
        self.metrics = metrics

    async def __call__(
        self, readings: Sequence[Reading], status_changes: Sequence[StatusChange]
    ) -> None:
        findings: list[Finding] = []
        for reading in readings:
            self.clock.observe(reading.ts)
            device = await self.lookup(reading.device_id)
            if device is None:  # deleted between decode and now
                continue
            for detector in self.detectors:
                findings.extend(detector.on_reading(reading, device))
        for finding in findings:
            await self.alerts.handle_finding(finding)
