"""Resident records and the audit log (issue 15): the store's side.

A record is one JSON object per resident (its fields are checked by the API,
``dashboard_api/record_models.py``); the audit log is a list of entries that
are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StoredRecord:
    resident_id: str
    record: dict[str, Any]
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    address: str
    action: str
    """e.g. ``record.view_key_safe``, ``record.update``, ``alert.acknowledge``, ``user.update``"""
    target: str
    """e.g. ``resident:r1``, ``alert:12``, ``user:li``"""
    organisation_id: str | None
    """the centre of the target (None: a platform admin's own business)"""
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class AuditQuery:
    organisation_id: str | None = None
    """None: every centre's (a platform admin)"""
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    before_id: int | None = None
    limit: int = 500
