"""The store interface: one protocol, two backends (SQLite, TimescaleDB).

Both backends pass the same contract suite (tests/store/test_contract.py). All
timestamps going in and out are timezone-aware UTC ``datetime`` objects.

Errors::

    StoreError                 anything the store refuses or cannot do
    ├── NotFound               the row named does not exist
    ├── Conflict               a unique id is taken, or a row is still referenced
    └── StoreUnavailable       the server is unreachable or misconfigured
                               (e.g. TimescaleDB extension missing)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from eldercare.domain import (
    Alert,
    AlertChange,
    AlertKind,
    AlertStatus,
    Contact,
    DeadLetter,
    Device,
    DeviceLiveness,
    Finding,
    Home,
    Outcome,
    Reading,
    Resident,
    Severity,
    TimelineEntry,
    User,
)


class StoreError(Exception):
    """Base of every store error; ``str(exc)`` is meant for people."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class StoreUnavailable(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: Sequence[AlertStatus] = ()
    home_id: str | None = None
    subject: str | None = None
    kind: Sequence[AlertKind] = ()
    severity: Sequence[Severity] = ()
    since: datetime | None = None
    before_id: int | None = None
    """Cursor: only alerts with an id lower than this (newest first)."""
    limit: int = 50


@dataclass(frozen=True, slots=True)
class LivenessUpdate:
    """Folded per device per batch by the gateway; None fields are left as they are."""

    device_id: str
    last_seen: datetime | None = None
    battery: float | None = None
    online: bool | None = None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A compare-and-set of an alert's status, with its timeline entry."""

    alert_id: int
    expected: AlertStatus
    new: AlertStatus
    at: datetime
    actor: str | None
    responder: str | None = None
    outcome: Outcome | None = None
    note: str | None = None


class Store(Protocol):
    # --- life cycle ---------------------------------------------------------------
    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied (empty if none)."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    async def close(self) -> None: ...

    # --- registry -----------------------------------------------------------------
    async def create_home(self, home: Home) -> Home: ...
    async def get_home(self, home_id: str) -> Home: ...
    async def list_homes(self) -> list[Home]: ...
    async def update_home(self, home_id: str, changes: dict[str, Any]) -> Home: ...
    async def delete_home(self, home_id: str) -> None:
        """Deletes the home with its residents, devices and contacts."""
        ...

    async def create_resident(self, resident: Resident) -> Resident: ...
    async def get_resident(self, resident_id: str) -> Resident: ...
    async def list_residents(self, home_id: str | None = None) -> list[Resident]: ...
    async def update_resident(self, resident_id: str, changes: dict[str, Any]) -> Resident: ...
    async def delete_resident(self, resident_id: str) -> None: ...

    async def create_device(self, device: Device) -> Device: ...
    async def get_device(self, device_id: str) -> Device: ...
    async def list_devices(self, home_id: str | None = None) -> list[Device]: ...
    async def update_device(self, device_id: str, changes: dict[str, Any]) -> Device: ...
    async def delete_device(self, device_id: str) -> None: ...

    async def create_contact(
        self, home_id: str, name: str, phone: str, language: str, priority: int
    ) -> Contact:
        """The id is made by the store."""
        ...

    async def get_contact(self, contact_id: int) -> Contact: ...
    async def list_contacts(self, home_id: str | None = None) -> list[Contact]:
        """Ordered by home, then priority (1 first), then id."""
        ...

    async def update_contact(self, contact_id: int, changes: dict[str, Any]) -> Contact: ...
    async def delete_contact(self, contact_id: int) -> None: ...

    async def create_user(self, user: User) -> User: ...
    async def get_user(self, username: str) -> User: ...
    async def list_users(self) -> list[User]: ...
    async def update_user(self, username: str, changes: dict[str, Any]) -> User: ...
    async def delete_user(self, username: str) -> None: ...

    # --- intake -------------------------------------------------------------------
    async def insert_readings(self, readings: Sequence[Reading]) -> int:
        """Store readings idempotently in one transaction; return how many were new.

        Duplicates are (device, seq, ts) for readings with a seq, (device, ts)
        without one; a reading with ``ts_assigned`` and a seq is a duplicate of
        any reading of the same device and seq from the last day.
        """
        ...

    async def count_readings(self, device_id: str | None = None) -> int: ...

    async def insert_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...
    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        ...

    async def update_liveness(self, updates: Sequence[LivenessUpdate]) -> None: ...
    async def get_liveness(self, device_id: str) -> DeviceLiveness: ...
    async def list_liveness(self, home_id: str) -> list[DeviceLiveness]: ...

    # --- alerts -------------------------------------------------------------------
    async def record_finding(
        self, finding: Finding, response_window_s: float
    ) -> AlertChange | None:
        """Raise or update the open alert for (home, subject, kind), atomically.

        Returns None when ``finding.source_key`` was recorded before (a
        redelivered reading): nothing changes. Otherwise, if an alert for the
        same (home, subject, kind) is not resolved, its count and last_seen_at
        go up, severity rises to the worse of the two, and a ``repeated`` entry
        goes on its timeline; else a new ``open`` alert is made with
        ``response_deadline = finding.at + response_window_s`` and a ``raised``
        entry.
        """
        ...

    async def get_alert(self, alert_id: int) -> Alert: ...
    async def list_alerts(self, flt: AlertFilter) -> list[Alert]:
        """Newest (highest id) first."""
        ...

    async def set_alert_status(self, update: StatusUpdate) -> Alert | None:
        """Move the alert from ``expected`` to ``new`` and add the timeline entry
        (event = the new status value, details: responder / outcome / note),
        in one transaction. None if the alert's status was not ``expected``.
        Raises NotFound for an unknown alert."""
        ...

    async def add_timeline(self, entry: TimelineEntry) -> TimelineEntry: ...
    async def get_timeline(self, alert_id: int) -> list[TimelineEntry]:
        """Oldest first."""
        ...
