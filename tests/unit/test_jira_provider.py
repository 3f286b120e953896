"""The Jira adapter against `httpx.MockTransport`: mappings, what each step sends, retries, errors, secrets,
and the admin webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from incident_core.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFound,
    ProviderApiError,
    StepRefused,
    Unsupported,
)
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest
from incident_core.providers.jira.adapter import JiraProvider, build, label
from incident_core.providers.jira.adf import PORT_MARK, adf_text, comment_body
from incident_core.providers.jira.credentials import DEFAULT_PRIORITIES
from incident_core.providers.jira.models import STATUS_OF_CATEGORY
from incident_core.providers.jira.webhook import JiraWebhook
from incident_core.providers.registry import ProviderContext
from tests.fakes import FakeClock
from tests.providers import sample_alert, sample_incident

SITE = "https://acme.atlassian.net"
API = "/rest/api/3"
SECRET = {"siteUrl": SITE, "email": "bot@acme.com", "apiToken": "api-token-9f2c", "projectKey": "OPS"}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers with `handler` and keeps every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def sent(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.requests]

    def writes(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.requests if request.method != "GET"]

    def body(self, index: int) -> Any:
        """The body of the `index`th write."""
        return json.loads([request for request in self.requests if request.method != "GET"][index].content)


def jira(handler: Handler, clock: FakeClock | None = None, **settings: Any) -> tuple[JiraProvider, Recorder, FakeClock]:
    recorder = Recorder(handler)
    clock = clock or FakeClock()
    context = ProviderContext(
        pager=lambda: pytest.fail("Jira notifies people itself"),
        link=lambda identifier: f"https://app.getport.io/incidentEntity?identifier={identifier}",
        credentials=lambda name: {**SECRET, **settings},
        transport=httpx.MockTransport(recorder),
    )
    provider = build(context.vendor(ProviderName.JIRA))
    provider.http.clock = clock
    provider.http.sleep = clock.sleep
    return provider, recorder, clock


TO_DO = {"key": "OPS-7", "fields": {"status": {"name": "To Do", "statusCategory": {"key": "new"}}}}
SITE_DEFAULTS: dict[tuple[str, str], Any] = {
    ("GET", f"{API}/priority/search"): {"values": []},
    ("GET", f"{API}/issue/OPS-7/comment"): {"comments": []},
    ("GET", f"{API}/issue/OPS-7"): TO_DO,
    ("GET", f"{API}/user"): {"accountId": "712020:ann", "displayName": "Ann Lee"},
    ("GET", f"{API}/myself"): {"accountId": "712020:bot", "displayName": "Port"},
}
"""What the site answers unless a test says otherwise: no priorities listed, no comments yet, the issue in
To Do, every account id known."""


def routes(answers: Mapping[tuple[str, str], Any]) -> Handler:
    """(method, path) → JSON body (200), an `httpx.Response`, or None for 204; then `SITE_DEFAULTS`."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = {**SITE_DEFAULTS, **answers}.get((request.method, request.url.path), KeyError)
        if answer is KeyError:
            return httpx.Response(404, json={"errorMessages": [f"no route {request.method} {request.url.path}"]})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(204) if answer is None else httpx.Response(200, json=answer)

    return handle


LATENCY = "p99 latency is 2.4 s\nRunbook: https://runbooks.example.com/checkout-latency"


def alert(**changes: Any) -> AlertRecord:
    fields = {
        "externalId": "4f1c2b9a",
        "title": "Checkout latency above 2 s",
        "description": LATENCY,
        "startedAt": "2026-11-27T10:00:00.000Z",
    }
    return sample_alert(**(fields | changes))


def incident(**changes: Any) -> Incident:
    fields = {
        "identifier": "inc-20261127-100005-a1b2c3",
        "title": "Checkout latency above 2 s",
        "description": LATENCY,
        "urgency": "high",
        "alerts": ("prometheus-4f1c2b9a",),
        "externalId": "OPS-7",
    }
    return sample_incident(ProviderName.JIRA, **(fields | changes))


