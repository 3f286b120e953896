"""The incident lifecycle: open or attach, acknowledge, reassign, associate services, escalate, note, resolve.

Every step follows one shape: load the incident, refuse what its state does not allow (a `StepRefused`
with the reason), let the provider act in its own system, then record the change and a timeline entry in
one conditional write. A step already recorded for the same run id is not done twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from incident_core.config import Settings
from incident_core.errors import Conflict, NotFound, StepRefused, Unsupported
from incident_core.models.action import (
    ActionRun,
    AddNoteInputs,
    AssociateServicesInputs,
    EscalateInputs,
    ReassignInputs,
    ResolveInputs,
    StepInputs,
    TriggerInputs,
)
from incident_core.models.alert import AlertStatus, Severity, dedup_key
from incident_core.models.alert_record import AlertRecord, StatusChange
from incident_core.models.incident import (
    URGENCY_OF_SEVERITY,
    Incident,
    IncidentStatus,
    LifecycleStep,
    ProviderName,
    TimelineEntry,
    TimelineKind,
)
from incident_core.normalizers.common import format_utc
from incident_core.providers.base import EscalationRequest, IncidentProvider, ProviderResult
from incident_core.store.alerts import AlertStore
from incident_core.store.incidents import IncidentStore
from incident_core.usecases.catalog import EntityDirectory
from incident_core.usecases.escalation import EscalationControl
from incident_core.usecases.impact import impacted_services
from incident_core.usecases.postmortem import render_postmortem
from incident_core.usecases.skills import find_expert

logger = Logger(child=True)

SYSTEM_ACTOR = "system"
INCIDENT_LOOKUP_ATTEMPTS = 20
"""A racing trigger that lost the claim waits this many short moments for the winner's incident."""


@dataclass
class LifecycleContext:
    """Everything a step touches, built lazily by the handler; tests pass fakes."""

    incidents: IncidentStore
    alerts: AlertStore
    provider: Callable[[ProviderName], IncidentProvider]
    directory: Callable[[], EntityDirectory]
    settings: Settings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    pause: Callable[[float], None] = field(default=lambda seconds: None)
    escalations: Callable[[], EscalationControl] | None = None
    """The timed escalation of native incidents; None where no state machine is deployed."""

    def now(self) -> str:
        return format_utc(self.clock())


@dataclass
class StepOutcome:
    """What a step did: the incident after it, a summary for the run, and the log lines of each step taken."""

    incident: Incident
    summary: str
    logs: list[str]
    changed_alerts: list[AlertRecord] = field(default_factory=list)
    opened: bool = False


@dataclass
class Answer:
    """A step that answers without changing an incident (a search run without one): what the run shows."""

    summary: str
    logs: list[str]


def new_incident_identifier(now: datetime) -> str:
    return f"inc-{now.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


# Correlation: "is there already an incident for this?"


def _alert_key(alert: AlertRecord) -> str:
    return f"alert#{alert.dedup_key}"


def _service_key(service: str) -> str:
    return f"service#{service}"


def _window_start(ctx: LifecycleContext) -> str:
    return format_utc(ctx.clock() - timedelta(minutes=ctx.settings.correlation_window_minutes))


def find_open_incident(
    ctx: LifecycleContext, alerts: Sequence[AlertRecord], services: Sequence[str]
) -> Incident | None:
    """The open incident that owns one of the alerts' keys, or one of the services within the window."""
    window_start = _window_start(ctx)
    keys = [(_alert_key(a), False) for a in alerts] + [(_service_key(s), True) for s in services]
    for key, windowed in keys:
        claim = ctx.incidents.correlation(key)
        if claim is None or not claim.open or (windowed and claim.claimedAt < window_start):
            continue
        incident = ctx.incidents.get(claim.incidentId)
        if incident is not None and incident.is_open:
            return incident
    return None


