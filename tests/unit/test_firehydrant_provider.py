"""The FireHydrant adapter against an in-process fake of its API (`httpx.MockTransport`).

The fake answers only what each test routes and records every request, so the tests assert on exactly what
the adapter sent: paths, query strings and JSON bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
from incident_core.providers.base import EscalationRequest, ProviderEvent
from incident_core.providers.firehydrant.adapter import FireHydrantProvider, build
from incident_core.providers.firehydrant.credentials import DEFAULT_PRIORITIES as PRIORITY_OF
from incident_core.providers.firehydrant.credentials import DEFAULT_SEVERITIES as SEVERITY_OF
from incident_core.providers.firehydrant.credentials import Credentials
from incident_core.providers.firehydrant.models import STATUS_OF_MILESTONE
from incident_core.providers.firehydrant.webhook import WEBHOOK
from incident_core.providers.registry import ProviderContext
from tests.fakes import FakeClock
from tests.providers import sample_alert, sample_incident

PORT_URL = "https://app.getport.io/incidentEntity?identifier="
FH_ID = "04d9fd1a-ba9c-417d-b396-58a6e2c374de"
COMMANDER_ROLE = "role-commander"
BASE_CREDENTIALS: dict[str, Any] = {
    "botToken": "fhb-test-token",
    "commanderRoleId": COMMANDER_ROLE,
    "serviceIds": {"checkout": "svc-checkout", "payments": "svc-payments"},
    "teamIds": {"payments-oncall": "team-payments"},
}

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


ORGANISATION: dict[str, Any] = {
    "/v1/severities": {"data": [{"slug": f"SEV{n}", "position": n} for n in range(1, 6)]},
    "/v1/priorities": {"data": [{"slug": f"P{n}", "position": n} for n in range(1, 5)]},
    "/v1/lifecycles/phases": {
        "data": [
            {"position": 1, "milestones": [{"slug": "started", "position": 1}, {"slug": "detected", "position": 2}]},
            {
                "position": 2,
                "milestones": [
                    {"slug": "acknowledged", "position": 1},
                    {"slug": "investigating", "position": 2},
                    {"slug": "triaged", "position": 3},
                ],
            },
            {"position": 3, "milestones": [{"slug": "resolved", "position": 1}, {"slug": "closed", "position": 2}]},
        ]
    },
    "/v1/teams": {"data": [{"id": "team-db", "name": "Database"}]},
}
"""The organisation's vocabulary, answered unless a test routes otherwise (its default severities and
priorities; a lifecycle with a custom `triaged` milestone)."""


@dataclass
class FakeFireHydrant:
    """Routes (method, path) to queued answers; an unrouted request fails the test with a 599 and a note.

    Unrouted, the organisation's vocabulary is listed, an incident has no timeline events yet, and the
    incident reads as just started.
    """

    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes.setdefault((method, path), []).extend(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if queue:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return answer(request) if callable(answer) else answer
        if request.method == "GET" and request.url.path in ORGANISATION:
            return httpx.Response(200, json=ORGANISATION[request.url.path])
        if request.method == "GET" and request.url.path == f"/v1/incidents/{FH_ID}/events":
            return httpx.Response(200, json={"data": []})
        if request.method == "GET" and request.url.path == f"/v1/incidents/{FH_ID}":
            return httpx.Response(200, json=_entity(current_milestone="started"))
        return httpx.Response(599, json={"detail": f"unrouted {request.method} {request.url.path}"})

    def sent(self) -> list[tuple[str, str]]:
        """What the step did, without reading the organisation's vocabulary."""
        return [(r.method, r.url.path) for r in self.requests if r.url.path not in ORGANISATION]

    def writes(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests if r.method != "GET"]

    def body(self, index: int) -> Any:
        """The body of the `index`th write."""
        return json.loads([r for r in self.requests if r.method != "GET"][index].content)


def _context(fake: FakeFireHydrant, credentials: Mapping[str, Any] | None = None) -> ProviderContext:
    def no_notifier() -> Any:
        raise AssertionError("the FireHydrant adapter pages nobody itself")

    secret = dict(BASE_CREDENTIALS if credentials is None else credentials)
    return ProviderContext(
        pager=no_notifier,
        link=lambda identifier: f"{PORT_URL}{identifier}",
        credentials=lambda name: secret if name is ProviderName.FIREHYDRANT else {},
        transport=httpx.MockTransport(fake.handle),
    )


def _provider(
    fake: FakeFireHydrant, credentials: Mapping[str, Any] | None = None, clock: FakeClock | None = None
) -> FireHydrantProvider:
    provider = build(_context(fake, credentials).vendor(ProviderName.FIREHYDRANT))
    clock = clock or FakeClock()
    provider.http.clock = clock
    provider.http.sleep = clock.sleep
    return provider


