"""A worker's intake from NATS JetStream (README "Scale-out").

Devices publish MQTT 3.1.1 at QoS 1 to the NATS MQTT listener, which keeps
each message in its replicated store ``$MQTT_msgs`` before the PUBACK; the
store's subject transform (``gateway.partitions.store_transform``, set here)
keeps each home's messages under one of ``partitions`` partitions (the account
mapping ``subject_mappings`` alone missed the messages that came in the same
read as their CONNECT, see ``store_transform``). Each partition has a durable
pull consumer on that store (``eldercare-p<n>``, made here if missing; it
exists whether or not a worker runs, so messages wait for the next owner).

The worker owns partitions by KV leases (``gateway/nats_leases.py``). For each
partition it owns, a task fetches batches from the partition's consumer and,
one batch at a time for the whole worker, checks the lease's fencing revision,
hands the batch to ``Gateway.handle`` (the MQTT gateway's own decode, commit
and sink: one code path), and acks it after that returned. A batch whose lease
check fails is not acked (nak'd: redelivered at once to the partition's next
owner); one that the worker died holding is redelivered after ``ack_wait``.

When its set of partitions changes, the worker stops taking the batches of the
partitions it gives up, then awaits ``on_partitions(new set)``: the composition
root saves the detector state and rebuilds it for the new set from the store,
and only then are the given-up leases released to their next owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.api
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from eldercare.metrics import Metrics
from gateway.intake import Gateway, Incoming
from gateway.nats_connect import connect_options
from gateway.nats_leases import Leases
from gateway.nats_sources import TOPIC_HEADER, SourceBridge
from gateway.partitions import MQTT_STORE, STORE_PREFIX, store_filter, store_transform, topic_of

log = logging.getLogger("eldercare.gateway.nats")

M_HANDOVERS = "eldercare_partition_changes_total"
M_OWNED = "eldercare_partitions_owned"
BRIDGE_PARTITION = 0
"""Its holder runs the source bridge (``gateway/nats_sources.py``)."""


@dataclass(frozen=True, slots=True)
class NatsConfig:
    servers: list[str]
    worker_id: str
    partitions: int = 16
    lease_s: float = 6.0
    ack_wait: float = 10.0
    batch_max: int = 500
    replicas: int = 1
    """Replicas of the lease bucket (3 on a 3-node cluster)."""

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError("partitions must be >= 1")
        if not self.servers:
            raise ValueError("no NATS server given")


def durable(partition: int) -> str:
    return f"eldercare-p{partition}"


class EngineSetupError(Exception):
    """The engine's store is set up in a way this worker cannot use: said and
    not retried (another worker's partition count, a server too old)."""


async def ensure_store(js: JetStreamContext, config: NatsConfig) -> None:
    """The MQTT store, with its partitioning transform (``store_transform``).

    The MQTT listener makes its store at the first MQTT connection; messages
    with no consumer's interest are not kept, so a worker that starts first makes
    the store itself, as the listener would, and one that finds it without the
    transform adds it (a store partitioned in another count is refused).
    """
    src, dest = store_transform(config.partitions)
    want = nats.js.api.SubjectTransform(src=src, dest=dest)
    try:
        info = await js.stream_info(MQTT_STORE)
    except nats.js.errors.NotFoundError:
        try:
            info = await js.add_stream(
                name=MQTT_STORE,
                subjects=[STORE_PREFIX + ">"],
                retention=nats.js.api.RetentionPolicy.INTEREST,
                storage=nats.js.api.StorageType.FILE,
                num_replicas=config.replicas,
                subject_transform=want,
            )
        except nats.js.errors.BadRequestError:  # made meanwhile
            info = await js.stream_info(MQTT_STORE)
    have = info.config.subject_transform
    if have is None:
        cfg = info.config
        cfg.subject_transform = want
        info = await js.update_stream(cfg)
        have = info.config.subject_transform
        if have is None:
            raise EngineSetupError(
                f"the engine did not keep the subject transform of {MQTT_STORE}:"
                " scale-out needs NATS Server 2.10 or newer"
            )
    if (have.src, have.dest) != (src, dest):
        raise EngineSetupError(
            f"{MQTT_STORE} is partitioned by {have.src!r} -> {have.dest!r}; this worker"
            f" (ELDERCARE_ENGINE_PARTITIONS={config.partitions}) would use {dest!r}:"
            " every worker must have the same partition count"
        )


async def ensure_consumers(js: JetStreamContext, config: NatsConfig) -> None:
    """The store (``ensure_store``) and one durable pull consumer per partition on
    it (idempotent)."""
    await ensure_store(js, config)
    for p in range(config.partitions):
        cfg = nats.js.api.ConsumerConfig(
            durable_name=durable(p),
            filter_subject=store_filter(p),
            ack_policy=nats.js.api.AckPolicy.EXPLICIT,
            deliver_policy=nats.js.api.DeliverPolicy.ALL,
            ack_wait=config.ack_wait,
            max_ack_pending=20_000,
        )
        await js.add_consumer(MQTT_STORE, cfg)


class NatsIntake:
    def __init__(
        self,
        config: NatsConfig,
        gateway: Gateway,
        *,
        on_partitions: Callable[[frozenset[int]], Awaitable[None]],
        metrics: Metrics,
        bridge: SourceBridge | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``bridge``: run by this worker while it holds partition 0
        (``gateway/nats_sources.py``: the off-the-shelf devices)."""
        self.config = config
        self.bridge = bridge
        self._bridging: asyncio.Task[None] | None = None
        self.gateway = gateway
        self.on_partitions = on_partitions
        self.metrics = metrics
        self._monotonic = monotonic
        self.lock = asyncio.Lock()
        """Held while a batch is handled, and while the partitions change."""
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._leases: Leases | None = None
        self._active: set[int] = set()
        self._fetchers: dict[int, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._dirty = asyncio.Event()
        """Set by a lease round whose outcome differs from the partitions taken."""
        self._to_release: frozenset[int] = frozenset()
        self.changed_at: float | None = None
        """monotonic time of the last change of the partitions owned (for tests)."""
        metrics.describe(M_HANDOVERS, "counter", "Partitions gained or lost by this worker")
        metrics.gauge(
            M_OWNED, lambda: {(): float(len(self._active))}, "Partitions this worker owns"
        )

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def partitions(self) -> frozenset[int]:
        return frozenset(self._active)

    async def run(self) -> None:
        """Connect, take part in the ownership of partitions, take in their messages
        until ``stop()``; then release the leases (after saving, via on_partitions)."""
        cfg = self.config
        nc = await nats.connect(
            **connect_options(cfg.servers),
            name=cfg.worker_id,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
        )
        self._nc = nc
        js = nc.jetstream(timeout=5.0)
        self._js = js
        try:
            await self._retry(lambda: ensure_consumers(js, cfg), "consumers")
            leases = Leases(
                js, cfg.worker_id, cfg.partitions, lease_s=cfg.lease_s, replicas=cfg.replicas
            )
            self._leases = leases
            await self._retry(leases.open, "lease bucket")
            log.info("worker joined", extra={"worker": cfg.worker_id, "servers": cfg.servers})
            applier = asyncio.create_task(self._apply(js, leases), name="partitions")
            try:
                while not self._stop.is_set():
                    try:
                        self._to_release = (await leases.round()).to_release
                    except Exception as exc:  # the engine is away: leases lapse by deadline
                        log.warning("lease round failed", extra={"error": repr(exc)})
                        leases.drop_expired()
                    if self._wanted(leases) != self._active or self._to_release:
                        self._dirty.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), cfg.lease_s / 3)
            finally:
                applier.cancel()
                await asyncio.gather(applier, return_exceptions=True)
            await self._change(set(), leases, release=leases.mine())
            await leases.leave()
        finally:
            await self._bridge(False)
            for task in self._fetchers.values():
                task.cancel()
            await asyncio.gather(*self._fetchers.values(), return_exceptions=True)
            self._fetchers.clear()
            await nc.close()
            self._nc = None

    def stop(self) -> None:
        self._stop.set()

    async def _retry(self, call: Callable[[], Awaitable[None]], what: str) -> None:
        attempt = 0
        while True:
            try:
                await call()
                return
            except EngineSetupError:
                raise
            except Exception as exc:
                attempt += 1
                log.warning("engine not ready", extra={"what": what, "error": repr(exc)})
                await asyncio.sleep(min(2.0, 0.2 * attempt))

    def _wanted(self, leases: Leases) -> set[int]:
        """The partitions to take batches of: the leases held, less those to hand over."""
        return {p for p in leases.held if p not in self._to_release and leases.valid(p)}

    async def _apply(self, js: JetStreamContext, leases: Leases) -> None:
        """Apply the lease rounds' outcome, one change at a time, in its own task: a
        change waits for the batch under way and rebuilds the detectors, and the
        leases must go on being renewed meanwhile."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            release = self._to_release & leases.mine()
            await self._change(self._wanted(leases), leases, release=release)
            for p in sorted(self._active - self._fetchers.keys()):
                self._fetchers[p] = asyncio.create_task(self._fetch(js, p), name=f"partition-{p}")

    async def _change(self, wanted: set[int], leases: Leases, *, release: frozenset[int]) -> None:
        if wanted == self._active and not release:
            return
        before = set(self._active)
        self._active = set(wanted)  # fetchers of the others stop taking batches
        if BRIDGE_PARTITION not in wanted:
            await self._bridge(False)
        async with self.lock:  # no batch under way from here
            await self.on_partitions(frozenset(wanted))
        if BRIDGE_PARTITION in wanted:
            await self._bridge(True)
        ending = [t for q, t in self._fetchers.items() if q in before - wanted]
        if ending:  # what they fetched is nak'd before the next owner may take it
            await asyncio.wait(ending, timeout=self.config.lease_s / 2)
        for p in release:
            await leases.release(p)
        # The fetchers of the partitions given up are not cancelled: one cancelled
        # while a fetch is under way would drop the messages already delivered to
        # it, unacked, and the next owner would get them only after ack_wait (an
        # SOS 10 s late). Each ends after its fetch, nak'ing what it got (_handle).
        self.changed_at = self._monotonic()
        self.metrics.inc(M_HANDOVERS, len(before ^ wanted))
        log.info(
            "worker partitions",
            extra={"worker": self.config.worker_id, "partitions": sorted(wanted)},
        )

    async def _bridge(self, on: bool) -> None:
        """Start or stop the source bridge (with partition 0: one worker runs it)."""
        bridge, task = self.bridge, self._bridging
        if bridge is None or on == (task is not None):
            return
        if not on:
            assert task is not None
            self._bridging = None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
        leases, nc, js = self._leases, self._nc, self._js
        assert leases is not None and nc is not None and js is not None
        bridge.may_forward = lambda: leases.valid(BRIDGE_PARTITION)
        self._bridging = asyncio.create_task(bridge.run(nc, js), name="source-bridge")

    async def _fetch(self, js: JetStreamContext, p: int) -> None:
        try:
            await self._fetch_while_owned(js, p)
        finally:
            if self._fetchers.get(p) is asyncio.current_task():
                del self._fetchers[p]

    async def _fetch_while_owned(self, js: JetStreamContext, p: int) -> None:
        cfg = self.config
        sub = None
        while p in self._active:
            try:
                if sub is None:
                    sub = await js.pull_subscribe_bind(durable=durable(p), stream=MQTT_STORE)
                msgs = await sub.fetch(cfg.batch_max, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a leader election, a reconnect
                log.warning("fetch failed", extra={"partition": p, "error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            await self._handle(p, msgs)

    async def _handle(self, p: int, msgs: list[Msg]) -> None:
        if not await self._handle_fenced(p, msgs):
            for m in msgs:  # not ours any more: to the next owner at once
                with contextlib.suppress(Exception):
                    await m.nak()
            await asyncio.sleep(0.2)  # until the lease round drops the partition

    async def _handle_fenced(self, p: int, msgs: list[Msg]) -> bool:
        leases = self._leases
        assert leases is not None
        async with self.lock:
            if p not in self._active or not await leases.fenced(p):
                return False
            batch = [
                Incoming(
                    (m.headers or {}).get(TOPIC_HEADER) or topic_of(m.subject),
                    m.data,
                    0,
                    1,
                    False,
                    m.metadata.timestamp.timestamp() if m.metadata.timestamp else time.time(),
                    0,
                )
                for m in msgs
            ]
            await self.gateway.handle(batch)
            for m in msgs:
                with contextlib.suppress(Exception):  # a lost ack: redelivered, de-duplicated
                    await m.ack()
            self.metrics.inc("eldercare_messages_processed_total", len(msgs))
            return True
