"""HTTP for the provider adapters: timeouts, bounded retries that honour the vendor's wait hints, a time budget
per step, writes that are safe to repeat, and errors that carry the vendor's own message.

Retries (429, 5xx, dropped connections) follow `incident_core.retry`; after them, or on any other 4xx, a
`ProviderApiError` says which vendor answered what, so the Port run shows a sentence a person understands.

Why a budget per step: a step may make several calls, each with its own retries, and it runs inside one
worker invocation. `STEP_BUDGET_SECONDS` bounds all of them together (each request's timeout and retries are
cut to what is left), so a slow vendor makes the step fail as retryable, and the queue runs it again later,
instead of the worker being killed half-way. Every write is safe to repeat, so the next attempt finishes
what the first began without doing anything twice.

Why `guarded`: a write that is not idempotent (a create, a note) is sent once per attempt; when its answer
is lost (a read timeout, a 5xx after the vendor may have acted), the adapter first looks for what the write
would have made (`landed`) and adopts it, and sends again only when nothing is there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx

from incident_core.errors import MalformedRequest, ProviderApiError, RetriesExhausted
from incident_core.retry import RetryPolicy, is_retryable_status, retry_report, send_with_retries
from incident_core.support.urls import unsafe_segment

REQUEST_READ_SECONDS = 10.0
REQUEST_CONNECT_SECONDS = 3.0
REQUEST_TIMEOUT = httpx.Timeout(REQUEST_READ_SECONDS, connect=REQUEST_CONNECT_SECONDS)
ACTION_RETRY_POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, max_total_seconds=25.0)
"""One request's retries; the step's budget bounds them further."""
STEP_BUDGET_SECONDS = 40.0
"""All of one step's requests to its vendor, retries and waits included. The action worker's Lambda timeout
(60 s, template.yaml) leaves the rest for the store, Port and the run's report; a test keeps them in step."""
WEBHOOK_BUDGET_SECONDS = 15.0
"""What reading one vendor webhook may spend looking people up (its function's timeout is 30 s)."""
AFTER_STEP_SECONDS = 15.0
"""What a function needs after its vendor calls (the store, Port, the run's report); the functions' timeouts
in template.yaml are at least a budget plus this."""
LEAST_USEFUL_SECONDS = 1.0
"""A request is not started with less time than this left: it could not finish, and would be half-known."""
SEND_ONCE = RetryPolicy(max_attempts=1)

Result = TypeVar("Result")


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
    """One vendor's API for one step: `request` returns a successful response or raises `ProviderApiError`.

    `credentials_in` names where the credentials live (the provider's secret), so a refused credential says
    what to fix.
    """

    vendor: str
    client: httpx.Client
    retry: RetryPolicy = ACTION_RETRY_POLICY
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    error_message: Callable[[httpx.Response], str] = field(default=default_error_message)
    credentials_in: str = "the provider's secret"
    budget_seconds: float = STEP_BUDGET_SECONDS
    _started: float | None = field(default=None, init=False, repr=False, compare=False)

    def remaining(self) -> float:
        """Seconds left of the step's budget, which starts with its first request."""
        if self._started is None:
            self._started = self.clock()
        return self.budget_seconds - (self.clock() - self._started)

    def within(self, seconds: float) -> None:
        """Lower what is left of the budget to `seconds` (a webhook's reader has less time than a step)."""
        self.budget_seconds = min(self.budget_seconds, self.budget_seconds - self.remaining() + seconds)

    def pause(self, seconds: float) -> None:
        """Wait between polls or searches, or fail as retryable when the budget cannot afford the wait."""
        if self.remaining() - seconds < LEAST_USEFUL_SECONDS:
            raise self._out_of_time()
        self.sleep(seconds)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        once: bool = False,
    ) -> httpx.Response:
        """Send with retries (`once`: a single attempt, for writes that `guarded` repeats with care)."""
        if unsafe_segment(path) is not None:  # an id of "." or ".." would address another resource
            raise MalformedRequest("identifier", f"{path} has an empty, '.' or '..' segment: an id in it is not usable")
        left = self.remaining()
        if left < LEAST_USEFUL_SECONDS:
            raise self._out_of_time()
        timeout = httpx.Timeout(min(REQUEST_READ_SECONDS, left), connect=min(REQUEST_CONNECT_SECONDS, left))
        request = self.client.build_request(
            method, path, json=json_body, params=params, headers=headers, timeout=timeout
        )
        policy = SEND_ONCE if once else replace(self.retry, max_total_seconds=min(self.retry.max_total_seconds, left))
        try:
            response = send_with_retries(self.client, request, policy, self.clock, self.sleep)
        except RetriesExhausted as exc:
            raise ProviderApiError(f"{self.vendor} could not be reached: {exc}", retryable=True) from exc
        if response.is_success:
            return response
        report = retry_report(response)
        retryable = is_retryable_status(response.status_code)
        attempts = f" after {report.attempts} attempts over {report.elapsed_seconds:.1f} s" if retryable else ""
        message = f"{self.vendor} answered {response.status_code}{attempts}: {self.error_message(response)}"
        if response.status_code == httpx.codes.UNAUTHORIZED:
            message += f". {self.vendor} refused the credentials: fix them in {self.credentials_in}"
        raise ProviderApiError(message, status_code=response.status_code, retryable=retryable)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def guarded(self, send: Callable[[], Result], landed: Callable[[], Result | None]) -> Result:
        """Send a write that is not safe to repeat blindly (`send` must use `once=True`).

        When an attempt fails in a way that leaves its outcome unknown (retryable), `landed` looks for what
        the write would have made; what it finds is adopted, and only when it finds nothing is the write sent
        again. A refusal (4xx) is raised at once.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except ProviderApiError as error:
                if not error.retryable or attempt >= self.retry.max_attempts:
                    raise
                self.pause(self.retry.delay_for(attempt, None, now=self.clock()))
                found = landed()
                if found is not None:
                    return found

    def _out_of_time(self) -> ProviderApiError:
        return ProviderApiError(
            f"{self.vendor} was too slow: the step used its {self.budget_seconds:.0f} s budget; it will be "
            "retried, and what it already did is not done twice",
            retryable=True,
        )


def vendor_client(
    base_url: str,
    headers: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.Client:
    """An httpx client for one vendor; tests pass prism's validating transport or a stateful fake."""
    return httpx.Client(
        base_url=base_url, headers=dict(headers), timeout=REQUEST_TIMEOUT, transport=transport, auth=auth
    )
