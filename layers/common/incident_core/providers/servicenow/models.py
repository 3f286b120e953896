"""ServiceNow's Table API answers as far as the adapter reads them, and the incident table's vocabulary."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from incident_core.models.alert import Severity
from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel

STATE_NEW = "1"
STATE_IN_PROGRESS = "2"
STATE_ON_HOLD = "3"
STATE_RESOLVED = "6"
STATE_CLOSED = "7"
STATE_CANCELED = "8"
CLOSED_STATES = (STATE_RESOLVED, STATE_CLOSED, STATE_CANCELED)

URGENCY_IMPACT_OF_SEVERITY: dict[Severity, tuple[int, int]] = {
    Severity.CRITICAL: (1, 1),  # priority 1 - Critical
    Severity.HIGH: (1, 2),  # priority 2 - High
    Severity.WARNING: (2, 2),  # priority 3 - Moderate
    Severity.INFO: (3, 3),  # priority 5 - Planning
}
"""Our severity as ServiceNow's urgency and impact (1 high, 2 medium, 3 low); the instance derives priority."""

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


class RecordAnswer(VendorModel):
    result: Record


class RecordsAnswer(VendorModel):
    result: list[Record]


class ErrorDetail(VendorModel):
    message: str = Field(min_length=1)
    detail: str | None = None


class ErrorAnswer(VendorModel):
    error: ErrorDetail
