"""Who an escalation step reaches, and what its texts need to know about the alert."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alerts.escalation_texts import AlertContext
from eldercare.domain import Alert, Contact, Role
from eldercare.store.base import NotFound, Store


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
    store: Store, alert: Alert, default_timezone: str, centre_phone: str
) -> AlertContext:
    """The resident's name (or the home's), and the home's time zone."""
    who, tz_name = alert.home_id, default_timezone
    try:
        home = await store.get_home(alert.home_id)
        who, tz_name = home.name, home.timezone
    except NotFound:
        pass
    if alert.resident_id:
        with contextlib.suppress(NotFound):
            who = (await store.get_resident(alert.resident_id)).name
    try:
        tz = ZoneInfo(tz_name)
    except (KeyError, ValueError):
        tz = ZoneInfo(default_timezone)
    return AlertContext(alert, who, tz, centre_phone)


async def recipients(
    store: Store, alert: Alert, target: str, supervisor_language: str
) -> list[Recipient]:
    """The people of a step target: family contacts by priority, then supervisors
    (users with role supervisor and a phone)."""
    family: list[Contact] = []
    if target in ("family_first", "family_all", "everyone"):
        family = await store.list_contacts(alert.home_id)
        if target == "family_first":
            family = family[:1]
    elif target.startswith("contact:"):
        wanted = int(target.partition(":")[2])
        family = [c for c in await store.list_contacts(alert.home_id) if c.id == wanted]
    out = [Recipient(f"c{c.id}", "family", c.phone, c.language, c.id) for c in family]
    if target in ("supervisors", "everyone"):
        out += [
            Recipient(f"u:{u.username}", "supervisor", u.phone, supervisor_language)
            for u in await store.list_users()
            if u.role is Role.SUPERVISOR and u.phone
        ]
    return out
