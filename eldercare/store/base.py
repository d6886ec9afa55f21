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
from dataclasses import dataclass, field
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
    Organisation,
    Outcome,
    Reading,
    Resident,
    Severity,
    TimelineEntry,
    User,
)
from eldercare.records import AuditEntry, AuditQuery, StoredRecord
from eldercare.roster import Assignment, Shift
from eldercare.store._protocols_sql import StoredProtocols
from eldercare.store._reports_sql import ResponsePeople
from eldercare.store.floods import FloodStore


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
    organisation_id: str | None = None
    """Only this organisation's alerts (None: every organisation's)."""


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


# --- api ---------------------------------------------------------------------------

VITAL_METRICS = ("hr", "rr")


@dataclass(frozen=True, slots=True)
class VitalsQuery:
    resident_id: str
    metric: str
    """``hr`` or ``rr`` (VITAL_METRICS)"""
    start: datetime
    end: datetime
    """readings with start <= ts < end"""
    bucket_s: int


@dataclass(frozen=True, slots=True)
class VitalsBucket:
    start: datetime
    count: int
    min: float
    avg: float
    max: float


@dataclass(frozen=True, slots=True)
class LatestVitals:
    device_id: str
    resident_id: str
    ts: datetime
    hr: float | None
    rr: float | None
    in_bed: bool | None


# --- escalation (alerts/escalation*.py) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """One rung of an alert's ladder, a row with a due time (alerts/policy.py)."""

    alert_id: int
    name: str
    """unique per alert and round, e.g. ``critical.family_all``"""
    round: int
    """0, then 1, 2, … for a repeating step"""
    due_at: datetime
    action: str
    """sms, voice or breach"""
    target: str
    """family_first, family_all, supervisors, everyone, none or contact:<id>"""
    unless: str
    """none, acknowledged or on_site"""
    message: str
    repeat_every_s: float | None = None
    state: str = "pending"
    """pending, claimed, done, skipped or cancelled"""
    id: int | None = None
    claimed_by: str | None = None
    attempts: int = 0
    """how many times it was claimed (more than 1 = resumed after a crash)"""


@dataclass(frozen=True, slots=True)
class EscalationSend:
    """One message or call of a step to one person; ``key`` is its idempotency key.

    States: planned → sending → sent | failed | unknown; planned → suppressed |
    skipped. ``sending`` is written before the provider is called, so a send
    found in ``sending`` after a crash may have reached the provider."""

    key: str
    alert_id: int
    step_id: int
    channel: str
    """sms or voice"""
    recipient: str
    """c<contact id> or u:<username>"""
    recipient_kind: str
    """family or supervisor"""
    to_phone: str
    language: str
    body: str
    contact_id: int | None = None
    state: str = "planned"
    quota: str = "normal"
    """normal, summary (sent instead, past the hourly quota) or suppressed"""
    provider_id: str | None = None
    status: str | None = None
    """the provider's latest status word"""
    error: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SentSms:
    """One SMS a phone was sent (or may have been: the provider was called), for the
    SMS providers' per-number limits (``alerts/provider_limits.py``)."""

    key: str
    alert_id: int
    body: str
    started_at: datetime
    """when the provider was called"""


@dataclass(frozen=True, slots=True)
class AlertResponse:
    """When staff answered one alert (for the response report)."""

    alert_id: int
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    raised_at: datetime
    response_deadline: datetime
    acknowledged_at: datetime | None
    """first staff action (acknowledge, dispatch, arrive, or a resolve not by the system)"""
    on_site_at: datetime | None
    resolved_at: datetime | None
    breached: bool
    """a window_breached entry is on its timeline"""


# --- detectors (detectors/runtime.py) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class DetectorStateRow:
    """One saved entry of a detector's state; ``state`` None deletes the entry."""

    detector: str
    key: str
    state: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class MqttCredential:
    """A broker account made by ``eldercare broker-config`` (only its hash is kept)."""

    username: str
    """The device id for a device; the gateway's own account otherwise."""
    role: str
    """``device`` or ``gateway``."""
    password_hash: str
    """Mosquitto's password-file form: ``$7$iterations$salt$hash`` (PBKDF2-SHA512)."""
    created_at: datetime


# --- retention (eldercare/retention.py) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What ``Store.prune`` removed (or, with ``dry_run``, would remove)."""

    readings_chunks: list[str]
    """TimescaleDB: the chunks dropped whole (``drop_chunks``); SQLite: none"""
    readings_rows: int | None
    """SQLite: the readings deleted; TimescaleDB: None (whole chunks are not counted)"""
    dead_letters: int
    rollup_chunks: list[str] = field(default_factory=list)
    """TimescaleDB: the vitals rollup chunks dropped whole; SQLite: none"""
    rollup_rows: int | None = None
    """SQLite: the vitals rollup rows (device-minutes) deleted; TimescaleDB: None"""


