"""Alarm floods: many alerts of one kind and cause at once become one incident.

A power cut or a broker outage takes hundreds of devices offline in the same
minute. Each home still gets its own ``device_offline`` alert (the device is
offline there, and it resolves itself when the device is back), but:

- **Opening.** When ``threshold`` (default 20) alerts of one of ``kinds``
  (default ``device_offline``) with the same cause (the detector's
  ``details["by"]``: ``status`` for a last will, ``silence`` for devices that
  stopped talking) are raised in one organisation within ``window_s``
  (default 120 s) of each other, an incident opens with all of them as
  members.
- **Held back.** A member's own escalation ladder is cancelled (its family SMS,
  calls and supervisor texts are held back; the threshold's earlier alerts are
  caught in time as long as the window is shorter than the kind's first step:
  ``device_offline`` texts the family at +180 s). Its timeline says
  ``grouped`` with the incident's id.
- **Told once.** The supervisors of the organisation get one SMS about the
  incident (a durable escalation step on its first member, so it is sent once
  across restarts and instances); the screen shows one incident tile with its
  members instead of their cards.
- **Later members.** An alert of the same kind and cause raised while the
  incident is open joins it at once (held back, no SMS to anyone).
- **End.** The incident ends ``quiet_s`` (default 600 s) after its last member
  joined, or when a supervisor ends it (``POST /api/v1/incidents/{id}/end``).
  Its members stay in it; alerts raised afterwards escalate as usual until a
  new flood crosses the threshold again.

The flood is counted from the store, not in memory: the alerts of the key
raised within the window (and after the key's last incident ended), whichever
service process raised them. Two processes (a standby that took over, or two
instances) agree on the count, a restart keeps it, and the store opens at
most one incident per centre, kind and cause (``open_incident``), so two
processes crossing the threshold at once join the same incident and its
supervisors are told once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.events import AlertBus
from eldercare.clock import Clock
from eldercare.domain import Alert, AlertKind, Finding, TimelineEntry
from eldercare.metrics import Metrics
from eldercare.store.base import AlertFilter, EscalationStep, Store
from eldercare.store.floods import Incident
from eldercare.tenancy import alert_organisation

log = logging.getLogger("eldercare.incidents")

CAUSES_KEPT = 20_000
"""Causes of alerts remembered (beyond it the memory starts again)."""
RECENT_INCIDENTS = 5
"""Newest incidents of a centre read for the end of the key's last one."""
FLOOD_READ_MAX = 1000
"""Most alerts of one key read back to count a flood (a flood is far smaller)."""
EXPIRE_EVERY = timedelta(seconds=10)
"""How often ``expire`` looks for quiet incidents (an incident may end up to this late)."""
INCIDENT_STEP = "incident.supervisor"
"""Name of the one escalation step that tells the supervisors of an incident."""


@dataclass(frozen=True, slots=True)
class FloodRules:
    threshold: int = 20
    """Alerts of one kind and cause, across homes, that make a flood."""
    window_s: float = 120.0
    """… raised within this many seconds of each other."""
    quiet_s: float = 600.0
    """The incident ends this long after its last member joined."""
    kinds: frozenset[AlertKind] = frozenset({AlertKind.DEVICE_OFFLINE})
    """Kinds that may be grouped (never the safety of a person, e.g. ``sos``)."""

    @classmethod
    def parse_kinds(cls, text: str) -> frozenset[AlertKind]:
        """``device_offline,battery_low`` → the kinds; ValueError names a bad one."""
        kinds: set[AlertKind] = set()
        for name in (p.strip() for p in text.split(",")):
            if not name:
                continue
            try:
                kinds.add(AlertKind(name))
            except ValueError:
                raise ValueError(f"{name!r} is not an alert kind") from None
        if AlertKind.SOS in kinds:
            raise ValueError("sos alerts are never grouped into an incident")
        return frozenset(kinds)


def cause_of(finding: Finding) -> str:
    """What made the alert, as far as grouping goes (the detector's ``by``; its
    alert keeps it in the details of its ``raised`` timeline entry)."""
    return _by(finding.details)


def _by(details: dict[str, Any]) -> str:
    by = details.get("by")
    return by if isinstance(by, str) else ""


_Key = tuple[str, str, str]
"""(organisation, kind, cause)"""


