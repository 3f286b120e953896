"""Every error type of the bundle.

Each error knows the HTTP status it stands for, so the API answers are decided in one place
(`incident_core.http`). State machine tasks fail with one of a small closed set (`TASK_ERRORS`): a task
handler translates whatever it met (`task_error`) into `RetryableError`, `FinalError` or `IncidentGone`, and
statemachines/*.asl.json retries and catches exactly those class names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

import botocore.exceptions
import httpx


class IncidentCoreError(Exception):
    """Base class: a refusal or failure that has a sentence a person understands."""

    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthenticationError(IncidentCoreError):
    """The request's credentials are missing, wrong, stale, or no secret is configured (fail closed)."""

    http_status = 401


class MalformedRequest(IncidentCoreError):
    """The body is not valid JSON or not of the expected shape; `field` names what failed."""

    http_status = 400

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class PayloadTooLarge(IncidentCoreError):
    http_status = 413


class NotFound(IncidentCoreError):
    http_status = 404


class Conflict(IncidentCoreError):
    """A concurrent change won a conditional write; the caller may retry with fresh state."""

    http_status = 409


class ConfigurationError(IncidentCoreError):
    """The deployment is missing a setting or secret; an operator has to fix it."""

    http_status = 500


class MissingDependencyError(ConfigurationError):
    """A resource refers to a blueprint that is neither in port/ nor in Port; nothing was written."""

    def __init__(self, references: Sequence[tuple[str, object]]) -> None:
        """`references`: (the resource's source, what it refers to) for each missing blueprint."""
        reasons = "; ".join(f"{source} refers to {reference}" for source, reference in references)
        super().__init__(
            f"Port has no blueprint these resources need: {reasons}. Create it in Port first, or, if your "
            "services live in a blueprint with another identifier, pass it as the service blueprint."
        )
        self.missing = [reference for _source, reference in references]


class BreakingChangeError(ConfigurationError):
    """The plan would change blueprints in a way that breaks what Port holds; nothing was written."""

    def __init__(self, breaking: Sequence[tuple[str, Sequence[str]]]) -> None:
        """`breaking`: (blueprint identifier, what would break it) for each blueprint."""
        reasons = "; ".join(f"{identifier}: {', '.join(problems)}" for identifier, problems in breaking)
        names = ", ".join(repr(identifier) for identifier, _problems in breaking)
        super().__init__(
            f"Refused: Port already has blueprint(s) {names}, and applying port/ would break them ({reasons}). "
            "Nothing was changed. If that blueprint is not this bundle's (Port's incident pattern also uses "
            "`incident`), give the bundle's its own identifier: the IncidentBlueprint parameter, or "
            "--incident-blueprint for `port apply`. If it is, migrate it in Port first."
        )
        self.blueprints = [identifier for identifier, _problems in breaking]


class Unsupported(IncidentCoreError):
    """The provider has no such step; the run fails with this reason."""

    http_status = 422


class StepRefused(IncidentCoreError):
    """The step is not allowed in the incident's current state (for example acknowledging a resolved one)."""

    http_status = 409


