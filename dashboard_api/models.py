"""Request and response bodies of the REST API (pydantic v2).

Names follow ``<Resource>Create / <Resource>Read / <Resource>Update``. Create and
update bodies refuse unknown fields, so a misspelt field is a 422, not a silent
no-op. Update bodies are partial: only the fields sent change; ``null`` is
accepted only where the field may be empty (``Update.nullable``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from detectors.config import check_overrides
from eldercare.device_source import EsphomeSource, Source, check_objects
from eldercare.domain import (
    E164_PATTERN,
    ID_PATTERN,
    AlertKind,
    AlertStatus,
    DeviceKind,
    Outcome,
    Role,
    Severity,
)
from eldercare.passwords import MIN_PASSWORD_LENGTH


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


def _check_rules(value: dict[str, float]) -> dict[str, float]:
    problems = check_overrides(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def check_device_fields(kind: DeviceKind, resident_id: str | None) -> None:
    """Raise ValueError when the device fields do not fit together."""
    if kind is DeviceKind.BED_BAND and resident_id is None:
        raise ValueError("a bed_band device needs a resident_id: it measures one person")


MIN_YEAR, MAX_YEAR = 1900, 8999
"""The years a time the API takes may be in: moved to UTC, or a span or a month
away, it is still a date (year 9999 with an offset of -05:00 is not)."""


def check_time(value: datetime) -> datetime:
    """Raise ValueError for a time outside the years MIN_YEAR to MAX_YEAR."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(
            f"{value.isoformat()} is out of range: give a time in the years"
            f" {MIN_YEAR} to {MAX_YEAR}"
        )
    return value


Time = Annotated[datetime, AfterValidator(check_time)]
"""A date-time of a query or body (without an offset: UTC where the route says so)."""
AwareTime = Annotated[AwareDatetime, AfterValidator(check_time)]
"""A date-time with an offset."""
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]
MAX_ROW_ID = 2**63 - 1
"""Largest id a database row can have (64-bit signed); larger path ids are a 422."""
Phone = Annotated[
    str,
    StringConstraints(pattern=E164_PATTERN.pattern),
    Field(description="E.164, e.g. +8613800138000"),
]
TimeZone = Annotated[
    str, AfterValidator(_check_timezone), Field(description="IANA, e.g. Asia/Shanghai")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=500)]
Language = Literal["zh-CN", "en"]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=256)]
LimitName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
RuleValues = Annotated[
    dict[LimitName, float],
    AfterValidator(_check_rules),
    Field(description="Detector settings by name (see GET /api/v1/homes/{id}/rules)"),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _Update(_Body):
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.nullable:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(exclude_unset=True, mode="python")


# --- homes ----------------------------------------------------------------------


class HomeCreate(_Body):
    id: Id
    name: Name
    address: Text = ""
    timezone: TimeZone | None = Field(
        default=None, description="IANA time zone; the service default when omitted"
    )
    rules: RuleValues = Field(
        default_factory=dict, description='Per-home detector overrides, e.g. {"bed_exit_min": 45}'
    )
    organisation_id: Id | None = Field(
        default=None,
        description="the care centre the home belongs to; default (and the only one allowed"
        " unless you are a platform admin): your own",
    )


class HomeRead(_Read):
    id: str
    name: str
    address: str
    timezone: str
    rules: dict[str, float] = Field(default_factory=dict)
    organisation_id: str = Field(description="the care centre the home belongs to")


class HomeUpdate(_Update):
    name: Name | None = None
    address: Text | None = None
    timezone: TimeZone | None = None
    rules: RuleValues | None = None


class RuleRead(BaseModel):
    """One detector setting as it applies to a home (and resident)."""

    name: str
    value: float
    default: float
    unit: str
    set_by: Literal["default", "home", "resident"]
    rule: str
    source: str = Field(description="where the default comes from (DOMAIN.md)")


class DeviceStatusRead(BaseModel):
    device_id: str
    kind: DeviceKind
    location: str
    resident_id: str | None
    online: bool | None = Field(
        description="a status `offline`, or silent past its supervision interval, is false;"
        " seen within it (or a status `online`) is true; null when it has never said anything"
    )
    online_basis: Literal["status", "last_seen"] | None = Field(
        default=None, description="what `online` comes from: the status topic or last seen"
    )
    offline_after_s: int = Field(
        default=0, description="seconds of silence after which the device counts as offline"
    )
    last_seen: datetime | None
    battery: float | None


class LatestVitalsRead(BaseModel):
    device_id: str
    resident_id: str
    ts: datetime = Field(description="when the bed band measured it")
    hr: float | None = Field(description="heart rate, beats/min; null when not measured")
    rr: float | None = Field(description="respiration, breaths/min; null when not measured")
    in_bed: bool | None


class HomeStatusRead(BaseModel):
    home_id: str
    devices: list[DeviceStatusRead]
    vitals: list[LatestVitalsRead] = Field(
        description="per bed band, its newest reading with vital signs"
    )


# --- residents ------------------------------------------------------------------


class ResidentCreate(_Body):
    id: Id
    home_id: Id
    name: Name
    limits: RuleValues = Field(
        default_factory=dict, description='Personal detector limits, e.g. {"hr_low": 45}'
    )


class ResidentRead(_Read):
    id: str
    home_id: str
    name: str
    limits: dict[str, float]


class ResidentUpdate(_Update):
    name: Name | None = None
    limits: RuleValues | None = None


class VitalsBucketRead(BaseModel):
    start: datetime = Field(description="start of the bucket (aligned to the Unix epoch)")
    count: int = Field(description="readings in the bucket")
    min: float
    avg: float
    max: float


class VitalsRead(BaseModel):
    resident_id: str
    metric: Literal["hr", "rr"]
    start: datetime = Field(alias="from", description="first instant included")
    end: datetime = Field(alias="to", description="first instant not included")
    bucket_seconds: int
    buckets: list[VitalsBucketRead] = Field(description="oldest first; empty buckets left out")

    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "resident_id": "h1-r1",
                    "metric": "hr",
                    "from": "2026-01-10T00:00:00Z",
                    "to": "2026-01-10T01:00:00Z",
                    "bucket_seconds": 60,
                    "buckets": [
                        {
                            "start": "2026-01-10T00:00:00Z",
                            "count": 6,
                            "min": 61.0,
                            "avg": 64.5,
                            "max": 70.0,
                        }
                    ],
                }
            ]
        },
    )


