"""The detectors' edge to the store: registry profiles in, saved state in and out.

This is the one module of ``detectors`` that does I/O; the rules stay pure.

Start (``start``), bounded for thousands of homes:

1. load homes, residents and devices into ``Profiles``;
2. load the saved entries (``detector_state``) and the checkpoint time
   ``as_of`` (the service's now when they were saved; without one, the newest
   reading's time);
3. tell the clock ``as_of`` (the event clock resumes there, not at the wall);
4. replay the readings with ``ts >= as_of - REPLAY_S`` through the detectors,
   per device from its index, in (ts, seq) order. REPLAY_S is one vitals window
   (60 s): it refills the vitals windows and re-applies anything newer than the
   checkpoint. The rules ignore readings at or before what their saved state
   has applied, and every finding has a deterministic key, so the replay never
   raises twice; what was raised before the restart is not raised again.

Scale-out (``scope``, README "Scale-out"): a worker owns some partitions of the
homes. Its profiles hold only their homes, it loads only their devices' and
homes' saved entries, it replays only their readings, and its checkpoint time is
kept per partition (``as_of/<n>``), so the next owner of a partition resumes from
where its last owner saved it.

Running: ``begin(now)`` before each batch reloads the profiles when the
registry changed and sets the detectors' now; ``checkpoint(now)`` after each
tick saves the entries changed since the last save, at most every
``checkpoint_every_s`` seconds (and always with ``force``, at shutdown), in
chunks, then the new ``as_of`` (see ``checkpoint``). A crash loses at most that
interval, which the replay then re-applies.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from detectors.base import State
from detectors.engine import DetectorSet, build_detectors
from detectors.profiles import Profiles
from eldercare.clock import Clock
from eldercare.domain import Signal
from eldercare.store.base import DetectorStateRow, Store

log = logging.getLogger("eldercare.detectors")

RUNTIME = "_runtime"
REPLAY_S = 60.0
CHECKPOINT_CHUNK = 500
"""Entries taken from the detectors, and written, per step of a checkpoint."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The partitions of the homes one worker owns (see the module docstring)."""

    partitions: frozenset[int]
    partition_of: Callable[[str], int]
    """home id -> its partition"""

    def owns(self, home_id: str) -> bool:
        return self.partition_of(home_id) in self.partitions

    def as_of_keys(self) -> list[str]:
        return [f"as_of/{p}" for p in sorted(self.partitions)]


class DetectorRuntime:
    def __init__(
        self,
        store: Store,
        *,
        default_timezone: str,
        follow_events: bool = False,
        checkpoint_every_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        scope: Scope | None = None,
    ) -> None:
        self.store = store
        self.scope = scope
        """None: every home (one service); else only the homes of these partitions."""
        self.profiles = Profiles(default_timezone)
        self.detectors: DetectorSet = build_detectors(self.profiles, follow_events=follow_events)
        self.checkpoint_every_s = checkpoint_every_s
        self._monotonic = monotonic
        self._stale = True
        self._last_save: float | None = None
        self._pending: dict[tuple[str, str], State | None] = {}
        self.replayed = 0
        """readings replayed at start (for logs and tests)"""

    def invalidate(self) -> None:
        """The registry changed: reload the profiles before the next batch or tick."""
        self._stale = True

    async def reload(self) -> None:
        homes = await self.store.list_homes()
        residents = await self.store.list_residents()
        devices = await self.store.list_devices()
        scope = self.scope
        if scope is not None:
            homes = [h for h in homes if scope.owns(h.id)]
            residents = [r for r in residents if scope.owns(r.home_id)]
            devices = [d for d in devices if scope.owns(d.home_id)]
        self._stale = False
        self.profiles.replace(homes, residents, devices)

    async def start(self, clock: Clock) -> list[Signal]:
        """Load profiles and saved state, replay the recent readings; return their signals."""
        await self.reload()
        scope = self.scope
        mine = {"as_of"} if scope is None else set(scope.as_of_keys())
        saved: dict[str, datetime] = {}
        loaded = 0
        for row in await self.store.load_detector_state():
            if row.detector == RUNTIME:
                if row.key in mine | {"as_of"} and row.state is not None:
                    saved[row.key] = datetime.fromisoformat(row.state["at"])
                continue
            if scope is not None and not self.profiles.knows(row.key):
                continue  # a device or home of another worker's partition
            if row.state is not None and self.detectors.load(row.detector, row.key, row.state):
                loaded += 1
        # A partition never saved on its own resumes from the one service's time.
        times = [saved.get(k, saved.get("as_of")) for k in sorted(mine)]
        as_of = min((t for t in times if t is not None), default=None)
        if as_of is None:
            as_of = await self.store.latest_reading_ts()
        signals: list[Signal] = []
        if as_of is not None:
            clock.observe(as_of)
            self.detectors.begin(as_of)
            self.detectors.processed = as_of
            readings = await self.store.readings_since(as_of - timedelta(seconds=REPLAY_S))
            for reading in readings:
                device = self.profiles.device(reading.device_id)
                if device is not None:
                    signals.extend(self.detectors.on_reading(reading, device))
            self.replayed = len(readings)
            signals.extend(self.detectors.on_tick(as_of))
        log.info(
            "detectors resumed",
            extra={
                "entries": loaded,
                "as_of": None if as_of is None else as_of.isoformat(),
                "replayed": self.replayed,
            },
        )
        if as_of is not None:
            await self.checkpoint(as_of, force=True)
        return signals

    async def begin(self, now: datetime) -> None:
        if self._stale:
            await self.reload()
        self.detectors.begin(now)

    def checkpoint_due(self) -> bool:
        """True when ``checkpoint_every_s`` has passed since the last save."""
        return (
            self._last_save is None
            or self._monotonic() - self._last_save >= self.checkpoint_every_s
        )

    async def checkpoint(
        self,
        now: datetime,
        *,
        force: bool = False,
        pause: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Save what changed since the last save; returns how many entries were written.

        The entries are taken and written CHECKPOINT_CHUNK at a time, awaiting
        ``pause`` between chunks: with thousands of homes a checkpoint is tens of
        thousands of entries (every device's ``last_seen`` every minute), and
        taken at once it held the event loop for 300 ms. Each chunk is its own
        transaction and ``as_of`` is written last, after all of them: a crash
        midway leaves some entries newer than ``as_of``, which the replay allows
        (the rules ignore readings their saved state has already applied).
        """
        if not force and not self.checkpoint_due():
            return 0
        mono = self._monotonic()
        while True:
            taken = self.detectors.dump(CHECKPOINT_CHUNK)
            for name, key, state in taken:
                self._pending[(name, key)] = state
            if len(taken) < CHECKPOINT_CHUNK:
                break
            if pause is not None:
                await pause()
        written = 0
        while self._pending:  # on error: what is left is kept for the next try
            keys = list(itertools.islice(self._pending, CHECKPOINT_CHUNK))
            rows = [DetectorStateRow(name, key, self._pending[(name, key)]) for name, key in keys]
            await self.store.save_detector_state(rows, now)
            for k in keys:
                del self._pending[k]
            written += len(rows)
            if pause is not None and self._pending:
                await pause()
        as_of = {"at": now.astimezone(UTC).isoformat()}
        names = ["as_of"] if self.scope is None else self.scope.as_of_keys()
        await self.store.save_detector_state(
            [DetectorStateRow(RUNTIME, name, as_of) for name in names], now
        )
        self._last_save = mono
        return written