class UpstreamError(IncidentCoreError):
    """A dependency (Port, a provider, an AWS service) failed; `retryable` says whether trying again may help.

    503 tells a webhook sender to retry later, which is what keeps its alert from being lost.
    """

    http_status = 503

    def __init__(self, message: str, *, status_code: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class PortApiError(UpstreamError):
    """Port's API answered with an error (4xx: our request is wrong; 5xx or 429: try again later)."""


@dataclass(frozen=True)
class EntityFailure:
    """One entity Port did not write: refused itself (`errors[]` of a bulk answer), or in a request that failed.

    `retryable` is True when sending it again later may succeed: Port answered 429/5xx for it, or its whole
    request failed (no answer, an outage, a refused token); False when Port refused the entity itself.
    """

    identifier: str
    status_code: int
    message: str
    retryable: bool = False


class BulkUpsertError(PortApiError):
    """Port refused some entities of a bulk upsert; the others were written. `failures` names each one."""

    def __init__(self, message: str, *, failures: Sequence[EntityFailure], retryable: bool) -> None:
        super().__init__(message, status_code=207, retryable=retryable)
        self.failures = tuple(failures)


class ProviderApiError(UpstreamError):
    """The vendor refused the request (4xx: retrying will not help) or was unavailable (429/5xx)."""


@dataclass(frozen=True)
class RetryReport:
    attempts: int
    elapsed_seconds: float


class RetriesExhausted(Exception):
    """Every attempt failed in transport (no HTTP answer at all); `last_error` is the final failure."""

    def __init__(self, last_error: Exception, report: RetryReport) -> None:
        super().__init__(
            f"{type(last_error).__name__}: {last_error} "
            f"(after {report.attempts} attempts over {report.elapsed_seconds:.1f} s)"
        )
        self.last_error = last_error
        self.report = report


class RotationNotStarted(ValueError):
    """Asked who is on call before the rotation's first handoff, with no override covering that instant."""


class UsageError(Exception):
    """A command that cannot run as asked; its message is the one line the user sees."""


# The state machine's closed set


class TaskError(IncidentCoreError):
    """What a state machine task fails with; the ASL names these classes, so a task raises exactly one of them."""


class RetryableError(TaskError):
    """Trying again later may work: a throttle, a timeout, a 5xx, a lost race. The state machine retries it."""

    http_status = 503


class FinalError(TaskError):
    """Trying again cannot help: a missing setting, an invalid policy, a refused request. The escalation fails."""


class IncidentGone(TaskError):
    """The incident the escalation is about does not exist: the escalation ends quietly."""

    http_status = 404


TASK_ERRORS: tuple[type[TaskError], ...] = (RetryableError, FinalError, IncidentGone)
RETRYABLE_TASK_ERRORS: tuple[type[TaskError], ...] = (RetryableError,)

RETRYABLE_AWS_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "KMSThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "TransactionConflictException",
        "TransactionInProgressException",
        "ConditionalCheckFailedException",
    }
)
"""AWS error codes that a later attempt can get past: throttles, service faults, timeouts, a lost conditional write."""

_RETRYABLE = (
    Conflict,
    RetriesExhausted,
    TimeoutError,
    ConnectionError,
    botocore.exceptions.ConnectionError,  # no answer from an AWS endpoint: connect or read timeout, reset
    botocore.exceptions.HTTPClientError,
    httpx.TransportError,
)
"""Errors a later attempt can get past, whatever their message."""


def task_error(error: BaseException) -> TaskError:
    """The member of the closed set that `error` stands for: retryable if a later attempt may succeed.

    What the error wraps counts too: an explicit member of the set decides first, then an AWS error code (a
    wrapper such as Powertools' GetParameterError hides a throttle), then the outermost error that says."""
    if isinstance(error, TaskError) and type(error) in TASK_ERRORS:
        return error
    message = f"{type(error).__name__}: {error}"
    causes = _causes(error)
    for cause in causes:
        if isinstance(cause, TaskError) and type(cause) in TASK_ERRORS:
            return type(cause)(message)
    for cause in causes:
        if isinstance(cause, botocore.exceptions.ClientError):
            return RetryableError(message) if _retryable_aws(cause) else FinalError(message)
    for cause in causes:
        if isinstance(cause, UpstreamError):
            return RetryableError(message) if cause.retryable else FinalError(message)
        if isinstance(cause, _RETRYABLE):
            return RetryableError(message)
    return FinalError(message)


P = ParamSpec("P")
R = TypeVar("R")


def state_machine_task(handler: Callable[P, R]) -> Callable[P, R]:
    """Decorate a task handler so that whatever it raises reaches the state machine as one of `TASK_ERRORS`."""

    @wraps(handler)
    def task(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except Exception as exc:
            raise task_error(exc) from exc

    return task


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps, outermost first, following Python's own rule for tracebacks."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def _retryable_aws(error: botocore.exceptions.ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return code in RETRYABLE_AWS_CODES or status == 429 or status >= 500
