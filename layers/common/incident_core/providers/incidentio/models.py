"""incident.io's answers and webhook payloads as far as the adapter reads them, and its vocabulary."""

from __future__ import annotations

from pydantic import Field

from incident_core.models.alert import Severity
from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel

STATUS_OF_CATEGORY: dict[str, IncidentStatus | None] = {
    "triage": IncidentStatus.TRIGGERED,
    "live": None,
    "paused": None,
    "learning": IncidentStatus.RESOLVED,
    "closed": IncidentStatus.RESOLVED,
    "declined": IncidentStatus.RESOLVED,
    "merged": IncidentStatus.RESOLVED,
    "canceled": IncidentStatus.RESOLVED,
}
"""incident.io status category -> our status. Post-incident (`learning`) is resolved: the impact is over.

Active (`live`, `paused`) says nothing by itself: incidents of a type that does not force triage are created
Active, with no one having acknowledged them. Only leaving triage for Active is someone accepting the
incident (`ACCEPTED_FROM`): an acknowledgement."""

ACCEPTED_FROM = "triage"
OPEN_CATEGORIES = frozenset({"triage", "live", "paused"})


def status_of_change(previous: str | None, now: str | None) -> IncidentStatus | None:
    """Our status after incident.io moved an incident from category `previous` to `now` (None: no news)."""
    if previous == ACCEPTED_FROM and now in OPEN_CATEGORIES - {ACCEPTED_FROM}:
        return IncidentStatus.ACKNOWLEDGED
    return STATUS_OF_CATEGORY.get(str(now)) if previous != now else None


RESOLVED_CATEGORIES = ("closed", "learning")
"""Where resolving may move an incident: closed, or a post-incident status of the incident's flow."""

SEVERITY_POSITION: dict[Severity, int] = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.WARNING: 2,
    Severity.INFO: 3,
}
"""Our severity -> the organisation's severity at this position counted from the most severe (highest rank),
or its least severe one when it has fewer; used when `severityIds` does not name one."""


class Named(VendorModel):
    """A severity, status, role, user, escalation path or catalog entry: an id, and what else is read of it."""

    id: str | None = None
    name: str | None = None
    rank: int = 0
    category: str | None = None
    role_type: str | None = None
    email: str | None = None
    catalog_type_id: str | None = None


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


class UserAnswer(VendorModel):
    user: Named


class CustomFieldAnswer(VendorModel):
    custom_field: Named


class CatalogEntries(VendorModel):
    catalog_entries: list[Named]


class PageMeta(VendorModel):
    after: str | None = None


class EscalationPaths(VendorModel):
    escalation_paths: list[Named]
    pagination_meta: PageMeta | None = None


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
    previous_status: Named | None = None
    message: str | None = None


class StatusUpdatedPayload(VendorModel):
    event: StatusUpdated = Field(alias="public_incident.incident_status_updated_v2")


class UpdatedPayload(VendorModel):
    incident: IncidentIoIncident = Field(alias="public_incident.incident_updated_v2")
