"""What the API needs from the rest of the service, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from alerts.channels import DeliveryEvents
from alerts.events import AlertBus
from alerts.service import AlertService
from eldercare.clock import Clock
from eldercare.metrics import Metrics
from eldercare.settings import Settings
from eldercare.store.base import Store


@dataclass
class AppContext:
    settings: Settings
    store: Store
    alerts: AlertService
    bus: AlertBus
    clock: Clock
    metrics: Metrics
    readiness: Callable[[], Awaitable[dict[str, bool]]]
    """Named checks, e.g. ``{"broker": True, "store": True}``; ``/readyz`` needs all true."""
    on_registry_change: Callable[[], None]
    """Called after every home, resident or device write (the gateway's cache invalidation)."""
    delivery: DeliveryEvents | None = None
    """The escalation engine's side of the Twilio webhooks (None until it is wired)."""
    readiness_reasons: Callable[[], dict[str, str]] | None = None
    """Why a check of ``readiness`` fails, by name (``/readyz`` shows them)."""
    sse_keepalive_s: float = 15.0
    """Seconds between keep-alive comments on an idle ``/api/v1/alerts/stream``."""
