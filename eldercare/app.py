"""The composition root: builds every part from Settings and runs them under one
``asyncio.TaskGroup``; shuts down in order (stop intake, drain, flush, close).

    async with Service(settings) as service:
        await service.run()          # until service.request_stop()
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from urllib.parse import urlsplit

from alerts.channels import SmsChannel, VoiceChannel
from alerts.escalation import EscalationEngine
from alerts.events import AlertBus
from alerts.incidents import FloodGuard, FloodRules
from alerts.policy import Policy, load_policy
from alerts.provider_limits import SmsLimitGuard, load_provider_limits
from alerts.service import AlertService
from alerts.silences import Silences
from alerts.sms_routing import attach_store, build_channels
from alerts.standby import Standby
from alerts.twilio_channels import close_channels
from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from detectors.runtime import DetectorRuntime
from eldercare.api_server import ApiServer, build_server
from eldercare.clock import Clock, make_clock
from eldercare.critical_lane import CriticalLane
from eldercare.domain import URGENT_SESSION_SUFFIX, DeviceKind, Role, User
from eldercare.embedded_broker import EmbeddedBroker
from eldercare.intake_link import LinkServer
from eldercare.logs import add_secret
from eldercare.metrics import Metrics
from eldercare.passwords import WeakPassword, check_new_password, hash_password
from eldercare.pipeline import Pipeline
from eldercare.priority import Priority
from eldercare.retention import RetentionLoop, RetentionPolicy
from eldercare.settings import Settings, SettingsError
from eldercare.spool import Spool, SpoolError
from eldercare.store import open_store
from eldercare.store.base import NotFound, Store, StoreError, StoreUnavailable
from eldercare.worker_pool import WorkerPool
from gateway import Gateway, GatewayConfig
from gateway.registry_cache import RegistryCache
from gateway.urgent_session import SeenMessages

log = logging.getLogger("eldercare.service")

FAST_LANE: dict[str, tuple[bytes, ...]] = {
    DeviceKind.SOS_BUTTON.value: (b'"action"',),
    DeviceKind.FALL_RADAR.value: (b'"detected"', b'"suspected"', b'"floor"'),
    DeviceKind.GAS.value: (b'"alarm"', b'"lel"'),
    DeviceKind.WATER.value: (b'"leak"',),
}
"""The gateway's fast lane (GatewayConfig.fast_lane): the events that raise a
critical alert from one message (a press, a fall, gas, a leak), not the
heartbeats of the same devices (hundreds a minute with thousands of homes)."""


async def ensure_admin(store: Store, username: str, password: str | None) -> str | None:
    """Create the admin account if missing; return the password if one was generated."""
    try:
        await store.get_user(username)
        return None
    except NotFound:
        pass
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
        add_secret(generated)  # printed once by `serve`, never in a log line
    try:
        check_new_password(password, username)
    except WeakPassword as exc:
        raise SettingsError(f"ELDERCARE_ADMIN_PASSWORD: {exc}") from exc
    await store.create_user(User(username, hash_password(password), Role.ADMIN))
    log.info("created admin account %s", username, extra={"username": username})
    return generated


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        sms: SmsChannel | None = None,
        voice: VoiceChannel | None = None,
        clock: Clock | None = None,
        workers: int = 0,
        config_file: str | None = None,
    ) -> None:
        self.settings = settings
        self.config_file = config_file
        """``--config``: passed on to the processes this one starts."""
        self.workers = WorkerPool(settings, workers, config_file) if workers else None
        """``eldercare serve --workers N``: the N intake and detection processes."""
        self.intake_process = settings.intake_process == "on" and not workers
        """``ELDERCARE_INTAKE_PROCESS=on``: intake and detection in a child process,
        critical alerts raised here from the urgent session (eldercare/critical_lane.py)."""
        self._intake_dir: str | None = None
        self.intake: WorkerPool | None = None
        self.link: LinkServer | None = None
        self.critical: CriticalLane | None = None
        self.clock = clock or make_clock(settings.clock)
        self.metrics = Metrics()
        self.bus = AlertBus()
        # Twilio when ELDERCARE_TWILIO_ACCOUNT_SID/_AUTH_TOKEN/_FROM are set, else the console;
        # Aliyun / Tencent Cloud beside it per ELDERCARE_SMS_PROVIDER and contacts' overrides.
        if sms is None or voice is None:
            built_sms, built_voice = build_channels(settings)
            sms, voice = sms or built_sms, voice or built_voice
        self.sms: SmsChannel = sms
        self.voice: VoiceChannel = voice
        self.policy = load_policy(settings.escalation_policy)  # a bad file stops the start
        self.sms_limits = SmsLimitGuard(load_provider_limits(settings.sms_limits))
        self.escalation: EscalationEngine | None = None
        self.generated_admin_password: str | None = None
        self._stop = asyncio.Event()
        self._broker: EmbeddedBroker | None = None
        self._store: Store | None = None
        self._gateway: Gateway | None = None
        self._urgent_gateway: Gateway | None = None
        """The urgent MQTT session (gateway/urgent_session.py), if on."""
        self._server: ApiServer | None = None
        self.alerts: AlertService | None = None
        self._pipeline: Pipeline | None = None
        self.spool: Spool | None = None
        """PostgreSQL only: batches and alerts kept on this disk while it is away."""
        self.standby: Standby | None = None
        self._store_problem: str | None = None
        """Why the last readiness check found the store down (read by readiness_reasons)."""

    @property
    def store(self) -> Store:
        assert self._store is not None, "service not started"
        return self._store

    async def __aenter__(self) -> Service:
        s = self.settings
        self._store = await open_store(s.database_url)
        try:
            applied = await self._store.migrate()
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            self.generated_admin_password = await ensure_admin(
                self._store, s.admin_user, s.admin_password
            )
            if s.mqtt_url is None and s.engine_url is None:
                self._broker = EmbeddedBroker(s.embedded_mqtt_port)
                await self._broker.start()
        except BaseException:
            await self._store.close()
            raise
        attach_store(self._store, self.sms, self.voice)  # contacts' provider overrides
        registry = RegistryCache(self._store)
        await registry.load()
        priority = Priority()
        self.escalation, self.alerts = build_alerting(
            s,
            self._store,
            self.clock,
            self.bus,
            self.metrics,
            self.sms,
            self.voice,
            policy=self.policy,
            sms_limits=self.sms_limits,
            priority=priority,
        )
        if not self.intake_process:  # else the spool is the intake process's
            try:
                self.spool, self.standby = await open_standby(
                    s, self._store, self.bus, self.metrics, self.escalation, self.alerts
                )
            except SettingsError:
                await self._store.close()
                raise
        self.detectors: DetectorRuntime | None = None
        if self.intake_process:
            await self._open_intake_process(registry, priority)
        elif s.engine_url is None:  # else intake and detection are the workers' (worker.py)
            self.detectors = DetectorRuntime(
                self._store, default_timezone=s.timezone, follow_events=s.clock == "event"
            )
            self._pipeline = Pipeline(
                [self.detectors.detectors],
                self.alerts,
                self.clock,
                registry.lookup,
                self.metrics,
                runtime=self.detectors,
                pause=priority.pause,
            )
            pipeline = self._pipeline
            await pipeline.start()
            main = gateway_config(s)
            # With the event clock, time is the data's order: one lane, one session.
            urgent = s.mqtt_urgent_session == "on" and s.clock == "wall"
            seen = SeenMessages() if urgent else None
            store = self._store

            def gateway(config: GatewayConfig) -> Gateway:
                return Gateway(
                    config,
                    store=store,
                    registry=registry,
                    clock=self.clock,
                    metrics=self.metrics,
                    sink=pipeline,
                    priority=priority,
                    spool=self.spool,
                    seen=seen,
                )

            self._gateway = gateway(main)
            if urgent:
                self._urgent_gateway = gateway(
                    dataclasses.replace(
                        main,
                        client_id=main.client_id + URGENT_SESSION_SUFFIX,
                        username=main.username and main.username + URGENT_SESSION_SUFFIX,
                        urgent_session=True,
                    )
                )
        ctx = AppContext(
            settings=s,
            store=self._store,
            alerts=self.alerts,
            bus=self.bus,
            clock=self.clock,
            metrics=self.metrics,
            readiness=self.readiness,
            readiness_reasons=self.readiness_reasons,
            on_registry_change=_both(
                registry.invalidate,
                *([self.detectors.invalidate] if self.detectors else []),
                *([self.standby.invalidate] if self.standby else []),
                *([self.critical.invalidate] if self.critical else []),
                *([self.link.registry_changed] if self.link else []),
            ),
            delivery=self.escalation,
        )
        self._server = build_server(
            create_app(ctx),
            host=s.api_host,
            port=s.api_port,
            max_connections=s.api_max_connections,
            read_timeout=s.api_read_timeout,
        )
        # Readings and dead letters past their age: at start, then every retention_every.
        self.retention = RetentionLoop(
            self._store, self.clock, RetentionPolicy.from_settings(s), self.metrics
        )
        return self

    async def readiness(self) -> dict[str, bool]:
        store_ok = True
        try:
            await asyncio.wait_for(self.store.ping(), timeout=2.0)
            self._store_problem = None
        except (StoreError, TimeoutError, OSError) as exc:
            store_ok = False
            self._store_problem = str(exc) or type(exc).__name__
        gateway = self._gateway
        if self.intake is not None:  # intake is the child's; the urgent session is here
            urgent = self._urgent_gateway
            assert urgent is not None and self.link is not None
            return {  # the urgent session is not needed: the intake process takes all
                "broker": self.intake.alive == 1 and self.link.connected,
                "store": store_ok,
                "mqtt_session": urgent.session_problem is None,
            }
        if self.settings.engine_url is not None:  # intake is the workers'
            pool = self.workers
            return {
                "broker": pool is None or pool.alive == pool.size,
                "store": store_ok,
                "mqtt_session": True,
            }
        return {
            "broker": gateway is not None and gateway.connected,
            "store": store_ok,
            "mqtt_session": gateway is None or gateway.session_problem is None,
        }

    def readiness_reasons(self) -> dict[str, str]:
        """What /readyz says beside a failing check."""
        gateway = self._gateway
        reasons: dict[str, str] = {}
        if self._store_problem is not None:
            reasons["store"] = self._store_problem
            spool = self.spool
            if spool is not None:
                reasons["store"] += (
                    f"; held in the local spool: {spool.batches} batches,"
                    f" {spool.signals} findings and clearances,"
                    f" {spool.provisional} provisional alerts"
                )
        pool = self.workers
        urgent = self._urgent_gateway
        if self.intake is not None:
            if self.intake.alive < 1 or self.link is None or not self.link.connected:
                reasons["broker"] = "the intake process is not running (starting or restarting)"
            gateway = urgent
        elif pool is not None and pool.alive < pool.size:
            reasons["broker"] = f"{pool.alive} of {pool.size} workers running (restarting)"
        elif gateway is not None and not gateway.connected:
            reasons["broker"] = "the gateway is not connected to the broker (or not subscribed)"
        problem = None if gateway is None else gateway.session_problem
        if problem is not None:
            reasons["mqtt_session"] = problem
        return reasons

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        """Run the gateway and the API until request_stop(), then shut down in order."""
        assert self._server is not None and self.escalation is not None
        gateway, server, escalation = self._gateway, self._server, self.escalation
        pool = self.workers
        async with asyncio.TaskGroup() as tg:
            if gateway is not None:
                tg.create_task(gateway.run(), name="gateway")
            urgent = self._urgent_gateway
            if urgent is not None:
                tg.create_task(urgent.run(), name="gateway-urgent")
            if pool is not None:
                tg.create_task(pool.run(), name="workers")
            intake = self.intake
            if intake is not None:
                tg.create_task(intake.run(), name="intake-process")
            tg.create_task(server.serve(), name="api")
            engine = self.settings.engine_url is not None
            relaying = tg.create_task(self._relay(), name="relay") if engine else None
            ticker = tg.create_task(self._tick_every(1.0), name="ticker")
            escalator = tg.create_task(escalation.run(1.0), name="escalation")
            retention = tg.create_task(self.retention.run(60.0), name="retention")
            standby = self.standby
            replayer = tg.create_task(standby.run(), name="standby") if standby else None
            log.info(
                "service running: API on http://%s:%s",
                self.settings.api_host,
                self.settings.api_port,
                extra={"database": _redact(self.settings.database_url)},
            )
            await self._stop.wait()
            log.info("shutting down: stopping intake")
            if gateway is not None:
                await asyncio.gather(  # stop intake, drain, commit, ack
                    gateway.stop(), *([urgent.stop()] if urgent is not None else [])
                )
                await self._save_detectors()
            if intake is not None:
                if urgent is not None:
                    await urgent.stop()
                await intake.stop()  # it commits what it took and saves its detectors
            if pool is not None:
                await pool.stop()  # each saves its detectors and releases its leases
            ticker.cancel()
            retention.cancel()
            if relaying is not None:
                relaying.cancel()
            assert self.alerts is not None
            await self.alerts.drain()  # flush notifications under way
            escalation.stop()  # finishes the steps under way; the rest wait in the store
            await escalator
            if standby is not None and replayer is not None:
                await standby.drain_sends()  # outage texts under way: their spool rows
                standby.stop()
                await replayer
            server.should_exit = True

    async def _relay(self) -> None:
        """Scale-out: the workers' alert changes onto this bus (the SSE stream)."""
        from gateway import nats_relay

        assert self.settings.engine_url is not None
        servers = [u.strip() for u in self.settings.engine_url.split(",") if u.strip()]
        while True:
            try:
                nc = await nats_relay.connect(servers, "eldercare-serve-relay")
            except Exception as exc:
                log.warning("engine not reachable for alert changes: %s; retrying", exc)
                await asyncio.sleep(2.0)
                continue
            try:
                wake = self.escalation.wake if self.escalation else None
                await nats_relay.relay(self.bus, self.store, nc, wake)
            finally:
                await nc.close()

    async def _save_detectors(self) -> None:
        assert self._pipeline is not None
        try:
            await self._pipeline.stop()
        except StoreError:
            log.exception("could not save the detectors' state; the next start replays")

    async def _tick_every(self, seconds: float) -> None:
        """Time-based rules fire even when no reading arrives."""
        critical = self.critical
        if critical is not None:  # the intake process ticks the detectors
            while True:
                await asyncio.sleep(seconds)
                critical.tick()
        if self._pipeline is None:
            return  # scale-out: the workers tick their own detectors
        while True:
            await asyncio.sleep(seconds)
            try:
                await self._pipeline.tick()
            except StoreUnavailable as exc:  # an outage: one line, no traceback
                log.error("tick failed: %s; next tick retries", exc)
            except StoreError:
                log.exception("tick failed: the store did not answer; next tick retries")

    async def _open_intake_process(self, registry: RegistryCache, priority: Priority) -> None:
        """The intake process, its link, and the urgent session raising critical alerts."""
        s = self.settings
        assert self.alerts is not None and self.escalation is not None
        store = self.store
        self.critical = CriticalLane(store, self.alerts, self.clock, default_timezone=s.timezone)
        await self.critical.start()
        main = gateway_config(s)
        self._urgent_gateway = Gateway(
            dataclasses.replace(
                main,
                client_id=main.client_id + URGENT_SESSION_SUFFIX,
                username=main.username and main.username + URGENT_SESSION_SUFFIX,
                urgent_session=True,
                commit=False,  # the intake process's session stores every message
            ),
            store=store,
            registry=registry,
            clock=self.clock,
            metrics=self.metrics,
            sink=self.critical,
            priority=priority,
        )
        self._intake_dir = tempfile.mkdtemp(prefix="eldercare-intake-")
        path = os.path.join(self._intake_dir, "link.sock")
        self.link = LinkServer(path, self.bus, store, self.escalation.wake)
        await self.link.start()
        self.intake = WorkerPool(
            s,
            1,
            command=("intake-process", "--link", path, "--parent", str(os.getpid())),
            pass_settings=True,
        )

    async def __aexit__(self, *exc: object) -> None:
        if self.intake is not None:
            await self.intake.stop()  # a run that ended without stopping it (an error)
        if self.link is not None:
            await self.link.close()
        if self._intake_dir is not None:
            shutil.rmtree(self._intake_dir, ignore_errors=True)
        await close_channels(self.sms, self.voice)
        if self._store is not None:
            await self._store.close()
        if self.spool is not None:
            self.spool.close()
        if self._broker is not None:
            await self._broker.stop()
        log.info("service stopped")


