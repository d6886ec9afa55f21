"""``GET /api/v1/alerts/{id}``: the alert with what a dispatcher needs on one card.

Besides the contract's timeline: the home (address), the resident, the device,
the family contacts with the messages this alert sent them and their replies,
the number of distinct people notified, the detector's details and the
escalation ladder. Read in one request instead of N from the screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from dashboard_api.models import (
    AlertContactRead,
    AlertDetail,
    AlertDeviceRead,
    AlertHomeRead,
    AlertRead,
    AlertResidentRead,
    AlertStepRead,
    FamilyReplyRead,
    TimelineEntryRead,
)
from eldercare.domain import Alert, Contact, Device, Home, Resident, TimelineEntry
from eldercare.store.base import EscalationStep, NotFound, Store

T = TypeVar("T")

NOT_REACHED = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled", "suppressed"})
"""Final message statuses after which a person does not count as notified."""


async def _maybe(lookup: Awaitable[T]) -> T | None:
    try:
        return await lookup
    except NotFound:
        return None


async def _none() -> None:
    return None


async def load_detail(store: Store, alert: Alert, organisation_id: str | None) -> AlertDetail:
    """The registry rows are read within ``organisation_id`` too: a home id that
    another centre took after this alert's home was removed shows nothing of it."""
    org = organisation_id
    timeline, home, resident, device, contacts, steps = await asyncio.gather(
        store.get_timeline(alert.id),
        _maybe(store.get_home(alert.home_id, org)),
        _maybe(store.get_resident(alert.resident_id, org)) if alert.resident_id else _none(),
        _maybe(store.get_device(alert.device_id, org)) if alert.device_id else _none(),
        store.list_contacts(alert.home_id, org),
        store.list_steps(alert.id),
    )
    return build_detail(alert, timeline, home, resident, device, contacts, steps)


def _message_statuses(timeline: Sequence[TimelineEntry]) -> dict[str, tuple[dict[str, Any], str]]:
    """Per message (provider id or idempotency key): its ``notified`` details and
    its newest status (delivery callbacks update it)."""
    messages: dict[str, tuple[dict[str, Any], str]] = {}
    for entry in timeline:
        d = entry.details
        if entry.event == "notified":
            ref = str(d.get("provider_id") or d.get("key") or len(messages))
            messages[ref] = (d, str(d.get("status") or ""))
        elif entry.event == "delivery" and d.get("provider_id") in messages:
            ref = str(d["provider_id"])
            messages[ref] = (messages[ref][0], str(d.get("status") or ""))
    return messages


def build_detail(
    alert: Alert,
    timeline: Sequence[TimelineEntry],
    home: Home | None,
    resident: Resident | None,
    device: Device | None,
    contacts: Sequence[Contact],
    steps: Sequence[EscalationStep],
) -> AlertDetail:
    details: dict[str, Any] = {}
    for entry in timeline:
        if entry.event in ("raised", "repeated"):
            details.update(entry.details)
    messages = _message_statuses(timeline)
    reached = {
        str(d.get("recipient")) for d, status in messages.values() if status not in NOT_REACHED
    }
    return AlertDetail(
        **AlertRead.model_validate(alert).model_dump(),
        timeline=[TimelineEntryRead.model_validate(t) for t in timeline],
        details=details,
        home=_made(AlertHomeRead, home),
        resident=_made(AlertResidentRead, resident),
        device=_made(AlertDeviceRead, device),
        contacts=[_contact(c, timeline, messages) for c in contacts],
        people_notified=len(reached),
        escalation=[
            AlertStepRead(**_fields(s, AlertStepRead))
            for s in sorted(steps, key=lambda s: (s.due_at, s.name, s.round))
        ],
    )


M = TypeVar("M", bound=BaseModel)


def _fields(obj: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in model.model_fields}


def _made(model: type[M], obj: Any | None) -> M | None:
    """The read model of a registry row, or None if the row is gone."""
    return None if obj is None else model(**_fields(obj, model))


def _contact(
    contact: Contact,
    timeline: Sequence[TimelineEntry],
    messages: dict[str, tuple[dict[str, Any], str]],
) -> AlertContactRead:
    mine = [status for d, status in messages.values() if d.get("contact_id") == contact.id]
    replies = [
        FamilyReplyRead(
            at=e.at, body=str(e.details.get("body", "")), handling=bool(e.details.get("handling"))
        )
        for e in timeline
        if e.event == "family_reply" and e.details.get("contact_id") == contact.id
    ]
    return AlertContactRead(
        id=contact.id,
        name=contact.name,
        phone=contact.phone,
        language=contact.language,
        priority=contact.priority,
        messages=len(mine),
        last_status=mine[-1] if mine else None,
        replies=replies,
        handling=any(r.handling for r in replies),
    )