NO_ISSUE_YET = {"issues": [], "isLast": True}
CREATED = {"id": "10042", "key": "OPS-42", "self": f"{SITE}/rest/api/3/issue/10042"}


# Mapping tables


def test_every_severity_has_a_default_priority_and_every_status_category_a_status() -> None:
    assert DEFAULT_PRIORITIES == {
        Severity.CRITICAL: "Highest",
        Severity.HIGH: "High",
        Severity.WARNING: "Medium",
        Severity.INFO: "Low",
    }
    assert STATUS_OF_CATEGORY == {
        "new": IncidentStatus.TRIGGERED,
        "indeterminate": IncidentStatus.ACKNOWLEDGED,
        "done": IncidentStatus.RESOLVED,
    }


@pytest.mark.parametrize(
    ("severity", "priority"),
    [(Severity.CRITICAL, "P1"), (Severity.HIGH, "High"), (Severity.WARNING, "P3"), (Severity.INFO, "Low")],
)
def test_trigger_maps_the_severity_to_the_configured_priority(severity: Severity, priority: str) -> None:
    provider, recorder, _ = jira(
        routes({("GET", f"{API}/search/jql"): NO_ISSUE_YET, ("POST", f"{API}/issue"): CREATED}),
        priorities={"critical": "P1", "warning": "P3"},
    )

    result = provider.trigger(incident(severity=severity), [])

    assert recorder.body(0)["fields"]["priority"] == {"name": priority}
    assert result.message == f"Opened Jira issue OPS-42 in OPS with priority {priority}"


@pytest.mark.parametrize(
    ("category", "status"),
    [
        ("new", IncidentStatus.TRIGGERED),
        ("indeterminate", IncidentStatus.ACKNOWLEDGED),
        ("done", IncidentStatus.RESOLVED),
    ],
)
def test_get_maps_the_status_category(category: str, status: IncidentStatus) -> None:
    issue = {
        "key": "OPS-7",
        "fields": {
            "status": {"name": "Whatever the workflow calls it", "statusCategory": {"key": category}},
            "assignee": {"accountId": "712020:ann", "displayName": "Ann Lee", "emailAddress": "ann@example.com"},
        },
    }
    provider, recorder, _ = jira(routes({("GET", f"{API}/issue/OPS-7"): issue}))

    state = provider.get(incident(status=IncidentStatus.TRIGGERED))

    assert (state.status, state.assignee, state.url) == (status, "ann@example.com", f"{SITE}/browse/OPS-7")
    assert recorder.requests[0].url.params["fields"] == "status,assignee"


def test_get_keeps_the_known_status_when_jira_shows_no_category() -> None:
    issue = {"key": "OPS-7", "fields": {"status": {"name": "Legacy", "statusCategory": {"key": "undefined"}}}}
    provider, _, _ = jira(routes({("GET", f"{API}/issue/OPS-7"): issue}))

    state = provider.get(incident(status=IncidentStatus.ACKNOWLEDGED))

    assert (state.status, state.assignee) == (IncidentStatus.ACKNOWLEDGED, None)


# Trigger


