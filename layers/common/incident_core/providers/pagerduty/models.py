"""PagerDuty's answers and webhook payloads, as far as the adapter reads them, and its status vocabulary."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from incident_core.models.alert import Severity
from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel

URGENCY_OF_SEVERITY: dict[Severity, Literal["high", "low"]] = {
    Severity.CRITICAL: "high",
    Severity.HIGH: "high",
    Severity.WARNING: "low",
    Severity.INFO: "low",
}
"""PagerDuty has two urgencies: high pages by the high-urgency notification rules, low by the low ones."""

STATUS_OF_PAGERDUTY: dict[str, IncidentStatus] = {
    "triggered": IncidentStatus.TRIGGERED,
    "acknowledged": IncidentStatus.ACKNOWLEDGED,
    "resolved": IncidentStatus.RESOLVED,
}

STATUS_OF_WEBHOOK_EVENT: dict[str, IncidentStatus] = {
    "incident.acknowledged": IncidentStatus.ACKNOWLEDGED,
    "incident.unacknowledged": IncidentStatus.TRIGGERED,
    "incident.reopened": IncidentStatus.TRIGGERED,
    "incident.resolved": IncidentStatus.RESOLVED,
}
ASSIGNMENT_WEBHOOK_EVENTS = frozenset({"incident.reassigned", "incident.delegated", "incident.escalated"})
"""Another user (reassigned, escalated) or another escalation policy (delegated) now holds the incident."""
NOTE_WEBHOOK_EVENT = "incident.annotated"


class Reference(VendorModel):
    """A user, escalation policy, team or service as PagerDuty answers it (expanded or as a reference)."""

    id: str
    summary: str | None = None
    name: str | None = None
    email: str | None = None

    @property
    def label(self) -> str:
        return self.email or self.name or self.summary or self.id

    @property
    def shown(self) -> str:
        return self.name or self.summary or self.id


class Assignment(VendorModel):
    assignee: Reference


class PagerDutyIncident(VendorModel):
    id: str
    status: str
    html_url: str | None = None
    incident_number: int | None = None
    service: Reference | None = None
    escalation_policy: Reference | None = None
    assignments: list[Assignment] = Field(default_factory=list)

    @property
    def holders(self) -> list[Reference]:
        return [assignment.assignee for assignment in self.assignments]

    @property
    def reference(self) -> str:
        return f"#{self.incident_number} ({self.id})" if self.incident_number is not None else self.id


class IncidentAnswer(VendorModel):
    incident: PagerDutyIncident


class IncidentsPage(VendorModel):
    incidents: list[PagerDutyIncident]


class UsersPage(VendorModel):
    users: list[Reference]


class UserAnswer(VendorModel):
    user: Reference


class Note(VendorModel):
    id: str | None = None
    content: str = ""


class NotesPage(VendorModel):
    notes: list[Note]


class Oncall(VendorModel):
    escalation_level: int
    user: Reference | None = None


class OncallsPage(VendorModel):
    oncalls: list[Oncall]


class PrioritiesPage(VendorModel):
    priorities: list[Reference]


class EscalationPoliciesPage(VendorModel):
    escalation_policies: list[Reference]


class TeamsPage(VendorModel):
    teams: list[Reference]


class ErrorDetail(VendorModel):
    message: str | None = None
    code: int | None = None
    errors: list[str] | dict[str, list[str] | str] | None = None
    """Older endpoints list sentences; newer ones map a field to its messages."""


class ErrorAnswer(VendorModel):
    error: ErrorDetail


# Webhooks (v3)


class WebhookPerson(VendorModel):
    """A user as PagerDuty's webhooks send it: a name (`summary`), an email only where expanded."""

    id: str | None = None
    email: str | None = None
    summary: str | None = None
    name: str | None = None

    @property
    def label(self) -> str | None:
        return self.email or self.summary or self.name or self.id


class WebhookIncidentRef(VendorModel):
    id: str


class WebhookData(VendorModel):
    id: str | None = None
    status: str | None = None
    assignees: list[WebhookPerson] = Field(default_factory=list)
    incident: WebhookIncidentRef | None = None
    """Set on `incident.annotated`, whose data is the note."""
    content: str | None = None


class WebhookEvent(VendorModel):
    event_type: str
    occurred_at: str | None = None
    agent: WebhookPerson | None = None
    data: WebhookData | None = None


class WebhookPayload(VendorModel):
    event: WebhookEvent
