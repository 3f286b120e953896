"""Every request the FireHydrant adapter makes, for every step, matches FireHydrant's own OpenAPI description.

prism serves `firehydrant-api-v1.openapi3.yaml` and flags what it rejects (`ValidatingTransport.violations`).
The description has no examples, so prism answers each schema with placeholders: every string is "string"
(an incident id, a user's email, a role id), every integer -2147483648. The tests check the requests that
were sent, and what the adapter made of those placeholder answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from incident_core.errors import NotFound, ProviderApiError
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest
from incident_core.providers.firehydrant.adapter import FireHydrantProvider, build
from incident_core.providers.registry import ProviderContext
from tests.contract.prism import PrismServer, RecordingTransport, ValidatingTransport
from tests.providers import sample_alert, sample_incident

SPEC = "firehydrant-api-v1.openapi3.yaml"
PLACEHOLDER = "string"  # prism's answer for every string field of this description
FH_ID = "6f2d0b0e-2f6a-4c38-9d7e-0b8c4f1e2a11"
SECRET: dict[str, Any] = {
    "botToken": "fhb-contract-test",
    "commanderRoleId": "role-commander",
    "serviceIds": {"checkout": "svc-checkout", "payments": "svc-payments"},
    "teamIds": {"payments-oncall": "team-payments"},
    "userIds": {"lead@example.com": "user-lead"},
}


ORGANISATION: dict[str, Any] = {
    "/v1/severities": {"data": [{"slug": f"SEV{n}", "position": n} for n in range(1, 6)]},
    "/v1/priorities": {"data": [{"slug": f"P{n}", "position": n} for n in range(1, 5)]},
    "/v1/lifecycles/phases": {
        "data": [
            {"position": 1, "milestones": [{"slug": "started", "position": 1}]},
            {"position": 2, "milestones": [{"slug": "acknowledged", "position": 1}]},
            {"position": 3, "milestones": [{"slug": "resolved", "position": 1}]},
        ]
    },
    f"/v1/incidents/{FH_ID}/events": {"data": []},
}
"""The organisation's vocabulary and the incident's empty timeline, answered in place of prism's placeholders
once prism validated the request (a placeholder is no severity, milestone or note)."""


@dataclass
class Organisation(httpx.BaseTransport):
    inner: httpx.BaseTransport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "GET" and response.is_success and request.url.path in ORGANISATION:
            return httpx.Response(200, json=ORGANISATION[request.url.path], request=request)
        return response


@dataclass
class Served:
    provider: FireHydrantProvider
    validating: ValidatingTransport
    recording: RecordingTransport

    def requests(self) -> list[tuple[str, str]]:
        """What the step did, without reading the organisation's vocabulary."""
        return [(r.method, r.url.path) for r in self.recording.sent if r.url.path not in ORGANISATION]

    @property
    def writes(self) -> list[tuple[str, str, int]]:
        return [answer for answer in self.validating.answered if answer[0] != "GET"]

    def body(self, index: int) -> Any:
        """The body of the `index`th write."""
        return json.loads([r for r in self.recording.sent if r.method != "GET"][index].content)


def _no_notifier() -> Any:
    raise AssertionError("the FireHydrant adapter pages nobody itself")


@pytest.fixture
def serve(prism: Callable[[str], PrismServer]) -> Callable[..., Served]:
    server = prism(SPEC)

    def make(**changes: Any) -> Served:
        validating = ValidatingTransport()
        recording = RecordingTransport(inner=validating)
        secret = {**SECRET, "baseUrl": server.url, **changes}
        context = ProviderContext(
            pager=_no_notifier,
            link=lambda identifier: f"https://app.getport.io/incidentEntity?identifier={identifier}",
            credentials=lambda name: secret if name is ProviderName.FIREHYDRANT else {},
            transport=Organisation(recording),
        )
        return Served(build(context.vendor(ProviderName.FIREHYDRANT)), validating, recording)

    return make


def _incident(**changes: Any) -> Incident:
    fields = {"identifier": "inc-20261127-081500-a1b2c3", "severity": Severity.WARNING, "externalId": FH_ID}
    return sample_incident(ProviderName.FIREHYDRANT, **(fields | changes))


def _alert() -> AlertRecord:
    return sample_alert(externalId="5f1e0c2a9b")


def test_trigger_search_create_and_impact_match_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    result = served.provider.trigger(_incident(), [_alert()])

    assert served.validating.violations == []
    # The search answers one placeholder incident tagged "string", not ours: the adapter opens one.
    assert served.requests() == [
        ("GET", "/v1/incidents"),
        ("POST", "/v1/incidents"),
        ("POST", f"/v1/incidents/{PLACEHOLDER}/impact/services"),
    ]
    assert served.recording.sent[0].url.params["tags"] == "port-inc-20261127-081500-a1b2c3"
    created = served.body(0)
    assert (created["severity"], created["priority"]) == ("SEV3", "P3")
    assert created["tag_list"] == ["port-inc-20261127-081500-a1b2c3", "prometheus-5f1e0c2a9b"]
    assert served.body(1) == {"id": "svc-checkout"}
    assert (result.externalId, result.url) == (PLACEHOLDER, PLACEHOLDER)


