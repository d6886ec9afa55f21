"""Domain types shared by every room of the service.

The vocabulary here is CONTRACT.md's: device kinds (§1), alert kinds, severities,
statuses and outcomes (§2), registry resources (§3). Changing a value is a
breaking change for devices, staff and families.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

DEFAULT_ORGANISATION = "default"
"""The organisation (care centre) every row joined in migration 0012; the one a
home, account or provisioning file belongs to unless it names another."""
"""Ids of homes, residents and devices: they appear in MQTT topics."""
URGENT_SESSION_SUFFIX = "-urgent"
"""Appended to the gateway's MQTT client id and account for its urgent session
(gateway/urgent_session.py; ``eldercare broker-config`` makes that account)."""

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")


class DeviceKind(StrEnum):
    BED_BAND = "bed_band"
    SOS_BUTTON = "sos_button"
    DOOR = "door"
    FALL_RADAR = "fall_radar"
    GAS = "gas"
    WATER = "water"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most severe; for sorting and 'raise to the worse one'."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.WARNING: 2,
    Severity.INFO: 3,
}


class AlertKind(StrEnum):
    SOS = "sos"
    FALL = "fall"
    HEART_RATE_LOW = "heart_rate_low"
    HEART_RATE_HIGH = "heart_rate_high"
    BREATHING_STOPPED = "breathing_stopped"
    RESPIRATION_LOW = "respiration_low"
    RESPIRATION_HIGH = "respiration_high"
    GAS_LEAK = "gas_leak"
    WATER_LEAK = "water_leak"
    BED_EXIT_NOT_RETURNED = "bed_exit_not_returned"
    NIGHT_WANDERING = "night_wandering"
    INACTIVITY = "inactivity"
    DOOR_LEFT_OPEN = "door_left_open"
    DEVICE_OFFLINE = "device_offline"
    BATTERY_LOW = "battery_low"


DEFAULT_SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.SOS: Severity.CRITICAL,
    AlertKind.FALL: Severity.CRITICAL,
    AlertKind.HEART_RATE_LOW: Severity.CRITICAL,
    AlertKind.HEART_RATE_HIGH: Severity.CRITICAL,
    AlertKind.BREATHING_STOPPED: Severity.CRITICAL,
    AlertKind.RESPIRATION_LOW: Severity.HIGH,
    AlertKind.RESPIRATION_HIGH: Severity.HIGH,
    AlertKind.GAS_LEAK: Severity.CRITICAL,
    AlertKind.WATER_LEAK: Severity.HIGH,
    AlertKind.BED_EXIT_NOT_RETURNED: Severity.HIGH,
    AlertKind.NIGHT_WANDERING: Severity.HIGH,
    AlertKind.INACTIVITY: Severity.HIGH,
    AlertKind.DOOR_LEFT_OPEN: Severity.WARNING,
    AlertKind.DEVICE_OFFLINE: Severity.WARNING,
    AlertKind.BATTERY_LOW: Severity.WARNING,
}


class AlertStatus(StrEnum):
    """Moves forward only; steps may be skipped (CONTRACT.md §2)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RESOLVED = "resolved"

    @property
    def order(self) -> int:
        return list(AlertStatus).index(self)