def open_or_attach(
    ctx: LifecycleContext,
    *,
    alerts: Sequence[AlertRecord],
    services: Sequence[str],
    title: str,
    severity: Severity,
    provider: ProviderName,
    actor: str,
    run_id: str | None = None,
    description: str = "",
    escalation_policy: str | None = None,
) -> StepOutcome:
    """Attach to the incident already open for these alerts or services, or open exactly one.

    The first correlation key is claimed with a conditional write before anything else happens, so
    among racing triggers one opens the incident and the others attach to it.
    """
    existing = find_open_incident(ctx, alerts, services)
    if existing is not None:
        return _attach(ctx, existing, alerts, actor, run_id, already_open=True)

    now = ctx.clock()
    identifier = new_incident_identifier(now)
    keys = [_alert_key(a) for a in alerts] + [_service_key(s) for s in services]
    if keys:
        owner = ctx.incidents.claim(keys[0], identifier, now=format_utc(now), stale_before=_stale_before(ctx, keys[0]))
        if owner.incidentId != identifier:
            return _attach(ctx, _wait_for(ctx, owner.incidentId), alerts, actor, run_id, already_open=True)
        for key in keys[1:]:
            ctx.incidents.claim(key, identifier, now=format_utc(now), stale_before=_stale_before(ctx, key))

    opened_at = format_utc(now)
    policy = escalation_policy or ctx.settings.default_escalation_policy or None
    incident = Incident(
        identifier=identifier,
        title=title,
        description=description,
        severity=severity,
        urgency=URGENCY_OF_SEVERITY[severity],
        provider=provider,
        createdAt=opened_at,
        services=tuple(dict.fromkeys(services)),
        alerts=tuple(a.dedup_key for a in alerts),
        correlationKeys=tuple(keys),
        escalationPolicy=policy if provider is ProviderName.NATIVE else None,
        timeline=(
            TimelineEntry(
                at=opened_at,
                kind=TimelineKind.TRIGGERED,
                actor=actor,
                text=f"Triggered: {title} ({severity.value})",
                alert=alerts[0].identifier if alerts else None,
                runId=run_id,
            ),
        ),
    )
    created, _ = ctx.incidents.change(identifier, lambda current: incident if current is None else None)
    assert created is not None
    outcome = _ensure_provider_triggered(ctx, created, alerts, actor)
    linked = _link_alerts(ctx, outcome.incident, alerts)
    escalation = _start_escalation(ctx, outcome.incident)
    return StepOutcome(
        incident=outcome.incident,
        summary=f"Opened incident {identifier}: {title}",
        logs=[f"No open incident for this; opened {identifier}", *outcome.logs, *escalation],
        changed_alerts=linked,
        opened=True,
    )


def _start_escalation(ctx: LifecycleContext, incident: Incident) -> list[str]:
    """Native incidents walk their escalation policy on a timer; SaaS providers escalate by themselves."""
    if ctx.escalations is None or incident.escalationPolicy is None or incident.provider is not ProviderName.NATIVE:
        return []
    started = ctx.escalations().start(incident, incident.escalationPolicy)
    return [f"Escalation by policy {incident.escalationPolicy} {'started' if started else 'was already running'}"]


def _stop_escalation(ctx: LifecycleContext, incident: Incident, reason: str) -> None:
    if ctx.escalations is not None and incident.escalationPolicy is not None:
        ctx.escalations().stop(incident, reason)


def _stale_before(ctx: LifecycleContext, key: str) -> str | None:
    return _window_start(ctx) if key.startswith("service#") else None


def _wait_for(ctx: LifecycleContext, identifier: str) -> Incident:
    for _ in range(INCIDENT_LOOKUP_ATTEMPTS):
        incident = ctx.incidents.get(identifier)
        if incident is not None:
            return incident
        ctx.pause(0.1)
    raise Conflict(f"incident {identifier} is being opened by another request; try again")


def _ensure_provider_triggered(
    ctx: LifecycleContext, incident: Incident, alerts: Sequence[AlertRecord], actor: str
) -> StepOutcome:
    """Open the incident in its provider once; a retried trigger after a provider failure does it then."""
    if incident.providerData.get("triggeredAt"):
        return StepOutcome(incident=incident, summary="", logs=[])
    result = ctx.provider(incident.provider).trigger(incident, alerts)
    now = ctx.now()

    def record(current: Incident | None) -> Incident | None:
        if current is None or current.providerData.get("triggeredAt"):
            return None
        return current.model_copy(
            update={
                "externalId": result.externalId or current.externalId,
                "url": result.url or current.url,
                "providerData": {**current.providerData, **result.providerData, "triggeredAt": now},
            }
        )

    updated, _ = ctx.incidents.change(incident.identifier, record)
    if result.externalId:
        ctx.incidents.link_external(incident.provider.value, result.externalId, incident.identifier)
    return StepOutcome(incident=updated or incident, summary="", logs=[result.message])