# --- devices --------------------------------------------------------------------


SOURCE_DESCRIPTION = (
    "Not a native device: the ecosystem and address it publishes under, e.g. "
    '{"type": "zigbee2mqtt", "topic": "zigbee2mqtt/bathroom_radar"} (README: Off-the-shelf '
    "devices); null or left out = native topics"
)


class DeviceCreate(_Body):
    id: Id
    home_id: Id
    kind: DeviceKind
    resident_id: Id | None = Field(default=None, description="required for bed_band")
    location: Text = ""
    source: Source | None = Field(default=None, description=SOURCE_DESCRIPTION)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        check_device_fields(self.kind, self.resident_id)
        check_device_source(self.kind, self.source)
        return self


class DeviceRead(_Read):
    id: str
    home_id: str
    kind: DeviceKind
    resident_id: str | None
    location: str
    source: dict[str, Any] | None = None


class DeviceUpdate(_Update):
    nullable: ClassVar[frozenset[str]] = frozenset({"resident_id", "source"})
    kind: DeviceKind | None = None
    resident_id: Id | None = None
    location: Text | None = None
    source: Source | None = Field(default=None, description=SOURCE_DESCRIPTION)


def check_device_source(kind: DeviceKind, source: BaseModel | None) -> None:
    """Raise ValueError when an ESPHome object mapping names a field the kind lacks."""
    if isinstance(source, EsphomeSource):
        check_objects(kind.value, source)


def source_dict(source: BaseModel | None) -> dict[str, Any] | None:
    """A source model as stored (defaults left out, so it reads back as it was sent)."""
    return None if source is None else source.model_dump(mode="json", exclude_defaults=True)


# --- contacts -------------------------------------------------------------------


SmsProvider = Literal["twilio", "aliyun", "tencent", "console"]
SMS_PROVIDER_HELP = (
    "this person's SMS provider; null = the centre's ELDERCARE_SMS_PROVIDER "
    "(a number outside +86 goes through Twilio when it is configured)"
)


class ContactCreate(_Body):
    home_id: Id
    name: Name
    phone: Phone
    language: Language = "zh-CN"
    priority: int = Field(default=1, ge=1, le=1000, description="1 = called first")
    sms_provider: SmsProvider | None = Field(default=None, description=SMS_PROVIDER_HELP)


class ContactRead(_Read):
    id: int
    home_id: str
    name: str
    phone: str
    language: str
    priority: int
    sms_provider: str | None = None