def _incident(**changes: Any) -> Incident:
    fields = {
        "title": "Checkout error rate above 5%",
        "description": "",
        "services": ("checkout", "search"),
        "externalId": FH_ID,
    }
    return sample_incident(ProviderName.FIREHYDRANT, **(fields | changes))


def _alert() -> AlertRecord:
    return sample_alert(
        externalId="5f1e0c2a9b",
        title="HighErrorRate",
        description="Error rate 7.2% on checkout\nSource: https://prometheus.example/graph?g0.expr=rate",
    )


def _entity(**fields: Any) -> dict[str, Any]:
    return {"id": FH_ID, "number": 602, "incident_url": f"https://app.firehydrant.io/incidents/{FH_ID}", **fields}


EMPTY_PAGE = httpx.Response(200, json={"data": [], "pagination": {"count": 0}})


# Mapping tables


@pytest.mark.parametrize(
    ("severity", "fh_severity", "priority"),
    [
        (Severity.CRITICAL, "SEV1", "P1"),
        (Severity.HIGH, "SEV2", "P2"),
        (Severity.WARNING, "SEV3", "P3"),
        (Severity.INFO, "SEV4", "P4"),
    ],
)
def test_our_severity_maps_to_firehydrant_severity_and_priority(
    severity: Severity, fh_severity: str, priority: str
) -> None:
    assert SEVERITY_OF[severity] == fh_severity
    assert PRIORITY_OF[severity] == priority


def test_every_severity_has_a_mapping() -> None:
    assert set(SEVERITY_OF) == set(Severity) == set(PRIORITY_OF)


@pytest.mark.parametrize(
    ("milestone", "status"),
    [
        ("started", IncidentStatus.TRIGGERED),
        ("detected", IncidentStatus.TRIGGERED),
        ("acknowledged", IncidentStatus.ACKNOWLEDGED),
        ("investigating", IncidentStatus.ACKNOWLEDGED),
        ("identified", IncidentStatus.ACKNOWLEDGED),
        ("mitigated", IncidentStatus.ACKNOWLEDGED),
        ("resolved", IncidentStatus.RESOLVED),
        ("retrospective_started", IncidentStatus.RESOLVED),
        ("retrospective_completed", IncidentStatus.RESOLVED),
        ("closed", IncidentStatus.RESOLVED),
    ],
)
def test_default_milestones_map_to_our_status(milestone: str, status: IncidentStatus) -> None:
    assert STATUS_OF_MILESTONE[milestone] is status


# Credentials and connection


def test_missing_bot_token_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="firehydrant credentials are incomplete: botToken"):
        build(_context(FakeFireHydrant(), {"serviceIds": {}}).vendor(ProviderName.FIREHYDRANT))


def test_a_misspelt_key_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="serviceIDs"):
        build(_context(FakeFireHydrant(), {"botToken": "fhb-x", "serviceIDs": {}}).vendor(ProviderName.FIREHYDRANT))


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="region"):
        build(_context(FakeFireHydrant(), {"botToken": "fhb-x", "region": "apac"}).vendor(ProviderName.FIREHYDRANT))


@pytest.mark.parametrize(
    ("settings", "base_url"),
    [
        ({}, "https://api.firehydrant.io"),
        ({"region": "eu"}, "https://api.eu.firehydrant.io"),
        ({"baseUrl": "https://firehydrant.internal.example/v1/"}, "https://firehydrant.internal.example"),
        ({"region": "eu", "baseUrl": "http://127.0.0.1:4010"}, "http://127.0.0.1:4010"),
    ],
)
def test_region_and_self_hosted_base_url(settings: dict[str, Any], base_url: str) -> None:
    assert Credentials.model_validate({"botToken": "fhb-x", **settings}).api_base_url == base_url
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(current_milestone="started")))
    _provider(fake, {"botToken": "fhb-x", **settings}).get(_incident())
    assert str(fake.requests[0].url) == f"{base_url}/v1/incidents/{FH_ID}"


@pytest.mark.parametrize("token", ["fhb-test-token", "Bearer fhb-test-token"])
def test_requests_carry_the_bot_token_as_bearer(token: str) -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(current_milestone="started")))
    _provider(fake, {**BASE_CREDENTIALS, "botToken": token}).get(_incident())
    assert fake.requests[0].headers["authorization"] == "Bearer fhb-test-token"


def test_the_token_stays_out_of_the_credentials_repr() -> None:
    assert "fhb-test-token" not in repr(Credentials.model_validate(BASE_CREDENTIALS))


# Trigger


