"""The Opsgenie adapter against a scripted Opsgenie (httpx.MockTransport): what each step sends, how the
asynchronous request status is read, the mapping tables, retries, errors and the secret's validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from incident_core.errors import ConfigurationError, NotFound, ProviderApiError, StepRefused, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest
from incident_core.providers.opsgenie.adapter import (
    DETAILS_MAX,
    MESSAGE_MAX,
    REQUEST_STATUS_PAUSES,
    TAG_MAX,
    OpsgenieProvider,
    build,
)
from incident_core.providers.opsgenie.credentials import DEFAULT_PRIORITIES
from incident_core.providers.opsgenie.models import STATUS_OF_ALERT
from incident_core.providers.registry import ProviderContext
from tests.fakes import FakeClock
from tests.providers import sample_alert, sample_incident

ALIAS = "inc-20261127-101500-abc123"
ALERT_ID = "70413a06-38d6-4c85-92b8-5ebc900d42e7"
PORT_URL = f"https://app.getport.io/incidentEntity?identifier={ALIAS}"
SECRET: dict[str, Any] = {
    "apiKey": "eb243592-faa2-4ba2-a551q-1afdf565c889",
    "appUrl": "https://acme.app.opsgenie.com",
    "responderTeams": ["payments-oncall"],
    "defaultEscalation": "Payments Escalation",
}

Handler = Callable[[httpx.Request], httpx.Response]


class FakeOpsgenie:
    """Accepts every write with a new requestId and reports it processed, unless a test scripts otherwise.

    Every user exists unless named in `unknown_users`; the alert has the notes in `notes`.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status_answers: list[httpx.Response] = []
        self.write_answers: list[httpx.Response] = []
        self.alert: dict[str, Any] = {"id": ALERT_ID, "alias": ALIAS, "status": "open", "acknowledged": False}
        self.notes: list[str] = []
        self.unknown_users: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == f"/v2/alerts/{ALIAS}/notes" and request.method == "GET":
            return httpx.Response(200, json={"data": [{"note": note} for note in self.notes], "took": 0.01})
        if path.startswith("/v2/users/"):
            if path.removeprefix("/v2/users/") in self.unknown_users:
                return httpx.Response(404, json={"message": "No user exists with username", "took": 0.0})
            return httpx.Response(200, json={"data": {"username": path.removeprefix("/v2/users/")}, "took": 0.0})
        if request.method == "POST":
            if self.write_answers:
                return self.write_answers.pop(0)
            return httpx.Response(202, json={"result": "Request will be processed", "took": 0.1, "requestId": "r-1"})
        if path.startswith("/v2/alerts/requests/"):
            if self.status_answers:
                return self.status_answers.pop(0)
            return processed(True, "Created alert")
        if path == f"/v2/alerts/{ALIAS}":
            return httpx.Response(200, json={"data": self.alert, "took": 0.01, "requestId": "r-get"})
        return httpx.Response(404, json={"message": "Not found", "took": 0.0, "requestId": "r-404"})

    @property
    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    def body(self, index: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.writes[index].content)
        return body


def processed(success: bool, status: str) -> httpx.Response:
    data = {"isSuccess": success, "status": status, "alertId": ALERT_ID, "alias": ALIAS, "action": "Create"}
    return httpx.Response(200, json={"data": data, "took": 0.01, "requestId": "r-status"})


def not_processed_yet() -> httpx.Response:
    body = {"message": "Request not found. It might not be processed, yet.", "took": 0.0, "requestId": "r-s"}
    return httpx.Response(404, json=body)


def context(handler: Handler, secret: Mapping[str, Any] = SECRET) -> ProviderContext:
    def credentials(name: ProviderName) -> Mapping[str, Any]:
        assert name is ProviderName.OPSGENIE
        return secret

    def no_notifier() -> Any:
        raise AssertionError("the Opsgenie adapter pages through Opsgenie, not the notifier")

    return ProviderContext(
        pager=no_notifier,
        link=lambda identifier: f"https://app.getport.io/incidentEntity?identifier={identifier}",
        credentials=credentials,
        transport=httpx.MockTransport(handler),
    )


def provider_for(handler: Handler, clock: FakeClock, secret: Mapping[str, Any] = SECRET) -> OpsgenieProvider:
    provider = build(context(handler, secret).vendor(ProviderName.OPSGENIE))
    provider.http.clock = clock
    provider.http.sleep = clock.sleep
    return provider