async def open_standby(
    s: Settings,
    store: Store,
    bus: AlertBus,
    metrics: Metrics,
    escalation: EscalationEngine,
    alerts: AlertService,
) -> tuple[Spool | None, Standby | None]:
    """PostgreSQL with ``ELDERCARE_SPOOL_PATH``: the local spool and the standby that
    keeps batches and alerts on this disk while the store is away (the intake's
    process: ``serve``'s, or its intake process's)."""
    if not s.spool_path or s.database_url.startswith("sqlite:"):
        return None, None
    try:
        spool = Spool.open(s.spool_path)
    except SpoolError as exc:
        raise SettingsError(f"ELDERCARE_SPOOL_PATH: {exc}") from exc
    standby = Standby(spool, store, bus, metrics, escalation, response_window_s=s.response_window)
    standby.alerts = alerts
    alerts.standby = standby
    escalation.standby = standby
    await standby.refresh()
    return spool, standby


def build_alerting(
    s: Settings,
    store: Store,
    clock: Clock,
    bus: AlertBus,
    metrics: Metrics,
    sms: SmsChannel,
    voice: VoiceChannel,
    *,
    policy: Policy,
    sms_limits: SmsLimitGuard,
    priority: Priority,
) -> tuple[EscalationEngine, AlertService]:
    """The escalation engine and the alert service of the settings (the service's,
    and a scale-out worker's: eldercare/worker.py)."""
    escalation = EscalationEngine(
        store,
        clock,
        bus,
        metrics,
        policy,
        sms,
        voice,
        care_centre_phone=s.care_centre_phone,
        default_timezone=s.timezone,
        public_url=s.public_url,
        sms_quota_per_hour=s.sms_quota_per_hour,
        priority=priority,
        sms_limits=sms_limits,
    )
    alerts = AlertService(
        store,
        clock,
        bus,
        metrics,
        response_window_s=s.response_window,
        default_timezone=s.timezone,
        care_centre_phone=s.care_centre_phone,
        escalation=escalation,
        floods=FloodGuard(
            store,
            clock,
            bus,
            metrics,
            FloodRules(
                s.flood_threshold,
                s.flood_window,
                s.flood_quiet,
                FloodRules.parse_kinds(s.flood_kinds),
            ),
        ),
        silences=Silences(store, clock, metrics),
    )
    return escalation, alerts


def gateway_config(s: Settings) -> GatewayConfig:
    """The MQTT gateway's configuration (its batching and limits are a worker's too)."""
    addr = s.broker()
    return GatewayConfig(
        host=addr.host,
        port=addr.port,
        username=addr.username,
        password=addr.password,
        tls=addr.tls,
        client_id=s.mqtt_client_id,
        protocol=addr.protocol,
        batch_max=s.batch_max,
        # With the event clock, time is the data's order: one lane.
        fast_lane=FAST_LANE if s.clock == "wall" else {},
        device_rate=s.device_rate,
        device_burst=s.device_burst,
        dead_letter_max_payload=s.dead_letter_max_payload,
    )


def _both(*calls: Callable[[], None]) -> Callable[[], None]:
    def call() -> None:
        for one in calls:
            one()

    return call


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
