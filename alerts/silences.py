"""Maintenance silences: a supervisor silences a home or one device until an
end time. Until then no alert is raised from it except ``sos`` (a person
pressing the button is never held back); findings held back are counted
(``eldercare_findings_silenced_total``) and logged, not stored as alerts.

A silence and its end are on the screen (``GET /api/v1/silences``; the
screen's maintenance panel) and on the timeline of the alerts of its home or
device open when it started (``silenced``, with the end time). A silence ends
at its end time, or earlier when a supervisor ends it
(``POST /api/v1/silences/{id}/end``). What a silenced device does is not
replayed afterwards: a device still offline when the silence ends is raised
again by its next offline report or supervision timeout.
"""

from __future__ import annotations

import logging
from datetime import datetime

from eldercare.clock import Clock
from eldercare.domain import AlertKind, AlertStatus, Finding, TimelineEntry
from eldercare.metrics import Metrics
from eldercare.store.base import AlertFilter, Store
from eldercare.store.floods import Silence

log = logging.getLogger("eldercare.silences")

NEVER_SILENCED = frozenset({AlertKind.SOS})


class SilenceError(ValueError):
    """A silence that cannot be made (its end is not in the future…)."""


class Silences:
    def __init__(self, store: Store, clock: Clock, metrics: Metrics) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics

    async def holds(self, finding: Finding) -> Silence | None:
        """The silence that holds this finding back (None: raise it as usual)."""
        if finding.kind in NEVER_SILENCED:
            return None
        for silence in await self.store.silences_at(finding.home_id, finding.at):
            device = finding.device_id or finding.subject
            if silence.device_id is None or silence.device_id == device:
                self.metrics.inc("eldercare_findings_silenced_total", kind=finding.kind.value)
                log.info(
                    "%s at %s (%s) held back by silence %s until %s",
                    finding.kind.value,
                    finding.home_id,
                    finding.subject,
                    silence.id,
                    silence.end().isoformat(),
                    extra={"home_id": finding.home_id, "kind": finding.kind.value},
                )
                return silence
        return None

    async def create(
        self,
        organisation_id: str,
        home_id: str,
        device_id: str | None,
        ends_at: datetime,
        reason: str,
        actor: str,
    ) -> Silence:
        now = self.clock.now()
        if ends_at.tzinfo is None:
            raise SilenceError("ends_at: give a time zone (e.g. 2026-12-04T18:00:00+08:00)")
        if ends_at <= now:
            raise SilenceError(
                f"ends_at: {ends_at.isoformat()} is not in the future (now {now.isoformat()})"
            )
        silence = await self.store.create_silence(
            Silence(None, organisation_id, home_id, device_id, now, ends_at, reason, actor)
        )
        await self._on_timelines(silence, "silenced", now, actor)
        return silence

    async def end(self, silence: Silence, actor: str) -> Silence:
        now = self.clock.now()
        ended = await self.store.end_silence(silence.id or 0, now, actor)
        if ended.ended_at is not None and silence.ended_at is None:
            await self._on_timelines(ended, "silence_ended", now, actor)
        return ended

    async def _on_timelines(self, s: Silence, event: str, at: datetime, actor: str) -> None:
        open_alerts = await self.store.list_alerts(
            AlertFilter(
                status=[st for st in AlertStatus if st is not AlertStatus.RESOLVED],
                home_id=s.home_id,
                limit=200,
            )
        )
        for alert in open_alerts:
            if s.device_id is not None and s.device_id not in (alert.device_id, alert.subject):
                continue
            await self.store.add_timeline(
                TimelineEntry(
                    alert.id,
                    at,
                    event,
                    actor,
                    {
                        "silence": s.id,
                        "device_id": s.device_id,
                        "ends_at": s.end().isoformat(),
                        "reason": s.reason,
                    },
                )
            )
