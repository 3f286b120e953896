"""Escalating on time: the tasks of the escalation state machine, and starting and stopping it.

The state machine (statemachines/escalation.asl.json) carries a position in the incident's policy:
notify that level → wait its delay → check → the next level, the next round, the fallback, or stop. Every
task reads the incident's current state first, so a timer that fires after an acknowledgement pages nobody.
Every page is recorded on the incident's timeline under its position, so no position is paged twice: not by a
retried task, and not by a new execution that resumes a failed one (see `EscalationState.resuming`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from incident_core.errors import ConfigurationError, IncidentGone, RotationNotStarted
from incident_core.models.escalation import (
    FALLBACK_LEVEL,
    EscalationPolicy,
    EscalationState,
    EscalationTarget,
    Position,
    TargetType,
    page_key,
    parse_policy,
)
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineEntry, TimelineKind
from incident_core.models.oncall import Rotation
from incident_core.models.page import Page, Pager
from incident_core.store.incidents import IncidentStore
from incident_core.support.time import format_utc
from incident_core.usecases.catalog import EntityDirectory
from incident_core.usecases.oncall import on_call

logger = Logger(child=True)

POLICY_BLUEPRINT = "escalationPolicy"
ROTATION_BLUEPRINT = "onCallRotation"


def load_policy(directory: EntityDirectory, identifier: str) -> EscalationPolicy:
    entity = directory.entity(POLICY_BLUEPRINT, identifier)
    if entity is None:
        raise ConfigurationError(f"there is no escalation policy {identifier} in the {POLICY_BLUEPRINT} blueprint")
    document = {"identifier": identifier, "title": entity.get("title") or identifier, **entity.get("properties", {})}
    return parse_policy(document, source=identifier)


def load_rotation(directory: EntityDirectory, identifier: str) -> Rotation:
    entity = directory.entity(ROTATION_BLUEPRINT, identifier)
    if entity is None:
        raise ConfigurationError(f"there is no on-call rotation {identifier} in the {ROTATION_BLUEPRINT} blueprint")
    try:
        return Rotation.model_validate(entity.get("properties", {}))
    except ValueError as exc:
        raise ConfigurationError(f"on-call rotation {identifier} is invalid: {exc}") from exc


def recipients_of(targets: Sequence[EscalationTarget], directory: EntityDirectory, at: datetime) -> list[str]:
    """Who gets paged: users, teams and leadership as named, a schedule's person on call right now."""
    found = []
    for target in targets:
        if target.type is not TargetType.SCHEDULE:
            found.append(target.id)
            continue
        try:
            found.append(on_call(load_rotation(directory, target.id), at))
        except RotationNotStarted:
            logger.warning("the rotation has not started: nobody on call", extra={"rotation": target.id})
    return list(dict.fromkeys(found))


def _stopped(state: EscalationState, reason: str) -> dict[str, Any]:
    return state.model_copy(update={"stop": True, "reason": reason}).model_dump()


def _why_stop(incident: Incident | None) -> str | None:
    if incident is None:
        return None
    if incident.status is IncidentStatus.RESOLVED:
        return "resolved"
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        return f"acknowledged by {incident.assignee or 'someone'}"
    return None


