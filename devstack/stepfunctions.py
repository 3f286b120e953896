"""Step Functions for the local stack: a small ASL interpreter that runs executions with the local functions.

moto stores state machines and executions but runs nothing here (its own interpreter needs Docker for Lambda
tasks), so `MotoExecutionBridge` watches moto for executions the product code starts or stops and runs them
with `StateMachineRunner`. The interpreter supports a deliberate subset of the Amazon States Language and
rejects everything else when the definition is loaded, never half-way through an execution:

- states: Task (a Lambda ARN, or `arn:aws:states:::lambda:invoke` with `Parameters.FunctionName` and
  `Payload`/`Payload.$`), Wait, Choice, Pass, Succeed, Fail;
- paths: InputPath, Parameters (`key.$` takes a JSONPath such as `$.a.b[0]` or `$$.Execution.Name`),
  ResultSelector, ResultPath (incl. null), OutputPath;
- errors: Retry and Catch; a task's error name is the class name of the Python exception it raised (or
  `TaskError.error`); a path that selects nothing fails the execution with the uncatchable `States.Runtime`.

Local leniency: `SecondsPath` may select a fractional number of seconds (AWS wants an integer), which keeps
tests fast; literal `Seconds` must be an integer as on AWS.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

from devstack.template import REPO
from devstack.template import resolve as resolve_template_value

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
LOCAL_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/devstack-stepfunctions"
LOCAL_STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:local"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
MAX_TRANSITIONS = 25_000
"""Standard workflows stop at 25,000 history events; a local loop without a Wait would otherwise spin forever."""

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "ABORTED")

Invoke = Callable[[str, Any], Any]
"""(function logical id, name or ARN, payload) -> the function's result."""
Sleep = Callable[[float, threading.Event], None]
"""Sleep up to `seconds`, returning early once the event (the execution's stop signal) is set."""
Clock = Callable[[], datetime]

_DEVSTACK_DIR = str(Path(__file__).resolve().parent)
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(?::[A-Za-z0-9_$-]+)?$")
_TOKEN = re.compile(r"\$\{([^}]*)\}")
_STEP = re.compile(r"\.([^.\[\]\s'\"]+)|\[(\d+)\]|\['([^']*)'\]")

_COMMON = {"Type", "Comment"}
_TRANSITION = {"Next", "End"}
_ALLOWED_FIELDS: dict[str, set[str]] = {
    "Task": _COMMON
    | _TRANSITION
    | {"Resource", "Parameters", "InputPath", "OutputPath", "ResultPath", "ResultSelector", "Retry", "Catch"},
    "Pass": _COMMON | _TRANSITION | {"Result", "Parameters", "InputPath", "OutputPath", "ResultPath"},
    "Wait": _COMMON | _TRANSITION | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath", "InputPath", "OutputPath"},
    "Choice": _COMMON | {"Choices", "Default", "InputPath", "OutputPath"},
    "Succeed": _COMMON | {"InputPath", "OutputPath"},
    "Fail": _COMMON | {"Error", "Cause"},
}
_NUMERIC = {
    "NumericEquals": lambda a, b: a == b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
    "NumericLessThan": lambda a, b: a < b,
    "NumericLessThanEquals": lambda a, b: a <= b,
}
_COMPARATORS = {"BooleanEquals", "StringEquals", "IsPresent", "IsNull", *_NUMERIC}
_RETRY_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"}


class DefinitionError(ValueError):
    """The definition is invalid, or uses something this interpreter does not support."""


class ExecutionAlreadyExists(Exception):
    """Like AWS: an execution name is used once per state machine, running or finished."""


class ExecutionDoesNotExist(LookupError):
    pass


class TaskError(Exception):
    """Raised by a task (or an invoker) to fail with an explicit error name, e.g. `Lambda.ResourceNotFoundException`."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class _Failure(Exception):
    def __init__(self, error: str | None, cause: str | None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class _Aborted(Exception):
    pass


def _runtime(cause: str) -> _Failure:
    """A path or data error: it fails the execution outright (raised outside the Retry/Catch of a task)."""
    return _Failure("States.Runtime", cause)


# ---------------------------------------------------------------------------------------------------------------
# JSONPath (the subset ASL definitions use) and payload templates
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Path:
    text: str
    context: bool
    steps: tuple[str | int, ...]

    def find(self, data: Any, context: Any) -> tuple[bool, Any]:
        node = context if self.context else data
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return False, None
            elif not isinstance(node, dict) or step not in node:
                return False, None
            node = node[step]
        return True, node

    def get(self, data: Any, context: Any) -> Any:
        found, value = self.find(data, context)
        if not found:
            raise _runtime(f"the JSONPath '{self.text}' could not be found in the input")
        return value


def _path(text: Any, *, reference: bool = False) -> _Path:
    """Parse `$`, `$.a.b`, `$.a[0]`, `$['a b']` or `$$.Execution.Name`; a reference path (ResultPath) is `$.a.b`."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise DefinitionError(f"{text!r} is not a JSONPath (it must start with '$')")
    return _parse_path(text, reference)