class Outcome(StrEnum):
    HANDLED = "handled"
    FALSE_ALARM = "false_alarm"
    NO_ACCESS = "no_access"
    TRANSFERRED = "transferred"


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """admin ⊃ supervisor ⊃ operator."""
        order = [Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


# --- registry -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Organisation:
    """A care centre; several can share one installation (a city platform)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Home:
    id: str
    name: str
    address: str = ""
    timezone: str = "Asia/Shanghai"
    rules: dict[str, float] = field(default_factory=dict)
    """Per-home detector overrides, e.g. {"bed_exit_min": 45} (detectors/config.py)."""
    organisation_id: str = DEFAULT_ORGANISATION
    """The care centre the home (and its residents, devices, contacts) belongs to."""


@dataclass(frozen=True, slots=True)
class Resident:
    id: str
    home_id: str
    name: str
    limits: dict[str, float] = field(default_factory=dict)
    """Optional per-resident detector limits, e.g. {"hr_low": 45}."""


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    home_id: str
    kind: DeviceKind
    resident_id: str | None = None
    location: str = ""
    source: dict[str, Any] | None = None
    """Not a native device: the ecosystem and address it publishes under, e.g.
    ``{"type": "zigbee2mqtt", "topic": "zigbee2mqtt/bathroom_radar"}``
    (eldercare/device_source.py); None = native topics."""


@dataclass(frozen=True, slots=True)
class DeviceLiveness:
    device_id: str
    last_seen: datetime | None
    battery: float | None
    online: bool | None
    """None until the device has said anything on its status topic."""


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    home_id: str
    name: str
    phone: str
    language: str = "zh-CN"
    priority: int = 1
    sms_provider: str | None = None
    """``twilio``, ``aliyun``, ``tencent`` or ``console`` for this person only; None =
    the centre's provider (alerts/sms_routing.py)."""


@dataclass(frozen=True, slots=True)
class User:
    username: str
    password_hash: str
    role: Role
    phone: str | None = None
    token_version: int = 0
    """Tokens carry it; the store changes it on a password or role change (and
    ``revoke_tokens``), so every token issued before stops working."""
    organisation_id: str | None = DEFAULT_ORGANISATION
    """The care centre the account works for; None only for a platform admin
    (manages the organisations, sees every one)."""

    @property
    def platform(self) -> bool:
        """A platform admin: no organisation, so nothing is scoped."""
        return self.organisation_id is None


# --- intake -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded, validated device event.

    ``fields`` holds the kind's fields and any unknown extras, as sent.
    ``ts_assigned`` is true when the payload had no ``ts`` and the gateway used
    its receive time; such readings are de-duplicated on (device, seq) only.
    """

    home_id: str
    device_id: str
    kind: DeviceKind
    ts: datetime
    received_at: datetime
    seq: int | None
    battery: float | None
    fields: dict[str, Any]
    ts_assigned: bool = False

    @property
    def is_heartbeat(self) -> bool:
        return not self.fields

    @property
    def key(self) -> str:
        """Stable identity of the reading, the same for a redelivered message."""
        if self.seq is not None:
            return f"{self.device_id}:s{self.seq}"
        return f"{self.device_id}:t{self.ts.isoformat()}"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A device's retained status topic: ``online`` or ``offline`` (last will)."""

    home_id: str
    device_id: str
    online: bool
    received_at: datetime
    """When it arrived, on the service clock (with ELDERCARE_CLOCK=event: the newest
    event time the gateway had decoded when the status came in)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: str
    """A short machine-readable reason, e.g. ``bad_json`` (see gateway.decode)."""
    detail: str
    """A sentence for people: what exactly was wrong."""
    received_at: datetime
    payload_length: int = -1
    """Bytes of the payload as it arrived (``payload`` may be a bounded prefix of
    it); left out, the length of ``payload``."""

    def __post_init__(self) -> None:
        if self.payload_length < 0:
            object.__setattr__(self, "payload_length", len(self.payload))


# --- alerts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """What a detector concluded: an alert should exist (or be updated).

    ``source_key`` makes raising idempotent: the same finding from a
    redelivered reading changes nothing.
    """

    home_id: str
    subject: str
    """Who or what the alert is about: a resident id, a device id, or the home."""
    kind: AlertKind
    severity: Severity
    at: datetime
    source_key: str
    message: str = ""
    device_id: str | None = None
    resident_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Clearance:
    """The condition behind an alert is over: gas back to zero, leak dry, device
    back online. Written on the open alert's timeline. ``auto_resolve`` is for
    conditions about devices only (``device_offline``): alerts about a person's
    safety are closed only by people."""

    home_id: str
    subject: str
    kind: AlertKind
    at: datetime
    message: str
    auto_resolve: bool = False


Signal = Finding | Clearance
"""What a detector emits."""


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    home_id: str
    subject: str
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    raised_at: datetime
    last_seen_at: datetime
    response_deadline: datetime
    count: int
    message: str
    device_id: str | None
    resident_id: str | None
    responder: str | None = None
    outcome: Outcome | None = None
    updated_at: datetime | None = None
    organisation_id: str | None = None
    """Its home's organisation when it was raised (None: unknown home, or not read)."""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    alert_id: int
    at: datetime
    event: str
    """raised, repeated, acknowledged, dispatched, on_site, resolved, notified, …"""
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What raising a finding did: the alert as it is now, and whether it is new."""

    alert: Alert
    created: bool
