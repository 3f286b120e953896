"""When someone acknowledges, reassigns, notes or resolves in the vendor's own app, the incident follows.

A vendor's change is replayed through the same lifecycle steps as a Port action, with a provider that only
echoes it (the vendor already did it: calling it back would loop). Each change carries a stable run id,
so a webhook delivered twice, or a reconcile that sees what a webhook already applied, changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from incident_core.auth.keys import usable_secret
from incident_core.bounds import check_body_size, check_identifier, parse_json
from incident_core.errors import NotFound, StepRefused
from incident_core.models.action import ActionRun
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, LifecycleStep, ProviderName
from incident_core.providers.base import (
    EscalationRequest,
    ProviderEvent,
    ProviderResult,
    ProviderState,
    SettlesEvents,
)
from incident_core.providers.registry import WEBHOOKS
from incident_core.usecases.incident_toolkit import LifecycleContext, StepOutcome
from incident_core.usecases.steps import STEPS

logger = Logger(child=True)


@dataclass
class EchoProvider:
    """Stands in for the vendor while its own change is recorded: nothing is sent back to it.

    It reports the vendor's view where the step would otherwise decide: who acknowledged, and that a new
    lead does not put an acknowledged incident back to triggered.
    """

    name: ProviderName
    event: ProviderEvent | None = None

    def _done(self, what: str) -> ProviderResult:
        return ProviderResult(message=f"{what} in {self.name.value}")

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        return self._done("Triggered")

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        who = (self.event.assignee or self.event.actor) if self.event else None
        return ProviderResult(message=f"Acknowledged in {self.name.value} by {who or by}", assignee=who)

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        return ProviderResult(
            message=f"Reassigned to {assignee} in {self.name.value}", assignee=assignee, status=incident.status
        )

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        return self._done("Services changed")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        return self._done("Escalated")

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        return self._done("Note added")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        return self._done(f"Resolved by {by}")

    def get(self, incident: Incident) -> ProviderState:
        return ProviderState(status=incident.status, assignee=incident.assignee, url=incident.url)


def _steps_for(event: ProviderEvent, incident: Incident) -> list[tuple[LifecycleStep, dict[str, object]]]:
    steps: list[tuple[LifecycleStep, dict[str, object]]] = []
    acknowledging = event.status is IncidentStatus.ACKNOWLEDGED and incident.status is IncidentStatus.TRIGGERED
    new_owner = event.assignee and event.assignee != incident.assignee and event.status is not IncidentStatus.RESOLVED
    if acknowledging:
        steps.append((LifecycleStep.ACKNOWLEDGE, {}))  # takes custody for the event's assignee
    elif new_owner:
        steps.append((LifecycleStep.REASSIGN, {"assignee": event.assignee}))
    if event.note:
        steps.append((LifecycleStep.ADD_NOTE, {"note": event.note}))
    if event.status is IncidentStatus.RESOLVED and incident.is_open:
        resolution = event.note or f"Resolved in {incident.provider.value} by {event.actor}"
        steps.append((LifecycleStep.RESOLVE, {"resolution": resolution, "resolveAlerts": False}))
    return steps


def apply_provider_event(ctx: LifecycleContext, provider: ProviderName, event: ProviderEvent) -> Incident | None:
    """Record the vendor's change on our incident; None when the event is about an incident we do not know."""
    identifier = ctx.incidents.by_external(provider.value, event.externalId)
    incident = ctx.incidents.get(identifier) if identifier else None
    if incident is None:
        logger.info("provider event for an unknown incident", extra={"provider": provider.value})
        return None
    echo = dataclasses.replace(ctx, provider=lambda _: EchoProvider(provider, event))
    event_key = hashlib.sha256(event.model_dump_json().encode()).hexdigest()[:16]
    for step, inputs in _steps_for(event, incident):
        run = ActionRun(
            runId=f"{provider.value}:{event_key}:{step.value}",
            step=step,
            entity={"identifier": incident.identifier},
            inputs=inputs,
            user=f"{event.actor} ({provider.value})",
        )
        try:
            outcome = STEPS[step].take(echo, run)
            if isinstance(outcome, StepOutcome):
                incident = outcome.incident
        except StepRefused as refused:  # the state already moved on (say, resolved in Port meanwhile)
            logger.info("provider event not applied", extra={"reason": refused.message})
    return incident


def reconcile(ctx: LifecycleContext, incidents: Sequence[Incident]) -> list[Incident]:
    """The backstop for lost webhooks: ask each provider how its open incidents stand, apply differences."""
    changed = []
    for incident in incidents:
        if not incident.is_open or incident.provider is ProviderName.NATIVE or not incident.externalId:
            continue
        try:
            state = ctx.provider(incident.provider).get(incident)
        except Exception:  # one provider's trouble must not stop the others; the next run tries again
            logger.exception("reconcile could not read the incident", extra={"incident": incident.identifier})
            continue
        event = ProviderEvent(
            externalId=incident.externalId,
            status=state.status,
            assignee=state.assignee if state.assignee != incident.assignee else None,
            actor="reconcile",
        )
        if state.status is incident.status and event.assignee is None:
            continue
        updated = apply_provider_event(ctx, incident.provider, event)
        if updated is not None:
            changed.append(updated)
    return changed


def receive_provider_webhook(
    provider: ProviderName,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: Callable[[], str],
    lifecycle: Callable[[], LifecycleContext],
    now: datetime,
    max_body_bytes: int,
) -> list[Incident]:
    """Verify the vendor's signature over the raw body (401 otherwise, nothing changed), then apply."""
    receiver = WEBHOOKS.get(provider)
    if receiver is None:
        raise NotFound(f"{provider.value} sends no webhooks to this bundle")
    check_body_size(body, max_body_bytes)
    receiver.verify(headers, body, usable_secret(secret(), f"{provider.value} webhook"), now=now)
    events = receiver.events(parse_json(body))
    for event in events:
        check_identifier(event.externalId, f"the {provider.value} incident id")
    ctx = lifecycle()
    adapter = ctx.provider(provider) if events else None
    if isinstance(adapter, SettlesEvents):
        # People become emails, as Port names them, and the vendor's echoes of our own writes drop out.
        events = [settled for event in events if (settled := adapter.settle(event)) is not None]
    changed = [apply_provider_event(ctx, provider, event) for event in events]
    return [incident for incident in changed if incident is not None]
