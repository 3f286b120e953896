"""The lifecycle steps Port's actions run: trigger, acknowledge, reassign, associate services, escalate,
add a note, resolve, and find an expert (usecases/skills.py).

Each step is one function of the shape in `incident_toolkit`: load, check, let the provider act, record.
`STEPS` is the one registry: a `Step` names the inputs model its function takes, validates the run's inputs
into exactly that model, and calls the function with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic

from incident_core.errors import NotFound, StepRefused, Unsupported
from incident_core.models.action import (
    AcknowledgeInputs,
    ActionRun,
    AddNoteInputs,
    AssociateServicesInputs,
    EscalateInputs,
    FindExpertInputs,
    InputsT,
    ReassignInputs,
    ResolveInputs,
    TriggerInputs,
    parse_inputs,
)
from incident_core.models.alert import AlertStatus, Severity, dedup_key
from incident_core.models.alert_record import AlertRecord, StatusChange
from incident_core.models.incident import Incident, IncidentStatus, LifecycleStep, ProviderName, TimelineKind
from incident_core.providers.base import EscalationRequest, ProviderResult
from incident_core.usecases.correlation import open_or_attach
from incident_core.usecases.impact import impacted_services
from incident_core.usecases.incident_toolkit import (
    Answer,
    LifecycleContext,
    StepOutcome,
    already_done,
    load_incident,
    load_open_incident,
    record,
    require_open,
)
from incident_core.usecases.postmortem import render_postmortem
from incident_core.usecases.skills import find_expert


@dataclass(frozen=True)
class Step(Generic[InputsT]):
    """A step and the inputs model it takes."""

    inputs: type[InputsT]
    perform: Callable[[LifecycleContext, ActionRun, InputsT], StepOutcome | Answer]

    def inputs_of(self, run: ActionRun) -> InputsT:
        """The run's inputs as this step takes them; `MalformedRequest` names the field otherwise."""
        return parse_inputs(run, self.inputs)

    def take(self, ctx: LifecycleContext, run: ActionRun) -> StepOutcome | Answer:
        return self.perform(ctx, run, self.inputs_of(run))


def _stop_escalation(ctx: LifecycleContext, incident: Incident, reason: str) -> None:
    if ctx.escalations is not None and incident.escalationPolicy is not None:
        ctx.escalations().stop(incident, reason)


def _kept_here_if_unsupported(step: Callable[[], ProviderResult]) -> ProviderResult:
    """Notes and impacted services belong to our timeline even where the vendor has no place for them."""
    try:
        return step()
    except Unsupported as unsupported:
        return ProviderResult(message=f"Recorded here and in Port only: {unsupported.message}")


def trigger(ctx: LifecycleContext, run: ActionRun, inputs: TriggerInputs) -> StepOutcome:
    alerts: list[AlertRecord] = []
    if run.entity_blueprint == "alert" or (run.entity and "externalId" in run.entity.get("properties", {})):
        alerts = [_alert_of_entity(ctx, run.entity or {})]
    if not alerts and not inputs.title:
        raise StepRefused("Give the incident a title (or run this action on an alert).")
    alert = alerts[0] if alerts else None
    services = inputs.services or ([alert.service] if alert and alert.service else [])
    return open_or_attach(
        ctx,
        alerts=alerts,
        services=services,
        title=inputs.title or (alert.title if alert else ""),
        severity=inputs.severity or (alert.severity if alert else Severity.WARNING),
        provider=inputs.provider or ProviderName.NATIVE,
        actor=run.user,
        run_id=run.runId,
        description=alert.description if alert else "",
    )


def _alert_of_entity(ctx: LifecycleContext, entity: dict[str, Any]) -> AlertRecord:
    properties = entity.get("properties") or {}
    source, external_id = properties.get("source"), properties.get("externalId")
    stored = ctx.alerts.get(dedup_key(source, external_id)) if source and external_id else None
    if stored is None:
        raise NotFound(f"The alert {entity.get('identifier')} is not stored in this deployment.")
    return stored


def _acknowledgeable(incident: Incident) -> None:
    require_open(incident, "acknowledged")
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        by = incident.assignee or "someone"
        raise StepRefused(f"Incident {incident.identifier} is already acknowledged by {by}.")