def test_trigger_searches_by_tag_then_opens_with_the_alert_context() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/incidents", EMPTY_PAGE)
    fake.on("POST", "/v1/incidents", httpx.Response(201, json=_entity(current_milestone="started")))
    fake.on("POST", f"/v1/incidents/{FH_ID}/impact/services", httpx.Response(201, json={"id": "impact-1"}))
    incident = _incident()

    result = _provider(fake).trigger(incident, [_alert()])

    assert fake.sent() == [
        ("GET", "/v1/incidents"),
        ("POST", "/v1/incidents"),
        ("POST", f"/v1/incidents/{FH_ID}/impact/services"),
    ]
    search = fake.requests[0].url.params
    assert search["tags"] == f"port-{incident.identifier}"
    assert search["tag_match_strategy"] == "match_all"
    body = fake.body(0)
    assert body["name"] == "Checkout error rate above 5%"
    assert (body["severity"], body["priority"]) == ("SEV1", "P1")
    assert body["summary"] == "Error rate 7.2% on checkout\nSource: https://prometheus.example/graph?g0.expr=rate"
    assert body["tag_list"] == [f"port-{incident.identifier}", "prometheus-5f1e0c2a9b"]
    assert body["labels"] == {"port_incident": incident.identifier, "port_url": f"{PORT_URL}{incident.identifier}"}
    description = body["description"]
    assert f"Port incident {incident.identifier}: {PORT_URL}{incident.identifier}" in description
    assert "Severity: critical" in description
    assert "Services: checkout, search" in description
    assert "Alert: HighErrorRate" in description
    assert "Prometheus, severity critical, status open" in description
    assert "Dedup key: prometheus-5f1e0c2a9b" in description
    assert "https://prometheus.example/graph?g0.expr=rate" in description
    assert "impacts" not in body  # no severity-matrix condition configured: added one by one below
    assert fake.body(1) == {"id": "svc-checkout"}
    assert result.externalId == FH_ID
    assert result.url == f"https://app.firehydrant.io/incidents/{FH_ID}"
    assert result.providerData == {"incidentNumber": 602}
    assert result.message == (
        "Opened FireHydrant incident #602 (SEV1, P1); impacted checkout; "
        "not in FireHydrant (no serviceIds entry): search"
    )


def test_trigger_names_impacts_at_creation_when_a_condition_is_configured() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/incidents", EMPTY_PAGE)
    fake.on("POST", "/v1/incidents", httpx.Response(201, json=_entity()))
    provider = _provider(fake, {**BASE_CREDENTIALS, "impactConditionId": "cond-degraded"})

    provider.trigger(_incident(services=("checkout", "payments"), severity=Severity.WARNING), [])

    assert fake.sent() == [("GET", "/v1/incidents"), ("POST", "/v1/incidents")]
    body = fake.body(0)
    assert body["impacts"] == [
        {"type": "service", "id": "svc-checkout", "condition_id": "cond-degraded"},
        {"type": "service", "id": "svc-payments", "condition_id": "cond-degraded"},
    ]
    assert (body["severity"], body["priority"]) == ("SEV3", "P3")
    assert body["summary"] == "Checkout error rate above 5%"  # no description anywhere: the title stands in


def test_a_retried_trigger_finds_its_incident_instead_of_opening_another() -> None:
    incident = _incident()
    tag = f"port-{incident.identifier}"
    found = _entity(tag_list=[tag], services=[{"id": "svc-checkout", "name": "checkout"}])
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/incidents", httpx.Response(200, json={"data": [found]}))

    result = _provider(fake).trigger(incident, [_alert()])

    assert fake.sent() == [("GET", "/v1/incidents")]  # already impacts checkout: nothing to add
    assert result.externalId == FH_ID
    assert result.message.startswith("Found FireHydrant incident #602 opened by an earlier attempt")


def test_a_search_answer_without_our_exact_tag_is_not_taken_for_ours() -> None:
    other = _entity(id="someone-elses", tag_list=["port-inc-2026"])
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/incidents", httpx.Response(200, json={"data": [other]}))
    fake.on("POST", "/v1/incidents", httpx.Response(201, json=_entity()))
    fake.on("POST", f"/v1/incidents/{FH_ID}/impact/services", httpx.Response(201, json={}))

    result = _provider(fake).trigger(_incident(), [])

    assert ("POST", "/v1/incidents") in fake.sent()
    assert result.externalId == FH_ID


def test_an_answer_without_an_id_is_a_retryable_failure() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/incidents", EMPTY_PAGE)
    fake.on("POST", "/v1/incidents", httpx.Response(201, json={"name": "x"}))
    with pytest.raises(ProviderApiError, match="without an incident id") as caught:
        _provider(fake).trigger(_incident(services=()), [])
    assert caught.value.retryable


# Milestones and notes


MARK = "[port:inc-20261127-100000-a1b2c3:{}:1]"