def test_trigger_with_impacts_at_creation_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve(impactConditionId="cond-degraded")
    served.provider.trigger(_incident(services=("checkout", "payments")), [_alert()])

    assert served.validating.violations == []
    assert served.requests() == [("GET", "/v1/incidents"), ("POST", "/v1/incidents")]
    assert served.body(0)["impacts"] == [
        {"type": "service", "id": "svc-checkout", "condition_id": "cond-degraded"},
        {"type": "service", "id": "svc-payments", "condition_id": "cond-degraded"},
    ]


def test_acknowledge_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    served.provider.acknowledge(_incident(), "dana@example.com")
    assert served.validating.violations == []
    assert served.writes == [("PATCH", f"/v1/incidents/{FH_ID}/impact", 200)]


def test_add_note_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    served.provider.add_note(_incident(), "Rolled back deploy 4411", "dana@example.com")
    assert served.validating.violations == []
    assert served.writes == [("POST", f"/v1/incidents/{FH_ID}/notes", 201)]
    assert served.recording.sent[0].url.params["types"] == "note,bulk_update,generic_chat_message"


def test_resolve_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    served.provider.resolve(_incident(), "Bad config rolled back", "dana@example.com")
    assert served.validating.violations == []
    assert served.writes == [
        ("POST", f"/v1/incidents/{FH_ID}/notes", 201),
        ("PUT", f"/v1/incidents/{FH_ID}/resolve", 200),
    ]


def test_reassign_to_a_user_matches_the_spec(serve: Callable[..., Served]) -> None:
    # prism lists one active assignment whose role and user ids are both the placeholder; with that
    # placeholder as the commander role, the adapter removes it from the previous holder.
    served = serve(commanderRoleId=PLACEHOLDER)
    result = served.provider.reassign(_incident(), "lead@example.com", "sam@example.com")

    assert served.validating.violations == []
    path = f"/v1/incidents/{FH_ID}/role_assignments"
    assert served.writes == [("POST", path, 201), ("DELETE", f"{path}/{PLACEHOLDER}", 200)]
    assert served.body(0) == {"user_id": "user-lead", "incident_role_id": PLACEHOLDER}
    assert result.assignee == "lead@example.com"


def test_user_lookup_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    with pytest.raises(NotFound, match=r"no user with the email dana@example\.com"):
        served.provider.reassign(_incident(), "dana@example.com", "sam@example.com")  # prism's user is "string"
    assert served.validating.violations == []
    assert served.validating.answered == [("GET", "/v1/users", 200)]


def test_reassign_to_a_team_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    served.provider.reassign(_incident(), "payments-oncall", "sam@example.com")
    assert served.validating.violations == []
    assert served.writes == [("POST", f"/v1/incidents/{FH_ID}/team_assignments", 201)]


def test_associate_services_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve(impactConditionId="cond-degraded")
    served.provider.associate_services(_incident(), ["checkout", "payments"], "sam@example.com")
    assert served.validating.violations == []
    assert served.writes == [
        ("POST", f"/v1/incidents/{FH_ID}/impact/services", 201),
        ("POST", f"/v1/incidents/{FH_ID}/impact/services", 201),
    ]


def test_escalate_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    request = EscalationRequest(level=2, policy="payments-oncall", user="lead@example.com")
    result = served.provider.escalate(_incident(), request, "sam@example.com")

    assert served.validating.violations == []
    assert [write[:2] for write in served.writes] == [
        ("PATCH", f"/v1/incidents/{FH_ID}"),
        ("POST", f"/v1/incidents/{FH_ID}/team_assignments"),
        ("POST", f"/v1/incidents/{FH_ID}/role_assignments"),
    ]
    # The raise starts from our own severity (warning -> SEV3); prism's is a placeholder.
    assert served.body(0) == {"severity": "SEV2"}
    assert result.escalationLevel == 2


def test_get_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    state = served.provider.get(_incident())
    assert served.validating.violations == []
    assert served.validating.answered == [("GET", f"/v1/incidents/{FH_ID}", 200)]
    # The placeholder milestone is no default one; prism's `active: true` reads as being worked on.
    assert state.status is IncidentStatus.ACKNOWLEDGED
    assert state.url == PLACEHOLDER


def test_a_request_the_spec_rejects_is_flagged(serve: Callable[..., Served]) -> None:
    served = serve()
    with pytest.raises(ProviderApiError, match="FireHydrant answered 422"):
        served.provider.http.request("POST", "/v1/incidents", json_body={"summary": "no name"})
    with pytest.raises(ProviderApiError, match="FireHydrant answered 400"):
        served.provider.http.request("POST", f"/v1/incidents/{FH_ID}/impact/widgets", json_body={"id": "w"})
    bad_note = {"body": "note", "visibility": "everyone"}
    with pytest.raises(ProviderApiError, match="FireHydrant answered 422"):
        served.provider.http.request("POST", f"/v1/incidents/{FH_ID}/notes", json_body=bad_note)

    problems = [problem["message"] for violation in served.validating.violations for problem in violation.problems]
    assert len(served.validating.violations) == 3
    assert "Request body must have required property 'name'" in problems
    assert any("path parameter type must be equal to one of the allowed values" in p for p in problems)
    assert any("visibility must be equal to one of the allowed values" in p for p in problems)
