"""Alert changes from the workers to the API's live stream (scale-out).

A worker raises and clears alerts on its own ``AlertBus``, in its own process;
the screen's SSE stream is served by ``eldercare serve``'s bus. ``forward``
publishes each change of a worker's bus on the NATS subject ``SUBJECT`` (alert
id and change); ``relay``, in ``serve``, reads the alert from the store and
publishes the change on the API's bus. A worker's escalation writes a new
alert's steps to the store; ``serve``'s sends them: ``Waker`` on
``WAKE_SUBJECT`` tells it to run them now rather than at its next tick. Core
NATS, at most once: the store is the record, and a screen that missed a change
gets it with its next reload (a missed wake: the next tick, within a second).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from alerts.events import AlertBus
from eldercare.store.base import NotFound, Store
from gateway.nats_connect import connect_options

log = logging.getLogger("eldercare.gateway.relay")

SUBJECT = "eldercare.alerts.changes"
WAKE_SUBJECT = "eldercare.escalation.wake"


async def connect(servers: list[str], name: str) -> NatsClient:
    return await nats.connect(
        **connect_options(servers), name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5
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


class Waker:
    """A worker's escalation ``on_wake``: tells ``serve``'s escalation to run the
    steps this worker just wrote (a new critical alert's first SMS) now."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self._sending: set[asyncio.Task[None]] = set()

    def __call__(self) -> None:
        task = asyncio.get_running_loop().create_task(self._send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self) -> None:
        try:
            await self.nc.publish(WAKE_SUBJECT, b"")
        except Exception as exc:  # serve's next tick runs the steps anyway
            log.warning("escalation wake not sent", extra={"error": repr(exc)})


async def relay(
    bus: AlertBus, store: Store, nc: NatsClient, on_wake: Callable[[], None] | None = None
) -> None:
    """The workers' changes onto ``bus`` (the API's), until cancelled; ``on_wake``
    when a worker's escalation was woken (serve's escalation ``wake``)."""
    if on_wake is not None:
        wake = on_wake

        async def woken(msg: Msg) -> None:
            wake()

        await nc.subscribe(WAKE_SUBJECT, cb=woken)
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
        bus.publish(str(body["change"]), alert)