def _acknowledged(current: Incident, *, assignee: str, at: str) -> Incident:
    """Acknowledged by `assignee`; an earlier acknowledgement keeps its time (MTTA counts the first)."""
    first = current.acknowledgedAt or at
    return current.model_copy(
        update={"status": IncidentStatus.ACKNOWLEDGED, "assignee": assignee, "acknowledgedAt": first}
    )


def acknowledge(ctx: LifecycleContext, run: ActionRun, inputs: AcknowledgeInputs) -> StepOutcome:
    incident = load_open_incident(ctx, run, "acknowledged")
    if done := already_done(incident, run):
        return done
    _acknowledgeable(incident)
    result = ctx.provider(incident.provider).acknowledge(incident, run.user)
    text = f"Acknowledged by {run.user}"
    update = partial(_acknowledged, assignee=result.assignee or run.user, at=ctx.now())
    updated = record(ctx, incident, run, TimelineKind.ACKNOWLEDGED, text, check=_acknowledgeable, update=update)
    _stop_escalation(ctx, updated, f"acknowledged by {run.user}")
    return StepOutcome(updated, f"{run.user} acknowledged {updated.identifier}", [result.message])


def _assigned(current: Incident, *, assignee: str, status: IncidentStatus) -> Incident:
    return current.model_copy(update={"assignee": assignee, "status": status})


def reassign(ctx: LifecycleContext, run: ActionRun, inputs: ReassignInputs) -> StepOutcome:
    incident = load_open_incident(ctx, run, "reassigned")
    if done := already_done(incident, run):
        return done
    result = ctx.provider(incident.provider).reassign(incident, inputs.assignee, run.user)
    # Handing over asks the new owner to acknowledge: the incident waits for them as triggered.
    update = partial(
        _assigned, assignee=result.assignee or inputs.assignee, status=result.status or IncidentStatus.TRIGGERED
    )
    text = f"Reassigned from {incident.assignee or 'nobody'} to {inputs.assignee}"
    check = partial(require_open, doing="reassigned")
    updated = record(ctx, incident, run, TimelineKind.REASSIGNED, text, check=check, update=update)
    return StepOutcome(updated, f"{updated.identifier} is now assigned to {updated.assignee}", [result.message])


def _affecting(current: Incident, *, services: Sequence[str], impacted: Sequence[str]) -> Incident:
    return current.model_copy(update={"services": tuple(services), "impactedServices": tuple(impacted)})


def associate_services(ctx: LifecycleContext, run: ActionRun, inputs: AssociateServicesInputs) -> StepOutcome:
    incident = load_incident(ctx, run)
    if done := already_done(incident, run):
        return done
    services = list(dict.fromkeys([*incident.services, *inputs.services]))
    impact = impacted_services(
        services,
        ctx.directory().entities(ctx.settings.service_blueprint),
        relation=ctx.settings.service_dependency_relation,
        max_depth=ctx.settings.impact_depth,
    )
    result = _kept_here_if_unsupported(
        lambda: ctx.provider(incident.provider).associate_services(incident, inputs.services, run.user)
    )
    impacted = ", ".join(impact.impacted) or "none found in the catalog"
    text = f"Associated {', '.join(inputs.services)}; impacted upstream/downstream: {impacted}"
    update = partial(_affecting, services=services, impacted=impact.impacted)
    updated = record(ctx, incident, run, TimelineKind.SERVICES_ASSOCIATED, text, update=update)
    logs = [
        result.message,
        f"Upstream (depend on them): {', '.join(impact.upstream) or 'none'}",
        f"Downstream (they depend on): {', '.join(impact.downstream) or 'none'}",
    ]
    summary = f"{updated.identifier} now affects {', '.join(services)}; impacted: {impacted}"
    return StepOutcome(updated, summary, logs)


def _escalated(current: Incident, *, level: int, policy: str | None, assignee: str | None) -> Incident:
    return current.model_copy(update={"escalationLevel": level, "escalationPolicy": policy, "assignee": assignee})


def escalate(ctx: LifecycleContext, run: ActionRun, inputs: EscalateInputs) -> StepOutcome:
    incident = load_open_incident(ctx, run, "escalated")
    if done := already_done(incident, run):
        return done
    request = EscalationRequest(level=inputs.level, policy=inputs.policy, user=inputs.user)
    result = ctx.provider(incident.provider).escalate(incident, request, run.user)
    level = result.escalationLevel or incident.escalationLevel
    policy = result.escalationPolicy or incident.escalationPolicy
    update = partial(_escalated, level=level, policy=policy, assignee=result.assignee or incident.assignee)
    check = partial(require_open, doing="escalated")
    updated = record(ctx, incident, run, TimelineKind.ESCALATED, result.message, check=check, update=update)
    return StepOutcome(updated, f"Escalated {updated.identifier} to level {level}", [result.message])


