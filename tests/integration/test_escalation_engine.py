"""The unchanged statemachines/escalation.asl.json on moto's own Step Functions engine, as the local stack runs
it: tasks are scripted local functions reached through Lambda's Invoke, so Retry and Catch see the class name
of what a handler raised."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import botocore.exceptions
import pytest
from moto.core.config import default_user_config

from devstack.stack import EmbeddedAws
from devstack.stepfunctions import provision_state_machines, substitution_resolver
from devstack.template import load_template
from incident_core.adapters.stepfunctions import StepFunctionsEscalations
from incident_core.errors import FinalError, IncidentGone, RetryableError, state_machine_task
from incident_core.models.alert import Severity
from incident_core.models.escalation import Position, page_key
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineKind
from incident_core.models.page import Page
from incident_core.store.incidents import IncidentStore
from incident_core.store.projections import ProjectionStore
from incident_core.usecases.catalog import LocalDirectory
from incident_core.usecases.escalation import POLICY_BLUEPRINT, EscalationTasks, reconcile_escalations
from tests.e2e.conftest import free_port
from tests.integration.conftest import seed_entities

Outcome = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Scripted:
    """A task handler answering each call with the next outcome (the last one repeats); like the real handlers it
    fails only with the closed set of incident_core.errors.TASK_ERRORS."""

    outcomes: list[Outcome]
    events: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        outcome = self.outcomes[min(len(self.events), len(self.outcomes)) - 1]
        return outcome(event)


def answer(**changes: Any) -> Outcome:
    return lambda event: {**event, **changes}


def raising(error: Exception) -> Outcome:
    def outcome(event: dict[str, Any]) -> dict[str, Any]:
        raise error

    return outcome


@dataclass
class Engine:
    aws: EmbeddedAws
    sfn: Any
    arn: str

    def run(self, notify: Scripted, check: Scripted, *, wait: bool = True) -> str:
        self.aws.serve_functions({"EscalationNotifyFunction": notify, "EscalationCheckFunction": check})
        state = {"incidentId": f"inc-{uuid.uuid4().hex[:8]}", "policyId": "p"}
        started = self.sfn.start_execution(stateMachineArn=self.arn, name=state["incidentId"], input=json.dumps(state))
        execution: str = started["executionArn"]
        if wait:
            self.until(execution, lambda described: described["status"] != "RUNNING")
        return execution

    def until(self, execution: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """DescribeExecution until `done` holds; the deadline only keeps a broken engine from hanging the suite."""
        deadline = time.monotonic() + 120
        while True:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution)
            if done(described) or time.monotonic() > deadline:
                return described
            time.sleep(0.1)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    # EmbeddedAws switches moto's engine on for this process; other tests here expect moto's default
    with patch.dict(default_user_config), patch.dict(os.environ):
        aws = EmbeddedAws("127.0.0.1", free_port())
        aws.start()
        try:
            template = load_template()
            sfn = aws.client("stepfunctions")
            arns = provision_state_machines(template, sfn, substitution_resolver(template, {}, {}))
            yield Engine(aws, sfn, arns["EscalationStateMachine"])
        finally:
            aws.stop()


def test_notify_wait_check_until_the_check_says_stop(engine: Engine) -> None:
    notify = Scripted([answer(stop=False, waitSeconds=0)])
    check = Scripted([answer(level=1), answer(stop=True, reason="the policy is exhausted")])

    described = engine.sfn.describe_execution(executionArn=engine.run(notify, check))

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["reason"] == "the policy is exhausted"
    assert [event.get("level", 0) for event in notify.events] == [0, 1]
    assert len(check.events) == 2


def test_a_retryable_error_is_retried_by_its_class_name(engine: Engine) -> None:
    notify = Scripted(
        [
            raising(RetryableError("ClientError: ThrottlingException (SNS Publish)")),
            answer(stop=True, reason="resolved"),
        ]
    )

    described = engine.sfn.describe_execution(executionArn=engine.run(notify, Scripted([answer()])))

    assert described["status"] == "SUCCEEDED"
    assert len(notify.events) == 2


def test_a_missing_incident_ends_the_escalation_quietly(engine: Engine) -> None:
    notify = Scripted([raising(IncidentGone("incident inc-1 does not exist"))])

    described = engine.sfn.describe_execution(executionArn=engine.run(notify, Scripted([answer()])))

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["error"]["Error"] == "IncidentGone"
    assert len(notify.events) == 1


def test_an_error_retrying_cannot_fix_fails_the_execution_at_once(engine: Engine) -> None:
    notify = Scripted([raising(FinalError("ConfigurationError: there is no escalation policy p"))])

    described = engine.sfn.describe_execution(executionArn=engine.run(notify, Scripted([answer()])))

    assert described["status"] == "FAILED"
    assert described["error"] == "EscalationFailed"
    assert len(notify.events) == 1


def test_stop_execution_during_the_wait_aborts_it_and_nothing_runs_after(engine: Engine) -> None:
    notify = Scripted([answer(stop=False, waitSeconds=3600)])
    check = Scripted([answer(stop=True)])
    execution = engine.run(notify, check, wait=False)
    history = engine.until(
        execution,
        lambda _: any(
            event["type"] == "WaitStateEntered"
            for event in engine.sfn.get_execution_history(executionArn=execution)["events"]
        ),
    )
    assert history["status"] == "RUNNING"

    engine.sfn.stop_execution(executionArn=execution, cause="acknowledged")

    assert engine.until(execution, lambda d: d["status"] != "RUNNING")["status"] == "ABORTED"
    assert check.events == []


def test_a_name_is_one_execution_same_input_while_running_is_the_same_start(engine: Engine) -> None:
    notify = Scripted([answer(stop=False, waitSeconds=3600)])
    execution = engine.run(notify, Scripted([answer()]), wait=False)
    described = engine.sfn.describe_execution(executionArn=execution)
    request = {"stateMachineArn": engine.arn, "name": described["name"], "input": described["input"]}
    try:
        assert engine.sfn.start_execution(**request)["executionArn"] == execution
        with pytest.raises(engine.sfn.exceptions.ExecutionAlreadyExists):
            engine.sfn.start_execution(**{**request, "input": json.dumps({"incidentId": "other", "policyId": "p"})})
    finally:
        engine.sfn.stop_execution(executionArn=execution)
    with pytest.raises(engine.sfn.exceptions.ExecutionAlreadyExists):
        engine.sfn.start_execution(**request)  # a finished execution's name is not reused


# Escalations that resume: the real tasks and the Step Functions adapter on the engine

POLICY = {
    "levels": [
        {"targets": [{"type": "user", "id": "first@example.com"}], "delaySeconds": 1},
        {"targets": [{"type": "team", "id": "sre"}], "delaySeconds": 1},
    ]
}


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "Publish")


@dataclass
class FlakyPager:
    """SNS as the tasks see it: the first `failures` pages of level 2 fail with `error`; every other page lands."""

    error: Exception
    failures: int = 1
    pages: list[str] = field(default_factory=list)
    refused: int = 0

    def page(self, page: Page) -> None:
        level = "level 2" if "level 2" in page.subject else "level 1"
        if level == "level 2" and self.refused < self.failures:
            self.refused += 1
            raise self.error
        self.pages.append(level)


@dataclass
class Handler:
    """A task as deployed: the use case behind `state_machine_task`."""

    task: Callable[[dict[str, Any]], dict[str, Any]]

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return state_machine_task(self.task)(event)


@dataclass
class Routed:
    """One scripted task per incident, for escalations of several incidents at once."""

    routes: dict[str, Scripted]

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.routes[event["incidentId"]].invoke(event)


@dataclass
class Stores:
    incidents: IncidentStore
    directory: LocalDirectory


@pytest.fixture(scope="module")
def stores(engine: Engine) -> Stores:
    dynamodb = engine.aws.resource("dynamodb")
    tables = {
        name: dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        for name in ("IncidentsTable", "PortEntitiesTable")
    }
    projections = ProjectionStore(dynamodb, tables["PortEntitiesTable"])
    seed_entities(projections, [(POLICY_BLUEPRINT, {"identifier": "two", "title": "Two", "properties": POLICY})])
    return Stores(IncidentStore(tables["IncidentsTable"]), LocalDirectory(projections))


def _control(engine: Engine) -> StepFunctionsEscalations:
    return StepFunctionsEscalations(engine.sfn, engine.arn)


def _executions(engine: Engine, incident: str, count: int = 1) -> list[dict[str, Any]]:
    """The incident's executions, oldest attempt first, once there are `count` and none runs."""
    deadline = time.monotonic() + 120  # only keeps a broken engine from hanging the suite

    def listed() -> list[dict[str, Any]]:
        executions = engine.sfn.list_executions(stateMachineArn=engine.arn)["executions"]
        return sorted((e for e in executions if e["name"].startswith(f"{incident}-")), key=lambda e: e["name"])

    while (len(found := listed()) < count or any(e["status"] == "RUNNING" for e in found)) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    return found


