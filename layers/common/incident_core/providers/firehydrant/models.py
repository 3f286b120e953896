"""FireHydrant's answers and webhook payloads as far as the adapter reads them, and its vocabulary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel
from incident_core.support.time import format_utc

DEFAULT_MILESTONES = (
    "started",
    "detected",
    "acknowledged",
    "investigating",
    "identified",
    "mitigated",
    "resolved",
    "postmortem_started",
    "postmortem_completed",
    "closed",
)
"""FireHydrant's default milestones in lifecycle order, used when the organisation's phases cannot be read."""

STATUS_OF_MILESTONE = {
    "started": IncidentStatus.TRIGGERED,
    "detected": IncidentStatus.TRIGGERED,
    "acknowledged": IncidentStatus.ACKNOWLEDGED,
    "investigating": IncidentStatus.ACKNOWLEDGED,
    "identified": IncidentStatus.ACKNOWLEDGED,
    "mitigated": IncidentStatus.ACKNOWLEDGED,
    "resolved": IncidentStatus.RESOLVED,
    "retrospective_started": IncidentStatus.RESOLVED,
    "retrospective_completed": IncidentStatus.RESOLVED,
    "postmortem_started": IncidentStatus.RESOLVED,
    "postmortem_completed": IncidentStatus.RESOLVED,
    "closed": IncidentStatus.RESOLVED,
}
"""FireHydrant's default milestones (phases Started, Active, Post-Incident, Closed) -> our status."""


class Ref(VendorModel):
    id: str | None = None
    name: str | None = None
    email: str | None = None
    slug: str | None = None
    position: int = 0

    @property
    def person(self) -> str | None:
        return self.email or self.name or None


class RoleAssignment(VendorModel):
    id: str | None = None
    status: str = "active"
    incident_role: Ref | None = None
    user: Ref | None = None


class Impact(VendorModel):
    impact: Ref | None = None


class Milestone(VendorModel):
    type: str | None = None
    updated_by_id: str | None = None


class TeamAssignment(VendorModel):
    status: str = "active"
    team: Ref | None = None


class FireHydrantIncident(VendorModel):
    id: str | None = None
    number: int | None = None
    incident_url: str | None = None
    current_milestone: str | None = None
    active: bool = True
    severity: str | Ref | None = None
    """A slug in the API's answers, an object in webhooks."""
    tag_list: list[str] = Field(default_factory=list)
    services: list[Ref] = Field(default_factory=list)
    impacts: list[Impact] = Field(default_factory=list)
    role_assignments: list[RoleAssignment] = Field(default_factory=list)
    team_assignments: list[TeamAssignment] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    updated_at: str | None = None

    @property
    def status(self) -> IncidentStatus | None:
        return STATUS_OF_MILESTONE.get((self.current_milestone or "").lower())

    @property
    def severity_slug(self) -> str:
        return (self.severity.slug if isinstance(self.severity, Ref) else self.severity) or ""

    @property
    def label(self) -> str:
        return f"#{self.number}" if self.number is not None and self.number > 0 else str(self.id)

    @property
    def impacted(self) -> set[str | None]:
        """Ids of the services the incident impacts already."""
        return {s.id for s in self.services} | {i.impact.id for i in self.impacts if i.impact}

    def commander(self, role_id: str | None) -> Ref | None:
        """The user holding the commander role: `role_id` when known, else a role named like "Commander"."""
        for assignment in self.role_assignments:
            role, user = assignment.incident_role, assignment.user
            if assignment.status != "active" or role is None or user is None:
                continue
            if role.id == role_id if role_id else "commander" in (role.name or "").lower():
                return user
        return None

    def updated_at_utc(self) -> str | None:
        """FireHydrant times come as ISO 8601 (API) or `2023-07-25 13:34:49 UTC` (webhooks)."""
        if not self.updated_at:
            return None
        try:
            moment = datetime.fromisoformat(self.updated_at.replace(" UTC", "+00:00").replace("Z", "+00:00"))
        except ValueError:
            return None
        return format_utc(moment) if moment.tzinfo else None


class IncidentsPage(VendorModel):
    data: list[FireHydrantIncident] = Field(default_factory=list)


class RoleAssignmentsPage(VendorModel):
    data: list[RoleAssignment] = Field(default_factory=list)


class UsersPage(VendorModel):
    data: list[Ref] = Field(default_factory=list)
    """Users, teams, severities or priorities: the `data` of a listing."""


class Phase(VendorModel):
    position: int = 0
    milestones: list[Ref] = Field(default_factory=list)


class Phases(VendorModel):
    data: list[Phase] = Field(default_factory=list)


class Event(VendorModel):
    type: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """One of many entities (a note, a milestone change, ...); a note's text is somewhere in it."""


class Events(VendorModel):
    data: list[Event] = Field(default_factory=list)


class ErrorAnswer(VendorModel):
    detail: str | None = None
    messages: list[str] = Field(default_factory=list)
    code: str | None = None


# Webhooks


class WebhookEvent(VendorModel):
    resource_type: str | None = None


class WebhookData(VendorModel):
    incident: FireHydrantIncident | None = None


class WebhookPayload(VendorModel):
    event: WebhookEvent | None = None
    data: WebhookData | None = None