def _attach(
    ctx: LifecycleContext,
    incident: Incident,
    alerts: Sequence[AlertRecord],
    actor: str,
    run_id: str | None,
    *,
    already_open: bool,
) -> StepOutcome:
    now = ctx.now()
    new_alerts = [a for a in alerts if a.dedup_key not in incident.alerts]

    def attach(current: Incident | None) -> Incident | None:
        if current is None:
            raise NotFound(f"incident {incident.identifier} does not exist")
        fresh = [a for a in new_alerts if a.dedup_key not in current.alerts]
        if not fresh:
            return None
        entries = tuple(
            TimelineEntry(
                at=now,
                kind=TimelineKind.ALERT_ATTACHED,
                actor=actor,
                text=f"Alert attached: {a.title} ({a.source.value}, {a.severity.value})",
                alert=a.identifier,
                runId=run_id,
            )
            for a in fresh
        )
        services = tuple(dict.fromkeys([*current.services, *(a.service for a in fresh if a.service)]))
        return current.model_copy(
            update={
                "alerts": (*current.alerts, *(a.dedup_key for a in fresh)),
                "services": services,
                "timeline": (*current.timeline, *entries),
            }
        )

    updated, _ = ctx.incidents.change(incident.identifier, attach)
    updated = updated or incident
    triggered = _ensure_provider_triggered(ctx, updated, alerts, actor)
    linked = _link_alerts(ctx, triggered.incident, alerts)
    names = ", ".join(a.identifier for a in new_alerts) or "nothing new"
    summary = (
        f"An incident is already open for this: {updated.identifier} ({updated.title}); attached {names}"
        if already_open
        else f"Attached {names} to {updated.identifier}"
    )
    return StepOutcome(
        incident=triggered.incident,
        summary=summary,
        logs=[f"Found open incident {updated.identifier}; attached {names}", *triggered.logs],
        changed_alerts=linked,
    )


def _link_alerts(ctx: LifecycleContext, incident: Incident, alerts: Sequence[AlertRecord]) -> list[AlertRecord]:
    linked = []
    for alert in alerts:
        record, written = ctx.alerts.change(
            alert.dedup_key,
            lambda current: (
                None
                if current is None or current.incidentId == incident.identifier
                else current.model_copy(update={"incidentId": incident.identifier})
            ),
        )
        if written and record is not None:
            linked.append(record)
    return linked


def correlate_alert(ctx: LifecycleContext, alert: AlertRecord) -> StepOutcome | None:
    """The processor's question for each open alert: attach it, open one for it, or leave it alone."""
    if alert.status is AlertStatus.RESOLVED or alert.incidentId is not None:
        return None
    services = [alert.service] if alert.service else []
    existing = find_open_incident(ctx, [alert], services)
    if existing is not None:
        return _attach(ctx, existing, [alert], alert.source.value, None, already_open=False)
    rule = next((r for r in ctx.settings.auto_trigger_rules if r.matches(alert)), None)
    if rule is None:
        return None
    return open_or_attach(
        ctx,
        alerts=[alert],
        services=services,
        title=alert.title,
        severity=alert.severity,
        provider=rule.provider,
        actor=alert.source.value,
        description=alert.description,
        escalation_policy=rule.escalationPolicy,
    )


# The steps Port's actions run


def _load_open(ctx: LifecycleContext, run: ActionRun, doing: str) -> Incident:
    incident = _load(ctx, run)
    _must_be_open(doing)(incident)
    return incident


def _load(ctx: LifecycleContext, run: ActionRun) -> Incident:
    identifier = run.entity_identifier
    if identifier is None:
        raise StepRefused("Run this action on an incident.")
    incident = ctx.incidents.get(identifier)
    if incident is None:
        raise NotFound(f"There is no incident {identifier} in this deployment.")
    return incident


