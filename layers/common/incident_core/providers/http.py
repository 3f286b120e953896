"""HTTP for the provider adapters: timeouts, bounded retries that honour the vendor's wait hints, and
errors that carry the vendor's own message.

Retries (429, 5xx, dropped connections) follow `incident_core.retry`; after them, or on any other 4xx, a
`ProviderApiError` says which vendor answered what, so the Port run shows a sentence a person understands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from incident_core.errors import ProviderApiError, RetriesExhausted
from incident_core.retry import RetryPolicy, is_retryable_status, retry_report, send_with_retries
from incident_core.support.urls import check_path

REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
ACTION_RETRY_POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, max_total_seconds=25.0)
"""A step runs inside one worker invocation (60 s); the queue retries beyond this budget."""


def default_error_message(response: httpx.Response) -> str:
    """The vendor's own words: common JSON error shapes, else the start of the body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:300] or response.reason_phrase
    return _message_in(body) or json.dumps(body)[:300]


def _message_in(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(m for m in (_message_in(item) for item in body) if m) or None
    if not isinstance(body, Mapping):
        return None
    for key in ("message", "error_description", "detail", "title", "errorMessages", "errors", "error"):
        if body.get(key):
            found = _message_in(body[key])
            if found:
                return found
    return None


@dataclass
class VendorHttp:
    """One vendor's API: `request` returns a successful response or raises `ProviderApiError`."""

    vendor: str
    client: httpx.Client
    retry: RetryPolicy = ACTION_RETRY_POLICY
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    error_message: Callable[[httpx.Response], str] = field(default=default_error_message)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        check_path(path)  # an id of "." or ".." in it would address another resource
        request = self.client.build_request(method, path, json=json_body, params=params, headers=headers)
        try:
            response = send_with_retries(self.client, request, self.retry, self.clock, self.sleep)
        except RetriesExhausted as exc:
            raise ProviderApiError(f"{self.vendor} could not be reached: {exc}", retryable=True) from exc
        if response.is_success:
            return response
        report = retry_report(response)
        retryable = is_retryable_status(response.status_code)
        attempts = f" after {report.attempts} attempts over {report.elapsed_seconds:.1f} s" if retryable else ""
        raise ProviderApiError(
            f"{self.vendor} answered {response.status_code}{attempts}: {self.error_message(response)}",
            status_code=response.status_code,
            retryable=retryable,
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None


def vendor_client(
    base_url: str, headers: Mapping[str, str], transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An httpx client for one vendor; tests pass prism's validating transport."""
    return httpx.Client(base_url=base_url, headers=dict(headers), timeout=REQUEST_TIMEOUT, transport=transport)