@dataclass
class EscalationTasks:
    incidents: IncidentStore
    directory: Callable[[], EntityDirectory]
    pager: Callable[[], Pager]
    link: Callable[[str], str | None]
    clock: Callable[[], datetime]

    def _incident(self, state: EscalationState) -> Incident:
        incident = self.incidents.get(state.incidentId)
        if incident is None:
            raise IncidentGone(f"incident {state.incidentId} does not exist")
        return incident

    def notify(self, event: dict[str, Any]) -> dict[str, Any]:
        """Page the current position's targets (once, even when the task is retried); say how long to wait:
        the position's delay, or what is left of it when the page went out before (a retry, a resumed run)."""
        state = EscalationState.model_validate(event)
        incident = self._incident(state)
        if reason := _why_stop(incident):
            return _stopped(state, reason)
        directory = self.directory()
        policy = load_policy(directory, state.policyId)
        position = state.position
        entry_key = page_key(incident.identifier, position)
        paged = next((entry for entry in incident.timeline if entry.runId == entry_key), None)
        wait = policy.delay_at(position)
        if paged is None:
            recipients = recipients_of(policy.targets_at(position), directory, self.clock())
            self._page(incident, policy, position, recipients)
            self._record(incident, policy, position, recipients, entry_key)
        else:
            waited = (self.clock() - datetime.fromisoformat(paged.at)).total_seconds()
            wait = max(0, wait - int(waited))
        return state.model_copy(update={"waitSeconds": wait, "stop": False}).model_dump()

    def check(self, event: dict[str, Any]) -> dict[str, Any]:
        """After the wait: stop if someone acknowledged (or resolved), else move to the next position."""
        state = EscalationState.model_validate(event)
        if reason := _why_stop(self.incidents.get(state.incidentId)):
            return _stopped(state, reason)
        policy = load_policy(self.directory(), state.policyId)
        following = policy.after(state.position)
        if following is None:
            return _stopped(state, "the policy is exhausted")
        return state.model_copy(update={"level": following.level, "round": following.round}).model_dump()

    def _page(
        self, incident: Incident, policy: EscalationPolicy, position: Position, recipients: Sequence[str]
    ) -> None:
        label = _label(position)
        page = Page.about(
            incident,
            headline=f"Not acknowledged, paging {label}",
            opening=f"Incident {incident.identifier} is not acknowledged: paging {label} of policy {policy.title}.",
            link=self.link(incident.identifier),
            recipients=recipients,
        )
        self.pager().page(page)

    def _record(
        self,
        incident: Incident,
        policy: EscalationPolicy,
        position: Position,
        recipients: Sequence[str],
        entry_key: str,
    ) -> None:
        entry = TimelineEntry(
            at=format_utc(self.clock()),
            kind=TimelineKind.NOTIFIED,
            actor="escalation",
            text=f"Paged {_label(position)} of {policy.title}: {', '.join(recipients)}",
            runId=entry_key,
        )

        def add(current: Incident | None) -> Incident | None:
            if current is None or any(e.runId == entry_key for e in current.timeline):
                return None
            level = current.escalationLevel if position.level == FALLBACK_LEVEL else position.level + 1
            return current.with_entry(entry, escalationLevel=level, escalationPolicy=policy.identifier)

        self.incidents.change(incident.identifier, add)


def _label(position: Position) -> str:
    if position.level == FALLBACK_LEVEL:
        return "the fallback"
    suffix = f" (repeat {position.round})" if position.round else ""
    return f"level {position.level + 1}{suffix}"


class EscalationControl(Protocol):
    def start(self, incident: Incident, policy_id: str) -> bool:
        """Start (or resume, after a failed execution) the incident's escalation; False when one is running or
        when its last execution ended on purpose (acknowledged, resolved, the policy exhausted)."""
        ...

    def stop(self, incident: Incident, reason: str) -> None: ...

    def running(self) -> set[str]:
        """Identifiers of the incidents whose escalation is running now."""
        ...


def reconcile_escalations(control: EscalationControl, incidents: Sequence[Incident]) -> dict[str, list[str]]:
    """Make running escalations match incidents: stop those whose incident was acknowledged or resolved
    (a lost StopExecution); start those of triggered native incidents with a policy that are not running (a
    lost start, or an execution that failed: `start` resumes it, and leaves an escalation that ended alone)."""
    running = control.running()
    stopped = []
    for incident in incidents:
        if incident.identifier in running and (reason := _why_stop(incident)):
            control.stop(incident, f"reconciled: {reason}")
            stopped.append(incident.identifier)
    started = [
        incident.identifier
        for incident in incidents
        if incident.status is IncidentStatus.TRIGGERED
        and incident.escalationPolicy
        and incident.provider is ProviderName.NATIVE
        and incident.identifier not in running
        and control.start(incident, incident.escalationPolicy)
    ]
    return {"stopped": sorted(stopped), "started": started}
