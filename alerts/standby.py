"""The alert path while PostgreSQL is away: the screen and the first SMS do not wait.

``Standby`` is what ``AlertService`` turns to when the store is unreachable:

- ``hold(signal)`` keeps a finding or clearance in the local spool
  (``eldercare/spool.py``, on disk before the gateway acknowledges the batch).
  A critical finding (an SOS press, a fall, gas, a leak) is also shown at once:
  a **provisional alert** (negative id, status open) goes out on the live stream
  (SSE) to the care-centre screen, and the first SMS steps of the policy (those
  due at once, e.g. ``critical.family_first``) are sent from a directory of
  homes, residents, contacts and supervisors read from the store beforehand
  (``Directory``, refreshed every ``refresh_s``). Each SMS is recorded in the
  spool as ``sending`` before the provider is called.
- ``run()`` watches the store while the spool holds anything: when the store
  answers, it replays the spooled findings and clearances through
  ``AlertService`` (the stored alert is raised and published as usual, and the
  provisional one is published once more as resolved with change
  ``stored``, so screens drop it), then the spooled batches of readings, dead
  letters and liveness, oldest first.
- ``adopt()`` is called by the escalation engine for every step it plans: an
  SMS the standby already sent to that person for the same finding becomes the
  step's send (``sent``, with the provider's id, on the timeline as
  ``notified`` with ``spooled: true``) instead of a second message. One left
  ``sending`` (the process died during the provider call) is marked
  ``unknown``, as the engine does after its own crashes.

Limits: the per-number quota and the providers' rate limits are not applied to
these first messages (the store keeps their counts); a finding whose alert was
already open before the outage is a repeat, so the message sent for it stays in
the spool until ``SEND_KEEP_S`` and is not adopted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from alerts.channels import ChannelError, Outbound
from alerts.escalation_people import Recipient, alert_context, recipients
from alerts.escalation_texts import message_text
from alerts.events import AlertBus
from alerts.sms_templates import template_call
from eldercare.domain import (
    DEFAULT_ORGANISATION,
    Alert,
    AlertStatus,
    Clearance,
    Contact,
    Finding,
    Home,
    Resident,
    Severity,
    Signal,
    TimelineEntry,
    User,
)
from eldercare.metrics import Metrics
from eldercare.roster import Shift
from eldercare.spool import Spool, SpooledSend, finding_key
from eldercare.store.base import EscalationSend, EscalationStep, NotFound, Store, StoreError

if TYPE_CHECKING:
    from alerts.escalation import EscalationEngine
    from alerts.service import AlertService

log = logging.getLogger("eldercare.alerts.standby")

SEND_KEEP_S = 24 * 3600.0
"""An outage SMS not adopted by an escalation step is forgotten after this long."""
REPLAY_CHUNK = 200
"""Spooled batches replayed per store round (each is one gateway batch)."""
M_HELD = "eldercare_spool_signals_total"
M_PROVISIONAL = "eldercare_provisional_alerts_total"
M_REPLAYED = "eldercare_spool_replayed_total"


class DirectoryCopy:
    """Homes, residents, contacts and supervisors as last read from the store: what
    the first SMS of an alert needs, when the store cannot be asked."""

    def __init__(
        self,
        homes: Sequence[Home] = (),
        residents: Sequence[Resident] = (),
        contacts: Sequence[Contact] = (),
        users: Sequence[User] = (),
    ) -> None:
        self.homes = {h.id: h for h in homes}
        self.residents = {r.id: r for r in residents}
        self.contacts: dict[str, list[Contact]] = {}
        for c in sorted(contacts, key=lambda c: (c.home_id, c.priority, c.id)):
            self.contacts.setdefault(c.home_id, []).append(c)
        self.users = list(users)

    @classmethod
    async def load(cls, store: Store) -> DirectoryCopy:
        homes, residents, contacts, users = await asyncio.gather(
            store.list_homes(), store.list_residents(), store.list_contacts(), store.list_users()
        )
        return cls(homes, residents, contacts, users)

    async def get_home(self, home_id: str, organisation_id: str | None = None) -> Home:
        home = self.homes.get(home_id)
        if home is None or (
            organisation_id is not None and home.organisation_id != organisation_id
        ):
            raise NotFound(f"home {home_id} is not in the directory")
        return home

    async def get_resident(self, resident_id: str, organisation_id: str | None = None) -> Resident:
        resident = self.residents.get(resident_id)
        if resident is None:
            raise NotFound(f"resident {resident_id} is not in the directory")
        return resident

    async def list_contacts(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Contact]:
        if home_id is None:
            return [c for cs in self.contacts.values() for c in cs]
        return list(self.contacts.get(home_id, []))

    async def list_users(self, organisation_id: str | None = None) -> list[User]:
        if organisation_id is None:
            return list(self.users)
        return [u for u in self.users if u.organisation_id == organisation_id]

    async def list_shifts(self, organisation_id: str, ending_after: datetime) -> list[Shift]:
        """The copy keeps no roster: a step texts every supervisor of the centre."""
        return []


class Standby:
    def __init__(
        self,
        spool: Spool,
        store: Store,
        bus: AlertBus,
        metrics: Metrics,
        engine: EscalationEngine | None,
        *,
        response_window_s: float,
        refresh_s: float = 60.0,
        check_s: float = 1.0,
    ) -> None:
        self.spool = spool
        self.store = store
        self.bus = bus
        self.metrics = metrics
        self.engine = engine
        self.response_window_s = response_window_s
        self.refresh_s = refresh_s
        self.check_s = check_s
        self.directory = DirectoryCopy()
        self.directory_at: float | None = None
        """time.monotonic() of the last directory read."""
        self.alerts: AlertService | None = None
        """Set by the composition root: where replayed findings go."""
        self._sending: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._replay_lock = asyncio.Lock()
        for name, kind, text in (
            (
                M_HELD,
                "counter",
                "Findings and clearances kept in the spool while the store was away",
            ),
            (M_PROVISIONAL, "counter", "Provisional alerts shown while the store was away"),
            (M_REPLAYED, "counter", "Spooled rows replayed into the store, by kind"),
        ):
            metrics.describe(name, kind, text)

    # --- the directory ----------------------------------------------------------------
    async def refresh(self) -> bool:
        """Read the directory from the store; False (the old one kept) if it is away."""
        try:
            self.directory = await DirectoryCopy.load(self.store)
        except StoreError as exc:
            log.warning("could not refresh the standby directory: %s", exc)
            return False
        self.directory_at = time.monotonic()
        return True

    def invalidate(self) -> None:
        """The registry changed (API): read the directory again soon."""
        self.directory_at = None
        self._wake.set()

    # --- while the store is away --------------------------------------------------------
    async def hold(self, signal: Signal, exc: BaseException | None = None) -> None:
        """Keep ``signal`` for the store; show and text a critical finding now."""
        if exc is not None:
            self.spool.mark_down(exc)
        await self.spool.put_signal(signal)
        self.metrics.inc(M_HELD, kind="finding" if isinstance(signal, Finding) else "clearance")
        self._wake.set()
        if isinstance(signal, Finding) and signal.severity is Severity.CRITICAL:
            await self._provisional(signal)

    async def _provisional(self, finding: Finding) -> None:
        key = finding_key(finding.home_id, finding.subject, finding.kind.value)
        home = self.directory.homes.get(finding.home_id)
        alert = Alert(
            id=0,
            home_id=finding.home_id,
            subject=finding.subject,
            kind=finding.kind,
            severity=finding.severity,
            status=AlertStatus.OPEN,
            raised_at=finding.at,
            last_seen_at=finding.at,
            response_deadline=finding.at + timedelta(seconds=self.response_window_s),
            count=1,
            message=finding.message,
            device_id=finding.device_id,
            resident_id=finding.resident_id,
            updated_at=finding.at,
            organisation_id=home.organisation_id if home else DEFAULT_ORGANISATION,
        )
        kept = await self.spool.add_provisional(key, alert)
        if kept is None:
            return  # shown and texted already (a redelivery, a repeat)
        self.metrics.inc(M_PROVISIONAL, kind=finding.kind.value)
        log.warning(
            "provisional alert %s: %s %s at %s (the store is away)",
            kept.id,
            kept.kind.value,
            kept.severity.value,
            kept.home_id,
            extra={"alert_id": kept.id, "kind": kept.kind.value, "home_id": kept.home_id},
        )
        self.bus.publish("raised", kept)
        if self.engine is not None:
            task = asyncio.create_task(self._first_texts(key, kept), name="standby-sms")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _first_texts(self, key: str, alert: Alert) -> None:
        engine = self.engine
        assert engine is not None
        for spec in engine.policy.steps(alert.severity):
            if spec.action != "sms" or spec.start != "raised" or spec.after_s > 0:
                continue
            step = f"{alert.severity.value}.{spec.name}"
            ctx = await alert_context(
                self.directory,
                alert,
                engine.default_timezone,
                engine.care_centre_phone,
                reply_hint=engine.reply_instructions,
            )
            people = await recipients(
                self.directory, alert, spec.to, engine.policy.supervisor_language
            )
            for person in people:
                await self._text(key, alert, step, spec.message, spec.unless, ctx, person)

    async def _text(
        self,
        key: str,
        alert: Alert,
        step: str,
        message: str,
        unless: str,
        ctx: Any,
        person: Recipient,
    ) -> None:
        engine = self.engine
        assert engine is not None
        texts = engine.sms_limits.texts_for(ctx, engine.sms, person.phone, person.kind)
        body = message_text(
            texts, message, person.kind, "sms", person.language, person.phone, alert.raised_at
        )
        send = SpooledSend(
            key, alert.raised_at.isoformat(), step, person.key, person.phone, body, "sending"
        )
        if not await self.spool.begin_send(send):
            return
        template, params = template_call(
            ctx, message, unless, person.kind, "sms", person.language, summary=False, round=0
        )
        outbound = Outbound(
            alert_id=alert.id,
            step_key=f"spool.{key}.{step}.{person.key}",
            to=person.phone,
            body=body,
            language=person.language,
            recipient_kind=person.kind,
            contact_id=person.contact_id,
            status_callback=engine._callback("sms"),
            template=template,
            params=params,
        )
        try:
            receipt = await engine.sms.send_sms(outbound)
        except Exception as exc:
            if not isinstance(exc, ChannelError):
                log.exception("channel raised on an outage SMS")
            await self.spool.finish_send(send, "failed", status="failed", error=str(exc))
            log.error("outage SMS to %s failed: %s", person.phone, exc)
            return
        await self.spool.finish_send(
            send,
            "sent",
            provider_id=receipt.provider_id,
            status=receipt.status,
            channel=receipt.details.get("via"),
        )
        self.metrics.inc("eldercare_notifications_total", channel="sms", status="ok")

    async def drain_sends(self) -> None:
        """Wait for the outage texts under way (shutdown)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    # --- the escalation engine's side ---------------------------------------------------
    async def adopt(
        self, alert: Alert, step: EscalationStep, sends: list[EscalationSend]
    ) -> list[EscalationSend]:
        """Sends of ``step`` that an outage SMS already covered, marked as such."""
        if not self.spool.sends or step.round != 0 or not any(s.state == "planned" for s in sends):
            return sends
        key = finding_key(alert.home_id, alert.subject, alert.kind.value)
        spooled = {
            (s.step, s.recipient): s
            for s in await self.spool.sends_for(key, alert.raised_at.isoformat())
        }
        if not spooled:
            return sends
        engine = self.engine
        assert engine is not None
        now = engine.clock.now()
        out: list[EscalationSend] = []
        for send in sends:
            done = spooled.get((step.name, send.recipient))
            if done is None or send.state != "planned":
                out.append(send)
                continue
            state = {"sent": "sent", "failed": "failed"}.get(done.state, "unknown")
            status = done.status if state != "unknown" else "unknown"
            await self.store.finish_send(
                send.key, state, now, provider_id=done.provider_id, status=status, error=done.error
            )
            await self.store.add_timeline(
                TimelineEntry(
                    alert.id,
                    now,
                    "notified",
                    None,
                    {
                        "channel": done.channel or engine.sms.name,
                        "kind": "sms",
                        "recipient": send.to_phone,
                        "recipient_kind": send.recipient_kind,
                        "contact_id": send.contact_id,
                        "provider_id": done.provider_id,
                        "status": status,
                        "text": done.body,
                        "step": step.name,
                        "key": send.key,
                        "spooled": True,
                        **({"error": done.error} if done.error else {}),
                    },
                )
            )
            await self.spool.drop_send(done)
            out.append(replace(send, state=state, provider_id=done.provider_id, status=status))
            log.info(
                "alert %s: %s to %s was sent during the outage; not sent again",
                alert.id,
                step.name,
                send.to_phone,
                extra={"alert_id": alert.id, "step": send.key},
            )
        self.bus.publish("notified", alert)
        return out

    # --- recovery -----------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Until stop(): refresh the directory; replay the spool when the store is back."""
        await self.spool.prune_sends(SEND_KEEP_S)
        while not self._stop.is_set():
            if self.spool.down or self.spool.batches or self.spool.signals:
                await self.replay()
            due = self.directory_at is None or time.monotonic() - self.directory_at > self.refresh_s
            if due and not self.spool.down:
                await self.refresh()
            self._wake.clear()
            wait = self.check_s if self.spool.active or self.spool.signals else self.refresh_s
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def replay(self) -> bool:
        """Replay the spool if the store answers; True when it is empty afterwards."""
        async with self._replay_lock:
            try:
                await asyncio.wait_for(self.store.ping(), timeout=2.0)
            except (StoreError, TimeoutError, OSError) as exc:
                self.spool.mark_down(exc)
                return False
            self.spool.mark_up()
            try:
                await self._replay_signals()
                while self.spool.batches:
                    if not await self._replay_batches():
                        break
            except StoreError as exc:
                self.spool.mark_down(exc)
                return False
            return not (self.spool.batches or self.spool.signals)

    async def _replay_signals(self) -> None:
        alerts = self.alerts
        assert alerts is not None
        provisional = dict(await self.spool.list_provisional())
        while True:
            rows = await self.spool.take_signals(REPLAY_CHUNK)
            if not rows:
                break
            for row_id, signal in rows:
                if isinstance(signal, Clearance):
                    await alerts.handle_clearance(signal, standby=False)
                else:
                    await alerts.handle_finding(signal, standby=False)
                    key = finding_key(signal.home_id, signal.subject, signal.kind.value)
                    shown = provisional.pop(key, None)
                    if shown is not None:
                        self.bus.publish("stored", replace(shown, status=AlertStatus.RESOLVED))
                        await self.spool.drop_provisional(key)
                await self.spool.delete_signals([row_id])
                self.metrics.inc(M_REPLAYED, kind="signal")
        for key, shown in provisional.items():  # its finding was replayed before a crash
            self.bus.publish("stored", replace(shown, status=AlertStatus.RESOLVED))
            await self.spool.drop_provisional(key)

    async def _replay_batches(self) -> bool:
        batches = await self.spool.take_batches(REPLAY_CHUNK)
        if not batches:
            self.spool.batches = 0
            return False
        for batch in batches:
            if batch.readings:
                await self.store.insert_readings(batch.readings)
            if batch.dead:
                await self.store.insert_dead_letters(batch.dead)
            if batch.liveness:
                await self.store.update_liveness(batch.liveness)
            await self.spool.delete_batches([batch.id])
            self.metrics.inc(M_REPLAYED, kind="batch")
        log.info("replayed %d spooled batches into the store", len(batches))
        return True
