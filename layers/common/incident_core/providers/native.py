"""The `native` provider: no incident SaaS. The incident lives in this bundle's store and in Port.

Escalation moves to the next level, or to a named policy or user, and pages through the pager it is
given (the escalation SNS topic: subscribers of the operator's choice, such as email, SMS, chat webhooks).
Nothing else leaves the bundle, so every other step only needs the state change the lifecycle records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, ProviderName
from incident_core.models.page import Page, Pager
from incident_core.providers.base import EscalationRequest, ProviderResult, ProviderState


@dataclass
class NativeProvider:
    pager: Pager
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
        page = Page.about(
            incident,
            headline=f"Escalated to level {level}",
            opening=f"{by} escalated incident {incident.identifier} to level {level} ({target}).",
            link=self.link(incident.identifier),
        )
        self.pager.page(page)
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