def test_trigger_carries_the_alerts_context_and_the_retry_label() -> None:
    provider, recorder, _ = jira(
        routes({("GET", f"{API}/search/jql"): NO_ISSUE_YET, ("POST", f"{API}/issue"): CREATED})
    )

    result = provider.trigger(incident(), [alert()])

    assert (result.externalId, result.url) == ("OPS-42", f"{SITE}/browse/OPS-42")
    assert recorder.requests[0].url.params["jql"] == (
        'project = "OPS" AND labels = "port-incident-inc-20261127-100005-a1b2c3"'
    )
    assert recorder.requests[0].url.params["fields"] == "labels"
    assert recorder.requests[0].url.params["properties"] == "port.incident"
    assert recorder.body(0)["properties"] == [
        {"key": "port.incident", "value": {"incident": "inc-20261127-100005-a1b2c3"}}
    ]
    fields = recorder.body(0)["fields"]
    assert fields["summary"] == "Checkout latency above 2 s"
    assert fields["issuetype"] == {"name": "Incident"}
    assert fields["labels"] == [
        "port-incident-inc-20261127-100005-a1b2c3",
        "alert-prometheus-4f1c2b9a",
        "service-checkout",
    ]
    description = fields["description"]
    assert (description["type"], description["version"]) == ("doc", 1)
    text = adf_text(description)
    assert "Severity: critical (priority Highest, urgency high)" in text
    assert "Port incident: inc-20261127-100005-a1b2c3" in text
    assert "Services: checkout" in text
    assert "Alert: Checkout latency above 2 s" in text
    assert "Prometheus, critical, open, since 2026-11-27T10:00:00.000Z (dedup key prometheus-4f1c2b9a)" in text
    assert "p99 latency is 2.4 s" in text
    assert text.count("p99 latency is 2.4 s") == 1  # the incident's description repeats the alert's
    links = [
        mark["attrs"]["href"]
        for block in description["content"]
        for node in block.get("content", [])
        for mark in node.get("marks", [])
    ]
    assert links == [
        "https://app.getport.io/incidentEntity?identifier=inc-20261127-100005-a1b2c3",
        "https://runbooks.example.com/checkout-latency",
    ]


def test_trigger_puts_services_in_components_when_configured_and_flattens_the_summary() -> None:
    provider, recorder, _ = jira(
        routes({("GET", f"{API}/search/jql"): NO_ISSUE_YET, ("POST", f"{API}/issue"): CREATED}),
        serviceField="components",
        issueType="Bug",
    )

    provider.trigger(incident(title="Checkout\n  is " + "down " * 80), [])

    fields = recorder.body(0)["fields"]
    assert fields["components"] == [{"name": "checkout"}]
    assert fields["labels"] == ["port-incident-inc-20261127-100005-a1b2c3", "alert-prometheus-4f1c2b9a"]
    assert fields["issuetype"] == {"name": "Bug"}
    assert len(fields["summary"]) == 255
    assert fields["summary"].startswith("Checkout is down down")
    assert "\n" not in fields["summary"]


def test_a_retried_trigger_reuses_the_issue_found_by_its_label_and_property() -> None:
    property_ = {"port.incident": {"incident": "inc-20261127-100005-a1b2c3"}}
    found = {"issues": [{"id": "10042", "key": "OPS-42", "properties": property_}], "isLast": True}
    provider, recorder, _ = jira(routes({("GET", f"{API}/search/jql"): found}))

    result = provider.trigger(incident(externalId=None), [alert()])

    assert recorder.sent() == [("GET", f"{API}/search/jql")]
    assert (result.externalId, result.url) == ("OPS-42", f"{SITE}/browse/OPS-42")


def test_an_issue_whose_property_names_another_incident_is_not_taken_for_ours() -> None:
    property_ = {"port.incident": {"incident": "inc-20261127-090000-other"}}
    found = {"issues": [{"id": "10041", "key": "OPS-41", "properties": property_}], "isLast": True}
    provider, _, _ = jira(routes({("GET", f"{API}/search/jql"): found, ("POST", f"{API}/issue"): CREATED}))

    assert provider.trigger(incident(externalId=None), [alert()]).externalId == "OPS-42"


def test_a_create_whose_answer_was_lost_waits_for_search_to_see_it_instead_of_creating_again() -> None:
    property_ = {"port.incident": {"incident": "inc-20261127-100005-a1b2c3"}}
    searches = iter(
        [NO_ISSUE_YET, NO_ISSUE_YET, NO_ISSUE_YET, {"issues": [{"key": "OPS-42", "properties": property_}]}]
    )

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"{API}/search/jql":
            return httpx.Response(200, json=next(searches))
        if request.method == "POST":
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return routes({})(request)

    provider, recorder, clock = jira(handle)

    result = provider.trigger(incident(externalId=None), [alert()])

    # Search lags new issues: it is asked again after growing pauses before the create would be sent again.
    assert result.externalId == "OPS-42"
    assert recorder.writes() == [("POST", f"{API}/issue")]
    assert clock.sleeps[-2:] == [1.0, 2.0]


