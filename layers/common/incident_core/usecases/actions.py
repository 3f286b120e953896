"""Port's self-service actions: accept a signed run, queue it, run its step once, report back.

The front (one function per step) only verifies, validates and queues, so a Port or provider outage
never loses a run: the queue retries it, and a run that cannot complete is reported as FAILURE with a
sentence a person understands. The ledger of runs makes a redelivered run repeat its answer, not its work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from incident_core.auth.port_signature import verify_port_signature
from incident_core.bounds import check_body_size, check_queued_size, parse_json, queued_size
from incident_core.errors import (
    ConfigurationError,
    Conflict,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    StepRefused,
    Unsupported,
    UpstreamError,
)
from incident_core.models.action import ActionRun, parse_action_run
from incident_core.models.incident import Incident, LifecycleStep
from incident_core.retry import WaitBudget, waits_within
from incident_core.store.incidents import IncidentStore, RunRecord
from incident_core.support.time import format_utc
from incident_core.usecases.incident_toolkit import Answer, LifecycleContext, StepOutcome
from incident_core.usecases.projection import Projector
from incident_core.usecases.steps import STEPS

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = Logger(child=True)

SUCCESS, FAILURE = "SUCCESS", "FAILURE"
REFUSALS = (StepRefused, Unsupported, NotFound, MalformedRequest, ConfigurationError)
"""Errors that no retry can fix: the run fails at once with their sentence."""
STEP_WAIT_SECONDS = 40.0
"""The most one step waits in total for rate limits and retries: it runs in one worker invocation (60 s)."""


class RunReporter(Protocol):
    """Where a run's progress goes: Port's run log and status (or nowhere, without Port credentials)."""

    def log(self, run_id: str, message: str) -> None: ...

    def finish(self, run_id: str, status: str, summary: str, link: str | None) -> None: ...


class ActionQueue:
    """SQS FIFO: runs on one incident are executed one at a time, in the order Port sent them."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, run: ActionRun) -> None:
        group = run.entity_identifier or run.runId
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=run.model_dump_json(),
            MessageGroupId=hashlib.sha256(group.encode()).hexdigest(),
            MessageDeduplicationId=hashlib.sha256(run.runId.encode()).hexdigest(),
        )


@dataclass(frozen=True)
class Accepted:
    status_code: int
    message: str
    run_id: str


def accept_action(
    step: LifecycleStep,
    headers: Mapping[str, str],
    body: bytes,
    *,
    client_secret: str,
    now: datetime,
    ledger: Callable[[], IncidentStore],
    queue: Callable[[], ActionQueue],
    reporter: Callable[[], RunReporter],
    max_body_bytes: int,
) -> Accepted:
    """Verify Port's signature over the raw body, validate the run, and queue it.

    Raises `PayloadTooLarge` (413), `AuthenticationError` (401, nothing done) or `MalformedRequest` (400).
    A signed run with bad inputs is also reported to Port as FAILURE, so it does not hang in progress.
    """
    check_body_size(body, max_body_bytes)
    verify_port_signature(headers, body, client_secret, now=now)
    run = parse_action_run(step, parse_json(body))
    try:
        STEPS[run.step].inputs_of(run)
        check_queued_size(queued_size(run.model_dump_json()), "body")
    except (MalformedRequest, PayloadTooLarge) as exc:
        reporter().finish(run.runId, FAILURE, f"The action's inputs are not valid: {exc.message}", None)
        raise
    answered = ledger().run(run.runId)
    if answered is not None and answered.status is not None:
        _repeat_answer(answered, reporter())
        return Accepted(200, answered.summary or "already answered", run.runId)
    queue().send(run)
    return Accepted(202, f"{step.value} accepted; progress is reported on the run", run.runId)


def _repeat_answer(answered: RunRecord, reporter: RunReporter) -> None:
    reporter.finish(answered.runId, answered.status or FAILURE, answered.summary or "", answered.link)


