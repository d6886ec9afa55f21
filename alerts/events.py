"""A fan-out of alert changes to live watchers (the SSE stream, the demo's printer).

Each change gets an increasing id (the SSE ``id:``). A watcher that falls too
far behind is dropped rather than slowing the service; it reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from eldercare.domain import Alert


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: int
    change: str
    """raised, repeated, acknowledged, dispatched, on_site, resolved, notified"""
    alert: Alert


class AlertBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._ids = itertools.count(1)
        self._watchers: set[asyncio.Queue[AlertEvent | None]] = set()
        self._queue_size = queue_size

    def publish(self, change: str, alert: Alert) -> AlertEvent:
        event = AlertEvent(next(self._ids), change, alert)
        for queue in list(self._watchers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._watchers.discard(queue)
                queue.put_nowait(None) if not queue.full() else None
        return event

    @asynccontextmanager
    async def watch(self) -> AsyncIterator[asyncio.Queue[AlertEvent | None]]:
        """A queue of events from now on; ``None`` in it means "you were dropped"."""
        queue: asyncio.Queue[AlertEvent | None] = asyncio.Queue(self._queue_size)
        self._watchers.add(queue)
        try:
            yield queue
        finally:
            self._watchers.discard(queue)

    @property
    def watchers(self) -> int:
        return len(self._watchers)
