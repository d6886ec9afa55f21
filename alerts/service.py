"""Alerts: findings become alerts; staff actions move them along.

``AlertService`` is the one door to alerts for the pipeline and the API:

- ``handle_finding`` raises or updates the one open alert per (home, subject,
  kind), idempotently (a redelivered reading changes nothing), publishes the
  change to live watchers and gives the alert its escalation ladder
  (``alerts/escalation.py``; a severity raised by a repeat gets the worse ladder).
- While the store is unreachable, findings and clearances go to the standby
  (``alerts/standby.py``): kept in the local spool, and a critical finding is
  shown on the live stream and texted at once; replayed when the store is back.
- ``acknowledge`` / ``dispatch`` / ``arrive`` / ``resolve`` move the status
  forward; an illegal move raises ``IllegalTransition`` with a reason; each
  move stops the escalation steps it ends (acknowledged: the "not acknowledged"
  steps; on site: the "not on site" ones too; resolved: all).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from alerts.escalation import Escalation
from alerts.events import AlertBus
from alerts.incidents import FloodGuard
from alerts.lifecycle import IllegalTransition, check_transition
from alerts.silences import Silences
from eldercare.clock import Clock
from eldercare.domain import (
    Alert,
    AlertChange,
    AlertStatus,
    Clearance,
    Finding,
    Outcome,
    TimelineEntry,
)
from eldercare.metrics import Metrics
from eldercare.store.base import AlertFilter, StatusUpdate, Store, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from alerts.standby import Standby

log = logging.getLogger("eldercare.alerts")


class AlertService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        bus: AlertBus,
        metrics: Metrics,
        *,
        response_window_s: float,
        default_timezone: str,
        care_centre_phone: str,
        escalation: Escalation | None = None,
        floods: FloodGuard | None = None,
        silences: Silences | None = None,
    ) -> None:
        self.floods = floods
        """Groups alarm floods into incidents (alerts/incidents.py); None: never."""
        self.silences = silences
        """Maintenance silences (alerts/silences.py); None: nothing is silenced."""
        self.store = store
        self.clock = clock
        self.bus = bus
        self.escalation = escalation
        """None: alerts reach the care-centre screen only (no SMS, no calls)."""
        self.metrics = metrics
        self.response_window_s = response_window_s
        self.default_timezone = default_timezone
        self.care_centre_phone = care_centre_phone
        self._background: set[asyncio.Task[None]] = set()
        self.standby: Standby | None = None
        """Set by the composition root (PostgreSQL with a spool): where findings go
        while the store is away; None: they wait for the store (the batch is retried)."""

    # --- findings -----------------------------------------------------------------
    async def handle_finding(self, finding: Finding, *, standby: bool = True) -> AlertChange | None:
        """Raise or update the finding's alert. ``standby=False``: never hand it to the
        standby (its own replay), a store error propagates."""
        held = self.standby if standby else None
        if held is not None and held.spool.down:
            await held.hold(finding)
            return None
        try:
            if self.silences is not None and await self.silences.holds(finding) is not None:
                return None
            change = await self.store.record_finding(finding, self.response_window_s)
        except StoreUnavailable as exc:
            if held is None:
                raise
            await held.hold(finding, exc)
            return None
        if change is None:
            return None
        alert = change.alert
        self.metrics.inc(
            "eldercare_alerts_raised_total"
            if change.created
            else "eldercare_alerts_repeated_total",
            kind=alert.kind.value,
            severity=alert.severity.value,
        )
        log.warning(
            "alert %s %s: %s %s at %s",
            alert.id,
            "raised" if change.created else "repeated",
            alert.kind.value,
            alert.severity.value,
            alert.home_id,
            extra={"alert_id": alert.id, "kind": alert.kind.value, "home_id": alert.home_id},
        )
        self.bus.publish("raised" if change.created else "repeated", alert)
        grouped = self.floods is not None and await self.floods.on_alert(
            alert, finding, change.created
        )
        if self.escalation is not None:
            await self.escalation.schedule(alert)  # a durable row per step, before we return
        if grouped and self.floods is not None:
            await self.floods.hold(alert)  # a member of an incident: no ladder of its own
        return change

    async def tick(self) -> None:
        """Time-based work of the alerts (the pipeline's tick): end quiet incidents."""
        if self.floods is not None:
            await self.floods.expire()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for notifications under way (shutdown: flush before close)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def handle_clearance(self, clearance: Clearance, *, standby: bool = True) -> Alert | None:
        """Write the cleared condition on the open alert's timeline; resolve it
        only when ``auto_resolve`` (device conditions). None if no alert is open
        (or the store is away: the standby keeps it)."""
        held = self.standby if standby else None
        if held is not None and held.spool.down:
            await held.hold(clearance)
            return None
        try:
            open_alerts = await self.store.list_alerts(
                AlertFilter(
                    status=[s for s in AlertStatus if s is not AlertStatus.RESOLVED],
                    home_id=clearance.home_id,
                    subject=clearance.subject,
                    kind=[clearance.kind],
                    limit=1,
                )
            )
        except StoreUnavailable as exc:
            if held is None:
                raise
            await held.hold(clearance, exc)
            return None
        if not open_alerts:
            return None
        alert = open_alerts[0]
        await self.store.add_timeline(
            TimelineEntry(alert.id, clearance.at, "cleared", None, {"message": clearance.message})
        )
        self.metrics.inc("eldercare_alerts_cleared_total", kind=alert.kind.value)
        if clearance.auto_resolve:
            return await self._move(
                alert.id,
                AlertStatus.RESOLVED,
                "system",
                outcome=Outcome.HANDLED,
                note=clearance.message,
            )
        self.bus.publish("cleared", alert)
        return alert

    # --- staff actions ------------------------------------------------------------
    async def acknowledge(self, alert_id: int, actor: str) -> Alert:
        return await self._move(alert_id, AlertStatus.ACKNOWLEDGED, actor)

    async def dispatch(self, alert_id: int, actor: str, responder: str) -> Alert:
        return await self._move(alert_id, AlertStatus.DISPATCHED, actor, responder=responder)

    async def arrive(self, alert_id: int, actor: str) -> Alert:
        return await self._move(alert_id, AlertStatus.ON_SITE, actor)

    async def resolve(
        self, alert_id: int, actor: str, outcome: Outcome, note: str | None = None
    ) -> Alert:
        return await self._move(alert_id, AlertStatus.RESOLVED, actor, outcome=outcome, note=note)

    async def _move(
        self,
        alert_id: int,
        wanted: AlertStatus,
        actor: str,
        *,
        responder: str | None = None,
        outcome: Outcome | None = None,
        note: str | None = None,
    ) -> Alert:
        for _ in range(3):  # another operator may move it at the same moment
            current = await self.store.get_alert(alert_id)
            check_transition(alert_id, current.status, wanted, outcome)
            moved = await self.store.set_alert_status(
                StatusUpdate(
                    alert_id=alert_id,
                    expected=current.status,
                    new=wanted,
                    at=self.clock.now(),
                    actor=actor,
                    responder=responder,
                    outcome=outcome,
                    note=note,
                )
            )
            if moved is not None:
                self.metrics.inc("eldercare_alert_transitions_total", status=wanted.value)
                log.info(
                    "alert %s %s by %s",
                    alert_id,
                    wanted.value,
                    actor,
                    extra={"alert_id": alert_id, "actor": actor, "status": wanted.value},
                )
                self.bus.publish(wanted.value, moved)
                if self.escalation is not None:
                    try:
                        await self.escalation.on_status(moved)
                    except StoreError:  # harmless: every step re-checks the status first
                        log.exception("alert %s: could not cancel its escalation steps", alert_id)
                return moved
        latest = await self.store.get_alert(alert_id)
        raise IllegalTransition(
            alert_id, latest.status, wanted, f"alert {alert_id} changed while you acted; reload it"
        )
