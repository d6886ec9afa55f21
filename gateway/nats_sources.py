"""Off-the-shelf devices in engine mode: their ecosystem's topics, each message
routed into the partition of its device's home (README "Scale-out").

Zigbee2MQTT, ESPHome, Shelly and Tasmota publish on topics of their own
(``zigbee2mqtt/hall_sos``), which the account mapping does not partition: the
home is not in the topic. One worker, the holder of partition 0's lease, runs
the bridge: it subscribes (core NATS: the MQTT listener delivers every PUBLISH,
QoS 0 or 1, to core subscribers first) to the topics the registry's sources
name, finds the device of each message, and stores the message unchanged in the
MQTT store under the home's partition
(``$MQTT.msgs.ec.<partition>.<home>.<device>.source``) with its topic in the
``Eldercare-Topic`` header. The partition's owner hands it to the gateway under
that topic, so the adapters decode it where the home's detectors live, as on
the Mosquitto path.

One bridge, not a queue group: a device's messages stay in their order (a door
contact's open then closed must not arrive as closed then open). A message the
bridge cannot store within ``STORE_TIMEOUT_S`` (the engine is electing) and one
whose topic no device names is dead-lettered with its reason. Messages that
arrive while partition 0 changes hands are not taken (the ecosystems publish at
QoS 0 by default: at most once by their own choice); neither are the retained
states a subscription would replay (the bridge follows live messages only).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.client import JetStreamContext

from eldercare.domain import DeadLetter
from eldercare.metrics import Metrics
from eldercare.store import Store
from gateway.decode import Reason
from gateway.partitions import MQTT_STORE, STORE_PREFIX, SUBJECT_PREFIX, partition_of
from gateway.registry_cache import RegistryCache

log = logging.getLogger("eldercare.gateway.nats")

TOPIC_HEADER = "Eldercare-Topic"
SOURCE_CHANNEL = "source"
STORE_TIMEOUT_S = 10.0
REFRESH_S = 30.0
"""How often the registry's sources are compared with the store (changes made by
this worker's own registry are followed at once)."""
M_BRIDGED = "eldercare_source_messages_bridged_total"


def nats_subject(topic: str) -> str | None:
    """The NATS subject of an MQTT topic (filter), as the NATS MQTT listener
    converts it: levels joined by ``.``, a ``.`` in a level as ``//``, ``+`` as
    ``*`` and ``#`` as ``>``. None for what NATS refuses or this bridge does not
    convert (whitespace, empty levels)."""
    levels = topic.split("/")
    if any(not level or any(c.isspace() for c in level) for level in levels):
        return None
    out = []
    for level in levels:
        if level == "+":
            out.append("*")
        elif level == "#":
            out.append(">")
        else:
            out.append(level.replace(".", "//"))
    return ".".join(out)


def mqtt_topic(subject: str) -> str:
    """The MQTT topic of a core NATS subject (the inverse of ``nats_subject``)."""
    return "/".join(token.replace("//", ".") for token in subject.split("."))


def source_subject(partitions: int, home_id: str, device_id: str) -> str:
    """Where the bridge stores a device's ecosystem message: its home's partition."""
    p = partition_of(home_id, partitions)
    return f"{STORE_PREFIX}{SUBJECT_PREFIX}.{p}.{home_id}.{device_id}.{SOURCE_CHANNEL}"


