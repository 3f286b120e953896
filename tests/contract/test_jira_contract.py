"""Every request the Jira adapter makes, in every step, matches Jira Cloud's published v3 description.

prism serves the description (with its string-encoded examples parsed) and flags any request it rejects.
Its answers are the spec's static examples; where a path of the adapter needs a different answer (no issue
found yet, exactly one user for an email address), the test replaces prism's answer after prism has
validated the request, so the request is checked all the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from incident_core.errors import StepRefused
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest
from incident_core.providers.jira.adapter import JiraProvider, build
from incident_core.providers.registry import ProviderContext
from tests.contract.prism import PrismServer, ValidatingTransport
from tests.providers import sample_alert, sample_incident

SPEC = "jira-cloud-platform-v3.examples-parsed.openapi3.json"
API = "/rest/api/3"
PORT_PAGE = "https://app.getport.io/incidentEntity?identifier="

# What the spec's examples answer: the created issue, the issue a search finds, the offered transitions.
CREATED_KEY = "ED-24"
FOUND_KEY = "ED-1"
TRANSITION_TO_IN_PROGRESS = ("2", "Close Issue")
TRANSITION_TO_CLOSED = ("711", "QA Review")
EXAMPLE_USERS = ("Mia Krystof", "Emma Richards")
EXAMPLE_ACCOUNT_ID = "5b10ac8d82e05b22cc7d4ef5"


@dataclass
class JiraSite(httpx.BaseTransport):
    """prism validates every request; `answers` replaces its example answer for (method, path)."""

    validating: ValidatingTransport = field(default_factory=ValidatingTransport)
    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    sent: list[httpx.Request] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.validating.handle_request(request)
        self.sent.append(request)
        replacement = self.answers.get((request.method, request.url.path))
        if replacement is None or not response.is_success:
            return response
        return httpx.Response(response.status_code, json=replacement, request=request)

    def requests(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.sent]

    def body(self, method: str, path: str) -> Any:
        matching = [r for r in self.sent if (r.method, r.url.path) == (method, path)]
        assert len(matching) == 1, f"{method} {path} was sent {len(matching)} times"
        return json.loads(matching[0].content)

    def assert_all_accepted(self) -> None:
        assert self.validating.violations == []
        assert self.validating.answered, "nothing was sent"
        assert all(200 <= status < 300 for _, _, status in self.validating.answered), self.validating.answered


@pytest.fixture(scope="module")
def server(prism: Callable[[str], PrismServer]) -> PrismServer:
    return prism(SPEC)


DEFAULT_SCHEME = {
    "values": [{"id": str(i), "name": name} for i, name in enumerate(["Highest", "High", "Medium", "Low"])]
}
"""The site's priorities (the spec's example lists others): the adapter checks the configured names once."""


@pytest.fixture
def site() -> JiraSite:
    return JiraSite(answers={("GET", f"{API}/priority/search"): DEFAULT_SCHEME})


def jira(server: PrismServer, site: JiraSite, **settings: Any) -> JiraProvider:
    secret = {
        "siteUrl": server.url,
        "email": "incident-bot@example.com",
        "apiToken": "token-123",
        "projectKey": "OPS",
        **settings,
    }
    context = ProviderContext(
        pager=lambda: pytest.fail("Jira notifies people itself"),
        link=lambda identifier: PORT_PAGE + identifier,
        credentials=lambda name: secret if name is ProviderName.JIRA else pytest.fail(f"asked for {name}"),
        transport=site,
    )
    return build(context.vendor(ProviderName.JIRA))


def alert() -> AlertRecord:
    return sample_alert(externalId="4f1c2b9a", title="Checkout latency above 2 s")


def incident(**changes: Any) -> Incident:
    fields = {
        "identifier": "inc-20261127-100005-a1b2c3",
        "title": "Checkout latency above 2 s",
        "severity": Severity.HIGH,
        "alerts": ("prometheus-4f1c2b9a",),
        "externalId": "OPS-7",
    }
    return sample_incident(ProviderName.JIRA, **(fields | changes))


def test_trigger_opens_an_issue_when_no_earlier_attempt_did(server: PrismServer, site: JiraSite) -> None:
    site.answers[("GET", f"{API}/search/jql")] = {"issues": [], "isLast": True}

    result = jira(server, site).trigger(incident(externalId=None, severity=Severity.CRITICAL), [alert()])

    site.assert_all_accepted()
    assert site.requests() == [
        ("GET", f"{API}/search/jql"),
        ("GET", f"{API}/priority/search"),
        ("POST", f"{API}/issue"),
    ]
    assert result.externalId == CREATED_KEY
    assert result.url == f"{server.url}/browse/{CREATED_KEY}"
    search = site.sent[0].url.params
    assert search["jql"] == 'project = "OPS" AND labels = "port-incident-inc-20261127-100005-a1b2c3"'
    fields = site.body("POST", f"{API}/issue")["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "Incident"}
    assert fields["priority"] == {"name": "Highest"}
    assert fields["labels"] == [
        "port-incident-inc-20261127-100005-a1b2c3",
        "alert-prometheus-4f1c2b9a",
        "service-checkout",
    ]
    assert fields["description"]["type"] == "doc"
    assert "Alert: Checkout latency above 2 s" in json.dumps(fields["description"])


def test_a_retried_trigger_finds_the_issue_an_earlier_attempt_opened(server: PrismServer, site: JiraSite) -> None:
    result = jira(server, site).trigger(incident(externalId=None), [alert()])

    site.assert_all_accepted()
    assert site.requests() == [("GET", f"{API}/search/jql")]
    assert result.externalId == FOUND_KEY
    assert result.message == f"Found Jira issue {FOUND_KEY}, opened by an earlier attempt"


def test_acknowledge_takes_the_transition_to_the_configured_status(server: PrismServer, site: JiraSite) -> None:
    result = jira(server, site).acknowledge(incident(), "bo@example.com")

    site.assert_all_accepted()
    assert site.requests() == [
        ("GET", f"{API}/issue/OPS-7"),
        ("GET", f"{API}/issue/OPS-7/transitions"),
        ("POST", f"{API}/issue/OPS-7/transitions"),
    ]
    assert site.sent[1].url.params["expand"] == "transitions.fields"
    transition_id, name = TRANSITION_TO_IN_PROGRESS
    assert site.body("POST", f"{API}/issue/OPS-7/transitions") == {"transition": {"id": transition_id}}
    assert result.message == f"Moved OPS-7 to In Progress (transition '{name}')"


def test_resolve_takes_the_named_transition_and_comments_the_resolution(server: PrismServer, site: JiraSite) -> None:
    transition_id, name = TRANSITION_TO_CLOSED
    provider = jira(server, site, resolveTransition=name)

    result = provider.resolve(incident(), "Rolled back the release", "bo@example.com")

    site.assert_all_accepted()
    assert site.requests() == [
        ("GET", f"{API}/issue/OPS-7"),
        ("GET", f"{API}/issue/OPS-7/transitions"),
        ("POST", f"{API}/issue/OPS-7/transitions"),
        ("GET", f"{API}/issue/OPS-7/comment"),
        ("POST", f"{API}/issue/OPS-7/comment"),
    ]
    assert site.body("POST", f"{API}/issue/OPS-7/transitions") == {"transition": {"id": transition_id}}
    comment = json.dumps(site.body("POST", f"{API}/issue/OPS-7/comment")["body"])
    assert "Resolved by bo@example.com" in comment
    assert "Rolled back the release" in comment
    assert result.message == f"Moved OPS-7 to Closed (transition '{name}'); commented the resolution"


def test_a_transition_the_workflow_lacks_is_refused_naming_the_offered_ones(
    server: PrismServer, site: JiraSite
) -> None:
    with pytest.raises(StepRefused) as refused:
        jira(server, site).resolve(incident(), "Fixed", "bo@example.com")

    site.assert_all_accepted()
    assert site.requests() == [("GET", f"{API}/issue/OPS-7"), ("GET", f"{API}/issue/OPS-7/transitions")]
    assert refused.value.message == (
        "Jira offers no transition named 'Done' for OPS-7; available: 'Close Issue' (to In Progress), "
        "'QA Review' (to Closed). Set `resolveTransition` in the Jira secret to one of them."
    )


def test_reassign_to_an_account_id(server: PrismServer, site: JiraSite) -> None:
    result = jira(server, site).reassign(incident(), EXAMPLE_ACCOUNT_ID, "bo@example.com")

    site.assert_all_accepted()
    assert site.requests() == [("GET", f"{API}/user"), ("PUT", f"{API}/issue/OPS-7/assignee")]
    assert site.sent[0].url.params["accountId"] == EXAMPLE_ACCOUNT_ID
    assert site.body("PUT", f"{API}/issue/OPS-7/assignee") == {"accountId": EXAMPLE_ACCOUNT_ID}
    assert result.assignee == EXAMPLE_ACCOUNT_ID


def test_reassign_to_an_email_address_looks_the_user_up(server: PrismServer, site: JiraSite) -> None:
    site.answers[("GET", f"{API}/user/search")] = [{"accountId": "712020:ann", "displayName": "Ann Lee"}]

    result = jira(server, site).reassign(incident(), "ann@example.com", "bo@example.com")

    site.assert_all_accepted()
    assert site.requests() == [("GET", f"{API}/user/search"), ("PUT", f"{API}/issue/OPS-7/assignee")]
    assert site.sent[0].url.params["query"] == "ann@example.com"
    assert site.body("PUT", f"{API}/issue/OPS-7/assignee") == {"accountId": "712020:ann"}
    assert result.assignee == "ann@example.com"
    assert result.message == "Assigned OPS-7 to ann@example.com"


def test_reassign_refuses_an_email_address_that_finds_several_users(server: PrismServer, site: JiraSite) -> None:
    with pytest.raises(StepRefused) as refused:
        jira(server, site).reassign(incident(), "ann@example.com", "bo@example.com")

    site.assert_all_accepted()
    assert site.requests() == [("GET", f"{API}/user/search")]
    assert ", ".join(EXAMPLE_USERS) in refused.value.message


@pytest.mark.parametrize(
    ("service_field", "update"),
    [
        ("labels", {"labels": [{"add": "service-checkout"}, {"add": "service-payments_api"}]}),
        ("components", {"components": [{"add": {"name": "checkout"}}, {"add": {"name": "payments api"}}]}),
    ],
)
def test_associate_services_adds_labels_or_components(
    server: PrismServer, site: JiraSite, service_field: str, update: dict[str, Any]
) -> None:
    provider = jira(server, site, serviceField=service_field)

    provider.associate_services(incident(), ["checkout", "payments api"], "bo@example.com")

    site.assert_all_accepted()
    assert site.body("PUT", f"{API}/issue/OPS-7") == {"update": update}


def test_escalate_raises_the_priority_assigns_and_comments(server: PrismServer, site: JiraSite) -> None:
    site.answers[("GET", f"{API}/user/search")] = [
        {"accountId": "712020:cy", "displayName": "Cy Park", "emailAddress": "cy@example.com"},
        {"accountId": "712020:cyd", "displayName": "Cyd Park", "emailAddress": "cyd@example.com"},
    ]

    result = jira(server, site).escalate(incident(), EscalationRequest(user="cy@example.com"), "bo@example.com")

    site.assert_all_accepted()
    assert site.requests() == [
        ("PUT", f"{API}/issue/OPS-7"),
        ("GET", f"{API}/user/search"),
        ("PUT", f"{API}/issue/OPS-7/assignee"),
        ("GET", f"{API}/issue/OPS-7/comment"),
        ("POST", f"{API}/issue/OPS-7/comment"),
    ]
    assert site.body("PUT", f"{API}/issue/OPS-7") == {"fields": {"priority": {"name": "Highest"}}}
    assert site.body("PUT", f"{API}/issue/OPS-7/assignee") == {"accountId": "712020:cy"}
    assert result.escalationLevel == 2
    assert result.assignee == "cy@example.com"
    assert result.message == "Escalated OPS-7 to level 2: priority Highest, assigned to cy@example.com"


def test_add_note_comments_in_adf(server: PrismServer, site: JiraSite) -> None:
    jira(server, site).add_note(incident(), "DB failover started\nSee https://status.example.com", "bo@example.com")

    site.assert_all_accepted()
    body = site.body("POST", f"{API}/issue/OPS-7/comment")["body"]
    assert body["type"] == "doc"
    # Who wrote it, the note's two lines, and the mark that lets a retried step find it.
    assert [block["type"] for block in body["content"]] == ["paragraph"] * 4
    assert body["content"][2]["content"][1]["marks"] == [
        {"type": "link", "attrs": {"href": "https://status.example.com"}}
    ]


def test_get_reads_status_and_assignee(server: PrismServer, site: JiraSite) -> None:
    state = jira(server, site).get(incident(status=IncidentStatus.ACKNOWLEDGED))

    site.assert_all_accepted()
    assert site.requests() == [("GET", f"{API}/issue/OPS-7")]
    assert site.sent[0].url.params["fields"] == "status,assignee"
    # The example issue has neither a status nor an assignee: nothing to learn, the known status stays.
    assert state.status is IncidentStatus.ACKNOWLEDGED
    assert state.assignee is None
    assert state.url == f"{server.url}/browse/OPS-7"


@pytest.mark.parametrize(
    ("method", "path", "body", "problem"),
    [
        ("POST", f"{API}/issue/OPS-7/transitions", {"transition": {"id": 2}}, "transition.id must be string"),
        ("POST", f"{API}/issue", {"fields": "oops"}, "fields must be object"),
        ("PUT", f"{API}/issue/OPS-7/assignee", {"accountId": "x", "email": "ann@example.com"}, "additional properties"),
        ("POST", f"{API}/issues", {"fields": {}}, "no such path in the spec"),
    ],
)
def test_a_request_the_spec_rejects_is_flagged(
    server: PrismServer, method: str, path: str, body: Any, problem: str
) -> None:
    transport = ValidatingTransport()
    with httpx.Client(base_url=server.url, transport=transport) as client:
        client.request(method, path, json=body)

    assert len(transport.violations) == 1
    assert problem in json.dumps(transport.violations[0].problems)
