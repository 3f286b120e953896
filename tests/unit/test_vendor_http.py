"""What every adapter's HTTP shares: a time budget per step that fits the functions' timeouts, writes that
are sent again only when they did not land, and refused credentials that name the secret to fix."""

from __future__ import annotations

import httpx
import pytest

from devstack.template import load_template
from incident_core.errors import ProviderApiError
from incident_core.providers.http import (
    ACTION_RETRY_POLICY,
    AFTER_STEP_SECONDS,
    STEP_BUDGET_SECONDS,
    WEBHOOK_BUDGET_SECONDS,
    VendorHttp,
)
from tests.fakes import FakeClock

STEP_FUNCTIONS = ("ActionWorkerFunction", "AlertProcessorFunction")
"""The functions that run lifecycle steps against a provider (the worker; the processor's auto-trigger)."""


def timeout_of(function: str) -> float:
    resources = load_template()["Resources"]
    return float(resources[function]["Properties"].get("Timeout", load_template()["Globals"]["Function"]["Timeout"]))


@pytest.mark.parametrize("function", STEP_FUNCTIONS)
def test_a_steps_budget_and_what_follows_it_fit_in_the_functions_timeout(function: str) -> None:
    assert timeout_of(function) >= STEP_BUDGET_SECONDS + AFTER_STEP_SECONDS
    assert ACTION_RETRY_POLICY.max_total_seconds <= STEP_BUDGET_SECONDS


def test_a_webhooks_lookups_fit_in_the_webhook_functions_timeout() -> None:
    webhook_functions = [name for name in load_template()["Resources"] if name.startswith("ProviderWebhook")]
    assert webhook_functions
    for function in webhook_functions:
        assert timeout_of(function) >= WEBHOOK_BUDGET_SECONDS + AFTER_STEP_SECONDS


class SlowVendor:
    """Answers every request after `seconds` on the fake clock, or times out as httpx would."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        allowed = request.extensions["timeout"]["read"]
        if self.seconds > allowed:
            self.clock.advance(allowed)
            raise httpx.ReadTimeout("no answer in time", request=request)
        self.clock.advance(self.seconds)
        return httpx.Response(200, json={})


def http_on(handler: SlowVendor | httpx.MockTransport, clock: FakeClock) -> VendorHttp:
    transport = handler if isinstance(handler, httpx.MockTransport) else httpx.MockTransport(handler)
    client = httpx.Client(base_url="https://vendor.example", transport=transport)
    return VendorHttp("Vendor", client, clock=clock, sleep=clock.sleep, credentials_in="the secret acme/vendor")


def test_a_slow_vendor_makes_a_long_step_fail_as_retryable_within_its_budget() -> None:
    clock = FakeClock()
    vendor = SlowVendor(clock, 9.0)
    http = http_on(vendor, clock)
    started = clock()

    def a_step_of_many_calls() -> None:
        for _ in range(10):
            http.request("GET", "/thing")

    with pytest.raises(ProviderApiError) as raised:
        a_step_of_many_calls()

    # Four calls answer in 9 s each; the fifth may wait only the 4 s left, and the step gives up in time.
    assert raised.value.retryable is True
    assert clock() - started <= STEP_BUDGET_SECONDS
    assert [r.extensions["timeout"]["read"] for r in vendor.requests] == [10.0, 10.0, 10.0, 10.0, 4.0]


def test_a_refused_credential_names_the_secret_to_fix() -> None:
    refused = httpx.MockTransport(lambda request: httpx.Response(401, json={"message": "Invalid token"}))

    with pytest.raises(ProviderApiError) as raised:
        http_on(refused, FakeClock()).request("GET", "/thing")

    assert raised.value.retryable is False
    assert raised.value.message == (
        "Vendor answered 401: Invalid token. Vendor refused the credentials: fix them in the secret acme/vendor"
    )


class TestGuarded:
    def test_a_write_whose_answer_was_lost_is_adopted_when_it_landed(self) -> None:
        clock = FakeClock()
        sent: list[str] = []
        made: list[str] = []

        def send() -> str:
            sent.append("create")
            made.append("thing-1")
            raise ProviderApiError("Vendor could not be reached: ReadTimeout", retryable=True)

        found = http_on(SlowVendor(clock, 0), clock).guarded(send, lambda: made[0] if made else None)

        assert (found, sent) == ("thing-1", ["create"])

    def test_a_write_that_did_not_land_is_sent_again(self) -> None:
        clock = FakeClock()
        answers = iter([ProviderApiError("503", retryable=True), None])
        sent: list[str] = []

        def send() -> str:
            sent.append("create")
            failure = next(answers)
            if failure is not None:
                raise failure
            return "thing-1"

        assert http_on(SlowVendor(clock, 0), clock).guarded(send, lambda: None) == "thing-1"
        assert sent == ["create", "create"]

    def test_a_refusal_is_not_sent_again(self) -> None:
        clock = FakeClock()
        sent: list[str] = []

        def send() -> str:
            sent.append("create")
            raise ProviderApiError("400: bad", status_code=400, retryable=False)

        with pytest.raises(ProviderApiError):
            http_on(SlowVendor(clock, 0), clock).guarded(send, lambda: pytest.fail("a refusal needs no search"))
        assert sent == ["create"]