def test_acknowledge_moves_to_the_acknowledged_milestone_with_a_note() -> None:
    fake = FakeFireHydrant()
    fake.on("PATCH", f"/v1/incidents/{FH_ID}/impact", httpx.Response(200, json=_entity()))
    result = _provider(fake).acknowledge(_incident(), "dana@example.com")
    assert fake.writes() == [("PATCH", f"/v1/incidents/{FH_ID}/impact")]
    note = f"Acknowledged by dana@example.com (from Port).\n\n{MARK.format('acknowledged')}"
    assert fake.body(0) == {"milestone": "acknowledged", "note": note}
    assert result.message == "Moved the FireHydrant incident to the acknowledged milestone"


def test_acknowledge_uses_the_organizations_own_milestone_slug() -> None:
    fake = FakeFireHydrant()
    fake.on("PATCH", f"/v1/incidents/{FH_ID}/impact", httpx.Response(200, json=_entity()))
    _provider(fake, {**BASE_CREDENTIALS, "acknowledgedMilestone": "triaged"}).acknowledge(_incident(), "dana")
    assert fake.body(0)["milestone"] == "triaged"


def test_acknowledge_never_moves_an_incident_back_from_a_later_milestone() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(current_milestone="investigating")))

    result = _provider(fake).acknowledge(_incident(), "dana")

    assert fake.writes() == []
    assert result.message == "The FireHydrant incident is already at investigating, past acknowledged"


def test_a_milestone_the_organisation_does_not_have_is_named_with_the_secret() -> None:
    fake = FakeFireHydrant()
    provider = _provider(fake, {**BASE_CREDENTIALS, "acknowledgedMilestone": "ack"})
    provider.http.credentials_in = "the secret acme/firehydrant"

    with pytest.raises(ConfigurationError) as caught:
        provider.acknowledge(_incident(), "dana")

    assert caught.value.message == (
        "acknowledgedMilestone in the secret acme/firehydrant is 'ack', which is not a milestone of this "
        "FireHydrant organisation; it has: started, detected, acknowledged, investigating, triaged, resolved, closed"
    )
    assert fake.writes() == []


def test_add_note_posts_to_the_timeline_privately_with_its_mark() -> None:
    fake = FakeFireHydrant()
    fake.on("POST", f"/v1/incidents/{FH_ID}/notes", httpx.Response(201, json={"id": "note-1"}))
    _provider(fake).add_note(_incident(), "Rolled back deploy 4411", "dana@example.com")
    assert fake.body(0) == {
        "body": f"Rolled back deploy 4411\n\n— dana@example.com (from Port)\n\n{MARK.format('note')}",
        "visibility": "private_to_org",
    }


def test_a_note_an_earlier_attempt_posted_is_not_posted_again() -> None:
    fake = FakeFireHydrant()
    posted = {"type": "bulk_update", "data": {"note": {"body": f"Rolled back\n\n{MARK.format('note')}"}}}
    fake.on("GET", f"/v1/incidents/{FH_ID}/events", httpx.Response(200, json={"data": [posted]}))

    result = _provider(fake).add_note(_incident(), "Rolled back", "dana@example.com")

    assert fake.writes() == []
    assert result.message == "The note was already on the FireHydrant timeline"


def test_resolve_writes_the_resolution_then_resolves() -> None:
    fake = FakeFireHydrant()
    fake.on("POST", f"/v1/incidents/{FH_ID}/notes", httpx.Response(201, json={"id": "note-1"}))
    fake.on("PUT", f"/v1/incidents/{FH_ID}/resolve", httpx.Response(200, json=_entity()))
    _provider(fake).resolve(_incident(), "Bad config rolled back", "dana@example.com")
    assert fake.writes() == [("POST", f"/v1/incidents/{FH_ID}/notes"), ("PUT", f"/v1/incidents/{FH_ID}/resolve")]
    assert fake.body(0)["body"] == (
        f"Resolved by dana@example.com (from Port): Bad config rolled back\n\n{MARK.format('resolved')}"
    )
    assert fake.body(1) == {"milestone": "resolved"}


def test_resolving_a_resolved_incident_is_done_not_refused() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(current_milestone="closed")))
    fake.on("POST", f"/v1/incidents/{FH_ID}/notes", httpx.Response(201, json={"id": "note-1"}))

    result = _provider(fake).resolve(_incident(), "fixed", "dana")

    assert ("PUT", f"/v1/incidents/{FH_ID}/resolve") not in fake.writes()
    assert result.message == "The FireHydrant incident was already closed; noted the resolution"


def test_a_step_before_the_incident_reached_firehydrant_is_refused() -> None:
    fake = FakeFireHydrant()
    with pytest.raises(StepRefused, match="has no FireHydrant incident yet"):
        _provider(fake).acknowledge(_incident(externalId=None), "dana")
    assert fake.requests == []


# People and teams


