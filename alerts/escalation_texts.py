"""What each escalation message says, by step message, recipient and channel.

The wordings live in ``alerts/messages.py`` (one place for every text a person
receives); this module only picks the right one. Families only ever get the
alert text (or its voice form) and the window-breached text: nothing about
staff internals reaches them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alerts import messages
from eldercare.domain import Alert

HANDLING_REPLIES = frozenset({"1", "ok", "收到"})
"""CONTRACT.md §4: a family reply meaning "I have seen it, I am handling it"."""


@dataclass(frozen=True, slots=True)
class AlertContext:
    """What the texts of one alert need: who it is about and the home's time zone."""

    alert: Alert
    who: str
    tz: ZoneInfo
    centre_phone: str


def message_text(
    ctx: AlertContext, message: str, recipient_kind: str, channel: str, language: str
) -> str:
    a = ctx.alert
    if message == "window_breached":
        return messages.window_breached_text(
            language, ctx.who, a.kind, a.response_deadline, ctx.tz, ctx.centre_phone
        )
    if recipient_kind == "family":
        if channel == "voice":
            return messages.voice_text(
                language, ctx.who, a.kind, a.raised_at, ctx.tz, ctx.centre_phone
            )
        return messages.alert_text(language, ctx.who, a.kind, a.raised_at, ctx.tz, ctx.centre_phone)
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
