"""Outbound channels to families and supervisors: SMS and voice.

The escalation engine (``alerts/escalation*.py``) decides who gets what and
when; a channel only delivers. Implementations: ``ConsoleSms`` (the default
when no Twilio credentials are set), the Twilio channels
(``alerts/twilio_channels.py``), Aliyun and Tencent Cloud
(``alerts/aliyun_channels.py``, ``alerts/tencent_channels.py``) and the choice
between them per contact (``alerts/sms_routing.py``).

Errors::

    ChannelError            delivery could not be started
    ├── PermanentFailure    the provider refused it (bad number, 4xx): do not retry
    └── TemporaryFailure    timeouts, connection errors, 5xx, 429: retried with
                            jittered backoff by the channel itself before it raises
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

log = logging.getLogger("eldercare.alerts.channels")


class ChannelError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PermanentFailure(ChannelError):
    pass


class TemporaryFailure(ChannelError):
    pass


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message (or call) to one person for one escalation step."""

    alert_id: int
    step_key: str
    """Idempotency key of the step and recipient, stable across restarts: the same
    key must never produce two SMS (or calls)."""
    to: str
    """E.164"""
    body: str
    """SMS text, or what the voice call says."""
    language: str = "zh-CN"
    recipient_kind: str = "family"
    """``family`` or ``supervisor``"""
    contact_id: int | None = None
    status_callback: str | None = None
    """Where the provider posts delivery statuses (``{public_url}/twilio/sms/status``)."""
    template: str | None = None
    """For providers that send only registered templates (Aliyun, Tencent): the
    message kind (``alert``, ``repeat``, ``window_breached``, ``summary``…, see
    ``alerts/sms_templates.py``); ``params`` holds its values (who, what, time, phone…)."""
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the provider answered: its id (Twilio SID) and first status."""

    provider_id: str
    status: str
    """queued, sent, delivered, undelivered, failed, printed (console), initiated (voice)…"""
    details: dict[str, str] = field(default_factory=dict)


class SmsChannel(Protocol):
    name: str

    async def send_sms(self, message: Outbound) -> Receipt: ...


class VoiceChannel(Protocol):
    name: str

    async def call(self, message: Outbound) -> Receipt: ...


class DeliveryEvents(Protocol):
    """What the provider tells us later (Twilio webhooks call these).

    Implemented by the escalation engine, which knows which alert, step and
    contact a provider id belongs to."""

    async def on_delivery_status(
        self, provider_id: str, status: str, at: datetime, details: dict[str, str]
    ) -> None:
        """A delivery status (queued, sent, delivered, undelivered, failed, or a call
        status): goes on the alert's timeline as ``delivery``; failed or undelivered
        moves on to the next contact."""
        ...

    async def on_family_reply(self, from_phone: str, body: str, at: datetime) -> None:
        """An inbound SMS: goes on the timeline of that contact's open alerts as
        ``family_reply``; ``1``, ``OK`` or ``收到`` stops repeats to that person."""
        ...

    async def on_call_keypress(self, provider_id: str, digits: str, at: datetime) -> None:
        """A key pressed during a family call (Twilio ``<Gather>``): ``1`` is the voice
        form of the reply ``1``: on the call's alert timeline as ``family_reply``
        (``via: voice``), and it stops repeats of that alert to that person."""
        ...


TIMELINE_EVENTS = {
    "raised": "the alert was made",
    "repeated": "the same condition again (count went up)",
    "cleared": "the condition is over (details.message)",
    "acknowledged": "staff",
    "dispatched": "staff (details.responder)",
    "on_site": "staff",
    "resolved": "staff or system (details.outcome, details.note)",
    "notified": "a message or call went out (details: channel, recipient, recipient_kind, "
    "contact_id, provider_id, status, text, step)",
    "delivery": "a provider status for a message (details: provider_id, status, recipient)",
    "family_reply": "an SMS from a family contact (details: phone, body, contact_id, "
    "contact_name, handling: bool)",
    "escalated": "an escalation step ran (details: step, severity, results; skipped: the "
    "messages it did not send, each with recipient, reason (same_text, replied, status) "
    "and why)",
    "all_clear": "the closing SMS step after resolution ran (details as escalated)",
    "sms_limited": "an SMS not sent because the provider would reject it (details: recipient, "
    "provider, destination, rule, outcome, reason, allowed_at, action; alerts/provider_limits.py)",
    "window_breached": "no one on site by the response deadline",
}
"""Timeline event names shared by the engine, the webhooks and the screen."""


class ConsoleSms:
    """Prints what would be sent: the channel when no Twilio credentials are set."""

    name = "console"

    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    async def send_sms(self, message: Outbound) -> Receipt:
        self.sent.append(message)
        log.info(
            "SMS to %s: %s",
            message.to,
            message.body,
            extra={"alert_id": message.alert_id, "step": message.step_key, "to": message.to},
        )
        return Receipt(f"console-{len(self.sent)}", "printed")

    async def call(self, message: Outbound) -> Receipt:
        self.sent.append(message)
        log.info(
            "voice call to %s: %s",
            message.to,
            message.body,
            extra={"alert_id": message.alert_id, "step": message.step_key, "to": message.to},
        )
        return Receipt(f"console-call-{len(self.sent)}", "printed")