def _already_done(incident: Incident, run: ActionRun) -> StepOutcome | None:
    if any(entry.runId == run.runId for entry in incident.timeline):
        return StepOutcome(incident=incident, summary=f"Already done for run {run.runId}", logs=[])
    return None


def _record(
    ctx: LifecycleContext,
    incident: Incident,
    run: ActionRun,
    kind: TimelineKind,
    text: str,
    allowed: Callable[[Incident], None],
    **changes: Any,
) -> Incident:
    """One conditional write: re-check the step against the fresh state, apply it, add the entry."""
    entry = TimelineEntry(at=ctx.now(), kind=kind, actor=run.user, text=text, runId=run.runId)

    def apply(current: Incident | None) -> Incident | None:
        if current is None:
            raise NotFound(f"There is no incident {incident.identifier} in this deployment.")
        if any(e.runId == run.runId for e in current.timeline):
            return None
        allowed(current)
        values = {k: (v(current) if callable(v) else v) for k, v in changes.items()}
        return current.with_entry(entry, **values)

    updated, _ = ctx.incidents.change(incident.identifier, apply)
    assert updated is not None
    return updated


def _must_be_open(doing: str) -> Callable[[Incident], None]:
    def check(incident: Incident) -> None:
        if not incident.is_open:
            raise StepRefused(f"Incident {incident.identifier} is resolved; a resolved incident cannot be {doing}.")

    return check


def _any_state(_: Incident) -> None:
    return None


def _kept_here_if_unsupported(step: Callable[[], ProviderResult]) -> ProviderResult:
    """Notes and impacted services belong to our timeline even where the vendor has no place for them."""
    try:
        return step()
    except Unsupported as unsupported:
        return ProviderResult(message=f"Recorded here and in Port only: {unsupported.message}")


def trigger(ctx: LifecycleContext, run: ActionRun, inputs: StepInputs) -> StepOutcome:
    assert isinstance(inputs, TriggerInputs)
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
    record = ctx.alerts.get(dedup_key(source, external_id)) if source and external_id else None
    if record is None:
        raise NotFound(f"The alert {entity.get('identifier')} is not stored in this deployment.")
    return record


def acknowledge(ctx: LifecycleContext, run: ActionRun, inputs: StepInputs) -> StepOutcome:
    incident = _load_open(ctx, run, "acknowledged")
    if done := _already_done(incident, run):
        return done

    def allowed(current: Incident) -> None:
        _must_be_open("acknowledged")(current)
        if current.status is IncidentStatus.ACKNOWLEDGED:
            raise StepRefused(
                f"Incident {current.identifier} is already acknowledged by {current.assignee or 'someone'}."
            )

    allowed(incident)
    result = ctx.provider(incident.provider).acknowledge(incident, run.user)
    updated = _record(
        ctx,
        incident,
        run,
        TimelineKind.ACKNOWLEDGED,
        f"Acknowledged by {run.user}",
        allowed,
        status=IncidentStatus.ACKNOWLEDGED,
        assignee=result.assignee or run.user,
        acknowledgedAt=lambda current: current.acknowledgedAt or ctx.now(),
    )
    _stop_escalation(ctx, updated, f"acknowledged by {run.user}")
    return StepOutcome(updated, f"{run.user} acknowledged {updated.identifier}", [result.message])


def reassign(ctx: LifecycleContext, run: ActionRun, inputs: StepInputs) -> StepOutcome:
    assert isinstance(inputs, ReassignInputs)
    incident = _load_open(ctx, run, "reassigned")
    if done := _already_done(incident, run):
        return done
    result = ctx.provider(incident.provider).reassign(incident, inputs.assignee, run.user)
    # Handing over asks the new owner to acknowledge: the incident waits for them as triggered.
    updated = _record(
        ctx,
        incident,
        run,
        TimelineKind.REASSIGNED,
        f"Reassigned from {incident.assignee or 'nobody'} to {inputs.assignee}",
        _must_be_open("reassigned"),
        assignee=result.assignee or inputs.assignee,
        status=result.status or IncidentStatus.TRIGGERED,
    )
    return StepOutcome(updated, f"{updated.identifier} is now assigned to {updated.assignee}", [result.message])


