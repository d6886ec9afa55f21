"""Bodies of the resident record and the audit log (issue 15).

The record is replaced whole by ``PUT /api/v1/residents/{id}/record``; unknown
fields are refused (a misspelt field is a 422, not lost). The provisioning
file's optional ``record`` object of a resident has the same fields.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from dashboard_api.models import Phone

KEY_SAFE_MASK = "••••"
"""What an operator is shown instead of a key-safe code."""

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Lines = Annotated[list[Line], Field(max_length=50)]


class Mobility(StrEnum):
    INDEPENDENT = "independent"
    WALKING_AID = "walking_aid"
    WHEELCHAIR = "wheelchair"
    BEDBOUND = "bedbound"


class Hearing(StrEnum):
    NORMAL = "normal"
    HARD_OF_HEARING = "hard_of_hearing"
    HEARING_AID = "hearing_aid"
    DEAF = "deaf"


def _check_birth(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise ValueError("date_of_birth is in the future")
    if value.year < 1890:
        raise ValueError("date_of_birth is before 1890")
    return value


class RecordFields(BaseModel):
    """The record: health, how to talk to the resident, how to get in."""

    model_config = ConfigDict(extra="forbid")

    date_of_birth: Annotated[date, AfterValidator(_check_birth)] | None = Field(
        None, description="YYYY-MM-DD"
    )
    conditions: Lines = Field(default_factory=list, description="e.g. diabetes, dementia")
    medications: Lines = Field(default_factory=list, description="name, dose, when")
    allergies: Lines = Field(default_factory=list)
    mobility: Mobility | None = None
    gp_name: Line | None = Field(None, description="the family doctor")
    gp_phone: Phone | None = None
    hospital: Line | None = Field(None, description="the hospital that knows the resident")
    language: Line | None = Field(None, description="e.g. Mandarin, Cantonese")
    dialect: Line | None = Field(None, description="e.g. Shanghainese")
    hearing: Hearing | None = None
    key_safe_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z#*-]{3,16}$")] | None = (
        Field(None, description="3-16 digits or letters; shown to supervisors and admins only")
    )
    entry_instructions: Text | None = Field(None, description="how to get in (door, gate)")
    pets: Line | None = Field(None, description="e.g. a dog that bites")


class RecordRead(BaseModel):
    resident_id: str
    date_of_birth: date | None
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    mobility: Mobility | None
    gp_name: str | None
    gp_phone: str | None
    hospital: str | None
    language: str | None
    dialect: str | None
    hearing: Hearing | None
    key_safe_code: str | None = Field(
        description=f"the code; {KEY_SAFE_MASK!r} to an operator; null when none is set"
    )
    key_safe_code_hidden: bool = Field(
        description="true when the account may not see the code (an operator)"
    )
    entry_instructions: str | None
    pets: str | None
    updated_at: datetime | None = Field(description="null: no record yet")
    updated_by: str | None


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="the account's username")
    address: str = Field(description="the client address the request came from")
    action: str
    target: str
    organisation_id: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None
