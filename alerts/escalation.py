"""The escalation engine: every alert's ladder as rows with a due time.

``EscalationEngine`` is what ``AlertService`` calls when an alert is raised or
moves (``schedule``, ``on_status``), what the composition root runs as a loop
(``run``, which calls ``run_due`` every second or when woken), and what the
Twilio webhooks call (``on_delivery_status``, ``on_family_reply``: it is the
``DeliveryEvents`` of ``alerts/channels.py``). Time comes from the injected
Clock; ``run_due(now)`` replays a whole ladder in milliseconds in tests.

How a step runs, so that a restart neither skips nor repeats one:

1. claim: due rows are claimed for a lease (PostgreSQL ``FOR UPDATE SKIP
   LOCKED``: two instances never claim the same row); a claim whose worker died
   is taken over when the lease ends.
2. plan: the step's recipients are written as sends, one per person, keyed
   ``a{alert}.{step}.r{round}.{recipient}`` (the same on every attempt).
3. send: each planned send is moved to ``sending`` by compare-and-set in the
   store *before* the provider is called, then to ``sent`` / ``failed`` with the
   provider's id and status.
4. finish: the next round of a repeating step is added, the step marked done.

What people get: every text is made when its step runs, from the alert as it
is then (alerts/escalation_texts.py). A step never sends one number an SMS it
already got for the same alert (the one contact of a home, at +60 s, again):
that message is skipped, and the step's ``escalated`` timeline entry lists it
under ``skipped`` with the reason. After resolution the engine adds one more
step, ``all_clear`` (a row like the others, so it is sent once across restarts
and instances): the outcome to every family contact the alert reached. Should
the process die between the resolve and that row, the alert's next step that
comes due finds it resolved and adds the row then.

The guarantee: a key reaches the provider at most once. A send still
``planned`` after a crash was never given to the provider and is sent on
recovery; one left in ``sending`` (the process died during the provider call)
may or may not have gone out: it is not sent again, but marked ``unknown`` on
the timeline for staff to see. Timeline entries of a resumed step may repeat;
messages never do.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from alerts.channels import ChannelError, Outbound, Receipt, SmsChannel, VoiceChannel
from alerts.escalation_events import DeliveryEventsMixin
from alerts.escalation_people import (
    alert_context,
    notified_family,
    reached,
    recipients,
)
from alerts.escalation_texts import AlertContext, message_text, summary_text
from alerts.events import AlertBus
from alerts.policy import ALL_CLEAR, Policy, halted, stopped_by
from alerts.provider_limits import SmsLimitGuard
from alerts.sms_templates import template_call
from eldercare.clock import Clock
from eldercare.domain import Alert, AlertStatus, TimelineEntry
from eldercare.metrics import Metrics
from eldercare.priority import Priority
from eldercare.store.base import (
    EscalationSend,
    EscalationStep,
    Store,
    StoreError,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from alerts.standby import Standby

log = logging.getLogger("eldercare.alerts.escalation")


class Escalation(Protocol):
    """What ``AlertService`` needs of the engine (a fake in tests of the service alone)."""

    async def schedule(self, alert: Alert) -> bool: ...
    async def on_status(self, alert: Alert) -> int: ...


class EscalationEngine(DeliveryEventsMixin):
    """Runs the ladders of the policy; see the module docstring for the guarantees."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        bus: AlertBus,
        metrics: Metrics,
        policy: Policy,
        sms: SmsChannel,
        voice: VoiceChannel,
        *,
        care_centre_phone: str,
        default_timezone: str,
        public_url: str | None = None,
        sms_quota_per_hour: int | None = 10,
        worker_id: str | None = None,
        lease_s: float = 60.0,
        batch_size: int = 50,
        priority: Priority | None = None,
        reply_instructions: bool = True,
        sms_limits: SmsLimitGuard | None = None,
    ) -> None:
        self.sms_limits = sms_limits or SmsLimitGuard()
        """The SMS providers' per-number limits (alerts/provider_limits.py)."""
        self.priority = priority or Priority()
        """Runs are urgent work: the gateway's vitals batches wait for them."""
        self.store = store
        self.clock = clock
        self.bus = bus
        self.metrics = metrics
        self.policy = policy
        self.sms = sms
        self.voice = voice
        self.care_centre_phone = care_centre_phone
        self.default_timezone = default_timezone
        self.public_url = public_url.rstrip("/") if public_url else None
        self.sms_quota_per_hour = sms_quota_per_hour
        self.worker_id = worker_id or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.lease_s = lease_s
        self.batch_size = batch_size
        self.reply_instructions = reply_instructions
        """Family texts say how to answer (reply 1 / 收到); off for a provider
        that carries no replies back."""
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.standby: Standby | None = None
        """Set by the composition root: its outage SMS are adopted, not sent twice."""
        self.on_wake: Callable[[], None] | None = None
        """Set by a scale-out worker, whose steps another process sends: told of
        every ``wake`` (eldercare/worker.py)."""

    # --- alerts → ladders -----------------------------------------------------------
    async def schedule(self, alert: Alert) -> bool:
        """Give the alert the ladder of its severity (idempotent; a severity raised
        on a repeat replaces the milder ladder). True if steps were written."""
        if alert.status is AlertStatus.RESOLVED:
            return False
        sev = alert.severity.value
        now = self.clock.now()
        ahead = max(alert.raised_at - now, timedelta(0))  # a device clock ahead of ours
        steps = [
            EscalationStep(
                alert_id=alert.id,
                name=f"{sev}.{spec.name}",
                round=0,
                due_at=spec.due(alert) - ahead,
                action=spec.action,
                target=spec.to,
                unless=spec.unless,
                message=spec.message,
                repeat_every_s=spec.repeat_every_s,
            )
            for spec in self.policy.steps(alert.severity)
        ]
        written = await self.store.schedule_ladder(alert.id, alert.severity, steps, now)
        if written and any(s.due_at <= now for s in steps):
            self.wake()
        return written

    async def on_status(self, alert: Alert) -> int:
        """After a staff (or system) move: cancel the steps it stops; return how many."""
        unless = stopped_by(alert.status)
        if unless == ():
            return 0
        cancelled = await self.store.cancel_steps(alert.id, unless, self.clock.now())
        if alert.status is AlertStatus.RESOLVED:
            await self._schedule_all_clear(alert)
        if cancelled:
            log.info(
                "alert %s %s: %s escalation step(s) stopped",
                alert.id,
                alert.status.value,
                cancelled,
                extra={"alert_id": alert.id, "status": alert.status.value},
            )
        return cancelled

    async def _schedule_all_clear(self, alert: Alert) -> None:
        """The closing SMS as a step row (unique per alert: written once, sent once)."""
        if not (self.policy.all_clear and self.policy.reaches_family(alert.severity)):
            return
        now = self.clock.now()
        step = EscalationStep(
            alert_id=alert.id,
            name=ALL_CLEAR,
            round=0,
            due_at=now,
            action=ALL_CLEAR,
            target="notified",
            unless="none",
            message=ALL_CLEAR,
        )
        if await self.store.add_steps([step]):
            self.wake()

    async def reconcile(self, limit: int = 100) -> int:
        """Schedule alerts that have no ladder (raised while scheduling failed)."""
        found = await self.store.list_alerts_without_ladder(limit)
        for alert in found:
            await self.schedule(alert)
        return len(found)

    # --- the scheduler --------------------------------------------------------------
    def wake(self) -> None:
        """Run due steps now instead of at the next tick (a new critical alert)."""
        self._wake.set()
        if self.on_wake is not None:
            self.on_wake()

    def stop(self) -> None:
        """Make ``run`` return after the steps under way (the rest wait in the store)."""
        self._stop.set()
        self._wake.set()

    async def run(self, interval_s: float = 1.0, reconcile_every_s: float = 30.0) -> None:
        """Call ``run_due`` every ``interval_s`` (or when woken) until ``stop()``."""
        loop = asyncio.get_running_loop()
        last_reconcile = -reconcile_every_s
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if loop.time() - last_reconcile >= reconcile_every_s:
                    last_reconcile = loop.time()
                    await self.reconcile()
                await self.run_due()
            except StoreUnavailable as exc:  # an outage: one line a tick, no traceback
                log.error("escalation run failed: %s; next tick retries", exc)
            except StoreError:
                log.exception("escalation run failed: the store did not answer; next tick retries")
            except Exception:  # the loop must outlive any one bad step
                log.exception("escalation run failed; next tick retries")
            if self._stop.is_set():
                break
            try:
                async with asyncio.timeout(interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def run_due(self, now: datetime | None = None) -> int:
        """Run every step due at ``now`` (default: the clock's now); return how many ran."""
        async with self.priority.urgent():
            return await self._run_due(now or self.clock.now())

    async def _run_due(self, now: datetime) -> int:
        ran = 0
        while True:
            steps = await self.store.claim_due_steps(
                now, self.worker_id, self.batch_size, self.lease_s
            )
            if not steps:
                return ran
            # One alert's steps in due order, one after the other: two of them due at
            # once (after an outage or a long stop) must see each other's sends, or
            # both text the same number. Different alerts run side by side.
            per_alert: dict[int, list[EscalationStep]] = {}
            for step in sorted(steps, key=lambda s: (s.due_at, s.id or 0)):
                per_alert.setdefault(step.alert_id, []).append(step)
            async with asyncio.TaskGroup() as tg:
                for alert_steps in per_alert.values():
                    tg.create_task(self._run_steps_in_order(alert_steps, now))
            ran += len(steps)
            if len(steps) < self.batch_size:
                return ran

    async def _run_steps_in_order(self, steps: list[EscalationStep], now: datetime) -> None:
        for step in steps:
            await self._run_step_isolated(step, now)

    async def _run_step_isolated(self, step: EscalationStep, now: datetime) -> None:
        try:
            await self._run_step(step, now)
        except Exception:  # left claimed: taken over again when its lease ends
            log.exception(
                "escalation step %s of alert %s failed; it is retried when its lease ends",
                step.name,
                step.alert_id,
                extra={"alert_id": step.alert_id, "step": step.name},
            )
            self.metrics.inc("eldercare_escalation_steps_total", step=step.name, result="error")

    async def _run_step(self, step: EscalationStep, now: datetime) -> None:
        assert step.id is not None
        alert = await self.store.get_alert(step.alert_id)
        if halted(step.action, step.unless, alert.status):
            await self.store.finish_step(step.id, "skipped", self.clock.now())
            self.metrics.inc("eldercare_escalation_steps_total", step=step.name, result="skipped")
            if alert.status is AlertStatus.RESOLVED and step.action != ALL_CLEAR:
                # A resolve whose process died before it wrote the all-clear's row
                # (or left this step uncancelled): the next step that comes due adds it.
                await self._schedule_all_clear(alert)
            return
        if step.action == "breach":
            await self._breach(alert, step)
        # Independent reads at once: the first SMS of an alert waits on the round
        # trips before it, each of them a turn of a busy event loop.
        ctx, people, stops, earlier = await asyncio.gather(
            alert_context(
                self.store,
                alert,
                self.default_timezone,
                self.care_centre_phone,
                reply_hint=self.reply_instructions,
            ),
            recipients(self.store, alert, step.target, self.policy.supervisor_language, now),
            self.store.list_escalation_stops(alert.id),
            self.store.list_sends(alert.id),
        )
        if step.target == "notified":
            people = notified_family(earlier)
        channel = "voice" if step.action == "voice" else "sms"
        planned = [
            EscalationSend(
                key=f"a{alert.id}.{step.name}.r{step.round}.{r.key}",
                alert_id=alert.id,
                step_id=step.id,
                channel=channel,
                recipient=r.key,
                recipient_kind=r.kind,
                to_phone=r.phone,
                language=r.language,
                body=message_text(
                    self.sms_limits.texts_for(ctx, self.sms, r.phone, r.kind),
                    step.message,
                    r.kind,
                    channel,
                    r.language,
                    r.phone,
                    step.due_at,
                ),
                contact_id=r.contact_id,
            )
            for r in people
        ]
        sends = await self.store.plan_sends(planned, self.clock.now())
        if self.standby is not None:  # what went out while the store was away is not resent
            sends = await self.standby.adopt(alert, step, sends)
        # What each number already got (sms): a text it has is not sent to it again.
        # (A send that went out as the quota's summary did not carry its own text.)
        texts_had: dict[tuple[str, str], str] = {}
        for s in earlier:
            if s.channel == "sms" and s.quota == "normal" and reached(s):
                texts_had.setdefault((s.to_phone, s.body), s.key)
        results: list[str] = []
        skipped: list[dict[str, Any]] = []
        for send in sends:
            had = texts_had.get((send.to_phone, send.body)) if send.channel == "sms" else None
            if had is not None and had != send.key and send.state == "planned":
                results.append(await self._skip_repeat(send, had, skipped))
                continue
            result = await self._deliver(ctx, step, send, stops, skipped)
            results.append(result)
            if send.channel == "sms" and result in ("sent", "unknown"):
                texts_had.setdefault((send.to_phone, send.body), send.key)
        if step.repeat_every_s:
            await self.store.add_steps([self._next_round(step, now)])
        await self.store.add_timeline(
            TimelineEntry(
                alert.id,
                self.clock.now(),
                ALL_CLEAR if step.action == ALL_CLEAR else "escalated",
                None,
                {
                    "step": step.name,
                    "round": step.round,
                    "severity": alert.severity.value,
                    "action": step.action,
                    "target": step.target,
                    "results": results,
                    **({"skipped": skipped} if skipped else {}),
                    **({} if people or step.target == "none" else {"result": "no recipient"}),
                },
            )
        )
        await self.store.finish_step(step.id, "done", self.clock.now())
        self.metrics.inc("eldercare_escalation_steps_total", step=step.name, result="done")
        if step.action != ALL_CLEAR:  # screens re-alarm on escalated; a closed alert must not
            self.bus.publish("escalated", alert)

    async def _skip_repeat(
        self, send: EscalationSend, had: str, skipped: list[dict[str, Any]]
    ) -> str:
        """The number already got this very text for this alert: do not send it again."""
        await self.store.finish_send(
            send.key, "skipped", self.clock.now(), error=f"same text as {had}"
        )
        skipped.append(_skip(send, "same_text", f"this number already got this text ({had})"))
        self.metrics.inc("eldercare_notifications_total", channel=send.channel, status="repeat")
        return "skipped"

    def _next_round(self, step: EscalationStep, now: datetime) -> EscalationStep:
        assert step.repeat_every_s is not None
        every = timedelta(seconds=step.repeat_every_s)
        due = step.due_at + every
        while due <= now:  # after a long outage: the next round, not a burst of missed ones
            due += every
        return EscalationStep(
            alert_id=step.alert_id,
            name=step.name,
            round=step.round + 1,
            due_at=due,
            action=step.action,
            target=step.target,
            unless=step.unless,
            message=step.message,
            repeat_every_s=step.repeat_every_s,
        )

    async def _breach(self, alert: Alert, step: EscalationStep) -> None:
        await self.store.add_timeline(
            TimelineEntry(
                alert.id,
                self.clock.now(),
                "window_breached",
                None,
                {
                    "round": step.round,
                    "deadline": alert.response_deadline.isoformat(),
                    "status": alert.status.value,
                    "severity": alert.severity.value,
                },
            )
        )
        if step.round == 0:
            self.metrics.inc("eldercare_window_breached_total", severity=alert.severity.value)
            log.error(
                "alert %s: response window breached (nobody on site by %s)",
                alert.id,
                alert.response_deadline.isoformat(),
                extra={"alert_id": alert.id, "kind": alert.kind.value},
            )
        self.bus.publish("window_breached", alert)

    # --- one message ----------------------------------------------------------------
    async def _deliver(
        self,
        ctx: AlertContext,
        step: EscalationStep,
        send: EscalationSend,
        stops: set[str],
        skipped: list[dict[str, Any]],
    ) -> str:
        """Send one planned message (at most once per key); return what happened."""
        if send.state == "sending" and step.attempts > 1:
            # The worker that began it died during the provider call: it may have gone out.
            await self.store.finish_send(send.key, "unknown", self.clock.now(), status="unknown")
            await self._notified(ctx.alert, step, send, "unknown", None, send.body)
            log.error(
                "alert %s: %s to %s may or may not have gone out (crash during the call);"
                " not sent again",
                ctx.alert.id,
                send.channel,
                send.to_phone,
                extra={"alert_id": ctx.alert.id, "step": send.key},
            )
            return "unknown"
        if send.state != "planned":
            return send.state
        all_clear = step.action == ALL_CLEAR
        if send.recipient in stops and not all_clear:  # the all-clear goes to them too
            await self.store.finish_send(send.key, "skipped", self.clock.now(), error="replied")
            skipped.append(_skip(send, "replied", "the contact replied that they are handling it"))
            return "skipped"
        current = await self.store.get_alert(ctx.alert.id)
        if halted(step.action, step.unless, current.status):  # staff acted while the step ran
            await self.store.finish_send(
                send.key, "skipped", self.clock.now(), error=current.status.value
            )
            skipped.append(_skip(send, "status", f"the alert is {current.status.value}"))
            return "skipped"
        # The all-clear is one per alert that reached the person: outside the quota.
        quota = self.sms_quota_per_hour if send.channel == "sms" and not all_clear else None
        decision = await self.sms_limits.begin_send(self, ctx.alert, step, send, quota)
        if decision == "limited":  # a send the provider would reject: something else instead
            return "limited"
        if decision == "skip":
            return "skipped"
        if decision == "suppressed":
            await self._notified(ctx.alert, step, send, "suppressed", None, send.body)
            self.metrics.inc("eldercare_notifications_total", channel=send.channel, status="quota")
            return "suppressed"
        body = summary_text(ctx, send.language) if decision == "summary" else send.body
        template, params = template_call(
            ctx,
            step.message,
            step.unless,
            send.recipient_kind,
            send.channel,
            send.language,
            summary=decision == "summary",
            round=step.round,
        )  # for template-only providers (Aliyun, Tencent); Twilio sends ``body``
        outbound = Outbound(
            alert_id=ctx.alert.id,
            step_key=send.key,
            to=send.to_phone,
            body=body,
            language=send.language,
            recipient_kind=send.recipient_kind,
            contact_id=send.contact_id,
            status_callback=self._callback(send.channel),
            template=template,
            params=params,
        )
        try:
            receipt = await self._call(send.channel, outbound)
        except Exception as exc:
            if not isinstance(exc, ChannelError):
                log.exception("channel %s raised", send.channel, extra={"step": send.key})
            await self.store.finish_send(
                send.key, "failed", self.clock.now(), status="failed", error=str(exc)
            )
            await self._notified(ctx.alert, step, send, "failed", None, body, error=str(exc))
            self.metrics.inc("eldercare_notifications_total", channel=send.channel, status="failed")
            if send.recipient_kind == "family":
                await self._next_contact(ctx.alert, step, send.contact_id)
            return "failed"
        await self.store.finish_send(
            send.key,
            "sent",
            self.clock.now(),
            provider_id=receipt.provider_id,
            status=receipt.status,
        )
        sent_text = receipt.details.get("text", body)  # a template provider's rendered text
        await self._notified(
            ctx.alert,
            step,
            send,
            receipt.status,
            receipt.provider_id,
            sent_text,
            via=receipt.details.get("via"),
        )
        self.metrics.inc("eldercare_notifications_total", channel=send.channel, status="ok")
        return "summary" if decision == "summary" else "sent"

    async def _call(self, channel: str, outbound: Outbound) -> Receipt:
        if channel == "voice":
            return await self.voice.call(outbound)
        return await self.sms.send_sms(outbound)

    def _callback(self, channel: str) -> str | None:
        if self.public_url is None:
            return None
        return f"{self.public_url}/twilio/{'voice' if channel == 'voice' else 'sms'}/status"

    async def _notified(
        self,
        alert: Alert,
        step: EscalationStep,
        send: EscalationSend,
        status: str,
        provider_id: str | None,
        text: str,
        *,
        error: str | None = None,
        via: str | None = None,
    ) -> None:
        details: dict[str, Any] = {
            # ``via``: the channel a router (alerts/sms_routing.py) chose for this person
            "channel": via or (self.voice.name if send.channel == "voice" else self.sms.name),
            "kind": send.channel,
            "recipient": send.to_phone,
            "recipient_kind": send.recipient_kind,
            "contact_id": send.contact_id,
            "provider_id": provider_id,
            "status": status,
            "text": text,
            "step": step.name,
            "key": send.key,
        }
        if error is not None:
            details["error"] = error
        await self.store.add_timeline(
            TimelineEntry(alert.id, self.clock.now(), "notified", None, details)
        )
        self.bus.publish("notified", alert)

    async def _next_contact(
        self, alert: Alert, step: EscalationStep, failed_contact: int | None
    ) -> None:
        """A single-contact step whose message failed: the same step to the next contact."""
        if not (step.target == "family_first" or step.target.startswith("contact:")):
            return
        contacts = await self.store.list_contacts(alert.home_id)
        ids = [c.id for c in contacts]
        at = ids.index(failed_contact) + 1 if failed_contact in ids else len(ids)
        base = step.name.split("+", 1)[0]
        if at >= len(contacts):
            await self.store.add_timeline(
                TimelineEntry(
                    alert.id,
                    self.clock.now(),
                    "escalated",
                    None,
                    {"step": base, "round": step.round, "result": "no further contact"},
                )
            )
            return
        nxt = contacts[at]
        await self.store.add_steps(
            [
                EscalationStep(
                    alert_id=alert.id,
                    name=f"{base}+c{nxt.id}",
                    round=step.round,
                    due_at=self.clock.now(),
                    action=step.action,
                    target=f"contact:{nxt.id}",
                    unless=step.unless,
                    message=step.message,
                )
            ]
        )
        self.wake()


def _skip(send: EscalationSend, reason: str, why: str) -> dict[str, Any]:
    """One skipped message as the step's timeline entry lists it."""
    return {
        "recipient": send.to_phone,
        "recipient_kind": send.recipient_kind,
        "contact_id": send.contact_id,
        "key": send.key,
        "reason": reason,
        "why": why,
    }
