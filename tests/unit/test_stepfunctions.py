"""devstack/stepfunctions.py: the local ASL interpreter, its executions and the bridge to moto's Step Functions."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from devstack.stepfunctions import (
    LAMBDA_INVOKE,
    DefinitionError,
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    LocalExecutions,
    LocalStepFunctions,
    MotoExecutionBridge,
    StateMachineRunner,
    TaskError,
    load_definition,
    local_function_arn,
    local_invoker,
    provision_state_machines,
    state_machine_definitions,
    substitution_resolver,
)
from devstack.template import load_template

FN = local_function_arn("Work")
OTHER = local_function_arn("Other")


class UpstreamError(Exception):
    pass


class NotFound(Exception):
    pass


class Tasks:
    """A fake `invoke`: one Python callable per function name, every call recorded."""

    def __init__(self, **functions: Callable[[Any], Any]) -> None:
        self.functions = functions
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, identifier: str, payload: Any) -> Any:
        name = identifier.rsplit(":", 1)[-1]
        with self.lock:
            self.calls.append((name, payload))
        return self.functions[name](payload)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class RecordingSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float, stop: threading.Event) -> None:
        self.slept.append(seconds)


def machine(states: dict[str, Any], start: str | None = None) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states}


def failing(times: int, error: type[Exception], result: Any = None) -> Callable[[Any], Any]:
    calls = {"n": 0}

    def task(payload: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error(f"attempt {calls['n']}")
        return result if result is not None else {"attempts": calls["n"]}

    return task


# --------------------------------------------------------------------------------------------------------------
# The interpreter
# --------------------------------------------------------------------------------------------------------------


def test_loop_with_choice_and_wait() -> None:
    tasks = Tasks(Work=lambda p: {**p, "count": p["count"] + 1})
    definition = machine(
        {
            "Work": {"Type": "Task", "Resource": FN, "Next": "More?"},
            "More?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.count", "NumericLessThan": 3, "Next": "Pause"}],
                "Default": "Done",
            },
            "Pause": {"Type": "Wait", "SecondsPath": "$.pause", "Next": "Work"},
            "Done": {"Type": "Succeed"},
        }
    )
    history: list[str] = []
    started = time.monotonic()
    outcome = StateMachineRunner(definition, tasks).run({"count": 0, "pause": 0.01}, history=history)
    assert time.monotonic() - started >= 0.02  # two real (event) waits of 0.01 s
    assert outcome.status == "SUCCEEDED"
    assert outcome.output == {"count": 3, "pause": 0.01}
    assert history == ["Work", "More?", "Pause", "Work", "More?", "Pause", "Work", "More?", "Done"]
    assert tasks.names() == ["Work"] * 3


def test_retry_backs_off_then_succeeds() -> None:
    tasks = Tasks(Work=failing(3, UpstreamError))
    sleep = RecordingSleep()
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": FN,
                "Parameters": {"retry.$": "$$.State.RetryCount"},
                "Retry": [
                    {"ErrorEquals": ["KeyError"], "IntervalSeconds": 9, "MaxAttempts": 5},
                    {"ErrorEquals": ["UpstreamError"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 3},
                ],
                "End": True,
            }
        }
    )
    outcome = StateMachineRunner(definition, tasks, sleep=sleep).run({})
    assert outcome.status == "SUCCEEDED"
    assert outcome.output == {"attempts": 4}
    assert sleep.slept == [2, 6, 18]  # IntervalSeconds * BackoffRate ** retry, from the matching retrier only
    assert [payload["retry"] for _, payload in tasks.calls] == [0, 1, 2, 3]


def test_max_delay_caps_the_backoff() -> None:
    sleep = RecordingSleep()
    retrier = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 4, "MaxAttempts": 3, "MaxDelaySeconds": 10}
    definition = machine({"Work": {"Type": "Task", "Resource": FN, "Retry": [retrier], "End": True}})
    StateMachineRunner(definition, Tasks(Work=failing(3, UpstreamError)), sleep=sleep).run({})
    assert sleep.slept == [4, 8, 10]


def test_retries_exhausted_then_caught_into_fail() -> None:
    tasks = Tasks(Work=failing(99, UpstreamError))
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": FN,
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "Next": "Never",
            },
            "Never": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "EscalationFailed", "Cause": "gave up"},
        }
    )
    history: list[str] = []
    outcome = StateMachineRunner(definition, tasks, sleep=RecordingSleep()).run({}, history=history)
    assert (outcome.status, outcome.error, outcome.cause) == ("FAILED", "EscalationFailed", "gave up")
    assert len(tasks.calls) == 3  # the first attempt and MaxAttempts retries
    assert history == ["Work", "Failed"]


def test_catch_into_pass_keeps_the_input_and_the_error() -> None:
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": FN,
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Recover"}],
                "End": True,
            },
            "Recover": {"Type": "Pass", "End": True},
        }
    )
    outcome = StateMachineRunner(definition, Tasks(Work=failing(1, UpstreamError))).run({"incident": "i-1"})
    assert outcome.status == "SUCCEEDED"
    assert outcome.output["incident"] == "i-1"
    assert outcome.output["error"]["Error"] == "UpstreamError"
    cause = json.loads(outcome.output["error"]["Cause"])  # as Lambda reports an unhandled exception
    assert (cause["errorType"], cause["errorMessage"]) == ("UpstreamError", "attempt 1")


def test_an_uncaught_task_error_fails_the_execution() -> None:
    definition = machine({"Work": {"Type": "Task", "Resource": FN, "End": True}})
    outcome = StateMachineRunner(definition, Tasks(Work=failing(1, ValueError))).run({})
    assert (outcome.status, outcome.error) == ("FAILED", "ValueError")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (NotFound("gone"), "Gone"),
        (UpstreamError("503"), "Upstream"),
        (TaskError("Lambda.TooManyRequestsException", "throttled"), "Upstream"),
        (ValueError("bug"), "Anything"),
    ],
)
def test_typed_error_names_pick_the_catcher(raised: Exception, expected: str) -> None:
    def task(payload: Any) -> Any:
        raise raised

    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": FN,
                "Catch": [
                    {"ErrorEquals": ["NotFound"], "Next": "Gone"},
                    {"ErrorEquals": ["UpstreamError", "Lambda.TooManyRequestsException"], "Next": "Upstream"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Anything"},
                ],
                "End": True,
            },
            "Gone": {"Type": "Succeed"},
            "Upstream": {"Type": "Succeed"},
            "Anything": {"Type": "Succeed"},
        }
    )
    history: list[str] = []
    outcome = StateMachineRunner(definition, Tasks(Work=task)).run({}, history=history)
    assert outcome.status == "SUCCEEDED"
    assert history == ["Work", expected]
    expected_error = raised.error if isinstance(raised, TaskError) else type(raised).__name__
    assert outcome.output["Error"] == expected_error


def test_paths_parameters_result_selector_and_context() -> None:
    tasks = Tasks(Work=lambda p: {"echo": p, "extra": "x"})
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": LAMBDA_INVOKE,
                "InputPath": "$.incident",
                "Parameters": {
                    "FunctionName": FN,
                    "Payload": {
                        "id.$": "$.id",
                        "firstTarget.$": "$.targets[0]",
                        "execution.$": "$$.Execution.Name",
                        "executionId.$": "$$.Execution.Id",
                        "state.$": "$$.State.Name",
                        "fixed": {"nested.$": "$.targets[1]"},
                    },
                },
                "ResultSelector": {"result.$": "$.Payload.echo", "status.$": "$.StatusCode"},
                "ResultPath": "$.task.out",
                "OutputPath": "$.task",
                "Next": "Drop",
            },
            "Drop": {"Type": "Pass", "Result": {"ignored": True}, "ResultPath": None, "Next": "Shape"},
            "Shape": {
                "Type": "Pass",
                "Parameters": {"id.$": "$.out.result.id", "constant": 7},
                "ResultPath": "$.shaped",
                "Next": "Tag",
            },
            "Tag": {"Type": "Pass", "Result": {"level": 1}, "ResultPath": "$.escalation", "End": True},
        }
    )
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:incident-42"
    outcome = StateMachineRunner(definition, tasks).run(
        {"incident": {"id": "i-42", "targets": ["alice", "bob"]}}, name="incident-42", execution_arn=arn
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert tasks.calls == [
        (
            "Work",
            {
                "id": "i-42",
                "firstTarget": "alice",
                "execution": "incident-42",
                "executionId": arn,
                "state": "Work",
                "fixed": {"nested": "bob"},
            },
        )
    ]
    echo = tasks.calls[0][1]
    assert outcome.output == {
        "out": {"result": echo, "status": 200},
        "shaped": {"id": "i-42", "constant": 7},
        "escalation": {"level": 1},
    }


def test_lambda_invoke_payload_path_and_function_name_path() -> None:
    tasks = Tasks(Other=lambda p: {"got": p})
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": LAMBDA_INVOKE,
                "Parameters": {"FunctionName.$": "$.fn", "Payload.$": "$.body"},
                "OutputPath": "$.Payload",
                "End": True,
            }
        }
    )
    outcome = StateMachineRunner(definition, tasks).run({"fn": OTHER, "body": [1, 2]})
    assert outcome.output == {"got": [1, 2]}
    assert tasks.calls == [("Other", [1, 2])]


@pytest.mark.parametrize(
    ("rule", "data", "matched"),
    [
        ({"Variable": "$.flag", "BooleanEquals": True}, {"flag": True}, True),
        ({"Variable": "$.flag", "BooleanEquals": True}, {"flag": "true"}, False),  # types must match
        ({"Variable": "$.s", "StringEquals": "ack"}, {"s": "ack"}, True),
        ({"Variable": "$.s", "StringEquals": "ack"}, {"s": "open"}, False),
        ({"Variable": "$.n", "NumericEquals": 2}, {"n": 2.0}, True),
        ({"Variable": "$.n", "NumericEquals": 2}, {"n": "2"}, False),
        ({"Variable": "$.n", "NumericGreaterThan": 2}, {"n": 3}, True),
        ({"Variable": "$.n", "NumericGreaterThan": 2}, {"n": 2}, False),
        ({"Variable": "$.n", "NumericGreaterThanEquals": 2}, {"n": 2}, True),
        ({"Variable": "$.n", "NumericLessThan": 2}, {"n": 1}, True),
        ({"Variable": "$.n", "NumericLessThan": 2}, {"n": 2}, False),
        ({"Variable": "$.n", "NumericLessThanEquals": 2}, {"n": 2}, True),
        ({"Variable": "$.a.b", "IsPresent": True}, {"a": {"b": None}}, True),
        ({"Variable": "$.a.b", "IsPresent": True}, {"a": {}}, False),
        ({"Variable": "$.a.b", "IsPresent": False}, {}, True),
        ({"Variable": "$.x", "IsNull": True}, {"x": None}, True),
        ({"Variable": "$.x", "IsNull": True}, {"x": 0}, False),
        ({"Variable": "$$.Execution.Name", "StringEquals": "exec"}, {}, True),
        (
            {"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.s", "StringEquals": "a"}]},
            {"n": 2, "s": "a"},
            True,
        ),
        (
            {"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.s", "StringEquals": "a"}]},
            {"n": 2, "s": "b"},
            False,
        ),
        ({"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.n", "NumericEquals": 2}]}, {"n": 2}, True),
        ({"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.n", "NumericEquals": 2}]}, {"n": 3}, False),
        ({"Not": {"Variable": "$.flag", "BooleanEquals": True}}, {"flag": False}, True),
        ({"Not": {"Variable": "$.flag", "BooleanEquals": True}}, {"flag": True}, False),
    ],
)
def test_choice_rules(rule: dict[str, Any], data: dict[str, Any], matched: bool) -> None:
    definition = machine(
        {
            "Decide": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Succeed"},
            "No": {"Type": "Succeed"},
        }
    )
    history: list[str] = []
    StateMachineRunner(definition, Tasks()).run(data, name="exec", history=history)
    assert history == ["Decide", "Yes" if matched else "No"]


def test_choice_on_a_missing_variable_fails_with_states_runtime() -> None:
    definition = machine(
        {
            "Decide": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "BooleanEquals": True, "Next": "Y"}]},
            "Y": {"Type": "Succeed"},
        }
    )
    outcome = StateMachineRunner(definition, Tasks()).run({})
    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")
    assert "$.stop" in (outcome.cause or "")


def test_choice_without_match_or_default_fails() -> None:
    definition = machine(
        {
            "Decide": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "Y"}]},
            "Y": {"Type": "Succeed"},
        }
    )
    outcome = StateMachineRunner(definition, Tasks()).run({"n": 2})
    assert (outcome.status, outcome.error) == ("FAILED", "States.NoChoiceMatched")


def test_states_runtime_errors_are_not_caught() -> None:
    definition = machine(
        {
            "Work": {
                "Type": "Task",
                "Resource": FN,
                "Parameters": {"id.$": "$.missing"},
                "Retry": [{"ErrorEquals": ["States.ALL"]}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        }
    )
    tasks = Tasks(Work=lambda p: p)
    outcome = StateMachineRunner(definition, tasks).run({})
    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")
    assert tasks.calls == []


def test_wait_seconds_timestamp_and_timestamp_path() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    sleep = RecordingSleep()
    definition = machine(
        {
            "Fixed": {"Type": "Wait", "Seconds": 5, "Next": "Until"},
            "Until": {"Type": "Wait", "Timestamp": "2024-05-01T12:01:00Z", "Next": "UntilPath"},
            "UntilPath": {"Type": "Wait", "TimestampPath": "$.at", "Next": "Past"},
            "Past": {"Type": "Wait", "Timestamp": "2020-01-01T00:00:00Z", "End": True},
        }
    )
    at = (now + timedelta(seconds=90)).isoformat()
    outcome = StateMachineRunner(definition, Tasks(), clock=lambda: now, sleep=sleep).run({"at": at})
    assert outcome.status == "SUCCEEDED"
    assert outcome.output == {"at": at}
    assert sleep.slept == [5, 60, 90]  # a timestamp in the past does not wait


def test_wait_seconds_path_must_select_a_number() -> None:
    definition = machine({"Pause": {"Type": "Wait", "SecondsPath": "$.s", "End": True}})
    outcome = StateMachineRunner(definition, Tasks()).run({"s": "soon"})
    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")


def test_a_loop_without_end_is_cut_at_the_transition_limit() -> None:
    definition = machine({"Spin": {"Type": "Pass", "Next": "Spin"}})
    outcome = StateMachineRunner(definition, Tasks(), max_transitions=50).run({})
    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")


VALID_TASK = {"Type": "Task", "Resource": FN, "End": True}


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (machine({"P": {"Type": "Parallel", "Branches": [], "End": True}}), "unsupported state type 'Parallel'"),
        (machine({"M": {"Type": "Map", "End": True}}), "unsupported state type 'Map'"),
        (machine({"T": {**VALID_TASK, "TimeoutSeconds": 30}}), "unsupported fields for a Task state"),
        (machine({"T": {**VALID_TASK, "Resource": f"{LAMBDA_INVOKE}.waitForTaskToken"}}), "unsupported Resource"),
        (machine({"T": {**VALID_TASK, "Resource": "arn:aws:states:::sqs:sendMessage"}}), "unsupported Resource"),
        (machine({"T": {**VALID_TASK, "Resource": "${NotifyFunctionArn}"}}), "unsubstituted"),
        (
            machine({"T": {**VALID_TASK, "Resource": LAMBDA_INVOKE, "Parameters": {"FunctionName": FN}}}),
            "Payload",
        ),
        (
            machine({"T": {**VALID_TASK, "Parameters": {"msg.$": "States.Format('hi {}', $.name)"}}}),
            "intrinsic functions",
        ),
        (machine({"T": {**VALID_TASK, "InputPath": "$..deep"}}), "unsupported JSONPath"),
        (machine({"T": {**VALID_TASK, "ResultPath": "$.list[0]"}}), "ResultPath"),
        (machine({"T": {"Type": "Task", "Resource": FN, "Next": "Nowhere"}}), "'Nowhere' is not a state"),
        (machine({"T": {"Type": "Task", "Resource": FN}}), "Next or End"),
        (
            machine({"T": {**VALID_TASK, "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}}),
            "States.ALL must appear alone",
        ),
        (machine({"T": {**VALID_TASK, "Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 0}]}}), "IntervalSeconds"),
        (
            machine({"T": {**VALID_TASK, "Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "FULL"}]}}),
            "JitterStrategy",
        ),
        (machine({"W": {"Type": "Wait", "Seconds": 1.5, "End": True}}), "non-negative integer"),
        (machine({"W": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}}), "exactly one"),
        (
            machine(
                {
                    "C": {"Type": "Choice", "Choices": [{"Variable": "$.s", "StringMatches": "a*", "Next": "D"}]},
                    "D": {"Type": "Succeed"},
                }
            ),
            "unsupported choice rule",
        ),
        (
            machine(
                {
                    "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": "1", "Next": "D"}]},
                    "D": {"Type": "Succeed"},
                }
            ),
            "NumericEquals does not take",
        ),
        ({**machine({"T": VALID_TASK}), "TimeoutSeconds": 60}, "unsupported top-level fields"),
        ({"StartAt": "Missing", "States": {"T": VALID_TASK}}, "StartAt"),
    ],
)
def test_unsupported_or_invalid_definitions_are_rejected_at_load(definition: dict[str, Any], message: str) -> None:
    tasks = Tasks()
    with pytest.raises(DefinitionError, match=message.replace("$", r"\$").replace("(", r"\(").replace("[", r"\[")):
        StateMachineRunner(definition, tasks)
    assert tasks.calls == []


# --------------------------------------------------------------------------------------------------------------
# Executions
# --------------------------------------------------------------------------------------------------------------

WAIT_THEN_WORK = machine(
    {
        "First": {"Type": "Task", "Resource": FN, "ResultPath": None, "Next": "Pause"},
        "Pause": {"Type": "Wait", "SecondsPath": "$.pause", "Next": "Second"},
        "Second": {"Type": "Task", "Resource": FN, "End": True},
    }
)


def test_executions_run_in_threads_and_names_are_unique() -> None:
    tasks = Tasks(Work=lambda p: {"done": p["pause"]})
    executions = LocalExecutions(StateMachineRunner(WAIT_THEN_WORK, tasks))
    running = executions.start("incident-1", {"pause": 0.3})
    assert running.status == "RUNNING"
    with pytest.raises(ExecutionAlreadyExists):
        executions.start("incident-1", {"pause": 0.3})
    assert running.wait(5)
    assert (running.status, running.output) == ("SUCCEEDED", {"done": 0.3})
    assert running.history == ["First", "Pause", "Second"]
    assert running.stop_date is not None
    with pytest.raises(ExecutionAlreadyExists):  # finished names stay taken, as on AWS
        executions.start("incident-1", {"pause": 0})
    failed = executions.start("incident-2", {"pause": "soon"})  # Pause's SecondsPath selects no number
    assert failed.wait(5)
    assert (failed.status, failed.error) == ("FAILED", "States.Runtime")
    assert [e.name for e in executions.list()] == ["incident-1", "incident-2"]
    with pytest.raises(ExecutionDoesNotExist):
        executions.stop("never-started")


def test_stop_during_a_wait_aborts_promptly_and_runs_nothing_after() -> None:
    tasks = Tasks(Work=lambda p: {})
    finished: list[str] = []
    executions = LocalExecutions(StateMachineRunner(WAIT_THEN_WORK, tasks))
    executions.add_listener(lambda execution: finished.append(execution.status))
    execution = executions.start("incident-3", {"pause": 30})
    deadline = time.monotonic() + 5
    while execution.history[-1:] != ["Pause"] and time.monotonic() < deadline:
        time.sleep(0.005)
    assert execution.history == ["First", "Pause"]
    stopped_at = time.monotonic()
    executions.stop("incident-3", cause="acknowledged")
    assert execution.status == "ABORTED"  # at once, as StopExecution
    assert execution.wait(2)
    assert time.monotonic() - stopped_at < 1  # the 30 s Wait was interrupted
    assert execution.history == ["First", "Pause"]
    assert tasks.names() == ["Work"]  # Second never ran
    assert (execution.cause, finished) == ("acknowledged", ["ABORTED"])
    executions.stop("incident-3")  # stopping a finished execution changes nothing
    assert execution.status == "ABORTED"


def test_stop_during_a_retry_interval_aborts_promptly() -> None:
    tasks = Tasks(Work=failing(99, UpstreamError))
    retrier = {"ErrorEquals": ["UpstreamError"], "IntervalSeconds": 30}
    definition = machine({"Work": {"Type": "Task", "Resource": FN, "Retry": [retrier], "End": True}})
    executions = LocalExecutions(StateMachineRunner(definition, tasks))
    execution = executions.start("incident-5", {})
    _until(lambda: len(tasks.calls) == 1)
    stopped_at = time.monotonic()
    executions.stop("incident-5")
    assert execution.wait(2)
    assert time.monotonic() - stopped_at < 1
    assert (execution.status, len(tasks.calls)) == ("ABORTED", 1)


def test_shutdown_aborts_running_executions() -> None:
    executions = LocalExecutions(StateMachineRunner(WAIT_THEN_WORK, Tasks(Work=lambda p: {})))
    execution = executions.start("incident-4", {"pause": 30})
    executions.shutdown(timeout=2)
    assert execution.finished.is_set()
    assert execution.status == "ABORTED"


# --------------------------------------------------------------------------------------------------------------
# Template, substitutions and moto
# --------------------------------------------------------------------------------------------------------------


def test_load_definition_substitutes_tokens(tmp_path: Path) -> None:
    path = tmp_path / "m.asl.json"
    path.write_text(json.dumps(machine({"T": {**VALID_TASK, "Resource": "${Fn}"}})), encoding="utf-8")
    assert load_definition(path, {"Fn": FN})["States"]["T"]["Resource"] == FN
    with pytest.raises(DefinitionError, match="no DefinitionSubstitutions for Fn"):
        load_definition(path, {"Other": FN})
    yaml_path = tmp_path / "m.asl.yaml"
    yaml_path.write_text("StartAt: T\nStates:\n  T: {Type: Task, Resource: '${Fn}', End: true}\n", encoding="utf-8")
    assert load_definition(yaml_path, {"Fn": FN})["States"]["T"]["Resource"] == FN


def test_the_templates_state_machines_load_with_local_function_arns() -> None:
    template = load_template()
    definitions = state_machine_definitions(template, substitution_resolver(template, {}, {}))
    assert "EscalationStateMachine" in definitions
    resources = {
        state["Resource"]
        for definition in definitions.values()
        for state in definition["States"].values()
        if state["Type"] == "Task"
    }
    assert resources
    assert all(r.startswith("arn:aws:lambda:us-east-1:123456789012:function:") for r in resources)
    for definition in definitions.values():
        StateMachineRunner(definition, Tasks())


def test_local_invoker_maps_arns_to_local_functions() -> None:
    class Function:
        def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
            return {"seen": event}

    invoke = local_invoker({"Work": Function()})
    assert invoke(FN, {"a": 1}) == {"seen": {"a": 1}}
    assert invoke("Work", {}) == {"seen": {}}
    with pytest.raises(TaskError) as raised:
        invoke(OTHER, {})
    assert raised.value.error == "Lambda.ResourceNotFoundException"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="devstack", aws_secret_access_key="devstack"
    )
    yield session.client("stepfunctions", endpoint_url=f"http://{host}:{port}")
    server.stop()


def _provision(sfn: Any, tmp_path: Path, logical_id: str) -> str:
    (tmp_path / "m.asl.json").write_text(
        json.dumps(
            machine(
                {
                    "First": {"Type": "Task", "Resource": "${WorkArn}", "ResultPath": "$.first", "Next": "Pause"},
                    "Pause": {"Type": "Wait", "SecondsPath": "$.pause", "Next": "Second"},
                    "Second": {
                        "Type": "Task",
                        "Resource": "${WorkArn}",
                        "Parameters": {"execution.$": "$$.Execution.Id"},
                        "End": True,
                    },
                }
            )
        ),
        encoding="utf-8",
    )
    template = {
        "Resources": {
            "Work": {"Type": "AWS::Serverless::Function", "Properties": {}},
            logical_id: {
                "Type": "AWS::Serverless::StateMachine",
                "Properties": {
                    "DefinitionUri": "m.asl.json",
                    "DefinitionSubstitutions": {"WorkArn": {"Fn::GetAtt": ["Work", "Arn"]}},
                },
            },
        }
    }
    arns = provision_state_machines(template, sfn, substitution_resolver(template, {}, {}), base_dir=tmp_path)
    assert list(arns) == [logical_id]
    stored = json.loads(sfn.describe_state_machine(stateMachineArn=arns[logical_id])["definition"])
    assert stored["States"]["First"]["Resource"] == FN
    return arns[logical_id]


def _until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_bridge_runs_a_boto3_execution_locally_once(sfn: Any, tmp_path: Path) -> None:
    arn = _provision(sfn, tmp_path, "BridgeSucceeds")
    tasks = Tasks(Work=lambda p: {"from": p})
    local = LocalStepFunctions.launch(sfn, {"BridgeSucceeds": arn}, tasks, poll_interval=0.02)
    try:
        started = sfn.start_execution(stateMachineArn=arn, name="incident-10", input=json.dumps({"pause": 0.01}))
        executions = local.executions["BridgeSucceeds"]
        _until(lambda: bool(executions.list()) and executions.get("incident-10").finished.is_set())
        execution = executions.get("incident-10")
        assert execution.status == "SUCCEEDED"
        assert execution.arn == started["executionArn"]
        assert execution.output == {"from": {"execution": started["executionArn"]}}
        assert tasks.calls[0] == ("Work", {"pause": 0.01})
        # mirrored into moto: DescribeExecution and the name rules behave as on AWS
        described = sfn.describe_execution(executionArn=started["executionArn"])
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == execution.output
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(stateMachineArn=arn, name="incident-10", input=json.dumps({"pause": 0.01}))
        for bridge in local.bridges:
            bridge.poll_once()
        assert len(tasks.calls) == 2  # never run twice
    finally:
        local.stop()


def test_bridge_aborts_the_local_run_on_stop_execution(sfn: Any, tmp_path: Path) -> None:
    arn = _provision(sfn, tmp_path, "BridgeStops")
    tasks = Tasks(Work=lambda p: {})
    local = LocalStepFunctions.launch(sfn, {"BridgeStops": arn}, tasks, poll_interval=0.02)
    try:
        request = {"stateMachineArn": arn, "name": "incident-11", "input": json.dumps({"pause": 30})}
        started = sfn.start_execution(**request)
        executions = local.executions["BridgeStops"]
        _until(lambda: bool(executions.list()) and executions.get("incident-11").history[-1:] == ["Pause"])
        # moto, like AWS, treats the same name and input of a running execution as the same start
        assert sfn.start_execution(**request)["executionArn"] == started["executionArn"]
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(**{**request, "input": json.dumps({"pause": 1})})
        sfn.stop_execution(executionArn=started["executionArn"], cause="acknowledged")
        execution = executions.get("incident-11")
        assert execution.wait(2)
        assert execution.status == "ABORTED"
        assert execution.history == ["First", "Pause"]
        assert len(executions.list()) == 1
        assert tasks.names() == ["Work"]  # Second never ran
        assert sfn.describe_execution(executionArn=started["executionArn"])["status"] == "ABORTED"
    finally:
        local.stop()


def test_bridge_without_mirror_leaves_moto_running_and_still_runs_once(sfn: Any, tmp_path: Path) -> None:
    arn = _provision(sfn, tmp_path, "BridgeNoMirror")
    tasks = Tasks(Work=lambda p: {})
    executions = LocalExecutions(
        StateMachineRunner(
            json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]), tasks, state_machine_arn=arn
        )
    )
    bridge = MotoExecutionBridge(sfn, arn, executions, poll_interval=1)
    sfn.start_execution(stateMachineArn=arn, name="incident-12", input=json.dumps({"pause": 0}))
    assert bridge.poll_once() == ["incident-12"]
    assert executions.get("incident-12").wait(5)
    assert executions.get("incident-12").status == "SUCCEEDED"
    listed = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert [e["name"] for e in listed] == ["incident-12"]  # moto itself never finishes an execution
    assert bridge.poll_once() == []
    assert tasks.names() == ["Work", "Work"]
