"""The shared retry policy: server-requested waits, backoff, the total budget, and what is retried."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from incident_core.errors import RetriesExhausted
from incident_core.retry import (
    RetryPolicy,
    WaitBudget,
    is_retryable_status,
    retry_report,
    send_with_retries,
    server_requested_delay,
    waits_within,
)
from tests.fakes import FakeClock

NOW = 1_800_000_000.0


def no_jitter(cap: float) -> float:
    return cap


def answer(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {})


def scripted(*outcomes: int | Exception) -> tuple[httpx.Client, list[httpx.Request]]:
    """A client whose transport answers each request with the next status (or raises the next error)."""
    pending = list(outcomes)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = pending.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, json={"attempt": len(seen)})

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def send(
    client: httpx.Client, policy: RetryPolicy, clock: FakeClock, build: Callable[[], httpx.Request] | None = None
) -> httpx.Response:
    request = build() if build else client.build_request("POST", "https://api.example.test/x", json={"a": 1})
    return send_with_retries(client, request, policy, clock, clock.sleep)


class TestDelayFor:
    def test_retry_after_in_seconds_wins_over_backoff(self) -> None:
        policy = RetryPolicy(jitter=no_jitter)
        assert policy.delay_for(1, answer(429, {"Retry-After": "7"}), now=NOW) == 7.0

    def test_retry_after_as_http_date(self) -> None:
        moment = datetime.fromtimestamp(NOW + 12, UTC)
        response = answer(503, {"Retry-After": format_datetime(moment, usegmt=True)})
        assert RetryPolicy().delay_for(1, response, now=NOW) == pytest.approx(12.0)

    def test_retry_after_in_the_past_means_now(self) -> None:
        moment = datetime.fromtimestamp(NOW - 30, UTC)
        response = answer(503, {"Retry-After": format_datetime(moment, usegmt=True)})
        assert RetryPolicy().delay_for(1, response, now=NOW) == 0.0

    def test_ratelimit_reset_on_429_is_epoch_seconds(self) -> None:
        response = answer(429, {"x-ratelimit-reset": str(int(NOW) + 5), "x-ratelimit-remaining": "0"})
        assert RetryPolicy().delay_for(1, response, now=NOW) == 5.0

    @pytest.mark.parametrize(
        ("reset", "wait"),
        [
            ("5", 5.0),  # Port's docs have also described it as the seconds until the window resets
            ("0", 0.0),
            ("999999999", 999_999_999.0),  # below 10^9: still seconds (a wait no step budget lets pass)
            (str(int(NOW) + 5), 5.0),  # from 10^9 on: epoch seconds
            (str(int(NOW) - 5), 0.0),  # a reset already past
            ("nan", 0.5),  # no number: back off
        ],
    )
    def test_ratelimit_reset_is_read_either_way(self, reset: str, wait: float) -> None:
        response = answer(429, {"x-ratelimit-reset": reset})
        assert RetryPolicy(base_delay=0.5, jitter=no_jitter).delay_for(1, response, now=NOW) == wait

    def test_retry_after_wins_over_the_rate_limit_reset(self) -> None:
        response = answer(429, {"Retry-After": "2", "x-ratelimit-reset": "40"})
        assert RetryPolicy().delay_for(1, response, now=NOW) == 2.0

    def test_opsgenies_throttle_period_is_honoured_on_a_429(self) -> None:
        policy = RetryPolicy(base_delay=0.5, jitter=no_jitter)
        throttled = {"X-RateLimit-State": "THROTTLED", "X-RateLimit-Period-In-Sec": "9"}
        assert policy.delay_for(1, answer(429, throttled), now=NOW) == 9.0
        assert policy.delay_for(1, answer(503, {"X-RateLimit-Period-In-Sec": "9"}), now=NOW) == 0.5

    def test_ratelimit_reset_is_ignored_on_503_with_requests_left(self) -> None:
        # Port sends its rate-limit headers on every answer; a 503 is not a rate limit.
        response = answer(503, {"x-ratelimit-reset": str(int(NOW) + 50), "x-ratelimit-remaining": "99"})
        assert RetryPolicy(base_delay=0.5, jitter=no_jitter).delay_for(1, response, now=NOW) == 0.5

    def test_unparseable_retry_after_falls_back_to_backoff(self) -> None:
        response = answer(503, {"Retry-After": "soon"})
        assert RetryPolicy(base_delay=0.5, jitter=no_jitter).delay_for(2, response, now=NOW) == 1.0

    def test_backoff_doubles_up_to_max_delay(self) -> None:
        policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=no_jitter)
        assert [policy.delay_for(n, None, now=NOW) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]

    def test_full_jitter_stays_between_zero_and_the_cap(self) -> None:
        policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
        delays = [policy.delay_for(3, None, now=NOW) for _ in range(200)]
        assert all(0.0 <= delay <= 4.0 for delay in delays)
        assert len(set(delays)) > 1

    def test_no_server_request_without_headers(self) -> None:
        assert server_requested_delay(answer(503), now=NOW) is None

    def test_policy_refuses_nonsense(self) -> None:
        with pytest.raises(ValueError, match="max_attempts"):
            RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (404, False)])
def test_which_statuses_are_retryable(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


class TestSendWithRetries:
    def test_5xx_then_success_returns_the_success(self) -> None:
        client, seen = scripted(503, 502, 200)
        clock = FakeClock(NOW)
        response = send(client, RetryPolicy(base_delay=1.0, jitter=no_jitter), clock)
        assert response.status_code == 200
        assert len(seen) == 3
        assert clock.sleeps == [1.0, 2.0]
        assert retry_report(response).attempts == 3

    def test_the_same_body_is_sent_on_every_attempt(self) -> None:
        client, seen = scripted(500, 200)
        send(client, RetryPolicy(jitter=no_jitter), FakeClock(NOW))
        assert [request.content for request in seen] == [b'{"a":1}', b'{"a":1}']

    def test_client_errors_are_returned_at_once(self) -> None:
        client, seen = scripted(400)
        clock = FakeClock(NOW)
        response = send(client, RetryPolicy(), clock)
        assert response.status_code == 400
        assert len(seen) == 1
        assert clock.sleeps == []

    def test_out_of_attempts_returns_the_last_failure(self) -> None:
        client, seen = scripted(503, 503, 503)
        clock = FakeClock(NOW)
        response = send(client, RetryPolicy(max_attempts=3, base_delay=1.0, jitter=no_jitter), clock)
        assert response.status_code == 503
        assert len(seen) == 3
        report = retry_report(response)
        assert (report.attempts, report.elapsed_seconds) == (3, 3.0)

    def test_a_wait_past_the_budget_is_not_taken(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(429, headers={"Retry-After": "20"})

        client = httpx.Client(transport=httpx.MockTransport(handler))
        clock = FakeClock(NOW)
        response = send(client, RetryPolicy(max_attempts=5, max_total_seconds=30.0), clock)
        # 20 s fits in the 30 s budget once; a second 20 s wait would end at 40 s.
        assert clock.sleeps == [20.0]
        assert response.status_code == 429
        assert retry_report(response).attempts == 2

    def test_transport_errors_are_retried(self) -> None:
        client, seen = scripted(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 200)
        response = send(client, RetryPolicy(jitter=no_jitter), FakeClock(NOW))
        assert response.status_code == 200
        assert len(seen) == 3

    def test_transport_errors_until_the_end_raise_with_the_count(self) -> None:
        client, _seen = scripted(*[httpx.ConnectError("refused")] * 3)
        with pytest.raises(RetriesExhausted) as raised:
            send(client, RetryPolicy(max_attempts=3, base_delay=1.0, jitter=no_jitter), FakeClock(NOW))
        assert raised.value.report.attempts == 3
        assert isinstance(raised.value.last_error, httpx.ConnectError)

    def test_configuration_errors_are_not_retried(self) -> None:
        client, seen = scripted(httpx.UnsupportedProtocol("ftp?"), 200)
        with pytest.raises(httpx.UnsupportedProtocol):
            send(client, RetryPolicy(), FakeClock(NOW))
        assert len(seen) == 1


def test_vendor_rate_limit_reset_headers_are_honoured() -> None:
    from incident_core.retry import server_requested_delay

    now = 1_795_770_000.0
    pagerduty = httpx.Response(429, headers={"ratelimit-reset": "7"})
    servicenow = httpx.Response(429, headers={"x-ratelimit-reset": str(int(now) + 12)})
    jira = httpx.Response(429, headers={"x-ratelimit-reset": "2026-11-27T09:00:30Z"})
    assert server_requested_delay(pagerduty, now=now) == 7
    assert server_requested_delay(servicenow, now=now) == 12
    jira_now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC).timestamp()
    assert server_requested_delay(jira, now=jira_now) == 30
    assert server_requested_delay(httpx.Response(503, headers={"ratelimit-reset": "7"}), now=now) is None


class TestStepWaitBudget:
    def test_the_requests_of_one_step_share_its_budget_and_record_their_waits(self) -> None:
        statuses = [429, 200, 503, 200, 429]
        clock = FakeClock(NOW)
        budget = WaitBudget(10.0)
        policy = RetryPolicy(max_attempts=5, base_delay=4.0, jitter=no_jitter)

        def answers(request: httpx.Request) -> httpx.Response:
            status = statuses.pop(0)
            return httpx.Response(status, headers={"Retry-After": "6"} if status == 429 else {})

        client = httpx.Client(transport=httpx.MockTransport(answers))
        with waits_within(budget):
            assert send(client, policy, clock).status_code == 200  # waited 6 s
            assert send(client, policy, clock).status_code == 200  # waited 4 s (backoff): 10 s, all of it
            assert send(client, policy, clock).status_code == 429  # 6 s more would pass the budget

        assert clock.sleeps == [6.0, 4.0]
        assert budget.describe() == ["Waited 10.0 s for api.example.test (2 waits: rate limit, answered 503)"]

    def test_without_a_step_nothing_is_recorded_and_only_the_policy_bounds_waits(self) -> None:
        client, _seen = scripted(429, 429, 200)
        clock = FakeClock(NOW)
        budget = WaitBudget(0.0)
        with waits_within(budget):
            pass
        assert send(client, RetryPolicy(base_delay=1.0, jitter=no_jitter), clock).status_code == 200
        assert clock.sleeps == [1.0, 2.0]
        assert budget.waits == []