def _assignment(assignment_id: str, role_id: str, user_id: str, email: str) -> dict[str, Any]:
    return {
        "id": assignment_id,
        "status": "active",
        "incident_role": {"id": role_id, "name": "Commander" if role_id == COMMANDER_ROLE else "Scribe"},
        "user": {"id": user_id, "email": email, "name": email.split("@")[0]},
    }


def test_reassign_hands_the_commander_role_to_the_user_found_by_email() -> None:
    fake = FakeFireHydrant()
    users = [{"id": "u-danae", "email": "danae@example.com"}, {"id": "u-dana", "email": "Dana@Example.com"}]
    fake.on("GET", "/v1/users", httpx.Response(200, json={"data": users}))
    path = f"/v1/incidents/{FH_ID}/role_assignments"
    fake.on("POST", path, httpx.Response(201, json={"id": "ra-new"}))
    before = [
        _assignment("ra-old", COMMANDER_ROLE, "u-sam", "sam@example.com"),
        _assignment("ra-scribe", "role-scribe", "u-lee", "lee@example.com"),
    ]
    after = [*before, _assignment("ra-new", COMMANDER_ROLE, "u-dana", "dana@example.com")]
    fake.on("GET", path, httpx.Response(200, json={"data": before}), httpx.Response(200, json={"data": after}))
    fake.on("DELETE", f"{path}/ra-old", httpx.Response(200, json={}))

    result = _provider(fake).reassign(_incident(), "dana@example.com", "sam@example.com")

    assert fake.writes() == [("POST", path), ("DELETE", f"{path}/ra-old")]
    assert fake.requests[0].url.params["query"] == "dana@example.com"
    assert fake.body(0) == {"user_id": "u-dana", "incident_role_id": COMMANDER_ROLE}
    assert all(r.url.params["status"] == "active" for r in fake.requests if (r.method, r.url.path) == ("GET", path))
    assert result.assignee == "dana@example.com"


def test_reassign_uses_the_mapped_user_id_without_a_lookup() -> None:
    fake = FakeFireHydrant()
    path = f"/v1/incidents/{FH_ID}/role_assignments"
    fake.on("POST", path, httpx.Response(201, json={}))
    fake.on("GET", path, httpx.Response(200, json={"data": []}))
    provider = _provider(fake, {**BASE_CREDENTIALS, "userIds": {"dana@corp.example": "u-dana"}})
    provider.reassign(_incident(), "dana@corp.example", "sam")
    assert ("GET", "/v1/users") not in fake.sent()
    assert fake.writes() == [("POST", path)]
    assert fake.body(0)["user_id"] == "u-dana"


def test_reassign_to_a_mapped_team_assigns_the_team() -> None:
    fake = FakeFireHydrant()
    fake.on("POST", f"/v1/incidents/{FH_ID}/team_assignments", httpx.Response(201))
    result = _provider(fake).reassign(_incident(), "payments-oncall", "sam")
    assert fake.body(0) == {"team_id": "team-payments"}
    assert result.assignee == "payments-oncall"


def test_a_team_not_in_team_ids_is_found_by_name_or_named_as_unknown() -> None:
    fake = FakeFireHydrant()
    fake.on("POST", f"/v1/incidents/{FH_ID}/team_assignments", httpx.Response(201))
    provider = _provider(fake)

    provider.escalate(_incident(escalationLevel=2), EscalationRequest(level=2, policy="Database"), "sam")
    with pytest.raises(NotFound, match="FireHydrant has no team named Billing"):
        provider.escalate(_incident(escalationLevel=2), EscalationRequest(level=2, policy="Billing"), "sam")

    assert fake.body(0) == {"team_id": "team-db"}
    assert fake.writes() == [("POST", f"/v1/incidents/{FH_ID}/team_assignments")]


def test_reassign_to_someone_firehydrant_does_not_know_says_so() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/users", httpx.Response(200, json={"data": [{"id": "u-x", "email": "other@example.com"}]}))
    with pytest.raises(NotFound) as caught:
        _provider(fake).reassign(_incident(), "nobody@example.com", "sam")
    assert caught.value.message == (
        "FireHydrant has no user with the email nobody@example.com; invite them, or map them in the secret's userIds"
    )
    assert fake.sent() == [("GET", "/v1/users")]


def test_reassign_to_a_person_needs_the_commander_role_id() -> None:
    fake = FakeFireHydrant()
    credentials = {k: v for k, v in BASE_CREDENTIALS.items() if k != "commanderRoleId"}
    with pytest.raises(ConfigurationError, match="commanderRoleId"):
        _provider(fake, credentials).reassign(_incident(), "dana@example.com", "sam")
    assert fake.requests == []


# Escalation


