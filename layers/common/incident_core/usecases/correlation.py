"""Correlation: is there already an incident for this? Attach to it, or open exactly one.

An incident claims correlation keys: `alert#<dedup key>` for each of its alerts, `service#<name>` for each
of its services. A service's claim only counts within the correlation window, an alert's for as long as the
incident is open. Opening starts with a conditional write on the first key, so among racing triggers one
opens the incident and the others attach to it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from incident_core.errors import Conflict, NotFound
from incident_core.models.alert import AlertStatus, Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import (
    URGENCY_OF_SEVERITY,
    Incident,
    ProviderName,
    TimelineEntry,
    TimelineKind,
)
from incident_core.support.time import format_utc
from incident_core.usecases.incident_toolkit import LifecycleContext, StepOutcome

INCIDENT_LOOKUP_ATTEMPTS = 20
"""A racing trigger that lost the claim waits this many short moments for the winner's incident."""


def new_incident_identifier(now: datetime) -> str:
    return f"inc-{now.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _alert_key(alert: AlertRecord) -> str:
    return f"alert#{alert.dedup_key}"


def _service_key(service: str) -> str:
    return f"service#{service}"


def _window_start(ctx: LifecycleContext) -> str:
    return format_utc(ctx.clock() - timedelta(minutes=ctx.settings.correlation_window_minutes))


def _stale_before(ctx: LifecycleContext, key: str) -> str | None:
    return _window_start(ctx) if key.startswith("service#") else None


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
    outcome = _ensure_provider_triggered(ctx, created, alerts)
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


def _wait_for(ctx: LifecycleContext, identifier: str) -> Incident:
    for _ in range(INCIDENT_LOOKUP_ATTEMPTS):
        incident = ctx.incidents.get(identifier)
        if incident is not None:
            return incident
        ctx.pause(0.1)
    raise Conflict(f"incident {identifier} is being opened by another request; try again")


def _ensure_provider_triggered(ctx: LifecycleContext, incident: Incident, alerts: Sequence[AlertRecord]) -> StepOutcome:
    """Open the incident in its provider once; a retried trigger after a provider failure does it then."""
    if incident.providerData.get("triggeredAt"):
        return StepOutcome(incident=incident, summary="", logs=[])
    result = ctx.provider(incident.provider).trigger(incident, alerts)
    now = ctx.now()

    def triggered(current: Incident | None) -> Incident | None:
        if current is None or current.providerData.get("triggeredAt"):
            return None
        return current.model_copy(
            update={
                "externalId": result.externalId or current.externalId,
                "url": result.url or current.url,
                "providerData": {**current.providerData, **result.providerData, "triggeredAt": now},
            }
        )

    updated, _ = ctx.incidents.change(incident.identifier, triggered)
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
    """Attach the alerts the incident does not have yet: a timeline entry each, their services too."""
    now = ctx.now()
    new_alerts = [a for a in alerts if a.dedup_key not in incident.alerts]

    def attached(current: Incident | None) -> Incident | None:
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

    updated, _ = ctx.incidents.change(incident.identifier, attached)
    updated = updated or incident
    triggered = _ensure_provider_triggered(ctx, updated, alerts)
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
