"""Retention: readings, vitals rollups and dead letters older than their configured
age are removed.

TimescaleDB's Apache edition has no retention policies, so the service runs
``drop_chunks`` itself (``Store.prune``): ``RetentionLoop`` prunes at start and
then every ``ELDERCARE_RETENTION_EVERY`` seconds of its clock; ``eldercare db
prune`` runs the same once. Alerts and their timelines are never removed.

    loop = RetentionLoop(store, clock, RetentionPolicy.from_settings(settings))
    await loop.run_due()        # prunes if due on the clock, else None
    await loop.run(poll_s=60)   # for ever: run_due() every poll_s (wall) seconds
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from eldercare.clock import Clock
from eldercare.metrics import Metrics
from eldercare.settings import Settings
from eldercare.store.base import PruneResult, Store, StoreError

log = logging.getLogger("eldercare.retention")

RETRY_AFTER_FAILURE_S = 300.0
"""A run the store refused is tried again this much later (not every poll)."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    readings_days: float
    """0 = readings are kept for ever"""
    dead_letter_days: float
    """0 = dead letters are kept for ever"""
    every_s: float = 3600.0
    rollup_days: float = 800.0
    """0 = the per-minute vitals rollups are kept for ever; never less than readings_days"""

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            settings.retention_days,
            settings.dead_letter_retention_days,
            settings.retention_every,
            settings.vitals_rollup_retention_days,
        )

    @property
    def rollups_kept_days(self) -> float:
        """The rollups' age limit in force: the longer of the two, 0 if either keeps all."""
        if self.rollup_days <= 0 or self.readings_days <= 0:
            return 0.0
        return max(self.rollup_days, self.readings_days)

    def cutoffs(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(readings before, dead letters before) at ``now``; None = keep that table."""
        return (_before(now, self.readings_days), _before(now, self.dead_letter_days))

    def rollups_cutoff(self, now: datetime) -> datetime | None:
        return _before(now, self.rollups_kept_days)


def _before(now: datetime, days: float) -> datetime | None:
    return None if days <= 0 else now - timedelta(days=days)


async def prune_once(
    store: Store, policy: RetentionPolicy, now: datetime, *, dry_run: bool = False
) -> PruneResult:
    readings_before, dead_letters_before = policy.cutoffs(now)
    return await store.prune(
        readings_before,
        dead_letters_before,
        rollups_before=policy.rollups_cutoff(now),
        dry_run=dry_run,
    )


def describe(result: PruneResult, policy: RetentionPolicy, *, dry_run: bool = False) -> str:
    """One line for people, e.g. ``readings older than 400 days: 3 chunks dropped; …``."""
    would = "would be " if dry_run else ""
    if policy.readings_days <= 0:
        readings = "readings kept for ever"
    elif result.readings_rows is None:
        n = len(result.readings_chunks)
        readings = (
            f"readings older than {policy.readings_days:g} days:"
            f" {n} chunk{'' if n == 1 else 's'} {would}dropped"
        )
    else:
        readings = (
            f"readings older than {policy.readings_days:g} days:"
            f" {result.readings_rows} {would}deleted"
        )
    if policy.dead_letter_days <= 0:
        dead = "dead letters kept for ever"
    else:
        dead = (
            f"dead letters older than {policy.dead_letter_days:g} days:"
            f" {result.dead_letters} {would}deleted"
        )
    return f"{readings}; {_describe_rollups(result, policy, would)}; {dead}"


def _describe_rollups(result: PruneResult, policy: RetentionPolicy, would: str) -> str:
    days = policy.rollups_kept_days
    if days <= 0:
        return "vitals rollups kept for ever"
    if result.rollup_rows is None:
        n = len(result.rollup_chunks)
        chunks = f"{n} chunk{'' if n == 1 else 's'}"
        return f"vitals rollups older than {days:g} days: {chunks} {would}dropped"
    return f"vitals rollups older than {days:g} days: {result.rollup_rows} {would}deleted"


class RetentionLoop:
    """Prunes when due on the injected clock: at the first ``run_due`` and then every
    ``policy.every_s`` seconds of that clock."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        policy: RetentionPolicy,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.metrics = metrics
        self.next_due: datetime | None = None
        """None until the first run: due at once."""

    async def run_due(self) -> PruneResult | None:
        now = self.clock.now()
        if self.next_due is not None and now < self.next_due:
            return None
        try:
            result = await prune_once(self.store, self.policy, now)
        except StoreError:
            self.next_due = now + timedelta(seconds=min(RETRY_AFTER_FAILURE_S, self.policy.every_s))
            log.exception("retention run failed; trying again at %s", self.next_due.isoformat())
            return None
        self.next_due = now + timedelta(seconds=self.policy.every_s)
        self._count(result)
        log.info(
            "retention: %s",
            describe(result, self.policy),
            extra={
                "readings_chunks": len(result.readings_chunks),
                "readings_rows": result.readings_rows,
                "dead_letters": result.dead_letters,
            },
        )
        return result

    def _count(self, result: PruneResult) -> None:
        if self.metrics is None:
            return
        self.metrics.inc("eldercare_retention_runs_total")
        self.metrics.inc("eldercare_retention_chunks_dropped_total", len(result.readings_chunks))
        self.metrics.inc("eldercare_retention_readings_deleted_total", result.readings_rows or 0)
        self.metrics.inc(
            "eldercare_retention_rollup_chunks_dropped_total", len(result.rollup_chunks)
        )
        self.metrics.inc("eldercare_retention_dead_letters_deleted_total", result.dead_letters)

    async def run(self, poll_s: float = 60.0) -> None:
        """``run_due`` every ``poll_s`` seconds until cancelled."""
        while True:
            await self.run_due()
            await asyncio.sleep(poll_s)
