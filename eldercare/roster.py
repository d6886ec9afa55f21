"""Responders and the duty roster (Issue 15 item 2).

A shift puts a member of staff on duty from ``starts_at`` to ``ends_at``
(exclusive). An alert is assigned to one responder: claimed by an operator or
given to one by a supervisor; the newest assignment wins. A responder is
*busy* while an alert assigned to them is still active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Shift:
    organisation_id: str
    username: str
    starts_at: datetime
    ends_at: datetime
    id: int | None = None

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class Assignment:
    alert_id: int
    username: str
    assigned_at: datetime
    assigned_by: str