def test_labels_have_no_whitespace_and_fit_jiras_limit() -> None:
    assert label("alert-", "datadog-host a\tb") == "alert-datadog-host_a_b"
    long = label("alert-", "x" * 400)
    assert len(long) == 255
    assert long != label("alert-", "x" * 401)


# Transitions


TRANSITIONS = {
    "transitions": [
        {"id": "11", "name": "Start Progress", "to": {"name": "In Progress"}},
        {"id": "21", "name": "In Progress", "to": {"name": "In Review"}},
        {"id": "31", "name": "Resolve", "to": {"name": "Done"}, "fields": {"resolution": {"required": True}}},
        {"id": "41", "name": "Done", "to": {"name": "Closed"}, "isAvailable": False},
    ]
}


def test_acknowledge_prefers_a_transition_named_like_the_setting_over_one_leading_to_that_status() -> None:
    provider, recorder, _ = jira(
        routes(
            {("GET", f"{API}/issue/OPS-7/transitions"): TRANSITIONS, ("POST", f"{API}/issue/OPS-7/transitions"): None}
        )
    )

    result = provider.acknowledge(incident(), "bo@example.com")

    assert recorder.body(0) == {"transition": {"id": "21"}}
    assert result.message == "Moved OPS-7 to In Review (transition 'In Progress')"


def test_resolve_falls_back_to_the_target_status_and_fills_the_resolution_the_screen_asks_for() -> None:
    provider, recorder, _ = jira(
        routes(
            {
                ("GET", f"{API}/issue/OPS-7/transitions"): TRANSITIONS,
                ("POST", f"{API}/issue/OPS-7/transitions"): None,
                ("POST", f"{API}/issue/OPS-7/comment"): {"id": "1"},
            }
        ),
        resolutionName="Fixed",
    )

    result = provider.resolve(incident(), "Rolled back", "bo@example.com")

    # "Done" names an unavailable transition; the available one leading to the status Done is taken.
    assert recorder.body(0) == {"transition": {"id": "31"}, "fields": {"resolution": {"name": "Fixed"}}}
    comment = recorder.body(1)["body"]
    mark = "[port:inc-20261127-100005-a1b2c3:resolved:1]"
    assert adf_text(comment) == f"{PORT_MARK} Resolved by bo@example.com:\nRolled back\n{mark}"
    assert result.message == "Moved OPS-7 to Done (transition 'Resolve'); commented the resolution"


def test_a_step_retried_after_jira_moved_the_issue_changes_nothing() -> None:
    issue = {"key": "OPS-7", "fields": {"status": {"name": "In Review", "statusCategory": {"key": "indeterminate"}}}}
    provider, recorder, _ = jira(
        routes(
            {
                ("GET", f"{API}/issue/OPS-7/transitions"): {"transitions": [{"id": "31", "name": "Resolve"}]},
                ("GET", f"{API}/issue/OPS-7"): issue,
            }
        ),
        acknowledgeTransition="Start Progress",
    )

    result = provider.acknowledge(incident(), "bo@example.com")

    assert recorder.sent() == [("GET", f"{API}/issue/OPS-7")]
    assert result.message == "OPS-7 is already In Review in Jira"


