"""What each escalation message says, by step message, recipient and channel.

The wordings live in ``alerts/messages.py`` (one place for every text a person
receives); this module only picks the right one. Families only ever get the
alert text (or its voice form), the window-breached text and the all-clear:
nothing about staff internals reaches them. Each text is made when its step
runs, from the alert as it is then, so it says what is true at that moment
(Issue 18 item 2).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts import messages
from eldercare.domain import Alert, Outcome

HANDLING_REPLIES = frozenset({"1", "ok", "收到"})
"""CONTRACT.md §4: a family reply meaning "I have seen it, I am handling it"."""


@dataclass(frozen=True, slots=True)
class AlertContext:
    """What the texts of one alert need: who it is about and the home's time zone."""

    alert: Alert
    who: str
    tz: ZoneInfo
    centre_phone: str
    reply_hint: bool = True
    """Family texts say how to answer (reply 1); False where the provider carries
    no replies back."""


def message_text(
    ctx: AlertContext,
    message: str,
    recipient_kind: str,
    channel: str,
    language: str,
    to_phone: str | None = None,
    as_of: datetime | None = None,
) -> str:
    """The text of one message of a step (``to_phone``: who hears a voice call;
    ``as_of``: when the step is due, so a repeated breach says how late it is now)."""
    a = ctx.alert
    reply = recipient_kind == "family" and ctx.reply_hint
    if message.startswith("incident:"):  # alerts/incidents.py: incident:<id>:<members>
        _, incident_id, members = message.split(":")
        return messages.incident_text(
            language, a.kind, a.raised_at, ctx.tz, int(incident_id), int(members)
        )
    if message == "all_clear":
        outcome = a.outcome or Outcome.HANDLED
        return messages.all_clear_text(
            language, ctx.who, a.kind, a.raised_at, ctx.tz, outcome, ctx.centre_phone
        )
    if message == "window_breached":
        return messages.window_breached_text(
            language,
            ctx.who,
            a.kind,
            max(a.response_deadline, as_of or a.response_deadline),
            ctx.tz,
            ctx.centre_phone,
            a.status,
            reply=reply,
        )
    if recipient_kind == "family":
        if channel == "voice":
            return messages.voice_text(
                language,
                ctx.who,
                a.kind,
                a.raised_at,
                ctx.tz,
                ctx.centre_phone,
                a.status,
                listener=to_phone,
            )
        return messages.alert_text(
            language, ctx.who, a.kind, a.raised_at, ctx.tz, ctx.centre_phone, a.status, reply=reply
        )
    if message == "window_warning":
        return messages.window_warning_text(
            language, ctx.who, a.kind, a.response_deadline, ctx.tz, a.id
        )
    return messages.supervisor_text(
        language, ctx.who, a.kind, a.raised_at, ctx.tz, a.id, not_on_site=message == "not_on_site"
    )


def summary_text(ctx: AlertContext, language: str) -> str:
    """The one SMS sent instead of a flood once a phone is past its hourly quota."""
    return messages.storm_summary_text(language, 1, ctx.who, ctx.centre_phone)


def is_handling_reply(body: str) -> bool:
    """``1``, ``OK`` or ``收到``, forgiving case, full-width forms and trailing punctuation."""
    text = unicodedata.normalize("NFKC", body).strip().casefold()
    return text.rstrip(".!。！~ ") in HANDLING_REPLIES