def add_note(ctx: LifecycleContext, run: ActionRun, inputs: AddNoteInputs) -> StepOutcome:
    incident = load_incident(ctx, run)
    if done := already_done(incident, run):
        return done
    result = _kept_here_if_unsupported(
        lambda: ctx.provider(incident.provider).add_note(incident, inputs.note, run.user)
    )
    updated = record(ctx, incident, run, TimelineKind.NOTE, inputs.note)
    return StepOutcome(updated, f"Added a note to {updated.identifier}", [result.message])


def _resolved(current: Incident, *, resolution: str, at: str) -> Incident:
    """Resolved at `at`; one never acknowledged counts as acknowledged then (MTTA is never missing)."""
    acknowledged = current.acknowledgedAt or at
    changes = {"status": IncidentStatus.RESOLVED, "resolvedAt": at, "resolution": resolution}
    return current.model_copy(update={**changes, "acknowledgedAt": acknowledged})


def resolve(ctx: LifecycleContext, run: ActionRun, inputs: ResolveInputs) -> StepOutcome:
    incident = load_open_incident(ctx, run, "resolved again")
    if done := already_done(incident, run):
        return done
    result = ctx.provider(incident.provider).resolve(incident, inputs.resolution, run.user)
    now = ctx.now()
    check = partial(require_open, doing="resolved again")
    text = f"Resolved: {inputs.resolution}"
    update = partial(_resolved, resolution=inputs.resolution, at=now)
    resolved = record(ctx, incident, run, TimelineKind.RESOLVED, text, check=check, update=update)
    _stop_escalation(ctx, resolved, f"resolved by {run.user}")
    for key in resolved.correlationKeys:
        ctx.incidents.release(key, resolved.identifier)
    changed_alerts = _resolve_alerts(ctx, resolved, now) if inputs.resolveAlerts else []
    alerts = [a for a in (ctx.alerts.get(key) for key in resolved.alerts) if a is not None]
    postmortem = render_postmortem(resolved, alerts)
    with_postmortem, _ = ctx.incidents.change(
        resolved.identifier, lambda current: current.model_copy(update={"postmortem": postmortem}) if current else None
    )
    final = with_postmortem or resolved
    logs = [result.message, f"Resolved {len(changed_alerts)} attached alert(s)", "Wrote the postmortem draft"]
    return StepOutcome(
        final, f"Resolved {final.identifier}; the postmortem draft is on the incident", logs, changed_alerts
    )


def _resolve_alerts(ctx: LifecycleContext, incident: Incident, now: str) -> list[AlertRecord]:
    changed = []
    for alert_key in incident.alerts:
        stored, written = ctx.alerts.change(
            alert_key,
            lambda current: (
                None
                if current is None or current.status is AlertStatus.RESOLVED
                else current.model_copy(
                    update={
                        "status": AlertStatus.RESOLVED,
                        "endedAt": now,
                        "statusReceivedAt": now,
                        "statusHistory": (*current.statusHistory, StatusChange(status=AlertStatus.RESOLVED, at=now)),
                    }
                )
            ),
        )
        if written and stored is not None:
            changed.append(stored)
    return changed


STEPS: dict[LifecycleStep, Step[Any]] = {
    LifecycleStep.TRIGGER: Step(TriggerInputs, trigger),
    LifecycleStep.ACKNOWLEDGE: Step(AcknowledgeInputs, acknowledge),
    LifecycleStep.REASSIGN: Step(ReassignInputs, reassign),
    LifecycleStep.ASSOCIATE_SERVICES: Step(AssociateServicesInputs, associate_services),
    LifecycleStep.ESCALATE: Step(EscalateInputs, escalate),
    LifecycleStep.ADD_NOTE: Step(AddNoteInputs, add_note),
    LifecycleStep.RESOLVE: Step(ResolveInputs, resolve),
    LifecycleStep.FIND_EXPERT: Step(FindExpertInputs, find_expert),
}
"""Every step Port's actions run, by route; each takes exactly its inputs model."""