def test_an_unknown_transition_is_refused_naming_what_jira_offers() -> None:
    issue = {"key": "OPS-7", "fields": {"status": {"name": "To Do", "statusCategory": {"key": "new"}}}}
    provider, _, _ = jira(
        routes({("GET", f"{API}/issue/OPS-7/transitions"): TRANSITIONS, ("GET", f"{API}/issue/OPS-7"): issue}),
        acknowledgeTransition="Triage",
    )

    with pytest.raises(StepRefused) as refused:
        provider.acknowledge(incident(), "bo@example.com")

    assert refused.value.message == (
        "Jira offers no transition named 'Triage' for OPS-7; available: 'Start Progress' (to In Progress), "
        "'In Progress' (to In Review), 'Resolve' (to Done). Set `acknowledgeTransition` in the Jira secret "
        "to one of them."
    )


# Reassign, services, escalation, notes


def test_reassign_picks_the_user_whose_email_jira_shows() -> None:
    users = [
        {"accountId": "712020:annie", "displayName": "Annie Lee", "emailAddress": "annie@example.com"},
        {"accountId": "712020:ann", "displayName": "Ann Lee", "emailAddress": "Ann@Example.com"},
    ]
    provider, recorder, _ = jira(
        routes({("GET", f"{API}/user/search"): users, ("PUT", f"{API}/issue/OPS-7/assignee"): None})
    )

    result = provider.reassign(incident(), "ann@example.com", "bo@example.com")

    assert recorder.body(0) == {"accountId": "712020:ann"}
    assert (result.assignee, result.message) == ("ann@example.com", "Assigned OPS-7 to ann@example.com")


def test_reassign_to_an_account_id_jira_does_not_have_names_it() -> None:
    unknown = httpx.Response(404, json={"errorMessages": ["User does not exist"]})
    provider, recorder, _ = jira(routes({("GET", f"{API}/user"): unknown}))

    with pytest.raises(NotFound, match="Jira has no account 712020:gone"):
        provider.reassign(incident(), "712020:gone", "bo@example.com")
    assert recorder.writes() == []


def test_reassign_refuses_an_address_jira_does_not_know() -> None:
    provider, recorder, _ = jira(routes({("GET", f"{API}/user/search"): []}))

    with pytest.raises(StepRefused, match=r"Jira has no user nobody@example\.com that this account can see"):
        provider.reassign(incident(), "nobody@example.com", "bo@example.com")
    assert recorder.sent() == [("GET", f"{API}/user/search")]


def test_associate_services_adds_labels() -> None:
    provider, recorder, _ = jira(routes({("PUT", f"{API}/issue/OPS-7"): None}))

    result = provider.associate_services(incident(), ["payments", "ledger db"], "bo@example.com")

    assert recorder.body(0) == {"update": {"labels": [{"add": "service-payments"}, {"add": "service-ledger_db"}]}}
    assert result.message == "Added payments, ledger db to the labels of OPS-7"


@pytest.mark.parametrize(
    ("severity", "current_level", "request_level", "level", "priority"),
    [
        (Severity.WARNING, 1, None, 2, "High"),
        (Severity.WARNING, 2, None, 3, "Highest"),
        (Severity.INFO, 1, 3, 3, "High"),
        (Severity.CRITICAL, 1, None, 2, "Highest"),  # the top of the ladder stays the top
    ],
)
def test_escalate_climbs_the_priority_ladder_one_step_per_level(
    severity: Severity, current_level: int, request_level: int | None, level: int, priority: str
) -> None:
    provider, recorder, _ = jira(
        routes({("PUT", f"{API}/issue/OPS-7"): None, ("POST", f"{API}/issue/OPS-7/comment"): {"id": "1"}})
    )

    result = provider.escalate(
        incident(severity=severity, escalationLevel=current_level),
        EscalationRequest(level=request_level),
        "bo@example.com",
    )

    assert recorder.body(0) == {"fields": {"priority": {"name": priority}}}
    assert adf_text(recorder.body(1)["body"]) == (
        f"{PORT_MARK} Escalated OPS-7 to level {level}: priority {priority} (by bo@example.com)\n"
        "[port:inc-20261127-100005-a1b2c3:escalated:1]"
    )
    assert (result.escalationLevel, result.assignee) == (level, None)


