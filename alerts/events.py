"""A fan-out of alert changes to live watchers (the SSE stream, the demo's printer).

Each change gets an increasing id (the SSE ``id:``), and the last ``history``
changes are kept in a ring buffer, so a client that reconnects with the last
id it saw is sent what it missed (``replay``). The ids start again at 1 when
the process starts; ``epoch`` (random per bus) tells one run's ids from
another's. A watcher that falls too far behind is dropped rather than slowing
the service; it reconnects and is replayed what it missed.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from eldercare.domain import Alert


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: int
    change: str
    """raised, repeated, cleared, acknowledged, dispatched, on_site, resolved, notified,
    or another engine's change (family_reply, delivery, escalated…)"""
    alert: Alert


class AlertBus:
    def __init__(self, queue_size: int = 1000, history: int = 1000) -> None:
        self._ids = itertools.count(1)
        self._last_id = 0
        self._watchers: set[asyncio.Queue[AlertEvent | None]] = set()
        self._queue_size = queue_size
        self._history: deque[AlertEvent] = deque(maxlen=history)
        self.epoch = secrets.token_hex(4)
        """Changes when the process restarts: ids of another epoch cannot be replayed."""

    def publish(self, change: str, alert: Alert) -> AlertEvent:
        event = AlertEvent(next(self._ids), change, alert)
        self._last_id = event.id
        self._history.append(event)
        for queue in list(self._watchers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._watchers.discard(queue)
                queue.put_nowait(None) if not queue.full() else None
        return event

    @property
    def last_id(self) -> int:
        """Id of the newest change so far (0 before the first)."""
        return self._last_id

    def replay(self, after: int) -> list[AlertEvent] | None:
        """The changes after id ``after``, oldest first; None when some of them
        are no longer kept (or ``after`` is from the future): reload everything."""
        if after > self._last_id or after < 0:
            return None
        if after == self._last_id:
            return []
        oldest = self._history[0].id if self._history else self._last_id + 1
        if after + 1 < oldest:
            return None
        return [e for e in self._history if e.id > after]

    @asynccontextmanager
    async def watch(self) -> AsyncIterator[asyncio.Queue[AlertEvent | None]]:
        """A queue of events from now on; ``None`` in it means "you were dropped".

        Registration happens before the body runs, without a suspension point,
        so ``replay`` called first thing in the body leaves no gap."""
        queue: asyncio.Queue[AlertEvent | None] = asyncio.Queue(self._queue_size)
        self._watchers.add(queue)
        try:
            yield queue
        finally:
            self._watchers.discard(queue)

    @property
    def watchers(self) -> int:
        return len(self._watchers)
