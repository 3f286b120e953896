"""What every lifecycle step shares: its context, its outcome, and the load -> check -> record shape.

A step loads the incident its run is about (`load_incident`), refuses what the incident's state does not
allow (`require_open`, a `StepRefused` with the reason), lets the provider act, then `record`s the change
and a timeline entry in one conditional write. The check runs again inside that write, against the fresh
state, and a run already on the timeline is not recorded twice (`already_done` answers it up front).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from incident_core.config import Settings
from incident_core.errors import NotFound, StepRefused
from incident_core.models.action import ActionRun
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, ProviderName, TimelineEntry, TimelineKind
from incident_core.models.page import Pager
from incident_core.providers.base import IncidentProvider
from incident_core.store.alerts import AlertStore
from incident_core.store.incidents import IncidentStore
from incident_core.support.time import format_utc
from incident_core.usecases.catalog import EntityDirectory
from incident_core.usecases.escalation import EscalationControl

Check = Callable[[Incident], None]
"""Raises `StepRefused` when the step may not happen to this state of the incident."""
Update = Callable[[Incident], Incident]
"""The change a step makes, applied to the incident as the conditional write finds it."""


@dataclass
class LifecycleContext:
    """Everything a step touches, built lazily by the handler; tests pass fakes."""

    incidents: IncidentStore
    alerts: AlertStore
    provider: Callable[[ProviderName], IncidentProvider]
    directory: Callable[[], EntityDirectory]
    pager: Callable[[], Pager]
    """Pages about native incidents (the escalation topic; the native provider is given the same one)."""
    link: Callable[[str], str | None]
    """An incident's page in Port, by identifier."""
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


def load_incident(ctx: LifecycleContext, run: ActionRun) -> Incident:
    """The incident the run was started on; refused when the run has none, `NotFound` when it is unknown."""
    identifier = run.entity_identifier
    if identifier is None:
        raise StepRefused("Run this action on an incident.")
    incident = ctx.incidents.get(identifier)
    if incident is None:
        raise NotFound(f"There is no incident {identifier} in this deployment.")
    return incident


def require_open(incident: Incident, doing: str) -> None:
    """Refuse a step on a resolved incident; `doing` completes "a resolved incident cannot be ..."."""
    if not incident.is_open:
        raise StepRefused(f"Incident {incident.identifier} is resolved; a resolved incident cannot be {doing}.")


def load_open_incident(ctx: LifecycleContext, run: ActionRun, doing: str) -> Incident:
    incident = load_incident(ctx, run)
    require_open(incident, doing)
    return incident


def already_done(incident: Incident, run: ActionRun) -> StepOutcome | None:
    """The outcome of a run the incident's timeline already carries (a redelivery), else None."""
    if any(entry.runId == run.runId for entry in incident.timeline):
        return StepOutcome(incident=incident, summary=f"Already done for run {run.runId}", logs=[])
    return None


def unchanged(incident: Incident) -> Incident:
    return incident


def record(
    ctx: LifecycleContext,
    incident: Incident,
    run: ActionRun,
    kind: TimelineKind,
    text: str,
    *,
    check: Check | None = None,
    update: Update = unchanged,
) -> Incident:
    """One conditional write: re-check the step against the fresh state, apply `update`, add the entry."""
    entry = TimelineEntry(at=ctx.now(), kind=kind, actor=run.user, text=text, runId=run.runId)

    def apply(current: Incident | None) -> Incident | None:
        if current is None:
            raise NotFound(f"There is no incident {incident.identifier} in this deployment.")
        if any(e.runId == run.runId for e in current.timeline):
            return None
        if check is not None:
            check(current)
        return update(current).with_entry(entry)

    updated, _ = ctx.incidents.change(incident.identifier, apply)
    assert updated is not None
    return updated
