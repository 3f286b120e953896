"""Typed errors of the bundle.

Each error knows the HTTP status it stands for, so the API answers are decided in one place
(`incident_core.http`), and Step Functions `Retry`/`Catch` can match them by class name.
"""

from __future__ import annotations


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
