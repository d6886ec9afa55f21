"""Which care centre (organisation) an alert belongs to, for the code that
handles alerts outside the store's scoped reads (the live stream, the
escalation's supervisors)."""

from __future__ import annotations

from typing import Protocol

from eldercare.domain import DEFAULT_ORGANISATION, Alert, Home
from eldercare.store.base import NotFound


class Homes(Protocol):
    async def get_home(self, home_id: str, organisation_id: str | None = None) -> Home: ...


async def alert_organisation(store: Homes, alert: Alert) -> str:
    """The alert's organisation: the one it was stored with (migration 0012 gives
    every alert its home's), else its home's (TimescaleDB's ``record_finding``
    does not return it), else the default one (an unregistered home)."""
    if alert.organisation_id is not None:
        return alert.organisation_id
    try:
        return (await store.get_home(alert.home_id)).organisation_id
    except NotFound:
        return DEFAULT_ORGANISATION
