"""Urgent work before bulk work on the service's one event loop.

Everything runs on one asyncio loop: the gateway's vitals batches (bulk: tens
of milliseconds of CPU each under load), and the path of a critical alert (the
gateway's fast lane, then the escalation run that sends its first SMS), which
is short but waits on a dozen database round trips. Each round trip ends with
a callback that waits its turn behind whatever bulk chunk holds the loop, so
under load the alert path took ~10x its idle time.

``Priority`` gives the loop one rule: while an urgent section runs, bulk work
waits at its next yield point instead of taking another turn. Urgent sections
(``async with priority.urgent():``) are the fast lane's batches and the
escalation runs; bulk work calls ``await priority.pause()`` every few dozen
messages. A pause never waits longer than ``max_pause_s`` per call, so a stuck
urgent section (the store away) slows bulk work down but cannot stop it. The
API and the SSE stream are neither: they take their turns as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

YIELD_EVERY = 64
"""Items of bulk work (messages decoded, readings detected) between two pauses."""


class Priority:
    def __init__(self, max_pause_s: float = 0.25) -> None:
        self.max_pause_s = max_pause_s
        self._urgent: set[asyncio.Task[object] | None] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        """True while an urgent section runs."""
        return bool(self._urgent)

    @contextlib.asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        """Run the body as urgent work: bulk work waits at its pause points."""
        task = asyncio.current_task()
        nested = task in self._urgent
        self._urgent.add(task)
        self._idle.clear()
        try:
            yield
        finally:
            if not nested:
                self._urgent.discard(task)
            if not self._urgent:
                self._idle.set()

    async def pause(self) -> None:
        """A yield point of bulk work: let the other tasks in and, while urgent
        work runs (in another task), wait for it, up to ``max_pause_s``."""
        await asyncio.sleep(0)
        if self._urgent and asyncio.current_task() not in self._urgent:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_pause_s):
                    await self._idle.wait()
