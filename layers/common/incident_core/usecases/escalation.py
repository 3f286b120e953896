"""Escalating on time: the tasks of the escalation state machine, and starting and stopping it.

The state machine (statemachines/escalation.asl.json) carries a position in the incident's policy:
notify that level → wait its delay → check → the next level, the next round, the fallback, or stop. Every
task reads the incident's current state first, so a timer that fires after an acknowledgement pages nobody.
One execution per incident, named after it: a retried start cannot page twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict

from incident_core.errors import ConfigurationError, IncidentGone, RotationNotStarted
from incident_core.models.escalation import (
    FALLBACK_LEVEL,
    EscalationPolicy,
    EscalationTarget,
    Position,
    TargetType,
    parse_policy,
)
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineEntry, TimelineKind
from incident_core.normalizers.common import format_utc
from incident_core.store.incidents import IncidentStore
from incident_core.usecases.catalog import EntityDirectory
from incident_core.usecases.oncall import Rotation, on_call

logger = Logger(child=True)

POLICY_BLUEPRINT = "escalationPolicy"
ROTATION_BLUEPRINT = "onCallRotation"


class EscalationState(BaseModel):
    """The state machine's data between states."""

    model_config = ConfigDict(frozen=True)

    incidentId: str
    policyId: str
    level: int = 0
    round: int = 0
    stop: bool = False
    waitSeconds: int = 0
    reason: str = ""

    @property
    def position(self) -> Position:
        return Position(level=self.level, round=self.round)


class Pager(Protocol):
    """Sends one page: who, about which incident, what to say."""

    def page(self, incident: Incident, recipients: Sequence[str], subject: str, message: str) -> None: ...


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
        """Page the current position's targets (once, even when the task is retried); say how long to wait."""
        state = EscalationState.model_validate(event)
        incident = self._incident(state)
        if reason := _why_stop(incident):
            return _stopped(state, reason)
        directory = self.directory()
        policy = load_policy(directory, state.policyId)
        position = state.position
        entry_key = f"escalation:{incident.identifier}:{position.round}:{position.level}"
        if not any(entry.runId == entry_key for entry in incident.timeline):
            recipients = recipients_of(policy.targets_at(position), directory, self.clock())
            self._page(incident, policy, position, recipients)
            self._record(incident, policy, position, recipients, entry_key)
        return state.model_copy(update={"waitSeconds": policy.delay_at(position), "stop": False}).model_dump()

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
        subject = f"[{incident.severity.value.upper()}] {incident.title} — {label}"
        lines = [
            f"Incident {incident.identifier} is not acknowledged: paging {label} of policy {policy.title}.",
            f"Severity: {incident.severity.value}; services: {', '.join(incident.services) or 'none yet'}.",
            f"Paged: {', '.join(recipients)}.",
        ]
        if url := self.link(incident.identifier):
            lines.append(f"Acknowledge in Port: {url}")
        self.pager().page(incident, recipients, subject, "\n".join(lines))

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
    def start(self, incident: Incident, policy_id: str) -> bool: ...

    def stop(self, incident: Incident, reason: str) -> None: ...

    def running(self) -> set[str]:
        """Names (incident identifiers) of the escalations running now."""
        ...


def reconcile_escalations(control: EscalationControl, incidents: Sequence[Incident]) -> dict[str, list[str]]:
    """Make running escalations match incidents: stop those whose incident was acknowledged or resolved
    (a lost StopExecution), start those of triggered native incidents with a policy (a lost start)."""
    running = control.running()
    by_name = {incident.identifier[:80]: incident for incident in incidents}
    stopped = []
    for name in sorted(running):
        incident = by_name.get(name)
        if incident is not None and (reason := _why_stop(incident)):
            control.stop(incident, f"reconciled: {reason}")
            stopped.append(incident.identifier)
    started = [
        incident.identifier
        for incident in incidents
        if incident.status is IncidentStatus.TRIGGERED
        and incident.escalationPolicy
        and incident.provider is ProviderName.NATIVE
        and incident.identifier[:80] not in running
        and control.start(incident, incident.escalationPolicy)
    ]
    return {"stopped": stopped, "started": started}


class StepFunctionsEscalations:
    """Starts and stops the escalation state machine; the execution is named after the incident."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start(self, incident: Incident, policy_id: str) -> bool:
        """Start the escalation; False when an execution by the incident's name already ran.

        A second start while it runs (same name, same input) is answered by Step Functions with the running
        execution, so a retried trigger never starts a second one and nobody is paged twice.
        """
        state = EscalationState(incidentId=incident.identifier, policyId=policy_id)
        try:
            self._sfn.start_execution(
                stateMachineArn=self._arn, name=incident.identifier[:80], input=state.model_dump_json()
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return False
        return True

    def running(self) -> set[str]:
        pages = self._sfn.get_paginator("list_executions").paginate(stateMachineArn=self._arn, statusFilter="RUNNING")
        return {execution["name"] for page in pages for execution in page["executions"]}

    def stop(self, incident: Incident, reason: str) -> None:
        execution = f"{self._arn.replace(':stateMachine:', ':execution:')}:{incident.identifier[:80]}"
        try:
            self._sfn.stop_execution(executionArn=execution, cause=reason[:256])
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return  # never started (no policy), or already over