def _escalate_for_real(engine: Engine, stores: Stores, pager: FlakyPager, identifier: str) -> Incident:
    """A triggered native incident in the store, and the real tasks serving the state machine."""
    incident = Incident(
        identifier=identifier,
        title="Payments are failing",
        severity=Severity.CRITICAL,
        createdAt="2026-11-27T10:00:00.000Z",
        escalationPolicy="two",
    )
    stores.incidents.change(identifier, lambda current: incident if current is None else None)
    tasks = EscalationTasks(
        incidents=stores.incidents,
        directory=lambda: stores.directory,
        pager=lambda: pager,
        link=lambda _: None,
        clock=lambda: datetime.now(UTC),
    )
    engine.aws.serve_functions(
        {"EscalationNotifyFunction": Handler(tasks.notify), "EscalationCheckFunction": Handler(tasks.check)}
    )
    return incident


def _pages_recorded(stores: Stores, identifier: str) -> list[str | None]:
    incident = stores.incidents.get(identifier)
    assert incident is not None
    return [entry.runId for entry in incident.timeline if entry.kind is TimelineKind.NOTIFIED]


def test_a_throttled_page_in_the_middle_of_an_escalation_delays_it_it_does_not_end_it(
    engine: Engine, stores: Stores
) -> None:
    pager = FlakyPager(_client_error("Throttling", 400))  # SNS's throttle, as botocore raises it
    incident = _escalate_for_real(engine, stores, pager, "inc-throttled")

    assert _control(engine).start(incident, "two")
    (execution,) = _executions(engine, "inc-throttled")

    assert execution["status"] == "SUCCEEDED"
    assert pager.refused == 1
    assert pager.pages == ["level 1", "level 2"]
    assert _pages_recorded(stores, "inc-throttled") == [
        page_key("inc-throttled", Position(level=0, round=0)),
        page_key("inc-throttled", Position(level=1, round=0)),
    ]
    history = engine.sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    failures = [e["lambdaFunctionFailedEventDetails"] for e in history if e["type"] == "LambdaFunctionFailed"]
    assert [failure["error"] for failure in failures] == ["RetryableError"]
    assert "Throttling" in failures[0]["cause"]


