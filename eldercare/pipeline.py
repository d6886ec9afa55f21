"""The gateway's sink: committed readings go through the detectors, and their
findings become alerts. Runs before the gateway acknowledges the batch, so a
crash here means redelivery, and raising is idempotent on the finding's key."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from alerts.service import AlertService
from detectors.base import Detector
from detectors.runtime import DetectorRuntime
from eldercare.clock import Clock
from eldercare.domain import Clearance, Device, Reading, Signal, StatusChange
from eldercare.metrics import Metrics
from eldercare.priority import YIELD_EVERY, Priority
from eldercare.store.base import StoreUnavailable

log = logging.getLogger("eldercare.pipeline")


class Pipeline:
    def __init__(
        self,
        detectors: Sequence[Detector],
        alerts: AlertService,
        clock: Clock,
        lookup: Callable[[str], Awaitable[Device | None]],
        metrics: Metrics,
        runtime: DetectorRuntime | None = None,
        pause: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.pause = pause or Priority().pause
        """Awaited every YIELD_EVERY readings (the service passes Priority.pause)."""
        self.runtime = runtime
        """Profiles and saved state of the detectors (detectors/runtime.py)."""
        self.detectors = detectors
        self.alerts = alerts
        self.clock = clock
        self.lookup = lookup
        self.metrics = metrics
        self._tick_lock = asyncio.Lock()
        self._checkpoint: asyncio.Task[None] | None = None
        """The detectors' checkpoint under way, in its own task (see _tick)."""

    async def __call__(
        self, readings: Sequence[Reading], status_changes: Sequence[StatusChange]
    ) -> None:
        started = time.perf_counter()
        if self.runtime is not None:
            await self.runtime.begin(self.clock.now())
        signals: list[Signal] = []
        for i, reading in enumerate(readings):
            if i and not i % YIELD_EVERY:
                await self.pause()  # a big batch lets the fast lane and the API in
            self.clock.observe(reading.ts)
            device = await self.lookup(reading.device_id)
            if device is None:  # deleted between decode and now
                continue
            for detector in self.detectors:
                signals.extend(detector.on_reading(reading, device))
        for change in status_changes:
            device = await self.lookup(change.device_id)
            if device is None:
                continue
            for detector in self.detectors:
                signals.extend(detector.on_status(change, device))
        self.metrics.observe("eldercare_detector_seconds", time.perf_counter() - started)
        await self._apply(signals)
        # With the event clock, time moves with the batch: time-based rules run now.
        await self.tick()
        self.metrics.observe("eldercare_pipeline_seconds", time.perf_counter() - started)

    async def tick(self) -> None:
        """Run the time-based rules at the service clock's now. One at a time: the
        ticker and the gateway's lanes all call it."""
        async with self._tick_lock:
            await self._tick()

    async def _tick(self) -> None:
        now = self.clock.now()
        if self.runtime is not None:
            await self.runtime.begin(now)
        signals: list[Signal] = []
        for detector in self.detectors:
            signals.extend(detector.on_tick(now))
        await self._apply(signals)
        await self.alerts.tick()
        runtime = self.runtime
        if runtime is not None and self._checkpoint is None and runtime.checkpoint_due():
            # Not in the caller's task: a tick at the end of a fast-lane batch must
            # not carry a checkpoint of thousands of entries, and one checkpoint
            # runs at a time. It is bulk work: it pauses for urgent work.
            self._checkpoint = asyncio.create_task(self._save(now), name="detector-checkpoint")

    async def _save(self, now: datetime) -> None:
        assert self.runtime is not None
        try:
            await self.runtime.checkpoint(now, pause=self.pause)
        except StoreUnavailable as exc:  # an outage: said once a checkpoint, no traceback
            log.error("could not save the detectors' state (%s); the next tick retries", exc)
        except Exception:  # the entries stay pending; the next tick tries again
            log.exception("could not save the detectors' state; the next tick retries")
        finally:
            self._checkpoint = None

    async def start(self) -> None:
        """Resume the detectors from the store (saved state + recent readings)."""
        if self.runtime is not None:
            await self._apply(await self.runtime.start(self.clock))

    async def stop(self) -> None:
        """Save the detectors' state (after intake has stopped)."""
        if self.runtime is not None:
            async with self._tick_lock:
                if self._checkpoint is not None:
                    await asyncio.gather(self._checkpoint, return_exceptions=True)
                await self.runtime.checkpoint(self.clock.now(), force=True)

    async def _apply(self, signals: Sequence[Signal]) -> None:
        for signal in signals:
            if isinstance(signal, Clearance):
                await self.alerts.handle_clearance(signal)
            else:
                await self.alerts.handle_finding(signal)
