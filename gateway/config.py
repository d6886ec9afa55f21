"""How the gateway reaches the broker and how it batches."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """How to reach the broker and how to batch. Built from Settings by the composition root."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    client_id: str = "eldercare-gateway"
    """Fixed, so the broker keeps the persistent session across restarts."""
    protocol: str = "5"
    """``5`` or ``3.1.1``."""
    batch_max: int = 1000
    receive_maximum: int = 65535
    """MQTT 5: messages the broker may have in flight to the gateway, unacked (the
    protocol's most). Past it the broker queues the rest in arrival order, where
    an SOS behind a backlog of vitals waits for all of them to be committed and
    acked; in flight, the gateway has it and its fast lane takes it at once. A
    backlog builds when the service falls behind (a busy machine): at 10,000
    homes the old 4,000 in flight were 0.4 s of vitals, 65,535 are 6.5 s (about
    13 MB of payloads held in memory). Nothing is acked before it is committed
    either way. MQTT 3.1.1 has no such field: the broker's
    ``max_inflight_messages`` sets it (``eldercare broker-config``)."""
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    """Seconds the broker keeps the session (MQTT 5) while the gateway is away."""
    reconnect_min: int = 1
    reconnect_max: int = 30
    sink_attempts: int = 3
    """Tries of the sink per batch before the failure is logged, counted and skipped."""
    retry_max_delay: float = 30.0
    """Cap of the jittered backoff between store retries of one batch."""
    fast_lane: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)
    """Device kind (a ``DeviceKind`` value) -> payload markers: a message of that
    kind whose raw payload contains one of the markers (any message, if none are
    given) skips the queue: it is taken as soon as it arrives and committed in a
    batch of its own, alongside the batch under way, so an SOS does not wait
    behind a backlog of vitals. The markers keep heartbeats in the normal lane.
    A marker is a cheap test on bytes: a false match only makes a message fast.
    Empty: one lane, strictly in arrival order (what the event clock needs)."""
    device_rate: float = 0.0
    """Messages per second one device may send on average (gateway/ratelimit.py);
    0 = no limit. Past it, messages are dropped (acked, counted), one dead letter
    per device a minute."""
    device_burst: float = 1000.0
    """Messages one device may send at once before ``device_rate`` applies."""
    dead_letter_max_payload: int = 4096
    """Bytes of a refused payload kept in its dead letter (its full length is kept too)."""
    registry_refresh: float = 30.0
    """Seconds between checks of the device sources in the store (changes made by
    another process, e.g. ``eldercare provision``: one small query, a reload only
    if they changed); a change through this process's API is taken at once."""
    urgent_session: bool = False
    """This gateway is the urgent session (gateway/urgent_session.py): it subscribes
    to the event topics of the registry's devices of the ``fast_lane`` kinds, one
    each, not to the wildcards; its client id and account end in ``-urgent``."""
    commit: bool = True
    """False: the raise-only lane (``eldercare/critical_lane.py``, with
    ``ELDERCARE_INTAKE_PROCESS=on``): messages are decoded and handed to the sink,
    then acked, and nothing is written (no readings, dead letters or liveness);
    the intake process's own session stores every message."""
    tls_context: ssl.SSLContext | None = field(default=None, compare=False)
    """Used when ``tls``; None = the system's default CA store."""

    def __post_init__(self) -> None:
        if self.protocol not in ("5", "3.1.1"):
            raise ValueError(f"MQTT protocol must be '5' or '3.1.1', got {self.protocol!r}")
        if self.batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {self.batch_max}")
        if not 1 <= self.receive_maximum <= 65535:
            raise ValueError(f"receive_maximum must be 1 to 65535, got {self.receive_maximum}")
        if self.device_rate > 0 and self.device_burst < 1:
            raise ValueError(f"device_burst must be at least 1, got {self.device_burst}")
        if self.dead_letter_max_payload < 0:
            raise ValueError("dead_letter_max_payload must not be negative")