def test_escalating_to_a_policy_is_unsupported_and_sends_nothing() -> None:
    provider, recorder, _ = jira(routes({}))

    with pytest.raises(Unsupported) as unsupported:
        provider.escalate(incident(), EscalationRequest(policy="db-oncall"), "bo@example.com")

    assert unsupported.value.message == (
        "Jira has no escalation policies: escalate by level (it raises the issue's priority) or to a user."
    )
    assert recorder.requests == []


def test_add_note_is_a_comment_marked_as_ours_with_its_links_clickable() -> None:
    provider, recorder, _ = jira(routes({("POST", f"{API}/issue/OPS-7/comment"): {"id": "1"}}))

    result = provider.add_note(incident(), "Failover done, see https://grafana.example.com/d/db.", "bo@example.com")

    body = recorder.body(0)["body"]
    assert adf_text(body) == (
        f"{PORT_MARK} bo@example.com:\nFailover done, see https://grafana.example.com/d/db.\n"
        "[port:inc-20261127-100005-a1b2c3:note:1]"
    )
    assert body["content"][1]["content"] == [
        {"type": "text", "text": "Failover done, see "},
        {
            "type": "text",
            "text": "https://grafana.example.com/d/db",
            "marks": [{"type": "link", "attrs": {"href": "https://grafana.example.com/d/db"}}],
        },
        {"type": "text", "text": "."},
    ]
    assert result.message == "Added the note to OPS-7"


def test_a_comment_an_earlier_attempt_wrote_is_not_written_again() -> None:
    earlier = comment_body("bo@example.com:", "Failover done\n[port:inc-20261127-100005-a1b2c3:note:1]")
    provider, recorder, _ = jira(routes({("GET", f"{API}/issue/OPS-7/comment"): {"comments": [{"body": earlier}]}}))

    result = provider.add_note(incident(), "Failover done", "bo@example.com")

    assert recorder.writes() == []
    assert result.message == "The note was already on OPS-7"


@pytest.mark.parametrize(
    "step",
    [
        lambda p, i: p.acknowledge(i, "bo"),
        lambda p, i: p.reassign(i, "712020:ann", "bo"),
        lambda p, i: p.associate_services(i, ["checkout"], "bo"),
        lambda p, i: p.escalate(i, EscalationRequest(), "bo"),
        lambda p, i: p.add_note(i, "x", "bo"),
        lambda p, i: p.resolve(i, "x", "bo"),
        lambda p, i: p.get(i),
    ],
)
def test_a_step_on_an_incident_without_its_jira_issue_is_refused(step: Callable[[JiraProvider, Incident], Any]) -> None:
    provider, recorder, _ = jira(routes({}))

    with pytest.raises(StepRefused, match="has no Jira issue yet"):
        step(provider, incident(externalId=None))
    assert recorder.requests == []


# Retries and errors


def first_then(answer: httpx.Response, then: Handler) -> Handler:
    """Answers the first request with `answer`, every other as `then` does."""
    answers = iter([answer])
    return lambda request: next(answers, None) or then(request)


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "7"})
    provider, recorder, clock = jira(first_then(limited, routes({("PUT", f"{API}/issue/OPS-7/assignee"): None})))

    provider.reassign(incident(), "712020:ann", "bo@example.com")

    assert clock.sleeps == [7.0]
    assert recorder.sent() == [("GET", f"{API}/user"), ("GET", f"{API}/user"), ("PUT", f"{API}/issue/OPS-7/assignee")]


def test_a_429_without_retry_after_waits_until_the_iso_8601_reset() -> None:
    clock = FakeClock(now=datetime(2026, 11, 27, 10, 15, 50, tzinfo=UTC).timestamp())
    limited = httpx.Response(429, headers={"X-RateLimit-Reset": "2026-11-27T10:16Z"})
    provider, _, _ = jira(first_then(limited, routes({("PUT", f"{API}/issue/OPS-7/assignee"): None})), clock=clock)

    provider.reassign(incident(), "712020:ann", "bo@example.com")

    assert clock.sleeps == [10.0]


