"""Alert changes from the workers to the API's live stream (scale-out).

A worker raises and clears alerts on its own ``AlertBus``, in its own process;
the screen's SSE stream is served by ``eldercare serve``'s bus. ``forward``
publishes each change of a worker's bus on the NATS subject ``SUBJECT`` (alert
id and change); ``relay``, in ``serve``, reads the alert from the store and
publishes the change on the API's bus (and wakes the escalation for a new
alert: the steps a worker scheduled are sent by ``serve``). Core NATS, at most once: the store is
the record, and a screen that missed a change gets it with its next reload.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import nats
from nats.aio.client import Client as NatsClient

from alerts.events import AlertBus
from eldercare.store.base import NotFound, Store

log = logging.getLogger("eldercare.gateway.relay")

SUBJECT = "eldercare.alerts.changes"


async def connect(servers: list[str], name: str) -> NatsClient:
    return await nats.connect(
        servers=servers, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )


async def forward(bus: AlertBus, nc: NatsClient) -> None:
    """Every change on ``bus`` to ``SUBJECT``, until cancelled."""
    while True:
        async with bus.watch() as queue:
            while (event := await queue.get()) is not None:
                body = {"change": event.change, "alert_id": event.alert.id}
                try:
                    await nc.publish(SUBJECT, json.dumps(body).encode())
                except Exception as exc:  # the engine is away: the store has it
                    log.warning("alert change not forwarded", extra={"error": repr(exc)})
        # None: this watcher fell behind and was dropped; watch again


async def relay(
    bus: AlertBus, store: Store, nc: NatsClient, on_raised: Callable[[], None] | None = None
) -> None:
    """The workers' changes onto ``bus`` (the API's), until cancelled; ``on_raised``
    after a new alert (the escalation's wake: its first SMS without waiting a tick)."""
    sub = await nc.subscribe(SUBJECT)
    async for msg in sub.messages:
        try:
            body = json.loads(msg.data)
            alert = await store.get_alert(int(body["alert_id"]))
        except NotFound:
            continue
        except Exception as exc:
            log.warning("alert change not relayed", extra={"error": repr(exc)})
            continue
        if body["change"] == "raised" and on_raised is not None:
            on_raised()
        bus.publish(str(body["change"]), alert)