class FloodGuard:
    """Groups floods of alerts into incidents; see the module docstring."""

    def __init__(
        self, store: Store, clock: Clock, bus: AlertBus, metrics: Metrics, rules: FloodRules
    ) -> None:
        self.store = store
        self.clock = clock
        self.bus = bus
        self.metrics = metrics
        self.rules = rules
        self._checked: datetime | None = None
        self._causes: dict[int, str] = {}
        """Alert id -> cause: of the alerts raised here, and of others once read."""

    async def on_alert(self, alert: Alert, finding: Finding, created: bool) -> bool:
        """Called for every raised or repeated alert before its ladder is written;
        True if the alert is (now) a member of an incident: hold its ladder back."""
        if alert.kind not in self.rules.kinds or self.rules.threshold < 1:
            return False
        if not created:
            return await self.store.incident_of_alert(alert.id) is not None
        key = (await alert_organisation(self.store, alert), alert.kind.value, cause_of(finding))
        if len(self._causes) >= CAUSES_KEPT:
            self._causes.clear()
        self._causes[alert.id] = key[2]
        at = alert.raised_at
        incident, last_ended = await self._current(key, at)
        if incident is not None:
            await self._join(incident, [alert], at)
            return True
        members = await self._recent(key, at, last_ended)
        if alert.id not in {a.id for a in members}:
            members.append(alert)
        if len(members) < self.rules.threshold:
            return False
        await self._open_incident(key, members, at)
        return True

    async def hold(self, alert: Alert) -> None:
        """Cancel the member's own escalation steps (its ladder was just written)."""
        await self.store.cancel_steps(alert.id, None, self.clock.now())

    async def expire(self, now: datetime | None = None) -> list[Incident]:
        """End the open incidents quiet for ``quiet_s``; return those ended (the
        service's tick calls it, so an incident ends even when no alert comes)."""
        now = now or self.clock.now()
        if self._checked is not None and timedelta(0) <= now - self._checked < EXPIRE_EVERY:
            return []  # the pipeline ticks after every batch: look at most every 10 s
        self._checked = now
        quiet = timedelta(seconds=self.rules.quiet_s)
        ended: list[Incident] = []
        for incident in await self.store.list_incidents(None, open_only=True, limit=1000):
            if incident.last_member_at + quiet <= now:
                ended.append(await self.end(incident.id, incident.last_member_at + quiet, None))
        return ended

    async def end(self, incident_id: int, at: datetime, actor: str | None) -> Incident:
        incident = await self.store.end_incident(incident_id, at, actor)
        log.info(
            "incident %s ended (%s members)%s",
            incident.id,
            incident.members,
            f" by {actor}" if actor else "",
            extra={"incident_id": incident.id},
        )
        self.metrics.inc("eldercare_incidents_ended_total", kind=incident.kind)
        return incident

    # --- inside ---------------------------------------------------------------------
    async def _current(self, key: _Key, at: datetime) -> tuple[Incident | None, datetime | None]:
        """The key's open incident (read from the store: another process may have
        opened or ended it), and when its last incident ended."""

        def mine(found: list[Incident]) -> list[Incident]:
            return [i for i in found if (i.kind, i.cause) == key[1:]]

        quiet = timedelta(seconds=self.rules.quiet_s)
        for incident in mine(await self.store.list_incidents(key[0], open_only=True, limit=100)):
            if incident.last_member_at + quiet > at:
                return incident, None
            await self.end(incident.id, incident.last_member_at + quiet, None)
        # the newest incidents of the centre (its members are not counted again)
        recent = mine(await self.store.list_incidents(key[0], limit=RECENT_INCIDENTS))
        ended = [i.ended_at for i in recent if i.ended_at is not None]
        return None, max(ended) if ended else None

    async def _recent(self, key: _Key, at: datetime, last_ended: datetime | None) -> list[Alert]:
        """The key's alerts raised within the window before ``at``, by any process,
        and not before its last incident ended (those are its members, or came
        after it)."""
        since = at - timedelta(seconds=self.rules.window_s)
        if last_ended is not None and last_ended > since:
            since = last_ended
        found = await self.store.list_alerts(
            AlertFilter(
                kind=[AlertKind(key[1])],
                since=since,
                organisation_id=key[0],
                limit=FLOOD_READ_MAX,
            )
        )
        mine = [a for a in found if a.raised_at <= at and await self._cause(a) == key[2]]
        # oldest first: the first member carries the supervisors' step (the new alert's
        # own steps are cancelled once its ladder is written: alerts/service.py)
        return sorted(mine, key=lambda a: a.id)

    async def _cause(self, alert: Alert) -> str:
        """The cause of an alert raised here or by another process (its timeline)."""
        if alert.id not in self._causes:
            raised = [e for e in await self.store.get_timeline(alert.id) if e.event == "raised"]
            self._causes[alert.id] = _by(raised[0].details) if raised else ""
        return self._causes[alert.id]

    async def _open_incident(self, key: _Key, members: list[Alert], at: datetime) -> None:
        incident, opened = await self.store.open_incident(
            key[0], key[1], key[2], min(a.raised_at for a in members)
        )
        await self._join(incident, members, at)
        if not opened:  # another process opened it a moment ago and told the supervisors
            return
        lead = members[0]
        await self.store.add_steps(
            [
                EscalationStep(
                    alert_id=lead.id,
                    name=INCIDENT_STEP,
                    round=0,
                    due_at=self.clock.now(),
                    action="sms",
                    target="supervisors",
                    unless="none",
                    message=f"incident:{incident.id}:{len(members)}",
                )
            ]
        )
        self.metrics.inc("eldercare_incidents_opened_total", kind=key[1])
        log.error(
            "incident %s opened: %s %s alerts (%s) within %s s in organisation %s;"
            " their family SMS are held back",
            incident.id,
            len(members),
            key[1],
            key[2] or "any cause",
            self.rules.window_s,
            key[0],
            extra={"incident_id": incident.id, "kind": key[1]},
        )

    async def _join(self, incident: Incident, members: Iterable[Alert], at: datetime) -> None:
        alerts = list(members)
        await self.store.add_incident_members(incident.id, [a.id for a in alerts], at)
        now = self.clock.now()
        for alert in alerts:
            await self.hold(alert)
            await self.store.add_timeline(
                TimelineEntry(alert.id, now, "grouped", None, {"incident": incident.id})
            )
            self.bus.publish("grouped", alert)
