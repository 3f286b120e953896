"""incident.io's answers and webhook payloads as far as the adapter reads them, and its vocabulary."""

from __future__ import annotations

from pydantic import Field

from incident_core.models.alert import Severity
from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel

STATUS_OF_CATEGORY: dict[str, IncidentStatus] = {
    "triage": IncidentStatus.TRIGGERED,
    "live": IncidentStatus.ACKNOWLEDGED,
    "paused": IncidentStatus.ACKNOWLEDGED,
    "learning": IncidentStatus.RESOLVED,
    "closed": IncidentStatus.RESOLVED,
    "declined": IncidentStatus.RESOLVED,
    "merged": IncidentStatus.RESOLVED,
    "canceled": IncidentStatus.RESOLVED,
}
"""incident.io status category -> our status. Post-incident (`learning`) is resolved: the impact is over."""

CATEGORY_OF_STATUS: dict[IncidentStatus, str] = {
    IncidentStatus.ACKNOWLEDGED: "live",
    IncidentStatus.RESOLVED: "closed",
}
"""The category whose lowest-ranked status a step moves to when the secret names no status id."""

SEVERITY_POSITION: dict[Severity, int] = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.WARNING: 2,
    Severity.INFO: 3,
}
"""Our severity -> the organisation's severity at this position counted from the most severe (highest rank),
or its least severe one when it has fewer; used when `severityIds` does not name one."""


class Named(VendorModel):
    """A severity, status, role, user or escalation: an id, and what else the adapter reads of it."""

    id: str | None = None
    name: str | None = None
    rank: int = 0
    category: str | None = None
    role_type: str | None = None
    email: str | None = None


class RoleAssignment(VendorModel):
    role: Named | None = None
    assignee: Named | None = None


class IncidentIoIncident(VendorModel):
    id: str | None = None
    reference: str | None = None
    permalink: str | None = None
    severity: Named | None = None
    incident_status: Named | None = None
    incident_role_assignments: list[RoleAssignment] = Field(default_factory=list)
    updated_at: str | None = None

    @property
    def lead(self) -> str | None:
        """Who leads the incident (their email, else their id); None while nobody does."""
        for assignment in self.incident_role_assignments:
            role, assignee = assignment.role, assignment.assignee
            if role is not None and role.role_type == "lead" and assignee is not None:
                return assignee.email or assignee.id
        return None

    @property
    def shown(self) -> str:
        return self.reference or self.id or "the incident"

    @property
    def status_name(self) -> str:
        name = self.incident_status.name if self.incident_status else None
        return f"status {name}" if name else "the new status"


class IncidentAnswer(VendorModel):
    incident: IncidentIoIncident


class EscalationAnswer(VendorModel):
    escalation: Named


class Severities(VendorModel):
    severities: list[Named]


class Statuses(VendorModel):
    incident_statuses: list[Named]


class Roles(VendorModel):
    incident_roles: list[Named]


class Users(VendorModel):
    users: list[Named]


class ErrorSource(VendorModel):
    field: str | None = None


class ApiError(VendorModel):
    code: str | None = None
    message: str | None = None
    source: ErrorSource | None = None


class ErrorAnswer(VendorModel):
    errors: list[ApiError]
    request_id: str | None = None


# Webhooks


class StatusUpdated(VendorModel):
    incident: IncidentIoIncident
    new_status: Named
    message: str | None = None


class StatusUpdatedPayload(VendorModel):
    event: StatusUpdated = Field(alias="public_incident.incident_status_updated_v2")


class UpdatedPayload(VendorModel):
    incident: IncidentIoIncident = Field(alias="public_incident.incident_updated_v2")
