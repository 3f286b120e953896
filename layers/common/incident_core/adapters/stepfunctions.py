"""The escalation state machine on Step Functions: start, resume, stop, and list running escalations.

Executions are named `<incident>-<attempt>`. A name is used once per state machine, running or finished, so a
failed execution (retries exhausted through a long throttle, a Lambda outage) would otherwise block its
incident's escalation for good; the next attempt resumes it. Starting is idempotent: a start while an attempt
runs starts nothing, and two racing starts send the same name and input, which Step Functions answers with the
one running execution — nobody is paged twice.
"""

from __future__ import annotations

from typing import Any

from incident_core.models.escalation import EscalationState
from incident_core.models.incident import Incident

MAX_NAME_LENGTH = 80
RESUMABLE = frozenset({"FAILED", "TIMED_OUT"})
"""How an execution ended that a new attempt should pick up; SUCCEEDED and ABORTED ended on purpose."""


def execution_name(incident_id: str, attempt: int) -> str:
    suffix = f"-{attempt}"
    return f"{incident_id[: MAX_NAME_LENGTH - len(suffix)]}{suffix}"


def incident_of(name: str) -> str:
    """The incident identifier an execution name carries (identifiers we generate are far below the limit)."""
    stem, _, attempt = name.rpartition("-")
    return stem if attempt.isdigit() else name


class StepFunctionsEscalations:
    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start(self, incident: Incident, policy_id: str) -> bool:
        """Start the first attempt, or the next one after a failed attempt; False when an attempt runs or the
        last one ended on purpose. A new attempt resumes at the last position paged."""
        latest = self._latest(incident.identifier)
        if latest is not None and latest[1] not in RESUMABLE:
            return False
        attempt = 1 if latest is None else latest[0] + 1
        state = EscalationState.resuming(incident, policy_id)
        try:
            self._sfn.start_execution(
                stateMachineArn=self._arn,
                name=execution_name(incident.identifier, attempt),
                input=state.model_dump_json(),
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return False  # a racing start of another policy won
        return True

    def running(self) -> set[str]:
        pages = self._sfn.get_paginator("list_executions").paginate(stateMachineArn=self._arn, statusFilter="RUNNING")
        return {incident_of(execution["name"]) for page in pages for execution in page["executions"]}

    def stop(self, incident: Incident, reason: str) -> None:
        latest = self._latest(incident.identifier)
        if latest is None or latest[1] != "RUNNING":
            return  # never started (no policy), or already over
        try:
            self._sfn.stop_execution(
                executionArn=self._execution_arn(execution_name(incident.identifier, latest[0])), cause=reason[:256]
            )
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return

    def _latest(self, incident_id: str) -> tuple[int, str] | None:
        """(attempt, status) of the incident's latest execution, or None before the first."""
        latest = None
        attempt = 1
        while True:
            try:
                described = self._sfn.describe_execution(
                    executionArn=self._execution_arn(execution_name(incident_id, attempt))
                )
            except self._sfn.exceptions.ExecutionDoesNotExist:
                return latest
            latest = (attempt, str(described["status"]))
            attempt += 1

    def _execution_arn(self, name: str) -> str:
        return f"{self._arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
