"""Store records and interface of alarm floods (incidents) and maintenance
silences (Issue 15 item 5); the behaviour is in alerts/incidents.py and
alerts/silences.py. Both backends implement ``FloodStore``
(``_sqlite_floods.py``, ``_postgres_floods.py``); ``Store`` includes it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    organisation_id: str
    kind: str
    cause: str
    opened_at: datetime
    last_member_at: datetime
    members: int
    ended_at: datetime | None = None
    ended_by: str | None = None
    member_ids: tuple[int, ...] = field(default=())
    """The member alerts' ids (filled by ``get_incident`` and ``list_incidents``)."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: int | None
    organisation_id: str
    home_id: str
    device_id: str | None
    """None: the whole home."""
    starts_at: datetime
    ends_at: datetime
    reason: str = ""
    created_by: str | None = None
    ended_at: datetime | None = None
    """Ended early by a person (None: runs to ``ends_at``)."""
    ended_by: str | None = None

    def end(self) -> datetime:
        """When it stops (or stopped) holding alerts back."""
        return self.ends_at if self.ended_at is None else min(self.ended_at, self.ends_at)

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.end()


OPEN_INCIDENT = (
    "SELECT * FROM incidents WHERE organisation_id = %s AND kind = %s AND cause = %s"
    " AND ended_at IS NULL ORDER BY id LIMIT 1"
)
"""The open incident of a centre, kind and cause (both backends; SQLite's ``?``)."""


class FloodStore(Protocol):
    async def open_incident(
        self, organisation_id: str, kind: str, cause: str, at: datetime
    ) -> tuple[Incident, bool]:
        """Open an incident, unless one of this centre, kind and cause is open
        already (another service process opened it a moment ago): (the open
        incident, whether this call opened it). At most one is ever open per
        centre, kind and cause, across processes."""
        ...

    async def add_incident_members(
        self, incident_id: int, alert_ids: Sequence[int], at: datetime
    ) -> int:
        """Add alerts (those already in an incident are ignored); return how many joined."""
        ...

    async def end_incident(self, incident_id: int, at: datetime, actor: str | None) -> Incident:
        """NotFound if there is no such incident; an ended one stays as it was."""
        ...

    async def get_incident(self, incident_id: int) -> Incident:
        """With its member ids; NotFound if missing."""
        ...

    async def list_incidents(
        self, organisation_id: str | None, *, open_only: bool = False, limit: int = 50
    ) -> list[Incident]:
        """Newest first, with member ids (organisation None: all)."""
        ...

    async def incident_of_alert(self, alert_id: int) -> int | None: ...

    async def create_silence(self, silence: Silence) -> Silence: ...

    async def get_silence(self, silence_id: int) -> Silence:
        """NotFound if missing."""
        ...

    async def list_silences(
        self, organisation_id: str | None, *, since: datetime | None = None, limit: int = 200
    ) -> list[Silence]:
        """Newest first; ``since``: only those that end (or ended) at or after it."""
        ...

    async def silences_at(self, home_id: str, at: datetime) -> list[Silence]:
        """The silences of the home active at ``at`` (whole-home and per device)."""
        ...

    async def end_silence(self, silence_id: int, at: datetime, actor: str | None) -> Silence:
        """End it now (an ended one stays as it was); NotFound if missing."""
        ...
