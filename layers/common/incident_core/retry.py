"""HTTP retry policy shared by the Port client and the provider adapters.

One function, `send_with_retries`, sends a prepared `httpx.Request` until it gets an answer worth
returning, sleeping between attempts as `RetryPolicy` decides:

- retried: HTTP 429 and 5xx, and transport failures (connect/read timeouts, dropped
  connections);
- the wait honours the server: `Retry-After` (delta seconds or an HTTP date, RFC 9110 §10.2.3) on any
  retried status; on a 429, or when `x-ratelimit-remaining` is 0, the rate-limit headers: PagerDuty's
  `ratelimit-reset` (seconds), `x-ratelimit-reset` read either way Port's docs have described it (below
  10^9 a wait in seconds, else UTC epoch seconds; Jira sends ISO 8601), and Opsgenie's
  `X-RateLimit-Period-In-Sec` (the throttle's length). Port sends its rate-limit headers on every answer, so
  on a 503 with requests to spare the reset time says nothing about when the outage ends;
- otherwise exponential backoff with full jitter: uniform(0, min(max_delay, base_delay * 2**(attempt-1)));
- never past the total budget: when the next wait would end after `max_total_seconds` from the first
  attempt, or past what is left of the step's `WaitBudget`, it stops and hands back what it has.

A step (one action run) runs `waits_within` a `WaitBudget`: every request it makes, to Port or a provider,
draws its waits from it, so the step's total wait is bounded however many requests it makes, and the waits
taken are listed for the run's log.

It never raises for an HTTP status: callers decide what a final 4xx/5xx means. How many attempts were made
and over how long is attached to the returned response (`retry_report(response)`) and to `RetriesExhausted`,
so the caller's error can say "after 4 attempts over 9.5 s".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from incident_core.errors import RetriesExhausted, RetryReport

# Failures where the request may not have reached the server, or its answer was lost: sending it again is
# the only way to learn the outcome. Configuration mistakes (bad URL scheme, proxy setup) are not retried.
RETRYABLE_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)

_REPORT_KEY = "incident_core.retry_report"
EPOCH_THRESHOLD = 1_000_000_000
"""An `x-ratelimit-reset` below this is seconds to wait (10^9 s after 1970 is September 2001)."""


@dataclass
class WaitBudget:
    """The waits of one step: bounded in total, and recorded (host, seconds, why) for the step's run log."""

    seconds: float
    waits: list[tuple[str, float, str]] = field(default_factory=list)

    @property
    def spent(self) -> float:
        return sum(seconds for _host, seconds, _why in self.waits)

    def allows(self, seconds: float) -> bool:
        return self.spent + seconds <= self.seconds

    def describe(self) -> list[str]:
        """One line per host waited for, e.g. `Waited 12.0 s for api.pagerduty.com (2 waits: rate limit)`."""
        lines = []
        for host in dict.fromkeys(host for host, _seconds, _why in self.waits):
            mine = [(seconds, why) for waited_for, seconds, why in self.waits if waited_for == host]
            reasons = ", ".join(dict.fromkeys(why for _seconds, why in mine))
            total = sum(seconds for seconds, _why in mine)
            lines.append(f"Waited {total:.1f} s for {host} ({len(mine)} wait{'s' * (len(mine) > 1)}: {reasons})")
        return lines


_step_budget: ContextVar[WaitBudget | None] = ContextVar("incident_core_step_wait_budget", default=None)


@contextmanager
def waits_within(budget: WaitBudget) -> Iterator[None]:
    """Every retried request made inside the block (one step) waits within `budget`, and records its waits."""
    token = _step_budget.set(budget)
    try:
        yield
    finally:
        _step_budget.reset(token)


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and 5xx (server trouble) may succeed later; other statuses will not."""
    return status == 429 or 500 <= status <= 599


def full_jitter(cap: float) -> float:
    """A uniformly random wait in [0, cap]: spreads out clients that failed at the same moment."""
    return random.uniform(0.0, cap)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. The defaults keep a Lambda invocation well under a minute."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_seconds: float = 30.0
    jitter: Callable[[float], float] = field(default=full_jitter, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_seconds < 0:
            raise ValueError("delays and the total budget must not be negative")

    def delay_for(self, attempt: int, response: httpx.Response | None, *, now: float) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), `now` being epoch seconds.

        A wait the server asked for is used as is (it may exceed `max_delay`; the budget still bounds it).
        """
        if response is not None:
            requested = server_requested_delay(response, now=now)
            if requested is not None:
                return requested
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self.jitter(cap)


def server_requested_delay(response: httpx.Response, *, now: float) -> float | None:
    """The wait the server asked for, in seconds (never negative), or None when it asked for none."""
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        delay = _parse_retry_after(retry_after, now=now)
        if delay is not None:
            return delay
    rate_limited = response.status_code == 429 or response.headers.get("x-ratelimit-remaining") == "0"
    if not rate_limited:
        return None
    for header in ("ratelimit-reset", "x-ratelimit-period-in-sec"):  # PagerDuty, Opsgenie: seconds
        seconds_left = _number(response.headers.get(header))
        if seconds_left is not None:
            return max(0.0, seconds_left)
    reset = response.headers.get("x-ratelimit-reset")  # Port: seconds or epoch; ServiceNow: epoch; Jira: ISO
    if reset is None:
        return None
    number = _number(reset)
    if number is not None:
        return max(0.0, number if number < EPOCH_THRESHOLD else number - now)
    try:
        return max(0.0, datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp() - now)
    except ValueError:
        return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _why_waited(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer"
    return "rate limit" if response.status_code == 429 else f"answered {response.status_code}"


def _parse_retry_after(value: str, *, now: float) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def retry_report(response: httpx.Response) -> RetryReport:
    """How many attempts produced `response` and over how long (1 attempt, 0 s if it was not retried)."""
    report = response.extensions.get(_REPORT_KEY)
    return report if isinstance(report, RetryReport) else RetryReport(attempts=1, elapsed_seconds=0.0)


def send_with_retries(
    http: httpx.Client,
    request: httpx.Request,
    policy: RetryPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> httpx.Response:
    """Send `request`, retrying as `policy` says; return the last response (any status).

    Raises `RetriesExhausted` only when the last attempt got no HTTP answer at all.
    The request must have a replayable body (bytes, as built by `httpx.Client.build_request`).
    """
    started = clock()
    step = _step_budget.get()
    attempt = 0
    while True:
        attempt += 1
        response: httpx.Response | None = None
        failure: httpx.TransportError | None = None
        try:
            response = http.send(request)
        except RETRYABLE_TRANSPORT_ERRORS as exc:
            failure = exc
        if response is not None and not is_retryable_status(response.status_code):
            return _with_report(response, attempt, clock() - started)

        now = clock()
        delay = policy.delay_for(attempt, response, now=now)
        out_of_attempts = attempt >= policy.max_attempts
        out_of_budget = (now - started) + delay > policy.max_total_seconds
        if step is not None and not step.allows(delay):
            out_of_budget = True
        if out_of_attempts or out_of_budget:
            report = RetryReport(attempts=attempt, elapsed_seconds=now - started)
            if response is not None:
                return _with_report(response, report.attempts, report.elapsed_seconds)
            assert failure is not None
            raise RetriesExhausted(failure, report) from failure
        sleep(delay)
        if step is not None:
            step.waits.append((request.url.host, delay, _why_waited(response)))


def _with_report(response: httpx.Response, attempts: int, elapsed: float) -> httpx.Response:
    response.extensions[_REPORT_KEY] = RetryReport(attempts=attempts, elapsed_seconds=elapsed)
    return response