class SourceBridge:
    def __init__(
        self,
        registry: RegistryCache,
        store: Store,
        partitions: int,
        metrics: Metrics,
        *,
        max_payload: int = 4096,
        may_forward: Callable[[], bool] = lambda: True,
    ) -> None:
        """``may_forward``: whether this worker still holds the bridge's lease (asked
        before each message: one whose lease lapsed stops at once)."""
        self.registry = registry
        self.store = store
        self.partitions = partitions
        self.metrics = metrics
        self.max_payload = max_payload
        self.may_forward = may_forward
        self._subs: dict[str, NatsSubscription] = {}
        metrics.describe(
            M_BRIDGED, "counter", "Ecosystem messages stored in their home's partition"
        )

    @property
    def subjects(self) -> frozenset[str]:
        """The subjects subscribed now (for tests)."""
        return frozenset(self._subs)

    async def run(self, nc: NatsClient, js: JetStreamContext) -> None:
        """Follow the registry's sources until cancelled; unsubscribe on the way out."""
        try:
            while True:
                try:
                    await self.registry.ensure_loaded()
                except Exception as exc:  # the store is away: keep what we have
                    log.warning("registry load failed", extra={"error": repr(exc)})
                await self._sync(nc, js)
                changed = await self.registry.wait_changed(REFRESH_S)
                if not changed:
                    try:
                        await self.registry.refresh_sources()
                    except Exception as exc:  # the store is away: keep what we have
                        log.warning(
                            "registry reload for device sources failed",
                            extra={"error": repr(exc)},
                        )
        finally:
            subs, self._subs = list(self._subs.values()), {}
            for sub in subs:
                try:
                    await sub.unsubscribe()
                except Exception as exc:  # the connection is closing anyway
                    log.debug("unsubscribe failed", extra={"error": repr(exc)})

    async def _sync(self, nc: NatsClient, js: JetStreamContext) -> None:
        wanted: dict[str, str] = {}
        for topic in self.registry.subscriptions():
            subject = nats_subject(topic)
            if subject is None:
                log.error(
                    "a device source's topic cannot be read through NATS (whitespace or an"
                    " empty level); its messages are not taken",
                    extra={"topic": topic},
                )
                continue
            wanted[subject] = topic
        for subject in [s for s in self._subs if s not in wanted]:
            await self._subs.pop(subject).unsubscribe()
        for subject in [s for s in wanted if s not in self._subs]:

            async def on_message(msg: Msg, js: JetStreamContext = js) -> None:
                await self._forward(js, msg)

            self._subs[subject] = await nc.subscribe(subject, cb=on_message)
        if wanted:
            log.info("source bridge subscriptions", extra={"subjects": sorted(self._subs)})

    async def _forward(self, js: JetStreamContext, msg: Msg) -> None:
        if not self.may_forward():
            return  # the lease lapsed: the next holder takes the topics
        topic = mqtt_topic(msg.subject)
        received = datetime.now(UTC)
        try:
            match = self.registry.source_match(topic) or await self.registry.lookup_source(topic)
        except Exception as exc:  # the store is away
            await self._dead(topic, msg.data, received, Reason.INTERNAL_ERROR, repr(exc))
            return
        if match is None:
            await self._dead(
                topic,
                msg.data,
                received,
                Reason.UNKNOWN_DEVICE,
                f"no device in the registry has a source that names topic {topic!r}",
            )
            return
        # A Tasmota bridge's devices are read where its first device's home is.
        device = min((r.device for r in match.routes), key=lambda d: (d.home_id, d.id))
        subject = source_subject(self.partitions, device.home_id, device.id)
        headers = {TOPIC_HEADER: topic, "Nats-Msg-Id": uuid.uuid4().hex}
        deadline = time.monotonic() + STORE_TIMEOUT_S
        while True:
            try:
                await js.publish(subject, msg.data, stream=MQTT_STORE, headers=headers, timeout=2)
                self.metrics.inc(M_BRIDGED)
                return
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
                if time.monotonic() > deadline:
                    await self._dead(
                        topic,
                        msg.data,
                        received,
                        Reason.INTERNAL_ERROR,
                        f"the engine did not store it in {STORE_TIMEOUT_S:.0f} s: {exc!r}",
                    )
                    return
                await asyncio.sleep(0.2)  # the same Nats-Msg-Id: stored once

    async def _dead(
        self, topic: str, payload: bytes, at: datetime, reason: str, detail: str
    ) -> None:
        letter = DeadLetter(topic, payload[: self.max_payload], reason, detail, at, len(payload))
        try:
            await self.store.insert_dead_letters([letter])
        except Exception as exc:
            log.error(
                "dead letter of a device source's message not stored",
                extra={"topic": topic, "reason": reason, "error": repr(exc)},
            )
        log.warning("source message dead-lettered", extra={"topic": topic, "reason": reason})
