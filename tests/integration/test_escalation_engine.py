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
from typing import Any
from unittest.mock import patch

import pytest
from moto.core.config import default_user_config

from devstack.stack import EmbeddedAws
from devstack.stepfunctions import provision_state_machines, substitution_resolver
from devstack.template import load_template
from incident_core.errors import FinalError, IncidentGone, RetryableError
from tests.e2e.conftest import free_port

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