def test_a_429_asking_for_longer_than_the_step_may_take_fails_at_once_as_retryable() -> None:
    provider, recorder, clock = jira(lambda request: httpx.Response(429, headers={"Retry-After": "120"}))

    with pytest.raises(ProviderApiError) as failed:
        provider.reassign(incident(), "712020:ann", "bo@example.com")

    assert (len(recorder.requests), clock.sleeps) == (1, [])
    assert failed.value.retryable
    assert failed.value.status_code == 429


def test_a_5xx_is_retried_within_the_bound_then_surfaces_as_retryable() -> None:
    provider, recorder, clock = jira(
        lambda request: httpx.Response(503, json={"errorMessages": ["Service unavailable"], "errors": {}})
    )

    with pytest.raises(ProviderApiError) as failed:
        provider.add_note(incident(), "x", "bo@example.com")

    assert len(recorder.requests) == provider.http.retry.max_attempts == 4
    assert len(clock.sleeps) == 3
    assert failed.value.retryable
    assert failed.value.status_code == 503
    assert "Service unavailable" in failed.value.message


def test_a_5xx_then_success_is_a_success() -> None:
    provider, recorder, _ = jira(first_then(httpx.Response(502), routes({("PUT", f"{API}/issue/OPS-7"): None})))

    provider.associate_services(incident(), ["checkout"], "bo@example.com")

    assert recorder.sent() == [("PUT", f"{API}/issue/OPS-7"), ("PUT", f"{API}/issue/OPS-7")]


def test_a_4xx_carries_jiras_own_words_and_is_not_retried() -> None:
    refusal = {"errorMessages": ["Field 'priority' is required"], "errors": {"issuetype": "Specify a valid issue type"}}
    provider, recorder, _ = jira(
        routes(
            {("GET", f"{API}/search/jql"): NO_ISSUE_YET, ("POST", f"{API}/issue"): httpx.Response(400, json=refusal)}
        )
    )

    with pytest.raises(ProviderApiError) as failed:
        provider.trigger(incident(), [alert()])

    assert failed.value.message == (
        "Jira answered 400: Field 'priority' is required; issuetype: Specify a valid issue type"
    )
    assert not failed.value.retryable
    assert recorder.writes() == [("POST", f"{API}/issue")]


# Credentials and hosts


@pytest.mark.parametrize("missing", ["siteUrl", "email", "apiToken", "projectKey"])
def test_a_missing_credential_is_a_configuration_error_naming_it(missing: str) -> None:
    secret = {key: value for key, value in SECRET.items() if key != missing}
    context = ProviderContext(pager=lambda: pytest.fail("unused"), link=lambda _: None, credentials=lambda _: secret)

    with pytest.raises(ConfigurationError, match=f"the jira credentials are incomplete: {missing}: "):
        build(context.vendor(ProviderName.JIRA))


@pytest.mark.parametrize(
    ("site_url", "base_url"),
    [
        ("acme", "https://acme.atlassian.net"),
        ("https://acme.atlassian.net/", "https://acme.atlassian.net"),
        ("https://jira.acme.eu", "https://jira.acme.eu"),
        ("https://proxy.internal.acme.com/jira", "https://proxy.internal.acme.com/jira"),
        ("http://127.0.0.1:4010", "http://127.0.0.1:4010"),
    ],
)
def test_the_site_url_selects_the_host(site_url: str, base_url: str) -> None:
    provider, recorder, _ = jira(routes({("GET", f"{urlsplit(base_url).path}{API}/issue/OPS-7"): {}}), siteUrl=site_url)

    state = provider.get(incident())

    assert str(recorder.requests[0].url).startswith(f"{base_url}{API}/issue/OPS-7?")
    assert state.url == f"{base_url}/browse/OPS-7"
    expected = base64.b64encode(b"bot@acme.com:api-token-9f2c").decode()
    assert recorder.requests[0].headers["authorization"] == f"Basic {expected}"


