"""The MQTT intake: paho-mqtt 2.x, QoS 1, persistent session, ack after commit.

Threads and hand-over::

    paho thread (loop_start)                 asyncio loop thread
    ────────────────────────                 ───────────────────
    on_message ─► inbox.append(msg) ───────► _batch_loop: take ≤ batch_max
                  wake the loop once            decode (pure) + registry lookup
                  (call_soon_threadsafe)        insert_readings → insert_dead_letters
                                                → update_liveness     (retry forever)
                                                → sink(readings, status_changes)
                  ◄──────────────────────────── client.ack(mid, qos) for the batch

With ``fast_lane`` (the composition root gives the critical events: an SOS
press, a radar's fall, gas, a leak, with the wall clock), ``on_message`` puts
those messages in a second inbox that ``_fast_loop`` takes at once, in batches of
their own, while ``_batch_loop`` goes on with the vitals: the two only meet in
the store (separate connections) and the sink (detectors are per device kind).
A fast-lane batch goes to the sink while its rows are being written, not after:
the alert (and its SSE event and SMS) does not wait for the reading's own
round trips. It is still acked only when both are done; a redelivery after a
crash in between raises nothing twice (findings are idempotent on their key).
The long loops of a big batch yield to the event loop every ``YIELD_EVERY``
messages and, while a fast-lane batch is under way, wait for it there
(``eldercare.priority``): the alert path does not queue behind vitals.

Nothing is acknowledged before it is committed. If the store fails, the same
batch is retried with jittered backoff and nothing is acked, so the broker keeps
the messages. With a ``spool`` (``eldercare/spool.py``), a batch the store cannot
take because it is unreachable is written to the local spool instead (on disk
before the ack), and so is every batch after it until the spool is replayed:
the alert path goes on during a PostgreSQL outage, and the broker's queue does
not fill up with unacked messages. Acks carry the connection generation they
were received on: after a reconnect the broker redelivers unacked messages
(possibly under the same packet ids), so acks of an older connection are
dropped, never sent on the new one; the redelivered copies are de-duplicated by
the store.

A registered device's messages, native or from an ecosystem (``adapters/``),
pass its rate limit (``gateway/ratelimit.py``) as they are decoded: those over
it are acked like the rest but not kept (the first of a window becomes a dead
letter). A dead letter keeps at most
``dead_letter_max_payload`` bytes of its payload. Disconnects are watched for
takeovers of the session by another client (``gateway/session_watch.py``).

Errors::

    ValueError   a bad GatewayConfig (unknown protocol, batch_max < 1)
    (store and sink exceptions never escape: they are logged, counted, retried)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from eldercare.clock import Clock
from eldercare.domain import DeadLetter, Reading, StatusChange
from eldercare.metrics import Metrics
from eldercare.priority import YIELD_EVERY, Priority
from eldercare.spool import Spool, SpoolError
from eldercare.store.base import LivenessUpdate, Store, StoreError, StoreUnavailable
from gateway.adapters import SourceDecoder, Subscription
from gateway.adapters.routing import Match
from gateway.adapters.urgency import urgent
from gateway.config import GatewayConfig
from gateway.decode import Reason, Rejected, decode_event, decode_status, parse_topic
from gateway.paho_client import BufferedClient, buffering_supported
from gateway.ratelimit import REASON as RATE_LIMITED
from gateway.ratelimit import DeviceRateLimiter, Verdict
from gateway.registry_cache import RegistryCache
from gateway.session_watch import M_TAKEOVERS, SessionWatch
from gateway.urgent_session import SeenMessages, urgent_topics

log = logging.getLogger("eldercare.gateway.intake")

NOT_UTF8 = "<topic is not UTF-8>"
"""The topic of a message whose topic is not UTF-8 (dead-lettered as such)."""
EVENT_TOPIC = "eldercare/v1/+/+/event"
STATUS_TOPIC = "eldercare/v1/+/+/status"

Sink = Callable[[Sequence[Reading], Sequence[StatusChange]], Awaitable[None]]
"""Receives every batch after it is committed (see Gateway)."""

LIVENESS_STEP = timedelta(seconds=10)
"""A device's ``last_seen`` is written when it moved on by this much since the last
write (or with a new battery level or online state): at 1 Hz vitals one row
update per device every 10 s instead of one per batch. Device supervision runs
on the detectors' own in-memory times; the stored value is for the API and
screen, and at most this much behind."""

M_RECEIVED = "eldercare_messages_received_total"
M_STORED = "eldercare_readings_stored_total"
M_DEAD = "eldercare_dead_letters_total"
M_BATCHES = "eldercare_batches_total"
M_DONE = "eldercare_messages_processed_total"
M_STATUS = "eldercare_status_changes_total"
M_STORE_ERRORS = "eldercare_gateway_store_errors_total"
M_SINK_ERRORS = "eldercare_gateway_sink_errors_total"
M_RATE_LIMITED = "eldercare_rate_limited_total"
M_SPOOLED = "eldercare_spooled_batches_total"
M_COPIES = "eldercare_mqtt_second_copies_total"


class _Incoming(NamedTuple):
    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received: float
    """time.time() when paho handed the message over."""
    generation: int
    """The connection it came on; acks are only sent on that connection."""
    fast: str | None = None
    """In the fast lane: the key its device's later messages follow it by."""


