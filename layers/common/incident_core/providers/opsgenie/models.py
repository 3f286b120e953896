"""Opsgenie's answers as far as the adapter reads them, and its vocabulary (priorities, alert states)."""

from __future__ import annotations

from pydantic import Field

from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel

STATUS_OF_ALERT: dict[tuple[str, bool], IncidentStatus] = {
    ("open", False): IncidentStatus.TRIGGERED,
    ("open", True): IncidentStatus.ACKNOWLEDGED,
    ("closed", False): IncidentStatus.RESOLVED,
    ("closed", True): IncidentStatus.RESOLVED,
}
"""(alert `status`, `acknowledged` flag) -> our status."""


class Accepted(VendorModel):
    """The 202 of every write: the request is queued, and its id tells how it went."""

    requestId: str = Field(min_length=1)


class RequestStatus(VendorModel):
    isSuccess: bool | None = None
    status: str | None = None
    alertId: str | None = None


class RequestStatusAnswer(VendorModel):
    data: RequestStatus = Field(default_factory=RequestStatus)


class Alert(VendorModel):
    id: str | None = None
    status: str | None = None
    acknowledged: bool = False
    owner: str | None = None


class AlertAnswer(VendorModel):
    data: Alert = Field(default_factory=Alert)


class Note(VendorModel):
    note: str = ""


class NotesAnswer(VendorModel):
    data: list[Note] = Field(default_factory=list)


class ErrorAnswer(VendorModel):
    message: str
    errors: dict[str, str] = Field(default_factory=dict)
    """A 422 lists each field's complaint."""