def associate_services(ctx: LifecycleContext, run: ActionRun, inputs: StepInputs) -> StepOutcome:
    assert isinstance(inputs, AssociateServicesInputs)
    incident = _load(ctx, run)
    if done := _already_done(incident, run):
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
    updated = _record(
        ctx,
        incident,
        run,
        TimelineKind.SERVICES_ASSOCIATED,
        f"Associated {', '.join(inputs.services)}; impacted upstream/downstream: {impacted}",
        _any_state,
        services=tuple(services),
        impactedServices=tuple(impact.impacted),
    )
    logs = [
        result.message,
        f"Upstream (depend on them): {', '.join(impact.upstream) or 'none'}",
        f"Downstream (they depend on): {', '.join(impact.downstream) or 'none'}",
    ]
    summary = f"{updated.identifier} now affects {', '.join(services)}; impacted: {impacted}"
    return StepOutcome(updated, summary, logs)


def escalate(ctx: LifecycleContext, run: ActionRun, inputs: StepInputs) -> StepOutcome:
    assert isinstance(inputs, EscalateInputs)
    incident = _load_open(ctx, run, "escalated")
    if done := _already_done(incident, run):
        return done
    request = EscalationRequest(level=inputs.level, policy=inputs.policy, user=inputs.user)
    result = ctx.provider(incident.provider).escalate(incident, request, run.user)
    level = result.escalationLevel or incident.escalationLevel
    updated = _record(
        ctx,
        incident,
        run,
        TimelineKind.ESCALATED,
        result.message,
        _must_be_open("escalated"),
        escalationLevel=level,
        escalationPolicy=result.escalationPolicy or incident.escalationPolicy,
        assignee=result.assignee or incident.assignee,
    )
    return StepOutcome(updated, f"Escalated {updated.identifier} to level {level}", [result.message])


def add_note(ctx: LifecycleContext, run: ActionRun, inputs: StepInputs) -> StepOutcome:
    assert isinstance(inputs, AddNoteInputs)
    incident = _load(ctx, run)
    if done := _already_done(incident, run):
        return done
    result = _kept_here_if_unsupported(
        lambda: ctx.provider(incident.provider).add_note(incident, inputs.note, run.user)
    )
    updated = _record(ctx, incident, run, TimelineKind.NOTE, inputs.note, _any_state)
    return StepOutcome(updated, f"Added a note to {updated.identifier}", [result.message])


def resolve(ctx: LifecycleContext, run: ActionRun, inputs: StepInputs) -> StepOutcome:
    assert isinstance(inputs, ResolveInputs)
    incident = _load_open(ctx, run, "resolved again")
    if done := _already_done(incident, run):
        return done
    result = ctx.provider(incident.provider).resolve(incident, inputs.resolution, run.user)
    now = ctx.now()
    resolved = _record(
        ctx,
        incident,
        run,
        TimelineKind.RESOLVED,
        f"Resolved: {inputs.resolution}",
        _must_be_open("resolved again"),
        status=IncidentStatus.RESOLVED,
        resolvedAt=now,
        resolution=inputs.resolution,
        acknowledgedAt=lambda current: current.acknowledgedAt or now,
    )
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
        record, written = ctx.alerts.change(
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
        if written and record is not None:
            changed.append(record)
    return changed


StepHandler = Callable[[LifecycleContext, ActionRun, StepInputs], StepOutcome | Answer]

STEPS: dict[LifecycleStep, StepHandler] = {
    LifecycleStep.TRIGGER: trigger,
    LifecycleStep.ACKNOWLEDGE: acknowledge,
    LifecycleStep.REASSIGN: reassign,
    LifecycleStep.ASSOCIATE_SERVICES: associate_services,
    LifecycleStep.ESCALATE: escalate,
    LifecycleStep.ADD_NOTE: add_note,
    LifecycleStep.RESOLVE: resolve,
    LifecycleStep.FIND_EXPERT: find_expert,
}