def test_a_failed_escalation_resumes_as_its_next_attempt_where_it_stopped(engine: Engine, stores: Stores) -> None:
    pager = FlakyPager(_client_error("AuthorizationError", 403))  # retrying cannot help: the execution fails
    incident = _escalate_for_real(engine, stores, pager, "inc-resumed")
    control = _control(engine)

    assert control.start(incident, "two")
    (first,) = _executions(engine, "inc-resumed")
    assert (first["name"], first["status"]) == ("inc-resumed-1", "FAILED")

    resumed = stores.incidents.get("inc-resumed")
    assert resumed is not None
    assert control.start(resumed, "two")  # what reconcile does for a triggered incident not escalating
    first, second = _executions(engine, "inc-resumed", count=2)

    assert (second["name"], second["status"]) == ("inc-resumed-2", "SUCCEEDED")
    started_at = json.loads(engine.sfn.describe_execution(executionArn=second["executionArn"])["input"])
    assert (started_at["level"], started_at["round"]) == (0, 0)  # the last position paged, not paged again
    assert pager.pages == ["level 1", "level 2"]
    assert len(_pages_recorded(stores, "inc-resumed")) == 2
    assert not control.start(resumed, "two")  # it ended on purpose (the policy is exhausted): no third attempt


def test_reconcile_restarts_exactly_the_escalations_that_should_be_running(engine: Engine) -> None:
    def incident(identifier: str, status: IncidentStatus = IncidentStatus.TRIGGERED, **fields: Any) -> Incident:
        defaults: dict[str, Any] = {"escalationPolicy": "p", "createdAt": "2026-11-27T10:00:00.000Z"}
        return Incident(identifier=identifier, title=identifier, status=status, **{**defaults, **fields})

    waits = answer(stop=False, waitSeconds=3600)
    notify = Routed(
        {
            "inc-r-failed": Scripted([raising(FinalError("ClientError: AuthorizationError")), waits]),
            "inc-r-exhausted": Scripted([answer(stop=True, reason="the policy is exhausted")]),
            "inc-r-running": Scripted([waits]),
            "inc-r-acked": Scripted([waits]),
            "inc-r-lost": Scripted([waits]),
        }
    )
    engine.aws.serve_functions({"EscalationNotifyFunction": notify, "EscalationCheckFunction": Scripted([answer()])})
    control = _control(engine)
    failed, exhausted, running, acked = (
        incident(f"inc-r-{name}") for name in ("failed", "exhausted", "running", "acked")
    )
    for started in (failed, exhausted, running, acked):
        assert control.start(started, "p")
    assert _executions(engine, "inc-r-failed")[0]["status"] == "FAILED"
    assert _executions(engine, "inc-r-exhausted")[0]["status"] == "SUCCEEDED"
    incidents = [
        failed,
        exhausted,
        running,
        incident("inc-r-acked", IncidentStatus.ACKNOWLEDGED, assignee="ana@example.com"),
        incident("inc-r-lost"),
        incident("inc-r-no-policy", escalationPolicy=None),
        incident("inc-r-pagerduty", provider=ProviderName.PAGERDUTY),
    ]
    try:
        done = reconcile_escalations(control, incidents)

        assert done == {"stopped": ["inc-r-acked"], "started": ["inc-r-failed", "inc-r-lost"]}
        assert not control.start(running, "p")  # a second start of a running escalation starts nothing
        assert control.running() >= {"inc-r-failed", "inc-r-running", "inc-r-lost"}
        assert not control.running() & {"inc-r-acked", "inc-r-exhausted"}
    finally:
        for name in ("failed", "running", "lost"):
            control.stop(incident(f"inc-r-{name}"), "test over")
    assert [e["status"] for e in _executions(engine, "inc-r-failed", count=2)] == ["FAILED", "ABORTED"]
    assert len(_executions(engine, "inc-r-running")) == 1
    assert len(_executions(engine, "inc-r-exhausted")) == 1
    assert [e["status"] for e in _executions(engine, "inc-r-acked")] == ["ABORTED"]