class Store(FloodStore, Protocol):
    # --- life cycle ---------------------------------------------------------------
    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied (empty if none)."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    async def close(self) -> None: ...

    # --- organisations (tenancy) -------------------------------------------------
    # The ``organisation_id`` parameter of the reads below keeps the rows of that
    # organisation only (residents, devices and contacts through their home);
    # None reads every organisation's. A row of another organisation is NotFound
    # with the same message as a missing one (the API's scoping).
    async def create_organisation(self, organisation: Organisation) -> Organisation:
        """Conflict if the id is taken."""
        ...

    async def get_organisation(self, organisation_id: str) -> Organisation: ...
    async def list_organisations(self) -> list[Organisation]:
        """Ordered by id."""
        ...

    # --- registry -----------------------------------------------------------------
    async def create_home(self, home: Home) -> Home:
        """In ``home.organisation_id``, which must exist (Conflict otherwise)."""
        ...

    async def get_home(self, home_id: str, organisation_id: str | None = None) -> Home: ...
    async def list_homes(self, organisation_id: str | None = None) -> list[Home]: ...
    async def update_home(self, home_id: str, changes: dict[str, Any]) -> Home: ...
    async def delete_home(self, home_id: str) -> None:
        """Deletes the home with its residents, devices and contacts."""
        ...

    async def create_resident(self, resident: Resident) -> Resident: ...
    async def get_resident(
        self, resident_id: str, organisation_id: str | None = None
    ) -> Resident: ...
    async def list_residents(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Resident]: ...
    async def update_resident(self, resident_id: str, changes: dict[str, Any]) -> Resident: ...
    async def delete_resident(self, resident_id: str) -> None: ...

    async def create_device(self, device: Device) -> Device: ...
    async def get_device(self, device_id: str, organisation_id: str | None = None) -> Device: ...
    async def list_devices(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Device]: ...
    async def list_device_sources(self) -> dict[str, str]:
        """Device id -> its source's address (``device_source.source_key``), for the
        devices that have a source: a cheap check whether the sources changed."""
        ...

    async def update_device(self, device_id: str, changes: dict[str, Any]) -> Device: ...
    async def delete_device(self, device_id: str) -> None: ...

    async def create_contact(
        self,
        home_id: str,
        name: str,
        phone: str,
        language: str,
        priority: int,
        sms_provider: str | None = None,
    ) -> Contact:
        """The id is made by the store."""
        ...

    async def get_contact(self, contact_id: int, organisation_id: str | None = None) -> Contact: ...
    async def list_contacts(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Contact]:
        """Ordered by home, then priority (1 first), then id."""
        ...

    async def update_contact(self, contact_id: int, changes: dict[str, Any]) -> Contact: ...
    async def delete_contact(self, contact_id: int) -> None: ...

    async def create_user(self, user: User) -> User:
        """Returned with the token version the store gave it (random, see User).
        Its organisation must exist; only an admin may have none (Conflict)."""
        ...

    async def get_user(self, username: str, organisation_id: str | None = None) -> User: ...
    async def list_users(self, organisation_id: str | None = None) -> list[User]: ...
    async def update_user(self, username: str, changes: dict[str, Any]) -> User:
        """A new ``password_hash`` or another ``role`` also moves ``token_version`` on."""
        ...

    async def delete_user(self, username: str) -> None: ...

    # --- sign-in (dashboard_api/auth.py, routes_twilio.py) -------------------------
    async def revoke_tokens(self, username: str) -> User:
        """Move the account's token version on: every token issued before stops
        working. NotFound for an unknown account."""
        ...

    async def end_session(self, sid: str, username: str, at: datetime, until: datetime) -> None:
        """A logout: tokens of session ``sid`` stop working. Kept until ``until``
        (when its last token expires); ended sessions past theirs are forgotten."""
        ...

    async def get_session_user(self, username: str, sid: str) -> tuple[User, bool]:
        """The account and whether session ``sid`` was ended, in one query (every
        API request asks this). NotFound for an unknown account."""
        ...

    async def get_or_create_secret(self, name: str, candidate: str, at: datetime) -> str:
        """The secret stored under ``name``; if there is none, ``candidate`` is
        stored and returned. Atomic: concurrent callers all get the first one."""
        ...

    async def claim_webhook(self, key: str, at: datetime, keep_s: float) -> bool:
        """Record a webhook's identity (``sms_inbound:SM…``); False if it was
        recorded before (a replay). Keys older than ``keep_s`` are forgotten."""
        ...

    async def release_webhook(self, key: str) -> None:
        """Forget a claimed key (its handling failed: Twilio's retry is handled)."""
        ...

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

    # --- broker accounts (eldercare broker-config) ----------------------------------
    async def list_mqtt_credentials(self) -> list[MqttCredential]:
        """Ordered by username."""
        ...

    async def save_mqtt_credentials(
        self, save: Sequence[MqttCredential], delete: Sequence[str] = ()
    ) -> None:
        """Insert or replace ``save`` and delete the usernames ``delete``, at once."""
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

    async def get_alert(self, alert_id: int, organisation_id: str | None = None) -> Alert: ...
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

    # --- api (care-centre API and screen) ---------------------------------------------
    async def vitals_buckets(
        self, query: VitalsQuery, *, rollups: bool = True
    ) -> list[VitalsBucket]:
        """Min / avg / max of one vital sign of a resident per time bucket, oldest
        first, from the readings of the bed bands assigned to the resident now.
        Buckets are aligned to the Unix epoch; empty buckets are left out;
        readings with the metric null or missing are not counted. A bucket of
        whole minutes is answered from the per-minute rollups (and the readings
        of the range's partial first and last minutes): the same answer, unless
        the rollups were not backfilled; ``rollups=False`` reads the readings only."""
        ...

    async def backfill_vitals(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """Recount the per-minute rollups from the readings in [start, end) (default:
        all readings), an hour per transaction; minutes with readings are replaced,
        others kept. Safe while the service runs and to run again. Returns the
        rollup rows written."""
        ...

    async def latest_vitals(self, home_id: str) -> list[LatestVitals]:
        """Per bed band of the home: its newest reading carrying hr or rr
        (devices that never sent one are left out), ordered by device id."""
        ...

    async def count_open_alerts(self) -> dict[Severity, int]:
        """Alerts not resolved, by severity (severities with none are left out)."""
        ...

    # --- escalation (alerts/escalation*.py) -----------------------------------------
    async def schedule_ladder(
        self, alert_id: int, severity: Severity, steps: Sequence[EscalationStep], at: datetime
    ) -> bool:
        """Give the alert its ladder once, atomically: False (nothing changes) when it
        has one for this severity or a worse one. A ladder for a less severe
        severity is replaced: its pending steps are cancelled, these inserted."""
        ...

    async def add_steps(self, steps: Sequence[EscalationStep]) -> int:
        """Insert steps, ignoring any whose (alert, name, round) exists; return how many."""
        ...

    async def claim_due_steps(
        self, now: datetime, worker: str, limit: int, lease_s: float
    ) -> list[EscalationStep]:
        """Claim steps due at ``now`` (pending, or claimed with the lease ended),
        earliest first; each is claimed by one caller only (PostgreSQL: ``FOR
        UPDATE SKIP LOCKED``), until ``now + lease_s``."""
        ...

    async def finish_step(self, step_id: int, state: str, at: datetime) -> None:
        """Mark a step done or skipped (no-op if it was cancelled meanwhile)."""
        ...

    async def cancel_steps(self, alert_id: int, unless: Sequence[str] | None, at: datetime) -> int:
        """Cancel the alert's pending steps with these ``unless`` values (None: all)."""
        ...

    async def list_steps(self, alert_id: int) -> list[EscalationStep]:
        """Ordered by due time, then id."""
        ...

    async def get_step(self, step_id: int) -> EscalationStep: ...

    async def plan_sends(
        self, sends: Sequence[EscalationSend], at: datetime
    ) -> list[EscalationSend]:
        """Record the sends (keys already known are kept as they are) and return the
        stored rows of these keys, in the order given."""
        ...

    async def begin_send(self, key: str, at: datetime, sms_quota_per_hour: int | None) -> str:
        """Atomically move a planned send to ``sending`` and say what to do:
        ``send``; ``summary`` (the SMS recipient is past the hourly quota: send one
        summary instead); ``suppressed`` (past it and the summary went out); or
        ``skip`` (not planned any more: another worker has it, or it is done)."""
        ...

    async def finish_send(
        self,
        key: str,
        state: str,
        at: datetime,
        *,
        provider_id: str | None = None,
        status: str | None = None,
        error: str | None = None,
    ) -> None: ...

    async def record_delivery(
        self, provider_id: str, status: str, at: datetime
    ) -> EscalationSend | None:
        """Store the provider's latest status of a send; None if the id is unknown."""
        ...

    async def list_sends(self, alert_id: int) -> list[EscalationSend]:
        """In the order they were planned."""
        ...

    async def find_send(self, provider_id: str) -> EscalationSend | None:
        """The send the provider knows by this id (its SID), or None."""
        ...

    async def list_sms_sent_to(self, phone: str, since: datetime) -> list[SentSms]:
        """The SMS to ``phone`` whose provider call began after ``since`` (sending,
        sent or unknown), oldest first: what that number already received."""
        ...

    async def add_escalation_stop(self, alert_id: int, recipient: str, at: datetime) -> None:
        """No more messages of this alert to this recipient (a family reply)."""
        ...

    async def list_escalation_stops(self, alert_id: int) -> set[str]: ...

    async def find_contacts_by_phone(self, phone: str) -> list[Contact]: ...

    async def list_alerts_without_ladder(self, limit: int) -> list[Alert]:
        """Unresolved alerts that were never given a ladder (oldest first)."""
        ...

    async def list_alert_responses(
        self, since: datetime, until: datetime, organisation_id: str | None = None
    ) -> list[AlertResponse]:
        """Alerts raised in [since, until) with their staff response times, by id."""
        ...

    async def list_response_people(
        self, since: datetime, until: datetime, organisation_id: str | None = None
    ) -> list[ResponsePeople]:
        """Alerts raised in [since, until): home and first responding account, by id."""
        ...

    async def list_all_liveness(self, organisation_id: str | None = None) -> list[DeviceLiveness]:
        """Every device's liveness (of that organisation), in one query, by device id."""
        ...

    # --- detectors (detectors/runtime.py) ------------------------------------------
    async def save_detector_state(self, rows: Sequence[DetectorStateRow], at: datetime) -> None:
        """Upsert (or, for ``state`` None, delete) the entries in one transaction."""
        ...

    async def load_detector_state(self) -> list[DetectorStateRow]:
        """Every saved entry, ordered by detector and key."""
        ...

    async def readings_since(self, since: datetime, limit: int = 500_000) -> list[Reading]:
        """Readings of registered devices with ``ts >= since``, oldest first (ts, seq),
        at most ``limit`` (the newest are kept), using the per-device index."""
        ...

    async def latest_reading_ts(self) -> datetime | None:
        """The newest reading time of any registered device (per-device index)."""
        ...

    # --- retention (eldercare/retention.py) -------------------------------------------
    async def prune(
        self,
        readings_before: datetime | None,
        dead_letters_before: datetime | None,
        *,
        rollups_before: datetime | None = None,
        dry_run: bool = False,
    ) -> PruneResult:
        """Remove readings older than ``readings_before`` (TimescaleDB: the chunks
        that end at or before it, with ``drop_chunks``; SQLite: the rows), vitals
        rollups older than ``rollups_before`` (the same way) and dead letters
        received before ``dead_letters_before``; None keeps that table.
        Alerts, timelines and the registry are never touched. ``dry_run`` only says
        what would go."""
        ...

    # --- protocols and shift handover (alerts/protocols.py, Issue 15) ----------------
    async def get_protocols(self, organisation_id: str) -> StoredProtocols | None:
        """The care centre's own protocols document; None: it uses the defaults."""
        ...

    async def save_protocols(
        self, organisation_id: str, document: dict[str, Any], at: datetime, actor: str | None
    ) -> None:
        """Replace the care centre's protocols document (checked by the caller)."""
        ...

    async def delete_protocols(self, organisation_id: str) -> bool:
        """Back to the defaults; False if the centre had none of its own."""
        ...

    async def list_timeline_window(
        self,
        events: Sequence[str],
        start: datetime,
        end: datetime,
        organisation_id: str | None = None,
    ) -> list[TimelineEntry]:
        """Timeline entries named in ``events`` with start <= at < end, oldest
        first; with ``organisation_id``, only those of that centre's alerts."""

    # --- resident records and the audit log (issue 15; eldercare/records.py) -----------
    async def get_resident_record(
        self, resident_id: str, organisation_id: str | None = None
    ) -> StoredRecord | None:
        """None if the resident has no record yet; NotFound if there is no such
        resident (in the organisation)."""
        ...

    async def put_resident_record(self, stored: StoredRecord) -> StoredRecord:
        """Replace the resident's record (NotFound: no such resident)."""
        ...

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        """Append an entry; returns it with its id. Entries are never changed."""
        ...

    async def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Newest first; ``until`` is exclusive."""
        ...

    # --- duty roster and alert assignments (issue 15 item 2; eldercare/roster.py) ------
    async def add_shift(self, shift: Shift) -> Shift:
        """Put ``shift.username`` on duty; returns the shift with its id."""
        ...

    async def list_shifts(self, organisation_id: str, ending_after: datetime) -> list[Shift]:
        """The centre's shifts that end after ``ending_after``, earliest start first."""
        ...

    async def delete_shift(self, shift_id: int, organisation_id: str) -> None:
        """NotFound if the centre has no such shift."""
        ...

    async def assign_alert(self, assignment: Assignment) -> Assignment:
        """The alert's responder from now on (replaces an earlier assignment)."""
        ...

    async def get_assignment(self, alert_id: int) -> Assignment | None: ...
    async def active_assignments(self, organisation_id: str) -> list[Assignment]:
        """The assignments of the centre's alerts that are still active."""
        ...