@lru_cache(maxsize=2048)
def _parse_path(text: str, reference: bool) -> _Path:
    context = text.startswith("$$")
    rest = text[2:] if context else text[1:]
    steps: list[str | int] = []
    position = 0
    while position < len(rest):
        match = _STEP.match(rest, position)
        if match is None:
            raise DefinitionError(f"unsupported JSONPath {text!r} (only $.a.b, $.a[0] and $['a'] are supported)")
        name, index, quoted = match.groups()
        steps.append(int(index) if index is not None else (name if name is not None else quoted))
        position = match.end()
    if reference and (context or any(isinstance(step, int) for step in steps)):
        raise DefinitionError(f"ResultPath {text!r} must be $ or a plain $.a.b reference path")
    return _Path(text, context, tuple(steps))


def _check_template(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$"):
                if not isinstance(item, str) or not item.startswith("$"):
                    raise DefinitionError(
                        f"{where}: {key} must be a JSONPath; intrinsic functions such as {item!r} are not supported"
                    )
                _path(item)
            else:
                _check_template(item, where)
    elif isinstance(value, list):
        for item in value:
            _check_template(item, where)


def _fill(template: Any, data: Any, context: Any) -> Any:
    if isinstance(template, dict):
        return {
            (key[:-2] if key.endswith(".$") else key): (
                copy.deepcopy(_path(item).get(data, context)) if key.endswith(".$") else _fill(item, data, context)
            )
            for key, item in template.items()
        }
    if isinstance(template, list):
        return [_fill(item, data, context) for item in template]
    return copy.deepcopy(template)


def _select(state: dict[str, Any], key: str, data: Any, context: Any) -> Any:
    """InputPath / OutputPath: absent keeps the data, null gives {}."""
    if key not in state:
        return data
    if state[key] is None:
        return {}
    return _path(state[key]).get(data, context)


def _put(raw_input: Any, result_path: Any, result: Any) -> Any:
    """ResultPath: null keeps the input, $ replaces it, $.a.b sets the result into a copy of the input."""
    if result_path is None:
        return raw_input
    path = _path(result_path, reference=True)
    if not path.steps:
        return result
    if not isinstance(raw_input, dict):
        raise _runtime(f"ResultPath {result_path!r} needs an object input, got {type(raw_input).__name__}")
    root = copy.deepcopy(raw_input)
    node = root
    for step in path.steps[:-1]:
        child = node.get(step)
        if child is None:
            child = node[step] = {}
        elif not isinstance(child, dict):
            raise _runtime(f"ResultPath {result_path!r} goes through a value that is not an object")
        node = child
    node[path.steps[-1]] = result
    return root


# ---------------------------------------------------------------------------------------------------------------
# Loading: every rule is checked here, so an execution never meets an unsupported construct
# ---------------------------------------------------------------------------------------------------------------


def _validate(definition: Any) -> None:
    if not isinstance(definition, dict):
        raise DefinitionError("a state machine definition is a JSON object")
    unknown = set(definition) - {"StartAt", "States", "Comment", "Version"}
    if unknown:
        raise DefinitionError(f"unsupported top-level fields: {sorted(unknown)}")
    _check_tokens(definition)
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        raise DefinitionError("States must be a non-empty object")
    if definition.get("StartAt") not in states:
        raise DefinitionError(f"StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        _validate_state(name, state, states)


def _check_tokens(value: Any) -> None:
    if isinstance(value, str):
        token = _TOKEN.search(value)
        if token:
            raise DefinitionError(f"unsubstituted DefinitionSubstitutions token ${{{token.group(1)}}} in {value!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_tokens(key)
            _check_tokens(item)
    elif isinstance(value, list):
        for item in value:
            _check_tokens(item)


def _validate_state(name: str, state: Any, states: dict[str, Any]) -> None:
    where = f"state {name!r}"
    if not isinstance(state, dict):
        raise DefinitionError(f"{where} is not an object")
    kind = state.get("Type")
    if kind not in _ALLOWED_FIELDS:
        raise DefinitionError(f"{where}: unsupported state type {kind!r} (supported: {sorted(_ALLOWED_FIELDS)})")
    unknown = set(state) - _ALLOWED_FIELDS[kind]
    if unknown:
        raise DefinitionError(f"{where}: unsupported fields for a {kind} state: {sorted(unknown)}")

    def target(next_name: Any, what: str) -> None:
        if next_name not in states:
            raise DefinitionError(f"{where}: {what} {next_name!r} is not a state")

    if _ALLOWED_FIELDS[kind] >= _TRANSITION:
        if ("Next" in state) == bool(state.get("End")):
            raise DefinitionError(f"{where}: needs exactly one of Next or End: true")
        if "Next" in state:
            target(state["Next"], "Next")
    for key in ("InputPath", "OutputPath"):
        if state.get(key) is not None:
            _path(state[key])
    if "ResultPath" in state and state["ResultPath"] is not None:
        _path(state["ResultPath"], reference=True)
    for key in ("Parameters", "ResultSelector"):
        if key in state:
            _check_template(state[key], f"{where} {key}")
    if kind == "Task":
        _validate_task(where, state, target)
    elif kind == "Wait":
        _validate_wait(where, state)
    elif kind == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise DefinitionError(f"{where}: Choices must be a non-empty list")
        for rule in choices:
            _validate_rule(where, rule, top=True)
            target(rule["Next"], "Choice Next")
        if "Default" in state:
            target(state["Default"], "Default")
    elif kind == "Fail":
        for key in ("Error", "Cause"):
            if key in state and not isinstance(state[key], str):
                raise DefinitionError(f"{where}: {key} must be a string")


def _validate_task(where: str, state: dict[str, Any], target: Callable[[Any, str], None]) -> None:
    resource = state.get("Resource")
    if resource == LAMBDA_INVOKE:
        parameters = state.get("Parameters")
        if not isinstance(parameters, dict):
            raise DefinitionError(f"{where}: {LAMBDA_INVOKE} needs Parameters with FunctionName and Payload")
        unknown = set(parameters) - {"FunctionName", "FunctionName.$", "Payload", "Payload.$"}
        if unknown:
            raise DefinitionError(f"{where}: unsupported lambda:invoke Parameters {sorted(unknown)}")
        if len({"FunctionName", "FunctionName.$"} & set(parameters)) != 1:
            raise DefinitionError(f"{where}: lambda:invoke needs exactly one of FunctionName or FunctionName.$")
        if len({"Payload", "Payload.$"} & set(parameters)) != 1:
            raise DefinitionError(f"{where}: lambda:invoke needs exactly one of Payload or Payload.$")
    elif not isinstance(resource, str) or not _LAMBDA_ARN.match(resource):
        raise DefinitionError(
            f"{where}: unsupported Resource {resource!r}; supported: a Lambda function ARN or {LAMBDA_INVOKE}"
            " (no .sync, .waitForTaskToken, activities or other service integrations)"
        )
    retriers = state.get("Retry", [])
    if not isinstance(retriers, list):
        raise DefinitionError(f"{where}: Retry must be a list")
    for position, retrier in enumerate(retriers):
        if not isinstance(retrier, dict) or set(retrier) - _RETRY_FIELDS - {"Comment"}:
            raise DefinitionError(f"{where}: a retrier takes only {sorted(_RETRY_FIELDS)}")
        _validate_errors(where, retrier, last=position == len(retriers) - 1)
        interval = retrier.get("IntervalSeconds", 1)
        attempts = retrier.get("MaxAttempts", 3)
        backoff = retrier.get("BackoffRate", 2.0)
        max_delay = retrier.get("MaxDelaySeconds")
        if not _is_int(interval) or interval < 1:
            raise DefinitionError(f"{where}: IntervalSeconds must be a positive integer")
        if not _is_int(attempts) or attempts < 0:
            raise DefinitionError(f"{where}: MaxAttempts must be a non-negative integer")
        if not _is_number(backoff) or backoff < 1:
            raise DefinitionError(f"{where}: BackoffRate must be a number >= 1.0")
        if max_delay is not None and (not _is_int(max_delay) or max_delay < 1):
            raise DefinitionError(f"{where}: MaxDelaySeconds must be a positive integer")
        if retrier.get("JitterStrategy", "NONE") != "NONE":
            raise DefinitionError(f"{where}: only JitterStrategy NONE is supported")
    catchers = state.get("Catch", [])
    if not isinstance(catchers, list):
        raise DefinitionError(f"{where}: Catch must be a list")
    for position, catcher in enumerate(catchers):
        if not isinstance(catcher, dict) or set(catcher) - {"ErrorEquals", "Next", "ResultPath", "Comment"}:
            raise DefinitionError(f"{where}: a catcher takes only ErrorEquals, Next and ResultPath")
        _validate_errors(where, catcher, last=position == len(catchers) - 1)
        target(catcher.get("Next"), "Catch Next")
        if catcher.get("ResultPath") is not None:
            _path(catcher["ResultPath"], reference=True)


def _validate_errors(where: str, rule: dict[str, Any], *, last: bool) -> None:
    errors = rule.get("ErrorEquals")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        raise DefinitionError(f"{where}: ErrorEquals must be a non-empty list of error names")
    if "States.ALL" in errors and (len(errors) != 1 or not last):
        raise DefinitionError(f"{where}: States.ALL must appear alone, in the last retrier or catcher")


def _validate_wait(where: str, state: dict[str, Any]) -> None:
    given = [key for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if key in state]
    if len(given) != 1:
        raise DefinitionError(f"{where}: a Wait needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath")
    key = given[0]
    if key == "Seconds" and (not _is_int(state[key]) or state[key] < 0):
        raise DefinitionError(f"{where}: Seconds must be a non-negative integer")
    if key == "Timestamp":
        _timestamp(state[key], where)
    if key.endswith("Path"):
        _path(state[key])


def _validate_rule(where: str, rule: Any, *, top: bool) -> None:
    if not isinstance(rule, dict):
        raise DefinitionError(f"{where}: a choice rule is an object")
    if top != ("Next" in rule):
        raise DefinitionError(f"{where}: a top-level choice rule needs Next; a nested one must not have it")
    body = set(rule) - {"Next", "Comment"}
    if body == {"And"} or body == {"Or"}:
        operands = rule[body.pop()]
        if not isinstance(operands, list) or not operands:
            raise DefinitionError(f"{where}: And/Or take a non-empty list of rules")
        for operand in operands:
            _validate_rule(where, operand, top=False)
        return
    if body == {"Not"}:
        _validate_rule(where, rule["Not"], top=False)
        return
    comparators = body - {"Variable"}
    if "Variable" not in body or len(comparators) != 1 or not comparators <= _COMPARATORS:
        raise DefinitionError(
            f"{where}: unsupported choice rule {sorted(body)}; supported: Variable with one of "
            f"{sorted(_COMPARATORS)}, or And/Or/Not"
        )
    _path(rule["Variable"])
    comparator = comparators.pop()
    expected = rule[comparator]
    valid = {
        "BooleanEquals": isinstance(expected, bool),
        "IsPresent": isinstance(expected, bool),
        "IsNull": isinstance(expected, bool),
        "StringEquals": isinstance(expected, str),
    }.get(comparator, _is_number(expected))
    if not valid:
        raise DefinitionError(f"{where}: {comparator} does not take {expected!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _timestamp(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{where}: {value!r} is not an ISO-8601 timestamp") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------------------


def _event_wait(seconds: float, stop: threading.Event) -> None:
    stop.wait(seconds)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None


class StateMachineRunner:
    """Runs one definition; `run` is synchronous and thread-safe (executions share nothing but `invoke`)."""

    def __init__(
        self,
        definition: dict[str, Any],
        invoke: Invoke,
        *,
        clock: Clock = _now,
        sleep: Sleep = _event_wait,
        state_machine_arn: str = LOCAL_STATE_MACHINE_ARN,
        max_transitions: int = MAX_TRANSITIONS,
    ) -> None:
        _validate(definition)
        self.definition = definition
        self.state_machine_arn = state_machine_arn
        self._states: dict[str, dict[str, Any]] = definition["States"]
        self._invoke = invoke
        self._clock = clock
        self._sleep = sleep
        self._max_transitions = max_transitions

    def run(
        self,
        execution_input: Any = None,
        *,
        name: str = "local",
        execution_arn: str | None = None,
        stop: threading.Event | None = None,
        history: list[str] | None = None,
    ) -> Outcome:
        """Run to the end; `stop` aborts between states and interrupts Waits and retry intervals."""
        stop = stop or threading.Event()
        history = history if history is not None else []
        data = {} if execution_input is None else copy.deepcopy(execution_input)
        context: dict[str, Any] = {
            "Execution": {
                "Id": execution_arn or execution_arn_for(self.state_machine_arn, name),
                "Name": name,
                "Input": copy.deepcopy(data),
                "StartTime": _iso(self._clock()),
                "RoleArn": LOCAL_ROLE_ARN,
            },
            "StateMachine": {"Id": self.state_machine_arn, "Name": self.state_machine_arn.rsplit(":", 1)[-1]},
        }
        state_name: str | None = self.definition["StartAt"]
        try:
            for _ in range(self._max_transitions):
                if stop.is_set():
                    raise _Aborted
                assert state_name is not None
                state = self._states[state_name]
                history.append(state_name)
                context["State"] = {"Name": state_name, "EnteredTime": _iso(self._clock()), "RetryCount": 0}
                kind = state["Type"]
                if kind == "Fail":
                    return Outcome("FAILED", error=state.get("Error"), cause=state.get("Cause"))
                if kind == "Succeed":
                    output = _select(state, "OutputPath", _select(state, "InputPath", data, context), context)
                    return Outcome("SUCCEEDED", output=output)
                handler = {"Task": self._task, "Pass": self._pass, "Wait": self._wait, "Choice": self._choice}[kind]
                state_name, data = handler(state, data, context, stop)
                if state_name is None:
                    return Outcome("SUCCEEDED", output=data)
            return Outcome(
                "FAILED", error="States.Runtime", cause=f"more than {self._max_transitions} state transitions"
            )
        except _Aborted:
            return Outcome("ABORTED")
        except _Failure as failure:
            return Outcome("FAILED", error=failure.error, cause=failure.cause)

    @staticmethod
    def _next(state: dict[str, Any]) -> str | None:
        return None if state.get("End") else str(state["Next"])

    def _pass(self, state: dict[str, Any], raw: Any, context: Any, stop: threading.Event) -> tuple[str | None, Any]:
        effective = _select(state, "InputPath", raw, context)
        if "Parameters" in state:
            effective = _fill(state["Parameters"], effective, context)
        result = copy.deepcopy(state["Result"]) if "Result" in state else effective
        output = _put(raw, state.get("ResultPath", "$"), result)
        return self._next(state), _select(state, "OutputPath", output, context)

    def _wait(self, state: dict[str, Any], raw: Any, context: Any, stop: threading.Event) -> tuple[str | None, Any]:
        effective = _select(state, "InputPath", raw, context)
        if "Seconds" in state:
            seconds = float(state["Seconds"])
        elif "SecondsPath" in state:
            value = _path(state["SecondsPath"]).get(effective, context)
            if not _is_number(value) or value < 0:
                raise _runtime(f"SecondsPath {state['SecondsPath']!r} selected {value!r}, not a non-negative number")
            seconds = float(value)
        else:
            if "Timestamp" in state:
                raw_moment = state["Timestamp"]
            else:
                raw_moment = _path(state["TimestampPath"]).get(effective, context)
            try:
                moment = _timestamp(raw_moment, "Wait")
            except DefinitionError as exc:
                raise _runtime(str(exc)) from exc
            seconds = max(0.0, (moment - self._clock()).total_seconds())
        self._pause(seconds, stop)
        return self._next(state), _select(state, "OutputPath", effective, context)

    def _pause(self, seconds: float, stop: threading.Event) -> None:
        if seconds > 0:
            self._sleep(seconds, stop)
        if stop.is_set():
            raise _Aborted

    def _choice(self, state: dict[str, Any], raw: Any, context: Any, stop: threading.Event) -> tuple[str | None, Any]:
        effective = _select(state, "InputPath", raw, context)
        output = _select(state, "OutputPath", effective, context)
        for rule in state["Choices"]:
            if _matches_rule(rule, effective, context):
                return str(rule["Next"]), output
        if "Default" in state:
            return str(state["Default"]), output
        raise _Failure("States.NoChoiceMatched", f"no choice rule matched and there is no Default ({state})")

    def _task(self, state: dict[str, Any], raw: Any, context: Any, stop: threading.Event) -> tuple[str | None, Any]:
        effective = _select(state, "InputPath", raw, context)
        retriers: list[dict[str, Any]] = state.get("Retry", [])
        retries = [0] * len(retriers)
        while True:
            parameters = _fill(state["Parameters"], effective, context) if "Parameters" in state else effective
            try:
                result = self._call(state["Resource"], parameters)
                break
            except _Failure as failure:
                if stop.is_set():
                    raise _Aborted from failure
                position = next((i for i, r in enumerate(retriers) if _matches_error(r["ErrorEquals"], failure)), None)
                if position is not None and retries[position] < retriers[position].get("MaxAttempts", 3):
                    retrier = retriers[position]
                    delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** retries[position]
                    if "MaxDelaySeconds" in retrier:
                        delay = min(delay, retrier["MaxDelaySeconds"])
                    retries[position] += 1
                    context["State"]["RetryCount"] += 1
                    self._pause(delay, stop)
                    continue
                for catcher in state.get("Catch", []):
                    if _matches_error(catcher["ErrorEquals"], failure):
                        error = {"Error": failure.error, "Cause": failure.cause}
                        return str(catcher["Next"]), _put(raw, catcher.get("ResultPath", "$"), error)
                raise
        if stop.is_set():
            raise _Aborted
        if "ResultSelector" in state:
            result = _fill(state["ResultSelector"], result, context)
        output = _put(raw, state.get("ResultPath", "$"), result)
        return self._next(state), _select(state, "OutputPath", output, context)

    def _call(self, resource: str, parameters: Any) -> Any:
        if resource == LAMBDA_INVOKE:
            function, payload = str(parameters["FunctionName"]), parameters["Payload"]
        else:
            function, payload = resource, parameters
        try:
            result = self._invoke(function, json.loads(json.dumps(payload)))
        except TaskError as exc:
            raise _Failure(exc.error, exc.cause) from exc
        except Exception as exc:  # the function's unhandled exception, reported the way Lambda does
            error = type(exc).__name__
            cause = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": error,
                    "requestId": str(uuid.uuid4()),
                    "stackTrace": _handler_frames(exc),
                }
            )
            raise _Failure(error, cause) from exc
        try:
            result = json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            raise _Failure("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc
        if resource == LAMBDA_INVOKE:
            return {
                "ExecutedVersion": "$LATEST",
                "Payload": result,
                "SdkHttpMetadata": {"HttpStatusCode": 200},
                "SdkResponseMetadata": {"RequestId": str(uuid.uuid4())},
                "StatusCode": 200,
            }
        return result


def _handler_frames(exc: BaseException) -> list[str]:
    """The traceback from the handler down, as Lambda reports it (the local stack's own frames left out)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_DEVSTACK_DIR)]
    return traceback.format_list(frames)


def _matches_error(names: list[str], failure: _Failure) -> bool:
    if "States.ALL" in names or failure.error in names:
        return True
    return "States.TaskFailed" in names and failure.error != "States.Timeout"


def _matches_rule(rule: dict[str, Any], data: Any, context: Any) -> bool:
    if "And" in rule:
        return all(_matches_rule(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(_matches_rule(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not _matches_rule(rule["Not"], data, context)
    path = _path(rule["Variable"])
    comparator = next(key for key in rule if key in _COMPARATORS)
    expected = rule[comparator]
    if comparator == "IsPresent":
        return path.find(data, context)[0] is bool(expected)
    value = path.get(data, context)
    if comparator == "IsNull":
        return (value is None) is bool(expected)
    if comparator == "BooleanEquals":
        return isinstance(value, bool) and value is expected
    if comparator == "StringEquals":
        return isinstance(value, str) and value == str(expected)
    return _is_number(value) and bool(_NUMERIC[comparator](value, expected))


# ---------------------------------------------------------------------------------------------------------------
# Executions
# ---------------------------------------------------------------------------------------------------------------


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


@dataclass
class LocalExecution:
    name: str
    arn: str
    input: Any
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[str] = field(default_factory=list)
    """Names of the states entered, in order."""
    start_date: datetime = field(default_factory=_now)
    stop_date: datetime | None = None
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait(self, timeout: float | None = None) -> bool:
        """True once the execution's thread is done (no state will run any more)."""
        return self.finished.wait(timeout)


class LocalExecutions:
    """The executions of one state machine, each in its own thread."""

    def __init__(self, runner: StateMachineRunner) -> None:
        self.runner = runner
        self._executions: dict[str, LocalExecution] = {}
        self._threads: list[threading.Thread] = []
        self._listeners: list[Callable[[LocalExecution], None]] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: Callable[[LocalExecution], None]) -> None:
        """Called (from the execution's thread) once each execution has finished, whatever its status."""
        self._listeners.append(listener)

    def start(
        self, name: str | None = None, execution_input: Any = None, *, execution_arn: str | None = None
    ) -> LocalExecution:
        name = name or str(uuid.uuid4())
        with self._lock:
            if name in self._executions:
                existing = self._executions[name]
                raise ExecutionAlreadyExists(f"Execution Already Exists: '{existing.arn}' ({existing.status})")
            execution = LocalExecution(
                name=name,
                arn=execution_arn or execution_arn_for(self.runner.state_machine_arn, name),
                input=execution_input,
            )
            self._executions[name] = execution
            thread = threading.Thread(target=self._run, args=(execution,), name=f"sfn-{name}", daemon=True)
            self._threads.append(thread)
        thread.start()
        return execution

    def _run(self, execution: LocalExecution) -> None:
        try:
            outcome = self.runner.run(
                execution.input,
                name=execution.name,
                execution_arn=execution.arn,
                stop=execution.stopping,
                history=execution.history,
            )
        except Exception as exc:  # a bug in the interpreter must still end the execution
            outcome = Outcome("FAILED", error=type(exc).__name__, cause=str(exc))
        with self._lock:
            if execution.status == "RUNNING":
                execution.status = outcome.status
                execution.output = outcome.output
                execution.error = outcome.error
                execution.cause = outcome.cause
                execution.stop_date = _now()
        for listener in self._listeners:
            try:
                listener(execution)
            except Exception as exc:
                print(f"  step functions: listener failed for {execution.name}: {exc}", flush=True)
        execution.finished.set()

    def stop(self, name: str, *, error: str | None = None, cause: str | None = None) -> LocalExecution:
        """Abort: ABORTED at once; a Wait or retry interval is interrupted and no further state runs.

        A task already running finishes (a thread cannot be killed) but its result is dropped."""
        with self._lock:
            execution = self._executions.get(name)
            if execution is None:
                raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{name}'")
            if execution.status == "RUNNING":
                execution.status = "ABORTED"
                execution.error = error
                execution.cause = cause
                execution.stop_date = _now()
                execution.stopping.set()
        return execution

    def get(self, name: str) -> LocalExecution:
        with self._lock:
            if name not in self._executions:
                raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{name}'")
            return self._executions[name]

    def list(self) -> list[LocalExecution]:
        with self._lock:
            return list(self._executions.values())

    def shutdown(self, timeout: float = 5.0) -> None:
        """Abort everything still running and wait for the threads."""
        for execution in self.list():
            self.stop(execution.name, cause="local stack shutting down")
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


# ---------------------------------------------------------------------------------------------------------------
# moto: the product code starts and stops executions there; the bridge runs them here
# ---------------------------------------------------------------------------------------------------------------


class MotoExecutionBridge:
    """Polls moto for executions of one state machine and runs each exactly once locally.

    moto 5 records StartExecution (status RUNNING forever) and StopExecution (status ABORTED) but runs nothing.
    With `mirror_status`, a local execution's end (SUCCEEDED/FAILED, output, error, cause) is written back into
    moto's in-process backend, so DescribeExecution and the name rules behave as on AWS; that only works when moto's
    server runs in this process (`ThreadedMotoServer`, as the local stack does)."""

    def __init__(
        self,
        sfn_client: Any,
        state_machine_arn: str,
        executions: LocalExecutions,
        poll_interval: float = 0.5,
        *,
        mirror_status: bool = False,
    ) -> None:
        self._sfn = sfn_client
        self._arn = state_machine_arn
        self._executions = executions
        self._poll_interval = poll_interval
        self._names: dict[str, str] = {}
        """moto execution ARN -> local name, for every execution this bridge has taken (never run twice)."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sfn-bridge-{state_machine_arn}", daemon=True)
        if mirror_status:
            executions.add_listener(self._mirror)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def poll_once(self) -> list[str]:
        """Start new RUNNING executions locally and abort the local runs moto has ABORTED; returns started names."""
        with self._lock:  # the loop and a test may both poll
            started = []
            for summary in self._list("RUNNING"):
                arn = summary["executionArn"]
                if arn in self._names:
                    continue
                self._names[arn] = summary["name"]
                described = self._sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    continue
                try:
                    self._executions.start(summary["name"], json.loads(described["input"]), execution_arn=arn)
                except ExecutionAlreadyExists as exc:
                    print(f"  step functions: not running {arn} again: {exc}", flush=True)
                    continue
                started.append(summary["name"])
            for summary in self._list("ABORTED"):
                name = self._names.get(summary["executionArn"])
                if name is not None and self._executions.get(name).status == "RUNNING":
                    self._executions.stop(name, cause="stopped through StopExecution")
            return started

    def _list(self, status: str) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = []
        request: dict[str, Any] = {"stateMachineArn": self._arn, "statusFilter": status}
        while True:
            page = self._sfn.list_executions(**request)
            summaries.extend(page.get("executions", []))
            if not page.get("nextToken"):
                # moto lists newest first; start the oldest first
                return sorted(summaries, key=lambda summary: summary["startDate"])
            request["nextToken"] = page["nextToken"]

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # keep polling: a local hiccup must not stop the stack
                print(f"  step functions bridge error: {exc}", flush=True)
            self._stopping.wait(self._poll_interval)

    def _mirror(self, execution: LocalExecution) -> None:
        if execution.arn not in self._names or execution.status not in {"SUCCEEDED", "FAILED"}:
            return
        from moto.core.utils import utcnow
        from moto.stepfunctions.models import stepfunctions_backends

        region, account = execution.arn.split(":")[3:5]
        try:
            recorded = stepfunctions_backends[account][region].describe_execution(execution.arn)
        except Exception:  # not in this process's moto
            return
        if recorded.status != "RUNNING":
            return
        recorded.status = execution.status
        recorded.stop_date = utcnow()
        if execution.status == "SUCCEEDED":
            recorded.output = json.dumps(execution.output)
        else:
            recorded.error = execution.error
            recorded.cause = execution.cause


# ---------------------------------------------------------------------------------------------------------------
# template.yaml: DefinitionUri + DefinitionSubstitutions, provisioning and wiring
# ---------------------------------------------------------------------------------------------------------------


def load_definition(source: Path | dict[str, Any], substitutions: Mapping[str, str]) -> dict[str, Any]:
    """Read a definition (JSON, or YAML by suffix) and replace its `${Name}` tokens, as CloudFormation does.

    A token without a substitution is an error here rather than a surprise during an execution."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else json.dumps(source)
    missing = sorted({token for token in _TOKEN.findall(text) if token not in substitutions})
    if missing:
        raise DefinitionError(f"{source}: no DefinitionSubstitutions for {', '.join(missing)}")
    text = _TOKEN.sub(lambda match: substitutions[match.group(1)], text)
    if isinstance(source, Path) and source.suffix in {".yaml", ".yml"}:
        document = yaml.safe_load(text)
    else:
        document = json.loads(text)
    if not isinstance(document, dict):
        raise DefinitionError(f"{source}: a state machine definition is a JSON object")
    return document


def local_function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"


def function_name(identifier: str) -> str:
    """A Lambda ARN (with or without qualifier) -> its function name; a plain name stays as it is."""
    match = _LAMBDA_ARN.match(identifier)
    return match.group(1) if match else identifier


class _Invocable(Protocol):
    def invoke(self, event: dict[str, Any]) -> dict[str, Any]: ...


def local_invoker(functions: Mapping[str, _Invocable]) -> Invoke:
    """An `invoke` running the local functions (devstack.runtime.LocalFunction) by logical id, name or ARN."""

    def invoke(identifier: str, payload: Any) -> Any:
        function = functions.get(function_name(identifier))
        if function is None:
            raise TaskError("Lambda.ResourceNotFoundException", f"Function not found: {identifier}")
        return function.invoke(payload)

    return invoke


def substitution_resolver(
    template: dict[str, Any], references: Mapping[str, str], attributes: Mapping[tuple[str, str], str]
) -> Callable[[Any], str]:
    """Resolve DefinitionSubstitutions values: a function's `GetAtt X.Arn` is its local ARN (`local_function_arn`)
    and `Ref X` its name (the logical id); anything else goes through devstack.template.resolve."""
    functions = {
        key for key, resource in template["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"
    }

    def resolve(value: Any) -> str:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if logical_id in functions and attribute == "Arn":
                return local_function_arn(logical_id)
        if isinstance(value, dict) and value.get("Ref") in functions:
            return str(value["Ref"])
        return resolve_template_value(value, dict(references), dict(attributes))

    return resolve


def state_machine_definitions(
    template: dict[str, Any], resolve: Callable[[Any], str], base_dir: Path = REPO
) -> dict[str, dict[str, Any]]:
    """Each AWS::Serverless::StateMachine's definition with its substitutions applied, validated for local runs."""
    definitions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties", {})
        if props.get("Type", "STANDARD") != "STANDARD":
            raise DefinitionError(f"{logical_id}: only STANDARD state machines run locally")
        substitutions = {name: resolve(value) for name, value in (props.get("DefinitionSubstitutions") or {}).items()}
        if isinstance(props.get("DefinitionUri"), str):
            source: Path | dict[str, Any] = base_dir / props["DefinitionUri"]
        elif isinstance(props.get("Definition"), dict):
            source = props["Definition"]
        else:
            raise DefinitionError(f"{logical_id}: needs a local DefinitionUri file or an inline Definition")
        definition = load_definition(source, substitutions)
        try:
            _validate(definition)
        except DefinitionError as exc:
            raise DefinitionError(f"{logical_id}: {exc}") from exc
        definitions[logical_id] = definition
    return definitions


def provision_state_machines(
    template: dict[str, Any], sfn_client: Any, resolve: Callable[[Any], str], base_dir: Path = REPO
) -> dict[str, str]:
    """Create the template's state machines in moto (named after their logical id); returns logical id -> ARN."""
    arns = {}
    for logical_id, definition in state_machine_definitions(template, resolve, base_dir).items():
        answer = sfn_client.create_state_machine(
            name=logical_id, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN, type="STANDARD"
        )
        arns[logical_id] = answer["stateMachineArn"]
    return arns


@dataclass
class LocalStepFunctions:
    """Every state machine of the local stack: its local executions and its bridge to moto."""

    executions: dict[str, LocalExecutions]
    bridges: list[MotoExecutionBridge]

    @classmethod
    def launch(
        cls,
        sfn_client: Any,
        state_machines: Mapping[str, str],
        invoke: Invoke,
        *,
        poll_interval: float = 0.5,
        sleep: Sleep = _event_wait,
        mirror_status: bool = True,
        start: bool = True,
    ) -> LocalStepFunctions:
        """Run what moto holds: each machine's definition is read back from moto (DescribeStateMachine)."""
        executions: dict[str, LocalExecutions] = {}
        bridges = []
        for logical_id, arn in state_machines.items():
            definition = json.loads(sfn_client.describe_state_machine(stateMachineArn=arn)["definition"])
            runner = StateMachineRunner(definition, invoke, sleep=sleep, state_machine_arn=arn)
            executions[logical_id] = LocalExecutions(runner)
            bridges.append(
                MotoExecutionBridge(sfn_client, arn, executions[logical_id], poll_interval, mirror_status=mirror_status)
            )
        if start:
            for bridge in bridges:
                bridge.start()
        return cls(executions=executions, bridges=bridges)

    def stop(self) -> None:
        for bridge in self.bridges:
            bridge.stop()
        for local in self.executions.values():
            local.shutdown()
