"""The incident: its status machine, its timeline, and what Port shows of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from incident_core.models.alert import Severity


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ProviderName(StrEnum):
    """Where an incident lives; `native` means in this bundle and in Port only."""

    NATIVE = "native"
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    SERVICENOW = "servicenow"
    JIRA = "jira"
    INCIDENTIO = "incidentio"
    FIREHYDRANT = "firehydrant"


class LifecycleStep(StrEnum):
    """The steps Port's self-service actions run; the value is the route: POST /actions/<value>."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    REASSIGN = "reassign"
    ASSOCIATE_SERVICES = "associate-services"
    ESCALATE = "escalate"
    ADD_NOTE = "add-note"
    RESOLVE = "resolve"
    FIND_EXPERT = "find-expert"


class TimelineKind(StrEnum):
    TRIGGERED = "triggered"
    ALERT_ATTACHED = "alert_attached"
    ACKNOWLEDGED = "acknowledged"
    REASSIGNED = "reassigned"
    SERVICES_ASSOCIATED = "services_associated"
    ESCALATED = "escalated"
    NOTIFIED = "notified"
    NOTE = "note"
    RESOLVED = "resolved"
    RESPONDER_ADDED = "responder_added"


URGENCY_OF_SEVERITY = {
    Severity.CRITICAL: "high",
    Severity.HIGH: "high",
    Severity.WARNING: "low",
    Severity.INFO: "low",
}


class TimelineEntry(BaseModel):
    """One thing that happened to an incident: who, when, what, and from which alert or action run."""

    model_config = ConfigDict(frozen=True)

    at: str
    kind: TimelineKind
    actor: str
    """A user's email, or `system` / `<source>` for automatic changes."""
    text: str
    alert: str | None = None
    """The Port identifier of the alert behind the entry, if any."""
    runId: str | None = None


class Incident(BaseModel):
    """An incident as the store keeps it; `version` guards every change (optimistic concurrency)."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    title: str
    description: str = ""
    status: IncidentStatus = IncidentStatus.TRIGGERED
    severity: Severity = Severity.WARNING
    urgency: str = "low"
    provider: ProviderName = ProviderName.NATIVE
    externalId: str | None = None
    url: str | None = None
    assignee: str | None = None
    escalationLevel: int = 1
    escalationPolicy: str | None = None
    createdAt: str
    acknowledgedAt: str | None = None
    resolvedAt: str | None = None
    resolution: str | None = None
    services: tuple[str, ...] = ()
    impactedServices: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    """Deduplication keys (`<source>-<externalId>`) of the attached alerts."""
    correlationKeys: tuple[str, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    postmortem: str | None = None
    providerData: dict[str, Any] = Field(default_factory=dict)
    """What a provider needs to find its own record again (ids, request ids)."""
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    @property
    def mtta_seconds(self) -> float | None:
        return _seconds_between(self.createdAt, self.acknowledgedAt)

    @property
    def mttr_seconds(self) -> float | None:
        return _seconds_between(self.createdAt, self.resolvedAt)

    def with_entry(self, entry: TimelineEntry, **changes: Any) -> Incident:
        return self.model_copy(update={**changes, "timeline": (*self.timeline, entry)})


def _seconds_between(start: str, end: str | None) -> float | None:
    if end is None:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