@pytest.fixture
def opsgenie() -> FakeOpsgenie:
    return FakeOpsgenie()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider(opsgenie: FakeOpsgenie, clock: FakeClock) -> OpsgenieProvider:
    return provider_for(opsgenie, clock)


def incident(**changes: Any) -> Incident:
    fields = {
        "identifier": ALIAS,
        "title": "Checkout error rate above 5%",
        "urgency": "high",
        "alerts": ("prometheus-a1b2c3",),
        "externalId": ALIAS,
        "providerData": {"alias": ALIAS, "requestId": "r-1", "alertId": ALERT_ID},
    }
    return sample_incident(ProviderName.OPSGENIE, **(fields | changes))


def alert(**changes: Any) -> AlertRecord:
    fields = {"externalId": "a1b2c3", "title": "HighErrorRate checkout-api", "service": "checkout-api"}
    return sample_alert(**(fields | changes))


class TestMappings:
    def test_every_severity_has_a_priority_and_the_most_severe_is_p1(self) -> None:
        assert set(DEFAULT_PRIORITIES) == set(Severity)
        assert DEFAULT_PRIORITIES == {
            Severity.CRITICAL: "P1",
            Severity.HIGH: "P2",
            Severity.WARNING: "P3",
            Severity.INFO: "P5",
        }

    @pytest.mark.parametrize(
        ("status", "acknowledged", "expected"),
        [
            ("open", False, IncidentStatus.TRIGGERED),
            ("open", True, IncidentStatus.ACKNOWLEDGED),
            ("closed", False, IncidentStatus.RESOLVED),
            ("closed", True, IncidentStatus.RESOLVED),
        ],
    )
    def test_alert_state_maps_to_our_status(
        self,
        opsgenie: FakeOpsgenie,
        provider: OpsgenieProvider,
        status: str,
        acknowledged: bool,
        expected: IncidentStatus,
    ) -> None:
        assert STATUS_OF_ALERT[(status, acknowledged)] is expected
        opsgenie.alert |= {"status": status, "acknowledged": acknowledged}
        assert provider.get(incident()).status is expected


