"""The `native` provider: no incident SaaS. The incident lives in this bundle's store and in Port.

Escalation moves to the next level, or to a named policy or user, and pages through the escalation
SNS topic (subscribers of the operator's choice: email, SMS, chat webhooks). Nothing else leaves the
bundle, so every other step only needs the state change the lifecycle records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, ProviderName
from incident_core.providers.base import EscalationRequest, ProviderResult, ProviderState


class Notifier(Protocol):
    def notify(self, incident: Incident, subject: str, message: str) -> None: ...


@dataclass
class NativeProvider:
    notifier: Notifier
    link: Callable[[str], str | None]
    """The incident's page in Port, for the people paged."""
    name: ProviderName = ProviderName.NATIVE

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        return ProviderResult(
            message="Opened the incident in Port (native provider)", url=self.link(incident.identifier)
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        return ProviderResult(message=f"Acknowledged by {by}")

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        return ProviderResult(message=f"Reassigned to {assignee}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        return ProviderResult(message=f"Associated {', '.join(services)}")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        level = request.level or incident.escalationLevel + 1
        policy = request.policy or incident.escalationPolicy
        target = request.user or (f"policy {policy}" if policy else "the on-call responders")
        subject = f"[{incident.severity.value.upper()}] Escalated to level {level}: {incident.title}"[:100]
        lines = [
            f"{by} escalated incident {incident.identifier} to level {level} ({target}).",
            f"Title: {incident.title}",
            f"Severity: {incident.severity.value}, status: {incident.status.value}",
            f"Services: {', '.join(incident.services) or 'none yet'}",
        ]
        url = self.link(incident.identifier)
        if url:
            lines.append(f"Open in Port: {url}")
        self.notifier.notify(incident, subject, "\n".join(lines))
        return ProviderResult(
            message=f"Escalated to level {level}; paged {target}",
            escalationLevel=level,
            escalationPolicy=policy,
            assignee=request.user,
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        return ProviderResult(message="Added the note")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        return ProviderResult(message=f"Resolved by {by}")

    def get(self, incident: Incident) -> ProviderState:
        return ProviderState(status=incident.status, assignee=incident.assignee, url=incident.url)