class ContactUpdate(_Update):
    nullable: ClassVar[frozenset[str]] = frozenset({"sms_provider"})
    name: Name | None = None
    phone: Phone | None = None
    language: Language | None = None
    priority: int | None = Field(default=None, ge=1, le=1000)
    sms_provider: SmsProvider | None = Field(default=None, description=SMS_PROVIDER_HELP)


# --- users ----------------------------------------------------------------------


class UserCreate(_Body):
    username: Username
    password: Password = Field(
        description=f"write-only; at least {MIN_PASSWORD_LENGTH} characters, not a common"
        " or breached password"
    )
    role: Role
    phone: Phone | None = Field(default=None, description="supervisors with a phone get SMS")
    organisation_id: Id | None = Field(
        default=None,
        description="the care centre the account works for; default (and the only one"
        " allowed unless you are a platform admin): your own. A platform admin who leaves"
        " it out makes another platform admin (role admin only)",
    )


class UserRead(_Read):
    username: str
    role: Role
    phone: str | None
    organisation_id: str | None = Field(
        default=None, description="the care centre; null for a platform admin"
    )


# --- organisations (platform admins) ---------------------------------------------


class OrganisationCreate(_Body):
    id: Id
    name: Name


class OrganisationRead(_Read):
    id: str
    name: str


class UnlockRead(BaseModel):
    username: str
    addresses: list[str] = Field(description="the addresses whose failed logins were cleared")


class UserUpdate(_Update):
    nullable: ClassVar[frozenset[str]] = frozenset({"phone"})
    password: Password | None = None
    role: Role | None = None
    phone: Phone | None = None


# --- alerts ---------------------------------------------------------------------


class AlertRead(_Read):
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
    responder: str | None
    outcome: Outcome | None
    updated_at: datetime | None


class AlertChangeRead(AlertRead):
    """One event of the live stream: the alert as it is now, and what happened."""

    change: str = Field(
        description="raised, repeated, acknowledged, dispatched, on_site, resolved, notified"
    )


class TimelineEntryRead(_Read):
    id: int | None
    at: datetime
    event: str
    actor: str | None
    details: dict[str, Any]


class AlertHomeRead(BaseModel):
    id: str
    name: str
    address: str
    timezone: str


class AlertResidentRead(BaseModel):
    id: str
    name: str


class AlertDeviceRead(BaseModel):
    id: str
    kind: DeviceKind
    location: str


class FamilyReplyRead(BaseModel):
    at: datetime
    body: str
    handling: bool = Field(description="1 / OK / 收到: the family is handling it")


class AlertContactRead(BaseModel):
    """A family contact of the home, with what this alert sent them and their replies."""

    id: int
    name: str
    phone: str
    language: str
    priority: int
    messages: int = Field(description="SMS and calls of this alert to this contact")
    last_status: str | None = Field(
        description="delivery status of the newest of them (queued, sent, delivered, failed, …)"
    )
    replies: list[FamilyReplyRead] = Field(description="oldest first")
    handling: bool = Field(description="replied 1 / OK / 收到 to this alert")


class AlertStepRead(BaseModel):
    """One rung of the alert's escalation ladder."""

    name: str
    round: int
    due_at: datetime
    action: str = Field(description="sms, voice or breach")
    target: str
    state: str = Field(description="pending, claimed, done, skipped or cancelled")


class AlertDetail(AlertRead):
    timeline: list[TimelineEntryRead] = Field(description="oldest first")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="what the detector measured (e.g. median, limit, how, delayed_s),"
        " from the raise and its repeats",
    )
    home: AlertHomeRead | None = Field(default=None, description="null if the home was removed")
    resident: AlertResidentRead | None = None
    device: AlertDeviceRead | None = None
    contacts: list[AlertContactRead] = Field(
        default_factory=list, description="the home's family contacts, by priority"
    )
    people_notified: int = Field(
        default=0,
        description="distinct people (family and supervisors) an SMS or call of this alert"
        " reached or is on its way to (failed, undelivered and withheld ones left out)",
    )
    escalation: list[AlertStepRead] = Field(
        default_factory=list, description="the ladder's steps, by due time"
    )


class AlertPage(BaseModel):
    items: list[AlertRead]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next, older page")


class DispatchRequest(_Body):
    responder: Name = Field(description="who is going to the home")


class ResolveRequest(_Body):
    outcome: Outcome | None = Field(
        default=None, description="required: handled, false_alarm, no_access, transferred"
    )
    note: Text | None = None


# --- auth and health ------------------------------------------------------------


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, bool]
    reasons: dict[str, str] = Field(
        default_factory=dict, description="why a check failed or what it noticed, by name"
    )
