"""Who an escalation step reaches, and what its texts need to know about the alert."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from alerts.escalation_texts import AlertContext
from alerts.sms_names import safe_name
from eldercare.domain import Alert, Contact, Home, Resident, Role, User
from eldercare.roster import Shift
from eldercare.store.base import EscalationSend, NotFound
from eldercare.tenancy import alert_organisation

FAILED_STATUSES = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled"})
"""Provider statuses of a message or call that did not reach the person."""
REACHED_STATES = frozenset({"sending", "sent", "unknown"})
"""Send states where the provider was (or may have been) given the message."""


class Directory(Protocol):
    """What the texts and recipients of a step read: the store, or the standby's
    copy of it while the store is away (``alerts/standby.py``)."""

    async def get_home(self, home_id: str, organisation_id: str | None = None) -> Home: ...
    async def get_resident(
        self, resident_id: str, organisation_id: str | None = None
    ) -> Resident: ...
    async def list_contacts(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Contact]: ...
    async def list_users(self, organisation_id: str | None = None) -> list[User]: ...
    async def list_shifts(self, organisation_id: str, ending_after: datetime) -> list[Shift]: ...


@dataclass(frozen=True, slots=True)
class Recipient:
    key: str
    """``c<contact id>`` or ``u:<username>``"""
    kind: str
    """family or supervisor"""
    phone: str
    language: str
    contact_id: int | None = None


async def alert_context(
    store: Directory,
    alert: Alert,
    default_timezone: str,
    centre_phone: str,
    *,
    reply_hint: bool = True,
) -> AlertContext:
    """The resident's name (or the home's), made safe for an SMS, and the home's
    time zone."""
    who, tz_name = alert.home_id, default_timezone
    try:
        home = await store.get_home(alert.home_id)
        who, tz_name = safe_name(home.name) or who, home.timezone
    except NotFound:
        pass
    if alert.resident_id:
        with contextlib.suppress(NotFound):
            who = safe_name((await store.get_resident(alert.resident_id)).name) or who
    try:
        tz = ZoneInfo(tz_name)
    except (KeyError, ValueError):
        tz = ZoneInfo(default_timezone)
    return AlertContext(alert, who, tz, centre_phone, reply_hint)


def reached(send: EscalationSend) -> bool:
    """The message (or call) went, or may have gone, to the person and did not fail."""
    return send.state in REACHED_STATES and send.status not in FAILED_STATUSES


def notified_family(sends: Sequence[EscalationSend]) -> list[Recipient]:
    """Family contacts an alert's messages reached (for the all-clear), one per
    contact, with the phone and language of the latest message; in order of first
    contact."""
    people: dict[str, Recipient] = {}
    for s in sends:
        if s.recipient_kind != "family" or ".all_clear." in s.key or not reached(s):
            continue
        people[s.recipient] = Recipient(s.recipient, "family", s.to_phone, s.language, s.contact_id)
    return list(people.values())


async def recipients(
    store: Directory,
    alert: Alert,
    target: str,
    supervisor_language: str,
    at: datetime | None = None,
) -> list[Recipient]:
    """The people of a step target: family contacts by priority, then supervisors
    (users of the alert's organisation with role supervisor and a phone; those on
    duty at ``at`` when the roster has any)."""
    family: list[Contact] = []
    organisation = await alert_organisation(store, alert)
    if target in ("family_first", "family_all", "everyone"):
        family = await store.list_contacts(alert.home_id, organisation)
        if target == "family_first":
            family = family[:1]
    elif target.startswith("contact:"):
        wanted = int(target.partition(":")[2])
        contacts = await store.list_contacts(alert.home_id, organisation)
        family = [c for c in contacts if c.id == wanted]
    out = [Recipient(f"c{c.id}", "family", c.phone, c.language, c.id) for c in family]
    if target in ("supervisors", "everyone"):  # of the alert's care centre only
        out += [
            Recipient(f"u:{u.username}", "supervisor", u.phone, supervisor_language)
            for u in await supervisors(store, organisation, at)
            if u.phone
        ]
    return out


async def supervisors(store: Directory, organisation: str, at: datetime | None) -> list[User]:
    """The supervisors (with a phone) of the centre on duty at ``at`` (the roster,
    Issue 15 item 2); every supervisor of the centre when none of them is on duty
    or ``at`` is not given."""
    everyone = [
        u for u in await store.list_users(organisation) if u.role is Role.SUPERVISOR and u.phone
    ]
    if at is None:
        return everyone
    on_duty = {s.username for s in await store.list_shifts(organisation, at) if s.covers(at)}
    return [u for u in everyone if u.username in on_duty] or everyone