Incoming = _Incoming
"""A message as ``Gateway.handle`` takes it (``mid`` and ``generation`` are the
MQTT connection's; another transport acks by its own handle and leaves them 0)."""


@dataclass(slots=True)
class _Decoded:
    readings: list[Reading] = field(default_factory=list)
    statuses: list[StatusChange] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    liveness: list[LivenessUpdate] = field(default_factory=list)
    rate_limited: int = 0
    """Messages over their device's rate limit (dropped; the first of a window is in dead)."""
    undo: dict[str, Any] = field(default_factory=dict)
    """What decoding changed in the adapters' device state, to undo before a retry."""


class Gateway:
    """Subscribes, decodes, commits in batches, hands batches to ``sink``, then acks.

    ``sink(readings, status_changes)`` is awaited once per batch, after its commit
    (a fast-lane batch: beside it), in receive order per lane, with every valid
    reading of the batch (duplicates that the store ignored included: delivery is
    at-least-once) and every status change.
    If it raises, it is tried ``sink_attempts`` times, then the failure is logged
    and counted (``eldercare_gateway_sink_errors_total``) and the batch is acked
    anyway: the readings are stored, and one broken consumer must not stall intake.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        store: Store,
        registry: RegistryCache,
        clock: Clock,
        metrics: Metrics,
        sink: Sink,
        priority: Priority | None = None,
        spool: Spool | None = None,
        seen: SeenMessages | None = None,
    ) -> None:
        self._config = config
        self._seen = seen
        """Shared with the other session (gateway/urgent_session.py): of a message
        both sessions get, the copy taken second is acked and dropped."""
        self._urgent_topics: set[str] = set()
        """The urgent session: the device topics subscribed on this connection."""
        self._spool = spool
        """Where batches go while the store is unreachable (None: they wait, unacked)."""
        self._priority = priority or Priority()
        """Fast-lane batches are urgent; the decode loop of the others pauses for them."""
        self._store = store
        self._registry = registry
        self._clock = clock
        self._metrics = metrics
        self._sink = sink
        self._inbox: collections.deque[_Incoming] = collections.deque()
        self._wake = asyncio.Event()
        self._wake_pending = False
        self._fast: collections.deque[_Incoming] = collections.deque()
        self._fast_wake = asyncio.Event()
        self._fast_lane = config.fast_lane
        self._fast_pending: dict[str, int] = {}
        """device -> its messages in the fast lane not yet acked: until then, all of
        that device's messages take the fast lane too (one device, one order)."""
        self._fast_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._ever_connected = False
        self._stopping = False
        self._disconnected = threading.Event()
        self._done = asyncio.Event()
        self._done_taking = asyncio.Event()
        self._running = False
        self._sources = SourceDecoder()
        self._source_topics: set[str] = set()
        """Topics of device sources subscribed on this connection (see _sync_sources)."""
        self._source_lock = threading.Lock()
        self._liveness_written: dict[str, tuple[datetime, float | None]] = {}
        """device -> (last_seen, battery) as last written: see LIVENESS_STEP."""
        self._limiter = DeviceRateLimiter(config.device_rate, config.device_burst)
        self._session = SessionWatch(config.client_id)
        metrics.describe(M_RECEIVED, "counter", "MQTT messages taken in by the gateway")
        metrics.describe(M_STORED, "counter", "Readings newly stored (duplicates not counted)")
        metrics.describe(M_DEAD, "counter", "Messages refused into the dead-letter store")
        metrics.describe(M_BATCHES, "counter", "Batches committed by the gateway")
        metrics.describe(
            M_DONE, "counter", "Messages committed, through detectors and alerts, and acked"
        )
        metrics.describe(M_STATUS, "counter", "Device status messages (online/offline)")
        metrics.describe(M_STORE_ERRORS, "counter", "Failed gateway batch commits (retried)")
        metrics.describe(M_SINK_ERRORS, "counter", "Batches the sink failed on after retries")
        metrics.describe(
            M_TAKEOVERS, "counter", "Times another client took the gateway's MQTT session"
        )
        metrics.describe(
            M_RATE_LIMITED, "counter", "Messages over their device's rate limit (acked, not kept)"
        )
        metrics.describe(
            M_SPOOLED, "counter", "Batches written to the local spool while the store was away"
        )
        metrics.describe(
            M_COPIES,
            "counter",
            "Messages the other MQTT session (main or urgent) had taken first: acked, dropped",
        )

    # --- public -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while connected and subscribed (for /readyz)."""
        return self._connected

    @property
    def session_problem(self) -> str | None:
        """Why the MQTT session is not the gateway's own (takeovers of the last
        minutes, gateway/session_watch.py), or None (for /readyz)."""
        return self._session.problem()

    async def run(self) -> None:
        """Connect and take in messages until ``stop()`` has drained, or until cancelled.

        Cancelled, it disconnects at once without draining; whatever was not
        acked is redelivered by the broker on the next start.
        """
        if self._running:
            raise RuntimeError("Gateway.run() is already running")
        self._running = True
        self._loop = asyncio.get_running_loop()
        client = self._make_client()
        self._client = client
        cfg = self._config
        log.info(
            "gateway connecting",
            extra={
                "host": cfg.host,
                "port": cfg.port,
                "client_id": cfg.client_id,
                "protocol": cfg.protocol,
            },
        )
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = cfg.session_expiry
            props.ReceiveMaximum = cfg.receive_maximum
            client.connect_async(
                cfg.host, cfg.port, cfg.keepalive, clean_start=False, properties=props
            )
        else:
            client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        client.loop_start()
        try:
            async with asyncio.TaskGroup() as lanes:
                follow = self._urgent_loop() if cfg.urgent_session else self._source_loop()
                sources = lanes.create_task(follow, name="gateway-sources")
                lanes.create_task(self._batch_loop(), name="gateway-batches")
                if self._fast_lane:
                    lanes.create_task(self._fast_loop(), name="gateway-fast-lane")
                await self._done_taking.wait()
                sources.cancel()
        finally:
            await self._shutdown_client(client)
            self._done.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop intake, commit and ack what was received, then disconnect.

        Messages arriving after this call are not taken (the broker keeps them
        for the next session). Returns when ``run()`` has finished; if draining
        takes longer than ``timeout`` (e.g. the store is down), returns anyway
        and ``run()`` keeps retrying until it is cancelled.
        """
        self._stopping = True
        self._wake.set()
        self._fast_wake.set()
        if not self._running:
            return
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            log.error(
                "gateway did not drain in time",
                extra={"timeout": timeout, "pending": len(self._inbox)},
            )

    # --- paho thread --------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        cfg = self._config
        client_cls = BufferedClient if buffering_supported() else mqtt.Client
        if cfg.protocol == "5":
            client = client_cls(
                CallbackAPIVersion.VERSION2,
                client_id=cfg.client_id,
                protocol=MQTTProtocolVersion.MQTTv5,
                manual_ack=True,
            )
        else:
            client = client_cls(
                CallbackAPIVersion.VERSION2,
                client_id=cfg.client_id,
                protocol=MQTTProtocolVersion.MQTTv311,
                clean_session=False,
                manual_ack=True,
            )
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set_context(cfg.tls_context or ssl.create_default_context())
        client.reconnect_delay_set(cfg.reconnect_min, cfg.reconnect_max)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if isinstance(client, BufferedClient):
            client.on_plain_publish = self._on_plain_publish
        return client

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        # paho's reconnect backoff has no jitter: add up to a second so a fleet of
        # gateways (or a restarted broker's clients) do not reconnect in lockstep.
        if self._ever_connected and not self._stopping:
            time.sleep(random.uniform(0.0, 1.0))

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error(
                "broker refused the connection",
                extra={
                    "reason": str(reason_code),
                    "host": self._config.host,
                    "port": self._config.port,
                },
            )
            return
        self._ever_connected = True
        self._disconnected.clear()
        self._session.connected()
        log.info(
            "gateway connected",
            extra={
                "host": self._config.host,
                "port": self._config.port,
                "session_present": flags.session_present,
            },
        )
        if self._config.urgent_session:
            with self._source_lock:
                self._urgent_topics = set()  # a new connection: subscribe to all of them
            self._sync_urgent(client)
            return
        # Subscribe on every connect: cheap, and correct even if the broker lost
        # the session. MQTT 5: retained statuses only when the subscription is new
        # (first start or lost session), not replayed on every reconnect.
        if self._config.protocol == "5":
            opts = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            client.subscribe([(EVENT_TOPIC, opts), (STATUS_TOPIC, opts)])
        else:
            client.subscribe([(EVENT_TOPIC, 1), (STATUS_TOPIC, 1)])
        with self._source_lock:
            self._source_topics = set()  # a new connection: subscribe to all of them
        self._sync_sources(client)

    def _sync_sources(self, client: mqtt.Client) -> None:
        """Subscribe to the topics of device sources the registry names and this
        connection lacks; unsubscribe from those it no longer names. Any thread."""
        wanted = self._registry.subscriptions()
        with self._source_lock:
            new = [sub for topic, sub in wanted.items() if topic not in self._source_topics]
            gone = [topic for topic in self._source_topics if topic not in wanted]
            _resubscribe(
                client, self._source_topics, [self._source_option(sub) for sub in new], gone
            )
        if new or gone:
            log.info(
                "gateway subscriptions of device sources changed",
                extra={"subscribed": [s.topic for s in new][:20], "unsubscribed": gone[:20]},
            )

    def _sync_urgent(self, client: mqtt.Client) -> None:
        """The urgent session: subscribe to the event topics of the registry's
        critical devices this connection lacks, unsubscribe from the others. Any thread."""
        wanted = urgent_topics(self._registry.devices(), self._fast_lane)
        if self._seen is not None:
            self._seen.topics = frozenset(wanted)
        qos: Any = 1 if self._config.protocol != "5" else SubscribeOptions(qos=1)
        with self._source_lock:
            new = sorted(wanted - self._urgent_topics)
            gone = sorted(self._urgent_topics - wanted)
            _resubscribe(client, self._urgent_topics, [(topic, qos) for topic in new], gone)
        if new or gone:
            log.info(
                "urgent session subscriptions changed",
                extra={"subscribed": len(new), "unsubscribed": len(gone), "topics": len(wanted)},
            )

    async def _urgent_loop(self) -> None:
        """The urgent session follows the registry's reloads: at once after a change
        through this process, else when a lookup missed and reloaded it (a device
        provisioned by another process), checked every ``registry_refresh`` seconds
        (at most 10)."""
        registry = self._registry
        synced = registry.reloads  # _on_connect subscribed to what this load holds
        while True:
            await registry.wait_changed(min(self._config.registry_refresh, 10.0))
            try:
                await registry.ensure_loaded()
            except Exception as exc:  # the store is down: keep the old view, try again
                log.warning(
                    "registry reload for the urgent session failed", extra={"error": repr(exc)}
                )
                continue
            if registry.reloads == synced:
                continue  # the same devices: nothing to subscribe to or drop
            client = self._client
            if client is not None and not self._disconnected.is_set() and self._ever_connected:
                synced = registry.reloads
                self._sync_urgent(client)

    def _source_option(self, sub: Subscription) -> tuple[str, Any]:
        if self._config.protocol != "5":
            return (sub.topic, 1)
        handling = (
            SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
            if sub.retained_always
            else SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
        )
        return (sub.topic, SubscribeOptions(qos=1, retainHandling=handling))

    async def _source_loop(self) -> None:
        """Follow the device sources: after a registry change (at once) and every
        ``registry_refresh`` seconds, reload if they changed and change the
        subscriptions (no restart). Other registry changes reload lazily, as before."""
        registry = self._registry
        while True:
            await registry.wait_changed(self._config.registry_refresh)
            try:
                await registry.refresh_sources()
            except Exception as exc:  # the store is down: keep the old view, try again
                log.warning("registry reload for device sources failed", extra={"error": repr(exc)})
                continue
            client = self._client
            if client is not None and self._connected:
                self._sync_sources(client)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning(
            "gateway could not connect; retrying",
            extra={"host": self._config.host, "port": self._config.port},
        )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("broker refused the subscription", extra={"reasons": failed})
        else:
            was, self._connected = self._connected, True
            if self._config.urgent_session:
                if not was:
                    log.info(
                        "urgent session subscribed", extra={"client_id": self._config.client_id}
                    )
            else:
                log.info("gateway subscribed", extra={"topics": [EVENT_TOPIC, STATUS_TOPIC]})

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._ack_lock:
            self._generation += 1
        was_connected, self._connected = self._connected, False
        self._disconnected.set()
        by_server = flags.is_disconnect_packet_from_server
        evidence = self._session.disconnected(
            reason_code.value, by_server_packet=by_server, by_us=self._stopping
        )
        if evidence is not None:
            # Logged before counted: whoever sees the count can find the line.
            log.error(
                "another client took the gateway's MQTT session (same client id); reconnecting",
                extra={
                    "client_id": self._config.client_id,
                    "evidence": evidence,
                    "reason": str(reason_code),
                    "host": self._config.host,
                    "port": self._config.port,
                },
            )
            self._metrics.inc(M_TAKEOVERS, evidence=evidence)
            return
        if self._stopping:
            log.info("gateway disconnected", extra={"reason": str(reason_code)})
        elif was_connected:
            log.warning(
                "gateway lost the broker connection; reconnecting",
                extra={
                    "reason": str(reason_code),
                    "by_server": flags.is_disconnect_packet_from_server,
                },
            )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = NOT_UTF8
        self._take(topic, bytes(message.payload), message.mid, message.qos, message.retain)

    def _on_plain_publish(
        self, topic: bytes, payload: bytes, mid: int, qos: int, retain: bool
    ) -> None:
        """A device's PUBLISH, its fields straight from BufferedClient (no MQTTMessage)."""
        try:
            name = topic.decode()
        except UnicodeDecodeError:
            name = NOT_UTF8
        self._take(name, payload, mid, qos, retain)

    def _take(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        if self._stopping:
            return  # not acked: the broker keeps it for the next session
        seen = self._seen
        if (
            seen is not None
            and seen.tracks(topic)
            and not seen.take(topic, payload, urgent=self._config.urgent_session)
        ):
            self._drop_copy(mid, qos)
            return
        incoming = _Incoming(topic, payload, mid, qos, retain, time.time(), self._generation)
        fast_device = self._fast_device(topic, incoming.payload) if self._fast_lane else None
        if fast_device is not None:
            with self._fast_lock:
                self._fast_pending[fast_device] = self._fast_pending.get(fast_device, 0) + 1
            self._fast.append(incoming._replace(fast=fast_device))
            self._set_in_loop(self._fast_wake)
            return
        self._inbox.append(incoming)
        if not self._wake_pending:
            self._wake_pending = True
            self._set_in_loop(self._wake)

    def _drop_copy(self, mid: int, qos: int) -> None:
        """Ack a copy the other session took first (paho thread, this connection)."""
        client = self._client
        if client is not None and qos:
            with self._ack_lock:
                client.ack(mid, qos)
        self._metrics.inc(M_COPIES)

    def _set_in_loop(self, event: asyncio.Event) -> None:
        loop = self._loop
        if loop is not None:
            # RuntimeError: the loop is closed, we are shutting down.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def _fast_device(self, topic: str, payload: bytes) -> str | None:
        """The device id if the message goes in the fast lane, else None (registry
        as cached: an unknown device goes the normal way, to be dead-lettered)."""
        if not topic.startswith("eldercare/"):
            return self._fast_source_device(topic, payload)
        parts = topic.split("/")
        if len(parts) != 5:
            return None
        device_id = parts[3]
        if device_id in self._fast_pending:
            return device_id  # its earlier message is in the fast lane: keep the order
        if parts[4] != "event":
            return None
        device = self._registry.peek(device_id)
        markers = None if device is None else self._fast_lane.get(device.kind.value)
        if markers is None or (markers and not any(m in payload for m in markers)):
            return None
        return device_id

    def _fast_source_device(self, topic: str, payload: bytes) -> str | None:
        """``_fast_device`` for a device with a source (gateway/adapters/urgency.py).
        A Tasmota bridge's devices share a topic: they follow each other by it."""
        match = self._registry.source_match(topic)
        if match is None:
            return None
        key = topic if match.ecosystem == "tasmota" else match.routes[0].device.id
        if key in self._fast_pending:
            return key
        if not any(r.device.kind.value in self._fast_lane for r in match.routes):
            return None
        return key if urgent(match, payload) else None

    # --- asyncio side -------------------------------------------------------------

    async def _next_batch(self) -> list[_Incoming]:
        """Wait for the first message, then take what is queued, up to batch_max."""
        inbox = self._inbox
        while True:
            self._wake_pending = False  # any append from now on wakes us again
            if inbox:
                n = min(len(inbox), self._config.batch_max)
                return [inbox.popleft() for _ in range(n)]
            if self._stopping:
                return []
            self._wake.clear()
            await self._wake.wait()

    async def _batch_loop(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                self._done_taking.set()
                return  # stopping, and everything taken in is committed and acked
            await self._process(batch)

    async def _fast_loop(self) -> None:
        fast = self._fast
        while True:
            self._fast_wake.clear()
            if fast:
                n = min(len(fast), self._config.batch_max)
                batch = [fast.popleft() for _ in range(n)]
                async with self._priority.urgent():
                    await self._process(batch, urgent=True)
                with self._fast_lock:
                    for msg in batch:
                        device_id = msg.fast or msg.topic.split("/")[3]
                        left = self._fast_pending.get(device_id, 1) - 1
                        if left > 0:
                            self._fast_pending[device_id] = left
                        else:
                            self._fast_pending.pop(device_id, None)
                continue
            if self._stopping:
                return
            await self._fast_wake.wait()

    async def _process(self, batch: list[_Incoming], *, urgent: bool = False) -> None:
        """Commit the batch, hand it to the sink, then ack it (see ``handle``)."""
        await self.handle(batch, urgent=urgent)
        self._ack(batch)
        self._metrics.inc(M_DONE, len(batch))

    async def handle(self, batch: list[_Incoming], *, urgent: bool = False) -> None:
        """Decode the batch, commit it and hand it to the sink, without acking it:
        the MQTT lanes ack after this returns, and so does another transport that
        feeds its messages here as ``Incoming`` (``gateway/nats_intake.py``).
        ``urgent`` (the fast lane): the sink runs beside the commit instead of after
        it, so an alert does not wait for its reading's row."""
        self._metrics.inc(M_RECEIVED, len(batch))
        decoded = await self._decode_retrying(batch)
        if urgent:
            committing = asyncio.create_task(self._commit(batch, decoded))
            try:
                await self._deliver(decoded)
            except BaseException:
                committing.cancel()  # cancelled: nothing is acked, the broker redelivers
                raise
            new = await committing
        else:
            new = await self._commit(batch, decoded)
            await self._deliver(decoded)
        self._count(decoded, new)

    async def _decode_retrying(self, batch: list[_Incoming]) -> _Decoded:
        """Decode (the registry lookup of an unknown device may need the store)."""
        attempt = 0
        while True:
            out = _Decoded()
            try:
                return await self._decode(batch, out)
            except Exception as exc:
                self._sources.rollback(out.undo)  # the retry decodes the same messages again
                attempt += 1
                await self._store_failed(exc, attempt, len(batch))

    async def _commit(self, batch: list[_Incoming], decoded: _Decoded) -> int:
        """Write the batch, retrying until it is written; return the new readings."""
        if not self._config.commit:
            return 0  # the raise-only lane: the intake process's session stores it
        step = 0  # commit steps done: survives retries, so dead letters are not doubled
        new = 0
        attempt = 0
        spool = self._spool
        while True:
            if spool is not None and spool.active:
                try:
                    await spool.put_batch(
                        decoded.readings if step == 0 else [],
                        decoded.dead if step <= 1 else [],
                        decoded.liveness,
                    )
                except SpoolError as exc:  # the disk too: retried, nothing acked
                    attempt += 1
                    await self._store_failed(exc, attempt, len(batch))
                    continue
                self._metrics.inc(M_SPOOLED)
                self._liveness_committed(decoded.liveness)
                return new
            try:
                if step == 0:
                    if decoded.readings:
                        new = await self._store.insert_readings(decoded.readings)
                    step = 1
                if step == 1:
                    if decoded.dead:
                        await self._store.insert_dead_letters(decoded.dead)
                    step = 2
                if step == 2 and decoded.liveness:
                    await self._store.update_liveness(decoded.liveness)
                    self._liveness_committed(decoded.liveness)
                return new
            except StoreUnavailable as exc:
                if spool is not None:
                    spool.mark_down(exc)  # this batch, and the next ones, to the spool
                    self._metrics.inc(M_STORE_ERRORS)
                    continue
                attempt += 1
                await self._store_failed(exc, attempt, len(batch))
            except Exception as exc:
                attempt += 1
                await self._store_failed(exc, attempt, len(batch))

    async def _store_failed(self, exc: Exception, attempt: int, size: int) -> None:
        delay = random.uniform(0, min(self._config.retry_max_delay, 0.2 * 2**attempt))
        self._metrics.inc(M_STORE_ERRORS)
        log.error(
            "gateway could not commit a batch; retrying, nothing acked",
            exc_info=attempt == 1,
            extra={"error": repr(exc), "attempt": attempt, "size": size, "delay": round(delay, 3)},
        )
        await asyncio.sleep(delay)

    async def _decode(self, batch: list[_Incoming], out: _Decoded | None = None) -> _Decoded:
        out = _Decoded() if out is None else out
        registry = self._registry
        seen: dict[str, datetime] = {}
        battery: dict[str, float] = {}
        online: dict[str, bool] = {}
        for i, msg in enumerate(batch):
            if i and not i % YIELD_EVERY:
                await self._priority.pause()  # let the fast lane and the API in
            received_at = datetime.fromtimestamp(msg.received, UTC)
            if not msg.topic.startswith("eldercare/") and msg.topic != NOT_UTF8:
                await self._decode_source(msg, received_at, out, seen, battery, online)
                continue
            try:
                _, device_id, channel = parse_topic(msg.topic)
            except Rejected as rej:
                out.dead.append(self._dead(msg, received_at, rej.reason, rej.detail))
                continue
            device = registry.peek(device_id)
            if device is None:
                device = await registry.lookup(device_id)  # store errors: retry the batch
            try:
                if channel == "event":
                    reading = decode_event(msg.topic, msg.payload, received_at, device)
                    if not reading.ts_assigned:
                        self._clock.observe(reading.ts)
                    made = None if reading.ts_assigned else reading.ts
                    if not self._admitted(msg, device_id, made, received_at, out):
                        continue
                    out.readings.append(reading)
                    seen[device_id] = received_at
                    if reading.battery is not None:
                        battery[device_id] = reading.battery
                else:
                    # On the service clock: with the event clock, the newest event time
                    # decoded so far (status payloads carry no timestamp of their own).
                    at = min(received_at, self._clock.now())
                    status = decode_status(msg.topic, msg.payload, at, device)
                    if not self._admitted(msg, device_id, None, received_at, out):
                        continue
                    out.statuses.append(status)
                    online[device_id] = status.online
                    if status.online and not msg.retain:
                        seen[device_id] = received_at
            except Rejected as rej:
                if device is None or self._admitted(msg, device_id, None, received_at, out):
                    out.dead.append(self._dead(msg, received_at, rej.reason, rej.detail))
            except Exception as exc:  # a decoder bug must not stop intake
                log.exception("decoder failed", extra={"topic": msg.topic})
                out.dead.append(
                    self._dead(msg, received_at, Reason.INTERNAL_ERROR, f"decoder failed: {exc!r}")
                )
        if seen or online:
            # last_seen on the service clock: the receive time with WallClock, shifted
            # to event time with EventClock (so supervision compares like with like).
            skew = self._clock.now() - datetime.now(UTC)
            if abs(skew) < timedelta(seconds=1):
                skew = timedelta(0)
            written = self._liveness_written
            for device_id in seen.keys() | online.keys():
                last = seen.get(device_id)
                last_seen = None if last is None else last + skew
                level = battery.get(device_id)
                state = online.get(device_id)
                before = written.get(device_id)
                if (
                    state is None
                    and before is not None
                    and (level is None or level == before[1])
                    and (last_seen is None or last_seen - before[0] < LIVENESS_STEP)
                ):
                    continue  # nothing new enough to be worth a row update
                out.liveness.append(LivenessUpdate(device_id, last_seen, level, state))
        return out

    async def _decode_source(
        self,
        msg: _Incoming,
        received_at: datetime,
        out: _Decoded,
        seen: dict[str, datetime],
        battery: dict[str, float],
        online: dict[str, bool],
    ) -> None:
        """A message of an ecosystem (gateway/adapters): same bookkeeping as native."""
        registry = self._registry
        match = registry.source_match(msg.topic)
        if match is None:
            match = await registry.lookup_source(msg.topic)  # store errors: retry the batch
        try:
            items = self._sources.decode(
                match,
                msg.topic,
                msg.payload,
                msg.retain,
                received_at,
                min(received_at, self._clock.now()),
                out.undo,
            )
        except Rejected as rej:
            key = _source_key(match)
            if key is None or self._admitted(msg, key, None, received_at, out):
                out.dead.append(self._dead(msg, received_at, rej.reason, rej.detail))
            return
        except Exception as exc:  # an adapter bug must not stop intake
            log.exception("adapter failed", extra={"topic": msg.topic})
            out.dead.append(
                self._dead(msg, received_at, Reason.INTERNAL_ERROR, f"adapter failed: {exc!r}")
            )
            return
        for item in items:
            made = None if not isinstance(item, Reading) or item.ts_assigned else item.ts
            if not self._admitted(msg, item.device_id, made, received_at, out):
                continue  # over its device's limit, as a native message would be
            if isinstance(item, Reading):
                out.readings.append(item)
                seen[item.device_id] = received_at
                if item.battery is not None:
                    battery[item.device_id] = item.battery
            else:
                out.statuses.append(item)
                online[item.device_id] = item.online
                if item.online and not msg.retain:
                    seen[item.device_id] = received_at

    def _liveness_committed(self, updates: list[LivenessUpdate]) -> None:
        written = self._liveness_written
        for u in updates:
            before = written.get(u.device_id)
            last_seen, level = u.last_seen, u.battery
            if before is not None:
                last_seen = before[0] if last_seen is None else last_seen
                level = before[1] if level is None else level
            if last_seen is None:
                written.pop(u.device_id, None)  # never seen alive: write the next sign
            else:
                written[u.device_id] = (last_seen, level)

    def _admitted(
        self,
        msg: _Incoming,
        device_id: str,
        made: datetime | None,
        received_at: datetime,
        out: _Decoded,
    ) -> bool:
        """Whether a registered device's message is within its rate limit; if not,
        it is counted (and, the first of its window, dead-lettered)."""
        limiter = self._limiter
        if not limiter.enabled:
            return True
        verdict = limiter.admit(device_id, made, self._clock.now())
        if verdict is Verdict.ADMIT:
            return True
        out.rate_limited += 1
        if verdict is Verdict.DEAD_LETTER:
            who = device_id if " " in device_id else f"device {device_id}"
            detail = (
                f"{who} sent more than {limiter.rate:g} messages/s"
                f" (burst {limiter.burst:g}): this one and any more over the limit in the"
                f" next {limiter.window.total_seconds():g} s are dropped, counted in"
                f" {M_RATE_LIMITED}"
            )
            out.dead.append(self._dead(msg, received_at, RATE_LIMITED, detail))
            log.warning(
                "device over its rate limit",
                extra={"device_id": device_id, "rate": limiter.rate, "burst": limiter.burst},
            )
        return False

    def _dead(self, msg: _Incoming, received_at: datetime, reason: str, detail: str) -> DeadLetter:
        """A dead letter keeping at most ``dead_letter_max_payload`` bytes of the payload."""
        return DeadLetter(
            topic=msg.topic,
            payload=msg.payload[: self._config.dead_letter_max_payload],
            reason=reason,
            detail=detail,
            received_at=received_at,
            payload_length=len(msg.payload),
        )

    def _count(self, decoded: _Decoded, new: int) -> None:
        m = self._metrics
        m.inc(M_BATCHES)
        if new:
            m.inc(M_STORED, new)
        if decoded.statuses:
            m.inc(M_STATUS, len(decoded.statuses))
        if decoded.rate_limited:
            m.inc(M_RATE_LIMITED, decoded.rate_limited)
        if decoded.dead:
            reasons = collections.Counter(d.reason for d in decoded.dead)
            for reason, n in reasons.items():
                m.inc(M_DEAD, n, reason=reason)
            first = decoded.dead[0]
            log.warning(
                "gateway dead-lettered messages",
                extra={
                    "count": len(decoded.dead),
                    "reasons": dict(reasons),
                    "example_topic": first.topic,
                    "example_detail": first.detail,
                },
            )

    async def _deliver(self, decoded: _Decoded) -> None:
        if not decoded.readings and not decoded.statuses:
            return
        attempt = 0
        store_attempt = 0
        while True:
            try:
                await self._sink(decoded.readings, decoded.statuses)
                return
            except StoreError as exc:
                # The store is down, not the sink's logic: an alert not yet written
                # must not be acked away. Keep the batch and retry, like a commit.
                store_attempt += 1
                self._metrics.inc(M_STORE_ERRORS)
                delay = random.uniform(0, min(self._config.retry_max_delay, 0.2 * 2**store_attempt))
                log.error(
                    "sink could not reach the store; retrying the batch",
                    extra={"error": repr(exc), "attempt": store_attempt, "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
            except Exception as exc:
                attempt += 1
                last = attempt >= self._config.sink_attempts
                log.error(
                    "sink failed on a committed batch" + ("; giving up" if last else "; retrying"),
                    exc_info=True,
                    extra={
                        "error": repr(exc),
                        "attempt": attempt,
                        "readings": len(decoded.readings),
                    },
                )
                if last:
                    self._metrics.inc(M_SINK_ERRORS)
                    return
                await asyncio.sleep(random.uniform(0, 0.1 * 2**attempt))

    def _ack(self, batch: list[_Incoming]) -> None:
        client = self._client
        if client is None:
            return
        stale = 0
        ack_many = client.ack_many if isinstance(client, BufferedClient) else None
        with self._ack_lock:
            generation = self._generation
            qos1: list[int] = []
            for msg in batch:
                if msg.qos == 0:
                    continue
                if msg.generation != generation:
                    stale += 1  # that connection is gone; the broker redelivers it
                elif msg.qos == 1 and ack_many is not None:
                    qos1.append(msg.mid)
                else:
                    client.ack(msg.mid, msg.qos)
            if ack_many is not None and qos1:
                ack_many(qos1)  # one write for the batch
        if stale:
            log.info("acks of a closed connection dropped", extra={"count": stale})

    async def _shutdown_client(self, client: mqtt.Client) -> None:
        self._stopping = True
        with self._ack_lock:
            self._generation += 1  # no ack may go out after this point
        if self._connected:
            # DISCONNECT goes out after the acks queued before it; wait for it so
            # those acks are flushed. A normal DISCONNECT keeps the session.
            client.disconnect()
            await asyncio.to_thread(self._disconnected.wait, 5.0)
        else:
            client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        # Drop the client: its callbacks hold this gateway, so kept it would make a
        # cycle, freed by the cyclic GC in any order (its socket pair reported
        # unclosed); freed at once, paho closes its sockets itself.
        self._client = None
        self._connected = False
        log.info("gateway stopped", extra={"pending_unacked": len(self._inbox) + len(self._fast)})


def _resubscribe(
    client: mqtt.Client, held: set[str], new: list[tuple[str, Any]], gone: list[str]
) -> None:
    """Subscribe to ``new`` (topic, options) and unsubscribe from ``gone``, 200
    topics a packet; ``held`` (the topics subscribed on this connection) follows
    what the client took."""
    for i in range(0, len(new), 200):
        chunk = new[i : i + 200]
        rc, _ = client.subscribe(chunk)
        if rc == mqtt.MQTT_ERR_SUCCESS:
            held.update(topic for topic, _ in chunk)
    for i in range(0, len(gone), 200):
        topics = gone[i : i + 200]
        rc, _ = client.unsubscribe(topics)
        if rc == mqtt.MQTT_ERR_SUCCESS:
            held.difference_update(topics)


def _source_key(match: Match | None) -> str | None:
    """Whose rate limit a rejected ecosystem message counts against: its device's
    when the topic names one, the topic's own when it is a bridge of several
    (Tasmota), none when no registered device has the topic (as for an unknown
    native device)."""
    if match is None or not match.routes:
        return None
    ids = {route.device.id for route in match.routes}
    if len(ids) == 1:
        return next(iter(ids))
    return f"{match.ecosystem} bridge {'/'.join(sorted(ids))}"