def test_escalate_raises_the_severity_one_step_per_level() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(severity="SEV3")))
    fake.on("PATCH", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(severity="SEV2")))
    incident = _incident(escalationLevel=1, severity=Severity.WARNING)
    result = _provider(fake).escalate(incident, EscalationRequest(), "sam")
    assert fake.body(0) == {"severity": "SEV2"}
    assert result.escalationLevel == 2
    assert result.message == "Escalated to level 2 in FireHydrant: raised the severity from SEV3 to SEV2"


def test_a_repeated_escalation_finds_the_severity_raised_and_raises_it_no_further() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(severity="SEV2")))
    incident = _incident(escalationLevel=1, severity=Severity.WARNING)
    result = _provider(fake).escalate(incident, EscalationRequest(), "sam")
    assert fake.writes() == []
    assert result.message == "Escalated to level 2 in FireHydrant: the severity is already SEV2"


def test_escalate_to_a_policy_and_user_assigns_the_team_and_hands_command() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(severity="SEV4")))
    fake.on("PATCH", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity()))
    fake.on("POST", f"/v1/incidents/{FH_ID}/team_assignments", httpx.Response(201))
    path = f"/v1/incidents/{FH_ID}/role_assignments"
    fake.on("POST", path, httpx.Response(201, json={}))
    fake.on("GET", path, httpx.Response(200, json={"data": []}))
    provider = _provider(fake, {**BASE_CREDENTIALS, "userIds": {"lead@example.com": "u-lead"}})

    request = EscalationRequest(level=3, policy="payments-oncall", user="lead@example.com")
    result = provider.escalate(_incident(escalationLevel=1, severity=Severity.INFO), request, "sam")

    assert fake.body(0) == {"severity": "SEV2"}  # two levels up from SEV4
    assert fake.body(1) == {"team_id": "team-payments"}
    assert fake.body(2) == {"user_id": "u-lead", "incident_role_id": COMMANDER_ROLE}
    assert (result.escalationLevel, result.escalationPolicy, result.assignee) == (
        3,
        "payments-oncall",
        "lead@example.com",
    )


def test_escalate_to_an_unknown_user_changes_nothing_in_firehydrant() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/users", httpx.Response(200, json={"data": []}))
    with pytest.raises(NotFound, match="no user with the email"):
        _provider(fake).escalate(_incident(), EscalationRequest(user="nobody@example.com"), "sam")
    assert fake.sent() == [("GET", "/v1/users")]  # no severity raised before the refusal


def test_escalate_falls_back_to_our_severity_when_firehydrants_is_not_on_the_ladder() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(severity="GAMEDAY")))
    fake.on("PATCH", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity()))
    _provider(fake).escalate(_incident(severity=Severity.HIGH), EscalationRequest(), "sam")
    assert fake.body(0) == {"severity": "SEV1"}


def test_escalating_past_the_highest_severity_is_unsupported_with_its_reason() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(severity="SEV1")))
    with pytest.raises(Unsupported) as caught:
        _provider(fake).escalate(_incident(), EscalationRequest(), "sam")
    assert caught.value.message == (
        "FireHydrant has no escalation levels and the incident is already at SEV1, its highest severity; "
        "escalate to a team (policy) or a user instead."
    )
    assert fake.writes() == []


def test_escalating_to_a_lower_level_is_unsupported_with_its_reason() -> None:
    fake = FakeFireHydrant()
    with pytest.raises(Unsupported, match="level 1 would lower its severity"):
        _provider(fake).escalate(_incident(escalationLevel=2), EscalationRequest(level=1), "sam")
    assert fake.requests == []


# Services


def test_associate_services_adds_only_what_is_not_impacted_yet() -> None:
    fake = FakeFireHydrant()
    impacts = [{"type": "service", "impact": {"id": "svc-checkout", "name": "checkout"}}]
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=_entity(impacts=impacts)))
    fake.on("POST", f"/v1/incidents/{FH_ID}/impact/services", httpx.Response(201, json={}))
    provider = _provider(fake, {**BASE_CREDENTIALS, "impactConditionId": "cond-outage"})

    result = provider.associate_services(_incident(), ["checkout", "payments", "search"], "sam")

    assert fake.writes() == [("POST", f"/v1/incidents/{FH_ID}/impact/services")]
    assert fake.body(0) == {"id": "svc-payments", "condition_id": "cond-outage"}
    assert result.message == (
        "FireHydrant impact: added payments; already impacted: checkout; "
        "not in FireHydrant (no serviceIds entry): search"
    )


def test_associate_services_unknown_to_firehydrant_only_records_them_in_port() -> None:
    fake = FakeFireHydrant()
    result = _provider(fake).associate_services(_incident(), ["search"], "sam")
    assert fake.requests == []
    assert result.message == "Not linked in FireHydrant: no serviceIds entry for search; recorded in Port"


# Reading back


