"""The whole lifecycle against a stateful vendor fake, each step run twice, as the queue runs a step again
when its first run got as far as the vendor but not as far as our store.

`LifecycleRecord` stands in for the lifecycle use cases: it records each step's result on the incident the
way they do (status, assignee, level, a timeline entry), so the next step sees what it would see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from incident_core.errors import Unsupported
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, TimelineEntry, TimelineKind
from incident_core.providers.base import EscalationRequest, IncidentProvider, ProviderResult

BY = "ana@example.com"
NEW_OWNER = "bo@example.com"
NOTE = "Rolled back release 42"
AT = "2026-11-27T10:00:00Z"


@dataclass
class LifecycleRecord:
    incident: Incident
    results: list[ProviderResult] = field(default_factory=list)

    def record(self, kind: TimelineKind, result: ProviderResult, **changes: object) -> None:
        self.results.append(result)
        entry = TimelineEntry(at=AT, kind=kind, actor=BY, text=result.message)
        update = {"timeline": (*self.incident.timeline, entry), **changes}
        self.incident = self.incident.model_copy(update=update)


def run_every_step_twice(
    provider: Callable[[], IncidentProvider], incident: Incident, alerts: list[AlertRecord], services: list[str]
) -> LifecycleRecord:
    """trigger -> acknowledge -> reassign -> associate services -> escalate -> add a note -> resolve.

    Each step is called twice on the same incident (the second call is the queue's retry, which finds our
    store unchanged), each time through a freshly built adapter, before the step is recorded.
    """
    life = LifecycleRecord(incident)

    def twice(step: Callable[[IncidentProvider, Incident], ProviderResult]) -> ProviderResult:
        first = step(provider(), life.incident)
        second = step(provider(), life.incident)
        assert first.externalId == second.externalId
        return second

    def kept_here_if_unsupported(step: Callable[[IncidentProvider, Incident], ProviderResult]) -> ProviderResult:
        # As the lifecycle does for services and notes: a tool that cannot keep them leaves them to Port.
        try:
            return twice(step)
        except Unsupported as unsupported:
            return ProviderResult(message=unsupported.message)

    opened = twice(lambda p, i: p.trigger(i, alerts))
    life.record(
        TimelineKind.TRIGGERED,
        opened,
        externalId=opened.externalId,
        url=opened.url,
        providerData={**life.incident.providerData, **opened.providerData},
    )
    acked = twice(lambda p, i: p.acknowledge(i, BY))
    life.record(TimelineKind.ACKNOWLEDGED, acked, status=IncidentStatus.ACKNOWLEDGED, assignee=acked.assignee or BY)
    handed = twice(lambda p, i: p.reassign(i, NEW_OWNER, BY))
    life.record(
        TimelineKind.REASSIGNED,
        handed,
        assignee=handed.assignee or NEW_OWNER,
        status=handed.status or IncidentStatus.TRIGGERED,
    )
    linked = kept_here_if_unsupported(lambda p, i: p.associate_services(i, services, BY))
    life.record(TimelineKind.SERVICES_ASSOCIATED, linked, services=(*life.incident.services, *services))
    escalated = twice(lambda p, i: p.escalate(i, EscalationRequest(), BY))
    life.record(
        TimelineKind.ESCALATED, escalated, escalationLevel=escalated.escalationLevel or life.incident.escalationLevel
    )
    noted = kept_here_if_unsupported(lambda p, i: p.add_note(i, NOTE, BY))
    life.record(TimelineKind.NOTE, noted)
    resolved = twice(lambda p, i: p.resolve(i, "Fixed by the rollback", BY))
    life.record(TimelineKind.RESOLVED, resolved, status=IncidentStatus.RESOLVED)
    return life