class TestTrigger:
    def test_the_alert_carries_the_incident_and_its_alerts(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        result = provider.trigger(incident(providerData={}), [alert()])

        create = opsgenie.writes[0]
        assert (create.method, create.url.path) == ("POST", "/v2/alerts")
        assert create.headers["authorization"] == f"GenieKey {SECRET['apiKey']}"
        body = opsgenie.body()
        assert body["message"] == "Checkout error rate above 5%"
        assert body["alias"] == ALIAS
        assert body["priority"] == "P1"
        assert body["responders"] == [{"type": "team", "name": "payments-oncall"}]
        assert body["entity"] == "checkout, checkout-api"
        assert body["tags"] == ["severity:critical", "source:prometheus", "service:checkout", "service:checkout-api"]
        assert "- [critical] HighErrorRate checkout-api (Prometheus, prometheus-a1b2c3)" in body["description"]
        assert f"Port: {PORT_URL}" in body["description"]
        assert body["details"] == {
            "portIncident": ALIAS,
            "portUrl": PORT_URL,
            "severity": "critical",
            "urgency": "high",
            "services": "checkout, checkout-api",
            "alerts": "prometheus-a1b2c3",
            "alertSources": "prometheus",
        }

        assert opsgenie.requests[1].url.path == "/v2/alerts/requests/r-1"
        assert result.externalId == ALIAS
        assert result.url == f"https://acme.app.opsgenie.com/alert/detail/{ALERT_ID}/details"
        assert result.providerData == {"alias": ALIAS, "requestId": "r-1", "alertId": ALERT_ID}
        assert result.message == f"Opened Opsgenie alert {ALIAS} (P1) for payments-oncall"

    def test_a_retried_trigger_sends_the_same_alias_so_opsgenie_deduplicates_it(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        provider.trigger(incident(providerData={}), [alert()])
        provider.trigger(incident(providerData={}), [alert()])
        assert opsgenie.body(0)["alias"] == opsgenie.body(1)["alias"] == ALIAS

    @pytest.mark.parametrize(("severity", "priority"), list(DEFAULT_PRIORITIES.items()))
    def test_priority_follows_the_incident_severity(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider, severity: Severity, priority: str
    ) -> None:
        provider.trigger(incident(severity=severity), [])
        assert opsgenie.body()["priority"] == priority

    def test_opsgenie_limits_are_respected(self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider) -> None:
        many = tuple(f"service-{i:02}-" + "x" * 60 for i in range(30))
        provider.trigger(incident(title="T" * 300, services=many, description="d" * 20_000), [])

        body = opsgenie.body()
        assert len(body["message"]) == MESSAGE_MAX
        assert body["message"].endswith("…")
        assert len(body["tags"]) == 20
        assert all(len(tag) <= TAG_MAX for tag in body["tags"])
        assert len(body["description"]) == 15_000
        assert len(body["entity"]) == 512
        assert sum(len(k) + len(v) for k, v in body["details"].items()) <= DETAILS_MAX

    def test_without_teams_or_services_those_fields_are_left_out(
        self, opsgenie: FakeOpsgenie, clock: FakeClock
    ) -> None:
        provider = provider_for(opsgenie, clock, {"apiKey": "k"})
        result = provider.trigger(incident(services=()), [])
        body = opsgenie.body()
        assert "responders" not in body
        assert "entity" not in body
        assert result.url is None  # no appUrl: no link to the alert
        assert result.message == f"Opened Opsgenie alert {ALIAS} (P1)"

    def test_a_configured_priority_replaces_the_default(self, opsgenie: FakeOpsgenie, clock: FakeClock) -> None:
        provider = provider_for(opsgenie, clock, {**SECRET, "priorities": {"info": "P4"}})
        provider.trigger(incident(severity=Severity.INFO), [])
        assert opsgenie.body()["priority"] == "P4"

    def test_a_priority_opsgenie_does_not_have_is_refused_naming_the_secret(
        self, opsgenie: FakeOpsgenie, clock: FakeClock
    ) -> None:
        with pytest.raises(ConfigurationError, match=r"priorities\.info: Input should be 'P1', 'P2'"):
            provider_for(opsgenie, clock, {**SECRET, "priorities": {"info": "P9"}})

    def test_a_request_not_processed_yet_is_polled_again(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider, clock: FakeClock
    ) -> None:
        opsgenie.status_answers = [not_processed_yet(), not_processed_yet()]
        result = provider.trigger(incident(), [])
        assert clock.sleeps == list(REQUEST_STATUS_PAUSES[:2])
        assert result.providerData["alertId"] == ALERT_ID

    def test_a_refusal_processed_late_still_fails_the_step(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        later = [not_processed_yet() for _ in range(4)]
        opsgenie.status_answers = [*later, processed(False, "No user exists with username [bo@example.com]")]
        with pytest.raises(ProviderApiError) as raised:
            provider.acknowledge(incident(), "bo@example.com")
        assert raised.value.message.endswith("No user exists with username [bo@example.com]")
        assert raised.value.retryable is False

    def test_a_request_still_unprocessed_fails_the_step_as_retryable(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider, clock: FakeClock
    ) -> None:
        opsgenie.status_answers = [not_processed_yet() for _ in range(len(REQUEST_STATUS_PAUSES) + 1)]
        with pytest.raises(ProviderApiError) as raised:
            provider.trigger(incident(), [])
        assert raised.value.retryable is True
        assert "has not processed the new alert" in raised.value.message
        assert clock.sleeps == list(REQUEST_STATUS_PAUSES)

    def test_a_refused_request_fails_the_step_with_opsgenies_reason(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        opsgenie.status_answers = [processed(False, "Team [payments-oncall] does not exist")]
        with pytest.raises(ProviderApiError) as raised:
            provider.trigger(incident(), [])
        assert raised.value.message == f"Opsgenie refused the new alert {ALIAS}: Team [payments-oncall] does not exist"
        assert raised.value.retryable is False


class TestActions:
    @pytest.mark.parametrize(
        ("step", "action", "body"),
        [
            (lambda p, i: p.acknowledge(i, "ana@example.com"), "acknowledge", {}),
            (
                lambda p, i: p.reassign(i, "bo@example.com", "ana@example.com"),
                "assign",
                {"owner": {"type": "user", "username": "bo@example.com"}},
            ),
            (
                lambda p, i: p.associate_services(i, ["payments", "payments"], "ana@example.com"),
                "tags",
                {"tags": ["service:payments"]},
            ),
            (
                lambda p, i: p.add_note(i, "Rolled back 4.2.1", "ana@example.com"),
                "notes",
                {"note": f"Rolled back 4.2.1\n\n[port:{ALIAS}:note:1]"},
            ),
            (
                lambda p, i: p.resolve(i, "Rolled back", "ana@example.com"),
                "close",
                {"note": f"Rolled back\n\n[port:{ALIAS}:resolved:1]"},
            ),
        ],
    )
    def test_each_step_addresses_the_alert_by_alias_and_names_who_did_it(
        self,
        opsgenie: FakeOpsgenie,
        provider: OpsgenieProvider,
        step: Callable[[OpsgenieProvider, Incident], object],
        action: str,
        body: dict[str, Any],
    ) -> None:
        step(provider, incident())
        write = opsgenie.writes[0]
        assert write.url.path == f"/v2/alerts/{ALIAS}/{action}"
        assert write.url.params["identifierType"] == "alias"
        assert opsgenie.body() == {**body, "user": "ana@example.com", "source": "Port incident lifecycle"}
        after = opsgenie.requests[opsgenie.requests.index(write) + 1]
        assert after.url.path == "/v2/alerts/requests/r-1"

    def test_a_note_an_earlier_attempt_wrote_is_not_written_again(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        opsgenie.notes = [f"Rolled back 4.2.1\n\n[port:{ALIAS}:note:1]"]
        result = provider.add_note(incident(), "Rolled back 4.2.1", "ana@example.com")
        assert opsgenie.writes == []
        assert result.message == f"The note was already on Opsgenie alert {ALIAS}"

    def test_an_unknown_owner_is_named_before_anything_is_sent(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        opsgenie.unknown_users = {"zoe@example.com"}
        with pytest.raises(NotFound, match=r"Opsgenie has no user zoe@example\.com"):
            provider.reassign(incident(), "zoe@example.com", "ana@example.com")
        assert opsgenie.writes == []

    def test_reassign_reports_the_new_owner(self, provider: OpsgenieProvider) -> None:
        result = provider.reassign(incident(), "bo@example.com", "ana@example.com")
        assert result.assignee == "bo@example.com"
        assert result.message == f"Assigned Opsgenie alert {ALIAS} to bo@example.com"

    def test_associate_services_says_why_it_tags(self, provider: OpsgenieProvider) -> None:
        result = provider.associate_services(incident(), ["payments"], "ana@example.com")
        assert result.message == f"Tagged Opsgenie alert {ALIAS} with service:payments (alerts have no services)"

    def test_an_action_opsgenie_refuses_fails_the_step(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        opsgenie.status_answers = [processed(False, "Alert does not exist")]
        with pytest.raises(ProviderApiError) as raised:
            provider.acknowledge(incident(), "ana@example.com")
        assert (
            raised.value.message == f"Opsgenie refused the acknowledge request for alert {ALIAS}: Alert does not exist"
        )

    def test_an_incident_whose_alert_was_never_opened_is_refused(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        with pytest.raises(StepRefused, match="has no Opsgenie alert"):
            provider.acknowledge(incident(providerData={}), "ana@example.com")
        assert opsgenie.requests == []


class TestEscalate:
    def test_a_named_policy_runs_its_next_rule(self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider) -> None:
        result = provider.escalate(incident(), EscalationRequest(policy="Payments Nights"), "ana@example.com")
        assert opsgenie.writes[0].url.path == f"/v2/alerts/{ALIAS}/escalate"
        assert opsgenie.body()["escalation"] == {"type": "escalation", "name": "Payments Nights"}
        assert opsgenie.body()["note"].endswith(f"[port:{ALIAS}:escalated:1]")
        # Opsgenie does not say which rule an alert is at: no level is made up from Port's count.
        assert (result.escalationLevel, result.escalationPolicy) == (None, "Payments Nights")

    def test_an_escalation_an_earlier_attempt_ran_is_not_run_again(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        opsgenie.notes = [f"ana@example.com escalated from Port along Payments Nights\n\n[port:{ALIAS}:escalated:1]"]
        result = provider.escalate(incident(), EscalationRequest(policy="Payments Nights"), "ana@example.com")
        assert opsgenie.writes == []
        assert result.message == f"Opsgenie alert {ALIAS}: already ran the next rule of escalation Payments Nights"

    def test_an_escalation_id_is_sent_as_id(self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider) -> None:
        escalation_id = "4c2c2a4b-7f0e-4b8e-9a4f-3c7e0d5b9a11"
        provider.escalate(incident(), EscalationRequest(policy=escalation_id), "ana@example.com")
        assert opsgenie.body()["escalation"] == {"type": "escalation", "id": escalation_id}

    def test_without_a_policy_the_secrets_default_escalation_runs(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        result = provider.escalate(incident(escalationLevel=2), EscalationRequest(), "ana@example.com")
        assert opsgenie.body()["escalation"] == {"type": "escalation", "name": "Payments Escalation"}
        assert result.escalationPolicy == "Payments Escalation"

    def test_a_user_is_added_as_responder(self, opsgenie: FakeOpsgenie, clock: FakeClock) -> None:
        provider = provider_for(opsgenie, clock, {"apiKey": "k"})
        result = provider.escalate(incident(), EscalationRequest(user="bo@example.com"), "ana@example.com")
        assert [w.url.path for w in opsgenie.writes] == [f"/v2/alerts/{ALIAS}/responders"]
        assert opsgenie.body()["responder"] == {"type": "user", "username": "bo@example.com"}
        assert result.escalationLevel is None
        assert result.message == f"Opsgenie alert {ALIAS}: bo@example.com is now a responder"

    def test_nothing_to_escalate_to_is_unsupported(self, opsgenie: FakeOpsgenie, clock: FakeClock) -> None:
        provider = provider_for(opsgenie, clock, {"apiKey": "k"})
        with pytest.raises(Unsupported) as raised:
            provider.escalate(incident(), EscalationRequest(), "ana@example.com")
        assert raised.value.message == (
            "Opsgenie escalates through a named escalation: choose a policy or a user, "
            "or set defaultEscalation in the opsgenie secret."
        )
        assert opsgenie.requests == []

    def test_a_level_is_unsupported_as_opsgenie_does_not_say_which_it_is_at(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        with pytest.raises(Unsupported) as raised:
            provider.escalate(incident(escalationLevel=1), EscalationRequest(level=2), "ana@example.com")
        assert raised.value.message == (
            "Opsgenie runs the next rule of an escalation and does not say which level an alert is at, so it "
            "cannot escalate to level 2; escalate without a level."
        )
        assert opsgenie.requests == []


class TestGet:
    def test_reads_the_alert_by_alias(self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider) -> None:
        opsgenie.alert |= {"acknowledged": True, "owner": "bo@example.com"}
        state = provider.get(incident())
        read = opsgenie.requests[0]
        assert (read.method, read.url.path, read.url.params["identifierType"]) == (
            "GET",
            f"/v2/alerts/{ALIAS}",
            "alias",
        )
        assert state.status is IncidentStatus.ACKNOWLEDGED
        assert state.assignee == "bo@example.com"
        assert state.url == f"https://acme.app.opsgenie.com/alert/detail/{ALERT_ID}/details"

    def test_an_unowned_alert_has_no_assignee(self, provider: OpsgenieProvider) -> None:
        assert provider.get(incident()).assignee is None

    def test_an_unknown_status_is_an_error_not_a_guess(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        opsgenie.alert["status"] = "snoozed"
        with pytest.raises(ProviderApiError, match="as 'snoozed', not open or closed"):
            provider.get(incident())


class TestHttp:
    def test_a_429_waits_as_long_as_retry_after_says(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider, clock: FakeClock
    ) -> None:
        throttled = {"message": "Rate limit exceeded", "took": 0.0, "requestId": "r-429"}
        opsgenie.write_answers = [httpx.Response(429, headers={"Retry-After": "7"}, json=throttled)]
        provider.acknowledge(incident(), "ana@example.com")
        assert len(opsgenie.writes) == 2
        assert clock.sleeps == [7.0]

    def test_a_5xx_is_retried_within_the_bound(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider, clock: FakeClock
    ) -> None:
        unavailable = {"message": "Service unavailable", "took": 0.0, "requestId": "r-503"}
        opsgenie.write_answers = [httpx.Response(503, json=unavailable) for _ in range(10)]
        with pytest.raises(ProviderApiError) as raised:
            provider.acknowledge(incident(), "ana@example.com")
        assert len(opsgenie.writes) == provider.http.retry.max_attempts == 4
        assert len(clock.sleeps) == 3
        assert raised.value.retryable is True
        assert raised.value.message.startswith("Opsgenie answered 503 after 4 attempts")
        assert raised.value.message.endswith(": Service unavailable")

    def test_a_note_is_sent_again_only_after_looking_for_it(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider, clock: FakeClock
    ) -> None:
        unavailable = {"message": "Service unavailable", "took": 0.0, "requestId": "r-503"}
        opsgenie.write_answers = [httpx.Response(503, json=unavailable) for _ in range(10)]
        with pytest.raises(ProviderApiError) as raised:
            provider.add_note(incident(), "note", "ana@example.com")
        assert raised.value.retryable is True
        sent = [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in opsgenie.requests]
        assert sent == [("GET", "notes"), *[("POST", "notes"), ("GET", "notes")] * 3, ("POST", "notes")]

    def test_a_5xx_then_success_completes_the_step(self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider) -> None:
        opsgenie.write_answers = [httpx.Response(502, json={"message": "Bad gateway", "took": 0, "requestId": "x"})]
        result = provider.resolve(incident(), "fixed", "ana@example.com")
        assert len(opsgenie.writes) == 2
        assert result.message == f"Closed Opsgenie alert {ALIAS}"

    def test_a_4xx_carries_opsgenies_message_and_field_errors(
        self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider
    ) -> None:
        refused = {
            "message": "Request body is not processable. Please check the errors.",
            "errors": {"message": "Message can not be empty."},
            "took": 0.001,
            "requestId": "r-422",
        }
        opsgenie.write_answers = [httpx.Response(422, json=refused)]
        with pytest.raises(ProviderApiError) as raised:
            provider.trigger(incident(), [])
        assert raised.value.message == (
            "Opsgenie answered 422: Request body is not processable. Please check the errors. "
            "(message: Message can not be empty.)"
        )
        assert raised.value.status_code == 422
        assert raised.value.retryable is False
        assert len(opsgenie.writes) == 1

    def test_a_403_is_not_retried(self, opsgenie: FakeOpsgenie, provider: OpsgenieProvider) -> None:
        forbidden = {"message": "You are not authorized for this action.", "took": 0.0, "requestId": "r-403"}
        opsgenie.write_answers = [httpx.Response(403, json=forbidden)]
        with pytest.raises(
            ProviderApiError, match=r"^Opsgenie answered 403: You are not authorized for this action\.$"
        ):
            provider.acknowledge(incident(), "ana@example.com")
        assert len(opsgenie.writes) == 1


class TestCredentials:
    def test_a_missing_api_key_is_named(self, opsgenie: FakeOpsgenie) -> None:
        with pytest.raises(ConfigurationError, match=r"opsgenie credentials are incomplete: apiKey: Field required"):
            build(context(opsgenie, {"region": "eu"}).vendor(ProviderName.OPSGENIE))

    @pytest.mark.parametrize(
        ("secret", "field"),
        [
            ({"apiKey": ""}, "apiKey"),
            ({"apiKey": "k", "region": "de"}, "region"),
            ({"apiKey": "k", "baseUrl": "api.opsgenie.example"}, "baseUrl"),
            ({"apiKey": "k", "appUrl": "acme.app.opsgenie.com"}, "appUrl"),
        ],
    )
    def test_a_wrong_value_is_named(self, opsgenie: FakeOpsgenie, secret: dict[str, Any], field: str) -> None:
        with pytest.raises(ConfigurationError, match=rf"opsgenie credentials are incomplete: {field}: "):
            build(context(opsgenie, secret).vendor(ProviderName.OPSGENIE))

    @pytest.mark.parametrize(
        ("secret", "base_url"),
        [
            ({"apiKey": "k"}, "https://api.opsgenie.com"),
            ({"apiKey": "k", "region": "eu"}, "https://api.eu.opsgenie.com"),
            (
                {"apiKey": "k", "region": "eu", "baseUrl": "https://opsgenie-proxy.internal:8443/"},
                "https://opsgenie-proxy.internal:8443",
            ),
        ],
    )
    def test_the_region_or_base_url_picks_the_host(
        self, opsgenie: FakeOpsgenie, clock: FakeClock, secret: dict[str, Any], base_url: str
    ) -> None:
        provider = provider_for(opsgenie, clock, secret)
        provider.get(incident())
        assert str(opsgenie.requests[0].url).startswith(f"{base_url}/v2/alerts/{ALIAS}?")

    def test_the_api_key_stays_out_of_the_credentials_repr(self, provider: OpsgenieProvider) -> None:
        assert SECRET["apiKey"] not in repr(provider.credentials)