def test_get_reads_the_milestone_commander_and_url() -> None:
    fake = FakeFireHydrant()
    assignments = [
        _assignment("ra-1", "role-scribe", "u-lee", "lee@example.com"),
        _assignment("ra-2", COMMANDER_ROLE, "u-dana", "dana@example.com"),
    ]
    entity = _entity(current_milestone="mitigated", role_assignments=assignments)
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=entity))
    state = _provider(fake).get(_incident())
    assert state.status is IncidentStatus.ACKNOWLEDGED
    assert state.assignee == "dana@example.com"
    assert state.url == f"https://app.firehydrant.io/incidents/{FH_ID}"


@pytest.mark.parametrize(("active", "status"), [(True, IncidentStatus.ACKNOWLEDGED), (False, IncidentStatus.RESOLVED)])
def test_get_reads_a_custom_milestone_through_the_active_flag(active: bool, status: IncidentStatus) -> None:
    fake = FakeFireHydrant()
    entity = _entity(current_milestone="customer_comms_sent", active=active)
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(200, json=entity))
    assert _provider(fake).get(_incident()).status is status


# Retries and errors


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    fake = FakeFireHydrant()
    limited = httpx.Response(429, headers={"Retry-After": "7", "RateLimit-Limit": "50"}, json={"error": "x"})
    fake.on("GET", f"/v1/incidents/{FH_ID}", limited, httpx.Response(200, json=_entity()))
    clock = FakeClock()
    _provider(fake, clock=clock).get(_incident())
    assert clock.sleeps == [7.0]
    assert len(fake.requests) == 2


def test_a_5xx_is_retried_then_succeeds() -> None:
    fake = FakeFireHydrant()
    fake.on(
        "GET", f"/v1/incidents/{FH_ID}", httpx.Response(502, text="Bad Gateway"), httpx.Response(200, json=_entity())
    )
    clock = FakeClock()
    _provider(fake, clock=clock).get(_incident())
    assert len(fake.requests) == 2
    assert len(clock.sleeps) == 1


def test_a_note_sent_again_after_a_5xx_is_looked_for_first() -> None:
    fake = FakeFireHydrant()
    fake.on("POST", f"/v1/incidents/{FH_ID}/notes", httpx.Response(502, text="Bad Gateway"), httpx.Response(201))
    clock = FakeClock()
    _provider(fake, clock=clock).add_note(_incident(), "still on it", "dana")
    assert fake.sent() == [("GET", f"/v1/incidents/{FH_ID}/events"), ("POST", f"/v1/incidents/{FH_ID}/notes")] * 2


def test_a_lasting_5xx_stops_at_the_retry_bound_and_says_so() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(503, json={"detail": "maintenance"}))
    clock = FakeClock()
    with pytest.raises(ProviderApiError, match="FireHydrant answered 503 after 4 attempts") as caught:
        _provider(fake, clock=clock).get(_incident())
    assert caught.value.retryable
    assert len(fake.requests) == 4
    assert len(clock.sleeps) == 3


def test_a_4xx_carries_firehydrants_own_words_and_is_not_retried() -> None:
    fake = FakeFireHydrant()
    refusal = {"detail": "Validation failed", "messages": ["Milestone is not valid"], "code": "validation_error"}
    fake.on("PUT", f"/v1/incidents/{FH_ID}/resolve", httpx.Response(422, json=refusal))
    fake.on("POST", f"/v1/incidents/{FH_ID}/notes", httpx.Response(201))
    with pytest.raises(ProviderApiError) as caught:
        _provider(fake).resolve(_incident(), "fixed", "dana")
    assert caught.value.message == (
        "FireHydrant answered 422: Validation failed; Milestone is not valid (validation_error)"
    )
    assert caught.value.status_code == 422
    assert not caught.value.retryable
    assert fake.sent().count(("PUT", f"/v1/incidents/{FH_ID}/resolve")) == 1


def test_the_rate_limit_body_is_the_message_when_retries_run_out() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", f"/v1/incidents/{FH_ID}", httpx.Response(429, json={"error": "rate limit exceeded"}))
    with pytest.raises(ProviderApiError, match="rate limit exceeded"):
        _provider(fake).get(_incident())


# Webhooks

WEBHOOK_SECRET = "whsec-firehydrant"
NOW = datetime(2026, 11, 27, 8, 20, tzinfo=UTC)

# Shape of docs.firehydrant.com/docs/webhooks "Incident Event Payload" (trimmed), plus a role assignment in
# the API's `Incidents_RoleAssignmentEntity` shape.
INCIDENT_EVENT: dict[str, Any] = {
    "data": {
        "incident": {
            "id": FH_ID,
            "name": "Hark I hear an incident subscription webhook",
            "number": 602,
            "current_milestone": "resolved",
            "milestones": [
                {"type": "started", "updated_by_id": "2af3339f", "occurred_at": "2023-07-25 13:34:49 UTC"},
                {"type": "resolved", "updated_by_id": "7c01d2aa", "occurred_at": "2023-07-25 13:38:17 UTC"},
            ],
            "role_assignments": [],
            "severity": {"slug": "SEV2", "type": "unexpected_downtime"},
            "priority": {"slug": "P3", "description": ""},
            "updated_at": "2023-07-25 13:38:17 UTC",
        }
    },
    "event": {"operation": "UPDATED", "resource_type": "incident"},
}


