"""One error vocabulary: task handlers fail with a closed set the state machines name, whatever they met."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import httpx
import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from devstack.template import REPO
from incident_core import errors
from incident_core.errors import (
    RETRYABLE_TASK_ERRORS,
    TASK_ERRORS,
    BulkUpsertError,
    ConfigurationError,
    Conflict,
    FinalError,
    IncidentGone,
    MalformedRequest,
    NotFound,
    PortApiError,
    ProviderApiError,
    RetriesExhausted,
    RetryableError,
    RetryReport,
    StepRefused,
    TaskError,
    Unsupported,
    UpstreamError,
    state_machine_task,
    task_error,
)

AWS_OWN_PREFIXES = ("States.", "Lambda.")
"""Error names Step Functions and Lambda define themselves; every other name must be one of ours."""


def _definitions() -> list[tuple[str, dict[str, Any]]]:
    paths = sorted((REPO / "statemachines").glob("*.asl.json"))
    assert paths
    return [(path.name, json.loads(path.read_text(encoding="utf-8"))) for path in paths]


def _tasks(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, state) for name, state in definition["States"].items() if state["Type"] == "Task"]


def test_every_error_name_in_the_state_machines_is_a_class_of_the_closed_set() -> None:
    ours = {cls.__name__ for cls in TASK_ERRORS}
    for file, definition in _definitions():
        for name, task in _tasks(definition):
            for rule in [*task.get("Retry", []), *task.get("Catch", [])]:
                for error in rule["ErrorEquals"]:
                    assert error.startswith(AWS_OWN_PREFIXES) or error in ours, (file, name, error)
                    if not error.startswith(AWS_OWN_PREFIXES):
                        assert issubclass(getattr(errors, error), TaskError)


def test_every_task_retries_every_retryable_error() -> None:
    for file, definition in _definitions():
        tasks = _tasks(definition)
        assert tasks, file
        for name, task in tasks:
            retried = {error for rule in task.get("Retry", []) for error in rule["ErrorEquals"]}
            assert {cls.__name__ for cls in RETRYABLE_TASK_ERRORS} <= retried, (file, name)


def _client_error(code: str, status: int = 400, operation: str = "Publish") -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, operation)


def _wrapped_by_powertools(cause: Exception) -> Exception:
    """Powertools' parameters raise GetParameterError(str(exc)) without `from`: only __context__ keeps the cause."""
    try:
        try:
            raise cause
        except Exception as exc:
            raise GetParameterError(str(exc))  # noqa: B904 - as Powertools does
    except GetParameterError as wrapper:
        try:
            raise UpstreamError(f"the secret could not be read: {wrapper}") from wrapper
        except UpstreamError as outer:
            return outer


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_client_error("Throttling"), RetryableError),  # SNS
        (_client_error("ThrottlingException", operation="UpdateItem"), RetryableError),
        (_client_error("ProvisionedThroughputExceededException", operation="UpdateItem"), RetryableError),
        (_client_error("RequestLimitExceeded", operation="GetItem"), RetryableError),
        (_client_error("TransactionConflictException", operation="UpdateItem"), RetryableError),
        (_client_error("ConditionalCheckFailedException", operation="UpdateItem"), RetryableError),
        (_client_error("InternalFailure", status=500), RetryableError),
        (_client_error("Anything", status=503), RetryableError),
        (_client_error("Anything", status=429), RetryableError),
        (_client_error("AccessDeniedException", status=403), FinalError),
        (_client_error("NotFound", status=404), FinalError),  # the topic is gone: an operator's to fix
        (_client_error("ValidationException"), FinalError),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="https://sns"), RetryableError),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="https://dynamodb"), RetryableError),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="https://sns"), RetryableError),
        (httpx.ReadTimeout("slack did not answer"), RetryableError),
        (RetriesExhausted(httpx.ConnectError("refused"), RetryReport(attempts=4, elapsed_seconds=9.0)), RetryableError),
        (UpstreamError("Port is down"), RetryableError),
        (UpstreamError("refused", retryable=False), FinalError),
        (PortApiError("429 from Port", status_code=429), RetryableError),
        (BulkUpsertError("refused", failures=[], retryable=False), FinalError),
        (ProviderApiError("Slack answered 404", status_code=404, retryable=False), FinalError),
        (Conflict("a concurrent change won"), RetryableError),
        (ConfigurationError("there is no escalation policy p"), FinalError),
        (MalformedRequest("level", "must be an integer"), FinalError),
        (StepRefused("resolved"), FinalError),
        (Unsupported("no such step"), FinalError),
        (NotFound("no user with that email"), FinalError),
        (ValueError("a bug"), FinalError),
        (_wrapped_by_powertools(_client_error("ThrottlingException", operation="GetSecretValue")), RetryableError),
        (_wrapped_by_powertools(_client_error("AccessDeniedException", 403, "GetSecretValue")), FinalError),
    ],
)
def test_whatever_a_task_meets_becomes_retryable_or_final(error: Exception, expected: type[TaskError]) -> None:
    translated = task_error(error)
    assert type(translated) is expected
    assert type(error).__name__ in translated.message


def test_members_of_the_set_pass_unchanged_even_when_wrapped() -> None:
    gone = IncidentGone("incident inc-1 does not exist")
    assert task_error(gone) is gone
    wrapper = ConfigurationError("while reading the incident")
    wrapper.__cause__ = gone  # as `raise ... from gone` leaves it
    assert type(task_error(wrapper)) is IncidentGone


def test_a_decorated_task_raises_exactly_a_class_of_the_set_with_its_cause() -> None:
    throttle = _client_error("Throttling")

    @state_machine_task
    def notify(event: dict[str, Any]) -> dict[str, Any]:
        raise throttle

    @state_machine_task
    def check(event: dict[str, Any]) -> dict[str, Any]:
        return {"checked": event}

    with pytest.raises(RetryableError) as raised:
        notify({})
    assert type(raised.value) is RetryableError  # the name the ASL matches, not a subclass
    assert raised.value.__cause__ is throttle
    assert check({"a": 1}) == {"checked": {"a": 1}}
