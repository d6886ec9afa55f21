"""What the provider tells the escalation engine later (``DeliveryEvents`` of
``alerts/channels.py``): delivery statuses and family replies. The Twilio
webhooks call these two methods."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from alerts.escalation_people import FAILED_STATUSES
from alerts.escalation_texts import is_handling_reply
from alerts.events import AlertBus
from eldercare.domain import Alert, AlertStatus, TimelineEntry
from eldercare.metrics import Metrics
from eldercare.store.base import AlertFilter, EscalationStep, Store

log = logging.getLogger("eldercare.alerts.escalation")

OPEN = [s for s in AlertStatus if s is not AlertStatus.RESOLVED]


class DeliveryEventsMixin:
    """The engine's webhook side; ``EscalationEngine`` provides the attributes."""

    store: Store
    bus: AlertBus
    metrics: Metrics

    async def _next_contact(
        self, alert: Alert, step: EscalationStep, failed_contact: int | None
    ) -> None:
        raise NotImplementedError

    async def on_delivery_status(
        self, provider_id: str, status: str, at: datetime, details: dict[str, str]
    ) -> None:
        send = await self.store.record_delivery(provider_id, status, at)
        if send is None:
            log.warning("delivery status %s for unknown message %s", status, provider_id)
            self.metrics.inc("eldercare_delivery_unknown_total")
            return
        alert = await self.store.get_alert(send.alert_id)
        await self.store.add_timeline(
            TimelineEntry(
                alert.id,
                at,
                "delivery",
                None,
                {
                    **details,
                    "provider_id": provider_id,
                    "status": status,
                    "recipient": send.to_phone,
                    "recipient_kind": send.recipient_kind,
                    "contact_id": send.contact_id,
                    "kind": send.channel,
                    "key": send.key,
                },
            )
        )
        self.metrics.inc("eldercare_delivery_status_total", channel=send.channel, status=status)
        self.bus.publish("delivery", alert)
        if status in FAILED_STATUSES and send.recipient_kind == "family":
            log.warning(
                "alert %s: %s to %s %s; trying the next contact",
                alert.id,
                send.channel,
                send.to_phone,
                status,
                extra={"alert_id": alert.id, "step": send.key},
            )
            step = await self.store.get_step(send.step_id)
            await self._next_contact(alert, step, send.contact_id)

    async def on_family_reply(self, from_phone: str, body: str, at: datetime) -> None:
        contacts = await self.store.find_contacts_by_phone(from_phone)
        handling = is_handling_reply(body)
        if not contacts:
            log.warning("SMS from %s, who is no family contact: %r", from_phone, body)
            self.metrics.inc("eldercare_family_replies_total", known="no")
            return
        self.metrics.inc("eldercare_family_replies_total", known="yes")
        for contact in contacts:
            for alert in await self._open_alerts(contact.home_id):
                await self.store.add_timeline(
                    TimelineEntry(
                        alert.id,
                        at,
                        "family_reply",
                        None,
                        {
                            "phone": from_phone,
                            "body": body,
                            "contact_id": contact.id,
                            "contact_name": contact.name,
                            "handling": handling,
                        },
                    )
                )
                if handling:
                    await self.store.add_escalation_stop(alert.id, f"c{contact.id}", at)
                log.info(
                    "alert %s: %s replied %r",
                    alert.id,
                    contact.name,
                    body,
                    extra={"alert_id": alert.id, "contact_id": contact.id},
                )
                self.bus.publish("family_reply", alert)

    async def on_call_keypress(self, provider_id: str, digits: str, at: datetime) -> None:
        send = await self.store.find_send(provider_id)
        if send is None or send.channel != "voice" or send.recipient_kind != "family":
            log.warning("key %r pressed in unknown call %s", digits, provider_id)
            return
        handling = digits.strip() == "1"
        contact = None
        if send.contact_id is not None:
            contact = next(
                (c for c in await self.store.find_contacts_by_phone(send.to_phone)
                 if c.id == send.contact_id),
                None,
            )  # fmt: skip
        alert = await self.store.get_alert(send.alert_id)
        await self.store.add_timeline(
            TimelineEntry(
                alert.id,
                at,
                "family_reply",
                None,
                {
                    "phone": send.to_phone,
                    "body": digits,
                    "via": "voice",
                    "provider_id": provider_id,
                    "contact_id": send.contact_id,
                    "contact_name": contact.name if contact else None,
                    "handling": handling,
                },
            )
        )
        if handling:
            await self.store.add_escalation_stop(alert.id, send.recipient, at)
        self.metrics.inc("eldercare_family_replies_total", known="yes", via="voice")
        log.info(
            "alert %s: %s pressed %r in a call",
            alert.id,
            send.to_phone,
            digits,
            extra={"alert_id": alert.id, "contact_id": send.contact_id},
        )
        self.bus.publish("family_reply", alert)

    async def _open_alerts(self, home_id: str) -> Sequence[Alert]:
        return await self.store.list_alerts(AlertFilter(status=OPEN, home_id=home_id, limit=500))