@pytest.mark.parametrize("site_url", ["http://acme.atlassian.net", "ftp://acme.example.com", "https://"])
def test_a_site_url_that_would_leak_the_token_is_refused(site_url: str) -> None:
    context = ProviderContext(
        pager=lambda: pytest.fail("unused"),
        link=lambda _: None,
        credentials=lambda _: {**SECRET, "siteUrl": site_url},
    )

    with pytest.raises(ConfigurationError, match=r"siteUrl: .*https://"):
        build(context.vendor(ProviderName.JIRA))


def test_the_api_token_is_not_shown_in_the_credentials_repr() -> None:
    provider, _, _ = jira(routes({}))
    assert "api-token-9f2c" not in repr(provider.credentials)


# The admin webhook

WEBHOOK_SECRET = "whsec-jira"
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"x-hub-signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_the_webhook_accepts_its_signature() -> None:
    body = b'{"webhookEvent":"jira:issue_updated"}'
    JiraWebhook().verify(signed(body), body, WEBHOOK_SECRET, now=NOW)


@pytest.mark.parametrize(
    ("headers", "secret", "reason"),
    [
        (signed(b"{}", "other"), WEBHOOK_SECRET, "does not match"),
        ({}, WEBHOOK_SECRET, "lacks a sha256 signature"),
        ({"x-hub-signature": "sha1=abc"}, WEBHOOK_SECRET, "lacks a sha256 signature"),
        (signed(b"{}"), "", "no Jira webhook secret"),
    ],
)
def test_the_webhook_refuses_what_is_not_signed_with_its_secret(
    headers: dict[str, str], secret: str, reason: str
) -> None:
    with pytest.raises(AuthenticationError, match=reason):
        JiraWebhook().verify(headers, b"{}", secret, now=NOW)


def test_the_webhook_reports_a_status_and_an_assignee_change() -> None:
    payload = {
        "timestamp": 1_795_775_400_000,
        "webhookEvent": "jira:issue_updated",
        "user": {"accountId": "712020:bo", "displayName": "Bo Berg"},
        "issue": {
            "key": "OPS-7",
            "fields": {
                "status": {"name": "Done", "statusCategory": {"key": "done"}},
                "assignee": {"displayName": "Ann Lee", "emailAddress": "ann@example.com"},
            },
        },
        "changelog": {"items": [{"field": "status"}, {"field": "assignee"}]},
    }

    [event] = JiraWebhook().events(payload)

    assert event.externalId == "OPS-7"
    assert (event.status, event.assignee, event.actor) == (IncidentStatus.RESOLVED, "ann@example.com", "Bo Berg")
    assert event.at == "2026-11-27T10:30:00.000Z"


def test_the_webhook_ignores_changes_we_do_not_track() -> None:
    payload = {
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": "OPS-7", "fields": {"status": {"statusCategory": {"key": "done"}}}},
        "changelog": {"items": [{"field": "summary"}]},
    }
    assert JiraWebhook().events(payload) == []
    assert JiraWebhook().events({"webhookEvent": "jira:issue_deleted", "issue": {"key": "OPS-7"}}) == []
    assert JiraWebhook().events({"webhookEvent": "jira:issue_updated"}) == []


def test_the_webhook_reports_comments_except_our_own() -> None:
    theirs = {
        "webhookEvent": "comment_created",
        "issue": {"key": "OPS-7"},
        "comment": {"body": "Restarted the pods", "author": {"emailAddress": "ann@example.com"}},
    }
    ours = {**theirs, "comment": {"body": f"{PORT_MARK} bo@example.com:\nFailover done", "author": {}}}

    [event] = JiraWebhook().events(theirs)

    assert (event.externalId, event.note, event.actor) == ("OPS-7", "Restarted the pods", "ann@example.com")
    assert JiraWebhook().events(ours) == []