@dataclass
class ActionRunner:
    """Runs queued action runs: the step once, then the projection into Port and the report."""

    ledger: IncidentStore
    lifecycle: Callable[[], LifecycleContext]
    projector: Callable[[], Projector]
    reporter: Callable[[], RunReporter]
    link: Callable[[Incident], str | None]
    max_attempts: int
    record_metrics: Callable[[StepOutcome, LifecycleStep], None] = lambda outcome, step: None

    def execute(self, run: ActionRun, attempt: int) -> None:
        """Raise to have the queue retry (a transient failure before the last attempt); otherwise report."""
        answered = self.ledger.run(run.runId)
        if answered is not None and answered.status is not None:
            self._project_current(answered)
            _repeat_answer(answered, self.reporter())
            return
        if answered is None:
            self.ledger.start_run(run.runId, run.step.value, now=format_utc(self.lifecycle().clock()))
        try:
            outcome = self._run_step(run)
        except REFUSALS as refusal:
            self._finish(run, FAILURE, refusal.message, None)
            return
        except (UpstreamError, Conflict) as error:
            retryable = not isinstance(error, UpstreamError) or error.retryable
            if retryable and attempt < self.max_attempts:
                logger.warning("step failed; the queue will retry it", extra={"reason": error.message})
                self.reporter().log(run.runId, f"Attempt {attempt} failed, will retry: {error.message}")
                raise
            self._finish(run, FAILURE, f"Could not {run.step.value} after {attempt} attempt(s): {error.message}", None)
            return
        if isinstance(outcome, Answer):
            self.ledger.finish_run(run.runId, status=SUCCESS, summary=outcome.summary, link=None)
            self._report(run, outcome.logs, outcome.summary, None)
            return
        link = self.link(outcome.incident)
        self.ledger.finish_run(
            run.runId, status=SUCCESS, summary=outcome.summary, link=link, incident_id=outcome.incident.identifier
        )
        self.record_metrics(outcome, run.step)
        self._project(outcome.incident, outcome)
        self._report(run, outcome.logs, outcome.summary, link)

    def _run_step(self, run: ActionRun) -> StepOutcome | Answer:
        """The step itself; its waits for rate limits and retries are bounded and told in the run's log."""
        waits = WaitBudget(STEP_WAIT_SECONDS)
        try:
            with waits_within(waits):
                return STEPS[run.step].take(self.lifecycle(), run)
        finally:
            for line in waits.describe():
                self.reporter().log(run.runId, line)

    def _report(self, run: ActionRun, logs: list[str], summary: str, link: str | None) -> None:
        reporter = self.reporter()
        for line in logs:
            reporter.log(run.runId, line)
        reporter.finish(run.runId, SUCCESS, summary, link)

    def _finish(self, run: ActionRun, status: str, summary: str, link: str | None) -> None:
        self.ledger.finish_run(run.runId, status=status, summary=summary, link=link)
        self.reporter().finish(run.runId, status, summary, link)

    def _project(self, incident: Incident, outcome: StepOutcome) -> None:
        projector = self.projector()
        # The incident first: an alert's relation to it needs the incident entity to exist in Port.
        projector.project_incidents([incident])
        if outcome.changed_alerts:
            projector.project_alerts(outcome.changed_alerts)

    def _project_current(self, answered: RunRecord) -> None:
        """A repeated answer re-projects the incident, in case Port missed the first projection."""
        incident = self.ledger.get(answered.incidentId) if answered.incidentId else None
        if incident is not None:
            self.projector().project_incidents([incident])


class LedgerOnlyReporter:
    """Without Port credentials the ledger (the incidents table) is the only record of a run."""

    def __init__(self, ledger: IncidentStore) -> None:
        self._ledger = ledger

    def log(self, run_id: str, message: str) -> None:
        self._ledger.log_run(run_id, message)

    def finish(self, run_id: str, status: str, summary: str, link: str | None) -> None:
        return None  # the runner already wrote the answer to the ledger


class PortRunReporter:
    """Run logs and the final status go to Port; log lines are kept in the ledger too."""

    def __init__(self, ledger: IncidentStore, port: Any) -> None:
        self._ledger = ledger
        self._port = port

    def log(self, run_id: str, message: str) -> None:
        self._ledger.log_run(run_id, message)
        self._port.add_run_log(run_id, message)

    def finish(self, run_id: str, status: str, summary: str, link: str | None) -> None:
        self._port.patch_run(run_id, status=status, summary=summary, link=link)
