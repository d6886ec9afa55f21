"""The link between ``eldercare serve`` and its intake process: a Unix socket, one
JSON object a line, both ways (README "The intake process").

From the intake process to serve, what the scale-out workers send over NATS
(``gateway/nats_relay.py``): each change of its alert bus (``{"change",
"alert_id"}``: serve reads the alert from the store and publishes it on the
API's bus, the live screen's) and escalation wakes (``{"wake": true}``: a new
alert's steps are in the store, serve's escalation sends them now rather than
at its next tick). From serve to the intake process: ``{"registry": true}``
when the registry changed through the API, so homes and devices provisioned a
moment ago are known at once.

At most once, like the NATS relay: the store is the record. A screen that
missed a change gets it with its next reload; a missed wake is the next tick
(a second); a missed registry change is the intake process's next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from alerts.events import AlertBus
from eldercare.store.base import NotFound, Store

log = logging.getLogger("eldercare.intake_link")

LINE_MAX = 64 * 1024


class LinkServer:
    """serve's end: relays the intake process's changes onto ``bus``."""

    def __init__(self, path: str, bus: AlertBus, store: Store, on_wake: Callable[[], None]) -> None:
        self.path = path
        self.bus = bus
        self.store = store
        self.on_wake = on_wake
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.relayed = 0

    @property
    def connected(self) -> bool:
        return bool(self._writers)

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=LINE_MAX)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while line := await reader.readline():
                await self._handle(line)
        except (ConnectionError, ValueError) as exc:  # a line past LINE_MAX, a reset
            log.warning("intake link closed: %s", exc)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handle(self, line: bytes) -> None:
        try:
            body: dict[str, Any] = json.loads(line)
            if body.get("wake"):
                self.on_wake()
                return
            alert = await self.store.get_alert(int(body["alert_id"]))
        except NotFound:
            return
        except Exception as exc:
            log.warning("alert change not relayed", extra={"error": repr(exc)})
            return
        self.bus.publish(str(body["change"]), alert)
        self.relayed += 1

    def registry_changed(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.write(b'{"registry": true}\n')

    async def close(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


class LinkClient:
    """The intake process's end."""

    def __init__(self, path: str, on_registry: Callable[[], None]) -> None:
        self.path = path
        self.on_registry = on_registry
        self._writer: asyncio.StreamWriter | None = None

    async def run(self, bus: AlertBus) -> None:
        """Connect (again after a loss), forward ``bus``'s changes, take registry
        changes; until cancelled."""
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self.path, limit=LINE_MAX)
            except OSError as exc:
                log.warning("serve's intake link not reachable: %s; retrying", exc)
                await asyncio.sleep(0.5)
                continue
            self._writer = writer
            forwarding = asyncio.create_task(self._forward(bus, writer), name="link-forward")
            try:
                while line := await reader.readline():
                    if json.loads(line).get("registry"):
                        self.on_registry()
            except (ConnectionError, ValueError) as exc:
                log.warning("intake link lost: %s", exc)
            finally:
                self._writer = None
                forwarding.cancel()
                await asyncio.gather(forwarding, return_exceptions=True)
                writer.close()
            await asyncio.sleep(0.5)

    async def _forward(self, bus: AlertBus, writer: asyncio.StreamWriter) -> None:
        while True:
            async with bus.watch() as queue:
                while (event := await queue.get()) is not None:
                    body = {"change": event.change, "alert_id": event.alert.id}
                    writer.write(json.dumps(body).encode() + b"\n")
                    await writer.drain()
            # None: this watcher fell behind and was dropped; watch again

    def wake(self) -> None:
        """A worker-style escalation ``on_wake``: serve sends the new steps now."""
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write(b'{"wake": true}\n')
