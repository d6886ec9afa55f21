"""``eldercare intake-process``: serve's intake and detection in a process of its own
(``ELDERCARE_INTAKE_PROCESS=on``, README "The intake process").

``eldercare serve`` starts it (and starts it again if it exits) with its own
settings and the path of its link (``eldercare/intake_link.py``). It is the
one-process service's intake, whole: the main MQTT session with its two lanes,
the commit (and the local spool while PostgreSQL is away), every detector with
its saved state, and the alert service, whose escalation writes each new
alert's steps to the store and wakes serve's escalation to send them (as a
scale-out worker's does). Its alert changes go over the link to serve's live
screen; serve's registry changes come back over it.

What stays in serve: the API and the live screen, escalation, retention, and
the urgent MQTT session, whose critical events serve raises itself
(``eldercare/critical_lane.py``) without sharing a GIL with the vitals here.
"""

from __future__ import annotations

import asyncio
import logging
import os

from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.provider_limits import SmsLimitGuard, load_provider_limits
from alerts.service import AlertService
from alerts.sms_routing import attach_store, build_channels
from alerts.standby import Standby
from alerts.twilio_channels import close_channels
from detectors.runtime import DetectorRuntime
from eldercare.app import build_alerting, gateway_config, open_standby
from eldercare.clock import Clock, make_clock
from eldercare.intake_link import LinkClient
from eldercare.metrics import Metrics
from eldercare.pipeline import Pipeline
from eldercare.priority import Priority
from eldercare.settings import Settings
from eldercare.spool import Spool
from eldercare.store import open_store
from eldercare.store.base import Store, StoreError, StoreUnavailable
from gateway.intake import Gateway
from gateway.registry_cache import RegistryCache

log = logging.getLogger("eldercare.intake_process")


class IntakeProcess:
    def __init__(
        self,
        settings: Settings,
        link: str,
        *,
        clock: Clock | None = None,
        parent: int | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or make_clock(settings.clock)
        self.metrics = Metrics()
        self.bus = AlertBus()
        self.sms, self.voice = build_channels(settings)
        self.link = LinkClient(link, self._registry_changed)
        self._stop = asyncio.Event()
        self._parent = os.getppid() if parent is None else parent
        """serve's pid (given by serve: it can be killed before this process asks for its
        parent): when serve is gone, this process stops too, since the next serve starts
        an intake process of its own on the same MQTT session."""
        self._store: Store | None = None
        self._registry: RegistryCache | None = None
        self.detectors: DetectorRuntime | None = None
        self.pipeline: Pipeline | None = None
        self.gateway: Gateway | None = None
        self.alerts: AlertService | None = None
        self.escalation: EscalationEngine | None = None
        """Writes the ladders of the alerts raised here; serve's sends them."""
        self.spool: Spool | None = None
        self.standby: Standby | None = None

    async def __aenter__(self) -> IntakeProcess:
        s = self.settings
        store = self._store = await open_store(s.database_url)
        try:
            attach_store(store, self.sms, self.voice)
            registry = self._registry = RegistryCache(store)
            await registry.load()
            priority = Priority()
            self.escalation, self.alerts = build_alerting(
                s,
                store,
                self.clock,
                self.bus,
                self.metrics,
                self.sms,
                self.voice,
                policy=load_policy(s.escalation_policy),
                sms_limits=SmsLimitGuard(load_provider_limits(s.sms_limits)),
                priority=priority,
            )
            self.escalation.on_wake = self.link.wake
            self.spool, self.standby = await open_standby(
                s, store, self.bus, self.metrics, self.escalation, self.alerts
            )
            self.detectors = DetectorRuntime(store, default_timezone=s.timezone)
            self.pipeline = Pipeline(
                [self.detectors.detectors],
                self.alerts,
                self.clock,
                registry.lookup,
                self.metrics,
                runtime=self.detectors,
                pause=priority.pause,
            )
            await self.pipeline.start()
            self.gateway = Gateway(
                gateway_config(s),
                store=store,
                registry=registry,
                clock=self.clock,
                metrics=self.metrics,
                sink=self.pipeline,
                priority=priority,
                spool=self.spool,
            )
        except BaseException:
            await store.close()
            raise
        return self

    def _registry_changed(self) -> None:
        for part in (self._registry, self.detectors, self.standby):
            if part is not None:
                part.invalidate()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        gateway, pipeline, alerts = self.gateway, self.pipeline, self.alerts
        assert gateway is not None and pipeline is not None and alerts is not None
        standby = self.standby
        async with asyncio.TaskGroup() as tg:
            intake = tg.create_task(gateway.run(), name="gateway")
            link = tg.create_task(self.link.run(self.bus), name="link")
            ticker = tg.create_task(self._tick_every(1.0), name="ticker")
            watch = tg.create_task(self._watch_parent(1.0), name="parent-watch")
            replayer = tg.create_task(standby.run(), name="standby") if standby else None
            await self._stop.wait()
            await gateway.stop()  # drain, commit, ack
            await intake
            try:
                await pipeline.stop()
            except StoreError:
                log.exception("could not save the detectors' state; the next start replays")
            ticker.cancel()
            await alerts.drain()
            if standby is not None and replayer is not None:
                await standby.drain_sends()
                standby.stop()
                await replayer
            link.cancel()
            watch.cancel()

    async def _watch_parent(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            if os.getppid() != self._parent:
                break
        log.error("serve is gone: the intake process stops (commits, saves, exits)")
        self.request_stop()

    async def _tick_every(self, seconds: float) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        while True:
            await asyncio.sleep(seconds)
            try:
                await pipeline.tick()
            except StoreUnavailable as exc:
                log.error("tick failed: %s; next tick retries", exc)
            except StoreError:
                log.exception("tick failed: the store did not answer; next tick retries")

    async def __aexit__(self, *exc: object) -> None:
        await close_channels(self.sms, self.voice)
        if self.spool is not None:
            self.spool.close()
        if self._store is not None:
            await self._store.close()
