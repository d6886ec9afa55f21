"""``eldercare worker``: one scale-out intake and detection process (README "Scale-out").

The composition of a worker: the store, the registry, the alert service (alerts
are raised here; their escalation steps are written to the store and sent by
``eldercare serve``'s escalation, which claims each step), the MQTT gateway's
decode and commit (``Gateway.handle``, no MQTT connection of its own) fed by
``NatsIntake``, and the detectors of the partitions this worker owns, rebuilt
from the store each time that set changes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from collections.abc import Sequence

from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.policy import load_policy
from alerts.provider_limits import SmsLimitGuard, load_provider_limits
from alerts.service import AlertService
from alerts.sms_routing import attach_store, build_channels
from alerts.twilio_channels import close_channels
from detectors.runtime import DetectorRuntime, Scope
from eldercare.app import build_alerting, gateway_config
from eldercare.clock import Clock, make_clock
from eldercare.domain import Reading, StatusChange
from eldercare.metrics import Metrics
from eldercare.pipeline import Pipeline
from eldercare.priority import Priority
from eldercare.settings import Settings, SettingsError
from eldercare.store import open_store
from eldercare.store.base import Store, StoreError, StoreUnavailable
from gateway import nats_relay as relay
from gateway.intake import Gateway
from gateway.nats_intake import NatsConfig, NatsIntake
from gateway.nats_sources import SourceBridge
from gateway.partitions import partition_of
from gateway.registry_cache import RegistryCache

log = logging.getLogger("eldercare.worker")

REGISTRY_REFRESH_S = 30.0
"""The API runs in another process: the worker reloads the homes' profiles this often."""


def nats_config(s: Settings) -> NatsConfig:
    if s.engine_url is None:
        raise SettingsError("eldercare worker needs ELDERCARE_ENGINE_URL (nats://host:port)")
    return NatsConfig(
        servers=[u.strip() for u in s.engine_url.split(",") if u.strip()],
        worker_id=s.worker_id or f"{socket.gethostname().split('.')[0]}-{os.getpid()}",
        partitions=s.engine_partitions,
        lease_s=s.engine_lease,
        ack_wait=s.engine_ack_wait,
        batch_max=s.batch_max,
        replicas=s.engine_replicas,
    )


class Worker:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.config = nats_config(settings)
        self.clock = clock or make_clock(settings.clock)
        self.metrics = Metrics()
        self.bus = AlertBus()
        self.sms, self.voice = build_channels(settings)
        self._store: Store | None = None
        self._pipeline: Pipeline | None = None
        self._registry: RegistryCache | None = None
        self.alerts: AlertService | None = None
        self.escalation: EscalationEngine | None = None
        """Writes the ladders of the alerts raised here; never runs them."""
        self.intake: NatsIntake | None = None
        self._priority = Priority()
        self.rebuilds = 0

    @property
    def store(self) -> Store:
        assert self._store is not None, "worker not started"
        return self._store

    async def __aenter__(self) -> Worker:
        s = self.settings
        self._store = await open_store(s.database_url)
        attach_store(self._store, self.sms, self.voice)
        self._registry = RegistryCache(self._store)
        await self._registry.load()
        self.escalation, self.alerts = build_alerting(
            s,
            self._store,
            self.clock,
            self.bus,
            self.metrics,
            self.sms,
            self.voice,
            policy=load_policy(s.escalation_policy),
            sms_limits=SmsLimitGuard(load_provider_limits(s.sms_limits)),
            priority=self._priority,
        )
        gateway = Gateway(
            gateway_config(s),
            store=self._store,
            registry=self._registry,
            clock=self.clock,
            metrics=self.metrics,
            sink=self._sink,
            priority=self._priority,
        )
        bridge = SourceBridge(
            self._registry,
            self._store,
            self.config.partitions,
            self.metrics,
            max_payload=s.dead_letter_max_payload,
        )
        self.intake = NatsIntake(
            self.config,
            gateway,
            on_partitions=self._rebuild,
            metrics=self.metrics,
            bridge=bridge,
        )
        return self

    async def _sink(self, readings: Sequence[Reading], statuses: Sequence[StatusChange]) -> None:
        pipeline = self._pipeline
        if pipeline is not None:
            await pipeline(readings, statuses)

    async def _rebuild(self, partitions: frozenset[int]) -> None:
        """The partitions owned changed (intake paused): save the detectors of the
        old set, then load those of the new set from the store."""
        old = self._pipeline
        if old is not None:
            await old.stop()  # every owned home's state, and the partitions' as_of
            self._pipeline = None
        if not partitions:
            return
        assert self.alerts is not None and self._registry is not None
        s = self.settings
        runtime = DetectorRuntime(
            self.store,
            default_timezone=s.timezone,
            follow_events=s.clock == "event",
            scope=Scope(
                partitions,
                functools.partial(partition_of, partitions=self.config.partitions),
            ),
        )
        pipeline = Pipeline(
            [runtime.detectors],
            self.alerts,
            self.clock,
            self._registry.lookup,
            self.metrics,
            runtime=runtime,
            pause=self._priority.pause,
        )
        await pipeline.start()  # saved state, then the recent readings replayed
        self._pipeline = pipeline
        self.rebuilds += 1
        log.info(
            "detectors rebuilt",
            extra={"partitions": sorted(partitions), "replayed": runtime.replayed},
        )

    async def run(self) -> None:
        intake = self.intake
        assert intake is not None
        ticker = asyncio.create_task(self._tick_every(1.0), name="ticker")
        nc = await relay.connect(self.config.servers, f"{self.config.worker_id}-alerts")
        forwarder = asyncio.create_task(relay.forward(self.bus, nc), name="alert-forwarder")
        assert self.escalation is not None
        self.escalation.on_wake = relay.Waker(nc)  # its steps are sent by serve
        try:
            await intake.run()
        finally:
            ticker.cancel()
            forwarder.cancel()
            await asyncio.gather(ticker, forwarder, return_exceptions=True)
            await nc.close()
            assert self.alerts is not None
            await self.alerts.drain()

    def request_stop(self) -> None:
        if self.intake is not None:
            self.intake.stop()

    async def _tick_every(self, seconds: float) -> None:
        intake = self.intake
        assert intake is not None
        since_refresh = 0.0
        while True:
            await asyncio.sleep(seconds)
            since_refresh += seconds
            async with intake.lock:
                pipeline = self._pipeline
                if pipeline is None:
                    continue
                if since_refresh >= REGISTRY_REFRESH_S and pipeline.runtime is not None:
                    since_refresh = 0.0
                    pipeline.runtime.invalidate()
                    assert self._registry is not None
                    self._registry.invalidate()
                try:
                    await pipeline.tick()
                except StoreUnavailable as exc:
                    log.error("tick failed: %s; next tick retries", exc)
                except StoreError:
                    log.exception("tick failed: the store did not answer; next tick retries")

    async def __aexit__(self, *exc: object) -> None:
        await close_channels(self.sms, self.voice)
        if self._store is not None:
            await self._store.close()
