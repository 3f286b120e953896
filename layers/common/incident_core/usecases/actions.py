"""Port's self-service actions: accept a signed run, queue it, run its step once, report back.

The front (one function per step) only verifies, validates and queues, so a Port or provider outage
never loses a run: the queue retries it, and a run that cannot complete is reported as FAILURE with a
sentence a person understands. The ledger of runs makes a redelivered run repeat its answer, not its work,
and only while Port has not recorded it: a run's final status is sent until Port has it, once. A report Port
cannot take now waits in the outbox (drained by its schedule), so it never holds up the runs behind it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
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
from incident_core.models.outbox import PendingRunReport
from incident_core.retry import WaitBudget, waits_within
from incident_core.store.incidents import IncidentStore, RunRecord
from incident_core.store.outbox import OutboxStore
from incident_core.support.time import format_utc
from incident_core.usecases.incident_toolkit import Answer, LifecycleContext, StepOutcome
from incident_core.usecases.projection import Projector, retry_delay
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
        answer = RunAnswer(run.runId, FAILURE, f"The action's inputs are not valid: {exc.message}", None)
        RunAnswers(ledger(), reporter).deliver(answer)
        raise
    answered = ledger().run(run.runId)
    if answered is not None and answered.status is not None:
        if not answered.reported:
            RunAnswers(ledger(), reporter).deliver(RunAnswer.of(answered))
        return Accepted(200, answered.summary or "already answered", run.runId)
    queue().send(run)
    return Accepted(202, f"{step.value} accepted; progress is reported on the run", run.runId)


ALREADY_FINISHED = frozenset({400, 409, 422})
"""How Port refuses a new status for a run whose status is final is not documented (its docs say the run "can no
longer be updated"); these generic refusals of a PATCH to a run mean it has an answer already."""


@dataclass(frozen=True)
class RunAnswer:
    run_id: str
    status: str
    summary: str
    link: str | None

    @classmethod
    def of(cls, answered: RunRecord) -> RunAnswer:
        return cls(answered.runId, answered.status or FAILURE, answered.summary or "", answered.link)


@dataclass
class RunAnswers:
    """Gets each finished run's answer to Port once; what Port cannot take now waits in the outbox (if given)."""

    ledger: IncidentStore
    reporter: Callable[[], RunReporter]
    outbox: OutboxStore | None = None
    clock: Callable[[], str] = lambda: format_utc(datetime.now(UTC))
    _port_down: str | None = field(default=None, init=False)

    def deliver(self, answer: RunAnswer, waiting: PendingRunReport | None = None) -> bool:
        """Send the answer; True once Port has it. Never raises for Port: a failure waits in the outbox."""
        if self._port_down is not None:
            self._keep(answer, waiting, self._port_down)
            return False
        try:
            self.reporter().finish(answer.run_id, answer.status, answer.summary, answer.link)
        except UpstreamError as error:
            if error.retryable or error.status_code not in (*ALREADY_FINISHED, HTTPStatus.NOT_FOUND):
                self._port_down = error.message if error.retryable else None
                self._keep(answer, waiting, error.message)
                return False
            if error.status_code == HTTPStatus.NOT_FOUND:
                logger.error("Port has no such run; its answer is dropped", extra={"runId": answer.run_id})
                self._settle(answer, waiting)
                return False
            logger.info("Port has the run's answer already", extra={"runId": answer.run_id, "reason": error.message})
        self.ledger.mark_run_reported(answer.run_id)
        self._settle(answer, waiting)
        return True

    def drain(self) -> int:
        """Send the answers that wait in the outbox and are due; returns how many Port took."""
        if self.outbox is None:
            return 0
        delivered = 0
        for report in self.outbox.due_runs(self.clock()):
            recorded = self.ledger.run(report.runId)
            if recorded is not None and recorded.reported:  # a redelivery got it to Port meanwhile
                self.outbox.settle_run(report.runId)
                continue
            delivered += self.deliver(RunAnswer(report.runId, report.status, report.summary, report.link), report)
        return delivered

    def _keep(self, answer: RunAnswer, waiting: PendingRunReport | None, reason: str) -> None:
        logger.warning("the run's answer waits for Port", extra={"runId": answer.run_id, "reason": reason})
        if self.outbox is None:
            return  # the front: the worker that finished the run keeps its answer in the outbox
        now = self.clock()
        attempts = (waiting.attempts if waiting is not None else 0) + 1
        self.outbox.put_run(
            PendingRunReport(
                runId=answer.run_id,
                status=answer.status,
                summary=answer.summary,
                link=answer.link,
                reason=reason,
                since=waiting.since if waiting is not None else now,
                attempts=attempts,
                nextAttemptAt=format_utc(datetime.fromisoformat(now) + retry_delay(attempts)),
            )
        )

    def _settle(self, answer: RunAnswer, waiting: PendingRunReport | None) -> None:
        if waiting is not None and self.outbox is not None:
            self.outbox.settle_run(answer.run_id)


@dataclass
class ActionRunner:
    """Runs queued action runs: the step once, then the projection into Port and the report."""

    ledger: IncidentStore
    lifecycle: Callable[[], LifecycleContext]
    projector: Callable[[], Projector]
    reporter: Callable[[], RunReporter]
    link: Callable[[Incident], str | None]
    max_attempts: int
    outbox: OutboxStore | None = None
    record_metrics: Callable[[StepOutcome, LifecycleStep], None] = lambda outcome, step: None

    def execute(self, run: ActionRun, attempt: int) -> None:
        """Raise to have the queue retry (a transient failure of the step before the last attempt); otherwise
        answer. Reporting to Port never raises: an answer Port cannot take waits in the outbox."""
        answered = self.ledger.run(run.runId)
        if answered is not None and answered.status is not None:
            self._project_current(answered)
            if not answered.reported:
                self._answers().deliver(RunAnswer.of(answered))
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
                self._log(run, f"Attempt {attempt} failed, will retry: {error.message}")
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
        for line in logs:
            self._log(run, line)
        self._answers().deliver(RunAnswer(run.runId, SUCCESS, summary, link))

    def _finish(self, run: ActionRun, status: str, summary: str, link: str | None) -> None:
        self.ledger.finish_run(run.runId, status=status, summary=summary, link=link)
        self._answers().deliver(RunAnswer(run.runId, status, summary, link))

    def _log(self, run: ActionRun, line: str) -> None:
        """A progress line; Port not taking it holds nothing up (the ledger keeps every line)."""
        try:
            self.reporter().log(run.runId, line)
        except UpstreamError as error:
            logger.warning("a run log line did not reach Port", extra={"runId": run.runId, "reason": error.message})

    def _answers(self) -> RunAnswers:
        return RunAnswers(self.ledger, self.reporter, self.outbox, lambda: format_utc(self.lifecycle().clock()))

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
