"""Helpers both backends share: migrations, change validation, dedupe, details."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from importlib import resources
from typing import Any

from eldercare.device_source import source_key
from eldercare.domain import Finding, Reading, Role, Severity, User
from eldercare.store.base import Conflict, StatusUpdate, StoreError

ASSIGNED_TS_WINDOW = timedelta(days=1)
"""A reading with ``ts_assigned`` and a seq duplicates the same seq within this."""

NO_SEQ = -1
"""Stored seq of a reading without one, so (device, seq, ts) is always the identity."""

UPDATABLE: dict[str, frozenset[str]] = {
    "homes": frozenset({"name", "address", "timezone", "rules"}),
    "residents": frozenset({"home_id", "name", "limits"}),
    "devices": frozenset({"home_id", "kind", "resident_id", "location", "source"}),
    "contacts": frozenset({"home_id", "name", "phone", "language", "priority", "sms_provider"}),
    "users": frozenset({"password_hash", "role", "phone"}),
}


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(backend: str) -> list[Migration]:
    """The ``NNNN_name.sql`` files of ``migrations/<backend>``, in version order."""
    folder = resources.files("eldercare.store").joinpath("migrations", backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        stem = entry.name[: -len(".sql")]
        number, _, _ = stem.partition("_")
        found.append(Migration(int(number), stem, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


_IN_ORGANISATION = {
    "homes": "organisation_id = {p}",
    "users": "organisation_id = {p}",
    "alerts": "organisation_id = {p}",
    "residents": "home_id IN (SELECT id FROM homes WHERE organisation_id = {p})",
    "devices": "home_id IN (SELECT id FROM homes WHERE organisation_id = {p})",
    "contacts": "home_id IN (SELECT id FROM homes WHERE organisation_id = {p})",
}


def in_organisation(table: str, organisation_id: str | None, placeholder: str) -> list[str]:
    """The WHERE condition keeping the rows of ``table`` that belong to the
    organisation (through their home for residents, devices and contacts): one
    condition with one parameter, or none for None (every organisation)."""
    if organisation_id is None:
        return []
    return [_IN_ORGANISATION[table].format(p=placeholder)]


def check_account_scope(role: Role, organisation_id: str | None) -> None:
    """Only an admin may have no organisation (a platform admin): an operator or
    supervisor without one would see every care centre."""
    if organisation_id is None and role is not Role.ADMIN:
        raise Conflict(f"a {role.value} account needs an organisation; only an admin has none")


DEVICE_SOURCES_SQL = "SELECT id, source_key FROM devices WHERE source_key IS NOT NULL"


def device_source_key(source: dict[str, Any] | None) -> str | None:
    """The unique address of a device's source (None for a native device)."""
    return None if source is None else source_key(source)


def source_conflict(device_id: str, other: str) -> str:
    return f"device {other!r} already has this source; device {device_id!r} cannot share it"


def clean_changes(table: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check the keys of an update; enums become their values."""
    unknown = set(changes) - UPDATABLE[table]
    if unknown:
        raise StoreError(
            f"cannot change {', '.join(sorted(unknown))} of {table}; "
            f"changeable: {', '.join(sorted(UPDATABLE[table]))}"
        )
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in changes.items()}


def new_token_version() -> int:
    """A new account's first token version: random, so the tokens of a deleted
    account never work for a new one of the same name."""
    return secrets.randbelow(2**40) + 1


def revokes_tokens(current: User, changes: Mapping[str, Any]) -> bool:
    """A new password hash or another role ends every token issued before."""
    role = changes.get("role", current.role)
    return "password_hash" in changes or (role.value if isinstance(role, Enum) else role) != (
        current.role.value
    )


def require_aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts.isoformat()} given to the store; use UTC")
    return ts


def unique_in_batch(readings: Iterable[Reading]) -> list[Reading]:
    """Drop readings that repeat an earlier one of the same batch."""
    seen: set[tuple[str, int, datetime]] = set()
    seqs: set[tuple[str, int]] = set()
    out: list[Reading] = []
    for r in readings:
        seq = NO_SEQ if r.seq is None else r.seq
        key = (r.device_id, seq, r.ts)
        if key in seen or (r.ts_assigned and r.seq is not None and (r.device_id, seq) in seqs):
            continue
        seen.add(key)
        if r.seq is not None:
            seqs.add((r.device_id, seq))
        out.append(r)
    return out


def worse(a: Severity | str, b: Severity | str) -> Severity:
    sa, sb = Severity(a), Severity(b)
    return sa if sa.rank <= sb.rank else sb


def raised_details(finding: Finding) -> dict[str, Any]:
    return {"severity": finding.severity.value, "message": finding.message, **finding.details}


def repeated_details(finding: Finding, count: int, severity: Severity) -> dict[str, Any]:
    return {"count": count, "severity": severity.value, **finding.details}


def status_details(update: StatusUpdate) -> dict[str, Any]:
    details: dict[str, Any] = {"from": update.expected.value}
    if update.responder is not None:
        details["responder"] = update.responder
    if update.outcome is not None:
        details["outcome"] = update.outcome.value
    if update.note is not None:
        details["note"] = update.note
    return details


# The response report's definitions (both backends; ``?`` placeholders): time to
# acknowledge is the first staff action, a resolve by the system does not count.
RESPONSES_SQL = """
SELECT a.id, a.kind, a.severity, a.status, a.raised_at, a.response_deadline,
  (SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id
     AND (t.event IN ('acknowledged', 'dispatched', 'on_site')
          OR (t.event = 'resolved' AND coalesce(t.actor, '') <> 'system'))) AS acknowledged_at,
  (SELECT min(t.at) FROM alert_timeline t
     WHERE t.alert_id = a.id AND t.event = 'on_site') AS on_site_at,
  (SELECT min(t.at) FROM alert_timeline t
     WHERE t.alert_id = a.id AND t.event = 'resolved') AS resolved_at,
  EXISTS (SELECT 1 FROM alert_timeline t
     WHERE t.alert_id = a.id AND t.event = 'window_breached') AS breached
FROM alerts a WHERE a.raised_at >= ? AND a.raised_at < ? ORDER BY a.id
"""
RESPONSES_IN_ORGANISATION_SQL = RESPONSES_SQL.replace(
    " ORDER BY", " AND a.organisation_id = ? ORDER BY"
)
"""The same, for one organisation's alerts (a third parameter)."""

# The account behind a token and whether its session was ended (a logout), in one
# round trip per API request (both backends; ``%s`` placeholders: sid, username).
SESSION_USER_SQL = (
    "SELECT u.*, EXISTS (SELECT 1 FROM ended_sessions e WHERE e.sid = %s) AS session_ended"
    " FROM users u WHERE u.username = %s"
)

# What one phone already received (the SMS providers' per-number limits), both
# backends; ``?`` placeholders: phone, since, then the COUNTED states.
SMS_SENT_TO_SQL = """
SELECT key, alert_id, body, started_at FROM escalation_sends
WHERE to_phone = ? AND channel = 'sms' AND started_at > ? AND state IN (?, ?, ?)
ORDER BY started_at, seq
"""

# The send a provider id (Twilio SID) belongs to; ``{cols}`` = the send columns.
FIND_SEND_SQL = (
    "SELECT {cols} FROM escalation_sends WHERE provider_id = ? ORDER BY seq DESC LIMIT 1"
)