def _sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_genuine_signature_verifies() -> None:
    body = json.dumps(INCIDENT_EVENT).encode()
    WEBHOOK.verify({"fh-signature": _sign(body)}, body, WEBHOOK_SECRET, now=NOW)
    WEBHOOK.verify({"fh-signature": _sign(body).upper()}, body, WEBHOOK_SECRET, now=NOW)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"fh-signature": _sign(b"{}", "someone-elses-secret")}, "does not match"),
        ({"fh-signature": "deadbeef"}, "does not match"),
        ({"x-signature": _sign(b"{}")}, "no fh-signature header"),
        ({}, "no fh-signature header"),
    ],
)
def test_forged_or_missing_signatures_are_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason):
        WEBHOOK.verify(headers, b"{}", WEBHOOK_SECRET, now=NOW)


def test_a_tampered_body_is_refused() -> None:
    body = json.dumps(INCIDENT_EVENT).encode()
    tampered = body.replace(b'"resolved"', b'"started"', 1)
    with pytest.raises(AuthenticationError, match="does not match"):
        WEBHOOK.verify({"fh-signature": _sign(body)}, tampered, WEBHOOK_SECRET, now=NOW)


def test_without_a_configured_secret_every_request_is_refused() -> None:
    body = b"{}"
    with pytest.raises(AuthenticationError, match="no FireHydrant webhook secret"):
        WEBHOOK.verify({"fh-signature": _sign(body, "")}, body, "", now=NOW)


def test_an_incident_event_maps_to_a_provider_event() -> None:
    assert WEBHOOK.events(INCIDENT_EVENT) == [
        ProviderEvent(
            externalId=FH_ID,
            status=IncidentStatus.RESOLVED,
            assignee=None,
            actor="FireHydrant user 7c01d2aa",
            at="2023-07-25T13:38:17.000Z",
        )
    ]


def test_an_acknowledged_event_names_the_commander_and_who_moved_the_milestone() -> None:
    incident = {
        **INCIDENT_EVENT["data"]["incident"],
        "current_milestone": "acknowledged",
        "milestones": [{"type": "acknowledged", "updated_by_id": "u-dana"}],
        "role_assignments": [
            _assignment("ra-1", "role-scribe", "u-lee", "lee@example.com"),
            _assignment("ra-2", COMMANDER_ROLE, "u-dana", "dana@example.com"),
        ],
    }
    [event] = WEBHOOK.events({**INCIDENT_EVENT, "data": {"incident": incident}})
    assert (event.status, event.assignee, event.actor) == (
        IncidentStatus.ACKNOWLEDGED,
        "dana@example.com",
        "dana@example.com",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {
            "data": {"alert": {"id": "a1", "status": "opened"}},
            "event": {"operation": "CREATED", "resource_type": "signals_alerts"},
        },
        {"data": {"id": "c1"}, "event": {"operation": "updated", "resource_type": "change_event"}},
        {**INCIDENT_EVENT, "data": {"incident": {**INCIDENT_EVENT["data"]["incident"], "current_milestone": "x"}}},
        {"event": {"resource_type": "incident"}, "data": {"incident": {"current_milestone": "resolved"}}},
        ["not", "an", "object"],
    ],
)
def test_events_that_change_nothing_we_track_map_to_nothing(payload: Any) -> None:
    assert WEBHOOK.events(payload) == []


def test_severities_and_priorities_are_the_organisations_own_and_checked_once() -> None:
    fake = FakeFireHydrant()
    fake.on("GET", "/v1/incidents", EMPTY_PAGE)
    fake.on("POST", "/v1/incidents", httpx.Response(201, json=_entity()))
    custom = {**BASE_CREDENTIALS, "severities": {"critical": "SEV5"}, "priorities": {"critical": "URGENT"}}
    provider = _provider(fake, custom)
    provider.http.credentials_in = "the secret acme/firehydrant"

    with pytest.raises(ConfigurationError) as caught:
        provider.trigger(_incident(services=()), [])

    assert caught.value.message == (
        "priorities.critical in the secret acme/firehydrant is 'URGENT', which is not one of this FireHydrant "
        "organisation's priorities; it has: P1, P2, P3, P4"
    )
    assert fake.writes() == []
    _provider(fake, {**custom, "priorities": {}}).trigger(_incident(services=()), [])
    assert (fake.body(0)["severity"], fake.body(0)["priority"]) == ("SEV5", "P1")
