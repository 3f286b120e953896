"""ServiceNow's Table API answers as far as the adapter reads them, and the incident table's vocabulary."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel

STATE_NEW = "1"
STATE_IN_PROGRESS = "2"
STATE_ON_HOLD = "3"
STATE_RESOLVED = "6"
STATE_CLOSED = "7"
STATE_CANCELED = "8"
CLOSED_STATES = (STATE_RESOLVED, STATE_CLOSED, STATE_CANCELED)

STATUS_OF_STATE: dict[str, IncidentStatus] = {
    STATE_NEW: IncidentStatus.TRIGGERED,
    STATE_IN_PROGRESS: IncidentStatus.ACKNOWLEDGED,
    STATE_ON_HOLD: IncidentStatus.ACKNOWLEDGED,
    STATE_RESOLVED: IncidentStatus.RESOLVED,
    STATE_CLOSED: IncidentStatus.RESOLVED,
    STATE_CANCELED: IncidentStatus.RESOLVED,
}
"""ServiceNow's incident states (the Helsinki+ state model) as our statuses; On Hold is being worked on."""


def _value(raw: Any) -> Any:
    """A reference field comes as `{"link", "value"}` unless links are excluded; null is empty."""
    if isinstance(raw, dict):
        raw = raw.get("value")
    return "" if raw is None else str(raw)


FieldValue = Annotated[str, BeforeValidator(_value)]


class Record(VendorModel):
    sys_id: FieldValue = ""
    number: FieldValue = ""
    state: FieldValue = ""
    active: FieldValue = ""
    assigned_to_email: FieldValue = Field(default="", alias="assigned_to.email")
    business_service: FieldValue = ""
    value: FieldValue = ""
    """A journal entry's or a choice's value."""
    label: FieldValue = ""


class RecordAnswer(VendorModel):
    result: Record


class RecordsAnswer(VendorModel):
    result: list[Record]


class Token(VendorModel):
    """`oauth_token.do`'s answer (the password grant adds a refresh token; client credentials do not)."""

    access_token: str = Field(min_length=1)
    expires_in: int = 1799
    refresh_token: str | None = None


class ErrorDetail(VendorModel):
    message: str = Field(min_length=1)
    detail: str | None = None


class ErrorAnswer(VendorModel):
    error: ErrorDetail
