"""Every request the incident.io adapter makes, for every step, matches incident.io's own OpenAPI description.

prism serves the description and flags what it rejects (`ValidatingTransport.violations`); its answers are the
spec's static examples, so the tests check the requests that were sent and what the adapter made of the
example answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from incident_core.errors import ConfigurationError, ProviderApiError, Unsupported
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest, ProviderState
from incident_core.providers.incidentio.adapter import IncidentIoProvider, build
from incident_core.providers.registry import ProviderContext
from tests.contract.prism import PrismServer, RecordingTransport, ValidatingTransport
from tests.providers import sample_alert, sample_incident

SPEC = "incidentio-public-v3-incl-secret-endpoints.openapi3.json"
EXAMPLE_INCIDENT_ID = "01FDAG4SAP5TYPT98WGR2N7W91"  # the spec's example incident
EXAMPLE_RECORD_ID = "01FCNDV6P870EA6S7TK1DSYDG0"  # the spec's example severity, role and user id
CONFIGURED_IDS: dict[str, Any] = {
    "severityIds": {"critical": "01SEVCRITICAL", "high": "01SEVMAJOR", "warning": "01SEVMINOR", "info": "01SEVMINOR"},
    "resolvedStatusId": "01STATUSCLOSED",
    "leadRoleId": "01ROLELEAD",
    "servicesFieldId": "01FIELDAFFECTEDSERVICES",
    "escalationPathId": "01PATHPLATFORM",
    "incidentTypeId": "01TYPEPRODUCTION",
}


ORGANISATION: dict[str, Any] = {
    "/v1/severities": {
        "severities": [
            {"id": "01SEVCRITICAL", "name": "Critical", "rank": 3},
            {"id": "01SEVMAJOR", "name": "Major", "rank": 2},
            {"id": "01SEVMINOR", "name": "Minor", "rank": 1},
        ]
    },
    "/v1/incident_statuses": {
        "incident_statuses": [
            {"id": "01STATUSTRIAGE", "name": "Triage", "category": "triage", "rank": 0},
            {"id": "01STATUSCLOSED", "name": "Closed", "category": "closed", "rank": 4},
        ]
    },
    "/v2/incident_roles": {"incident_roles": [{"id": "01ROLELEAD", "name": "Incident Lead", "role_type": "lead"}]},
    "/v2/escalation_paths": {"escalation_paths": [{"id": "01PATHPLATFORM", "name": "Platform"}]},
    "/v2/custom_fields/01FIELDAFFECTEDSERVICES": {
        "custom_field": {"id": "01FIELDAFFECTEDSERVICES", "catalog_type_id": "01TYPESERVICE"}
    },
}
"""The organisation's own records, answered in place of the spec's examples once prism validated the request
(the examples hold one triage status and one record id for everything)."""
PEOPLE = {"ana@example.com": "01USERANA", "bo@example.com": "01USERBO", "lisa@incident.io": "01USERLISA"}
CATALOG = {"checkout": "01ENTRYCHECKOUT", "payments": "01ENTRYPAYMENTS"}


@dataclass
class Organisation(httpx.BaseTransport):
    """prism validates every request; the organisation's records and people replace the spec's examples."""

    inner: httpx.BaseTransport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        path = request.url.path
        if request.method != "GET" or not response.is_success:
            return response
        if path in ORGANISATION:
            return httpx.Response(200, json=ORGANISATION[path], request=request)
        if path == "/v2/users":
            known = PEOPLE.get(request.url.params["email"])
            users = [{"id": known, "email": request.url.params["email"]}] if known else []
            return httpx.Response(200, json={"users": users}, request=request)
        if path == "/v3/catalog_entries":
            entry = CATALOG.get(request.url.params["identifier"])
            entries = [{"id": entry, "name": request.url.params["identifier"]}] if entry else []
            return httpx.Response(200, json={"catalog_entries": entries}, request=request)
        if path.startswith("/v2/users/"):
            return httpx.Response(200, json={"user": {"id": path.removeprefix("/v2/users/")}}, request=request)
        return response


@dataclass
class Served:
    provider: IncidentIoProvider
    validating: ValidatingTransport
    recording: RecordingTransport

    def requests(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.recording.sent]

    def writes(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.recording.sent if request.method != "GET"]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [
            json.loads(request.content)
            for request in self.recording.sent
            if request.method == method and request.url.path == path
        ]


def _no_notifier() -> Any:
    raise AssertionError("the incident.io provider pages through incident.io, never through our notifier")


@pytest.fixture
def serve(prism: Callable[[str], PrismServer]) -> Callable[..., Served]:
    server = prism(SPEC)

    def make(**secret: Any) -> Served:
        recording = RecordingTransport()
        validating = ValidatingTransport(inner=recording)
        context = ProviderContext(
            pager=_no_notifier,
            link=lambda identifier: f"https://app.port.io/incidentEntity?identifier={identifier}",
            credentials=lambda name: {"apiKey": "contract-test-key", "baseUrl": server.url, **secret},
            transport=validating if secret.pop("examples_only", False) else Organisation(validating),
        )
        return Served(build(context.vendor(ProviderName.INCIDENTIO)), validating, recording)

    return make


def _incident(**changes: Any) -> Incident:
    fields = {"identifier": "inc-20261127-083000-a1b2c3", "urgency": "high", "externalId": EXAMPLE_INCIDENT_ID}
    return sample_incident(ProviderName.INCIDENTIO, **(fields | changes))


def test_trigger_matches_the_spec_and_keeps_the_example_incident(serve: Callable[..., Served]) -> None:
    served = serve(**CONFIGURED_IDS)

    result = served.provider.trigger(_incident(externalId=None), [sample_alert(title="HighErrorRate checkout")])

    assert served.validating.violations == []
    assert served.requests() == [
        ("GET", "/v1/severities"),
        ("GET", "/v2/custom_fields/01FIELDAFFECTEDSERVICES"),
        ("GET", "/v3/catalog_entries"),
        ("POST", "/v2/incidents"),
    ]
    [body] = served.bodies("POST", "/v2/incidents")
    assert body["idempotency_key"] == "inc-20261127-083000-a1b2c3"
    assert body["severity_id"] == "01SEVCRITICAL"
    assert body["incident_type_id"] == "01TYPEPRODUCTION"
    assert (body["visibility"], body["mode"]) == ("public", "standard")
    assert "HighErrorRate checkout" in body["summary"]
    assert body["custom_field_entries"] == [
        {"custom_field_id": "01FIELDAFFECTEDSERVICES", "values": [{"value_catalog_entry_id": "01ENTRYCHECKOUT"}]}
    ]
    assert result.externalId == EXAMPLE_INCIDENT_ID
    assert result.url == "https://app.incident.io/incidents/123"
    # The example incident was created in triage: Active later means someone accepted it.
    assert result.providerData == {"reference": "INC-123", "startedIn": "triage"}
    assert result.message == "Opened INC-123 in incident.io (Minor)"


def test_trigger_looks_severities_up_through_the_spec(serve: Callable[..., Served]) -> None:
    served = serve(examples_only=True)

    served.provider.trigger(_incident(externalId=None), [])

    assert served.validating.violations == []
    assert served.requests() == [("GET", "/v1/severities"), ("POST", "/v2/incidents")]
    [body] = served.bodies("POST", "/v2/incidents")
    assert body["severity_id"] == EXAMPLE_RECORD_ID  # the example lists one severity: every one of ours maps to it
    assert "incident_type_id" not in body


def test_every_later_step_matches_the_spec(serve: Callable[..., Served]) -> None:
    served = serve(**CONFIGURED_IDS)
    provider, incident = served.provider, _incident()
    edit = f"/v2/incidents/{EXAMPLE_INCIDENT_ID}/actions/edit"

    provider.acknowledge(incident, "ana@example.com")
    provider.reassign(incident, "bo@example.com", "ana@example.com")
    provider.reassign(incident, "01USERCARLA", "ana@example.com")
    provider.associate_services(incident, ["payments"], "ana@example.com")
    provider.escalate(incident, EscalationRequest(level=2), "ana@example.com")
    provider.escalate(incident, EscalationRequest(user="lisa@incident.io"), "ana@example.com")
    provider.resolve(incident, "Rolled back the release", "ana@example.com")
    state = provider.get(incident)

    assert served.validating.violations == []
    assert all(200 <= status < 300 for _, _, status in served.validating.answered)
    assert served.writes() == [
        ("POST", edit),
        ("POST", edit),
        ("POST", edit),
        ("POST", edit),
        ("POST", "/v2/escalations"),
        ("POST", "/v2/escalations"),
        ("POST", edit),
    ]
    acknowledged, to_bo, to_carla, services, resolved = served.bodies("POST", edit)
    lead = {"incident_role_id": "01ROLELEAD", "assignee": {"id": "01USERANA"}}
    assert acknowledged["incident"] == {"incident_role_assignments": [lead]}
    assert to_bo["incident"]["incident_role_assignments"][0]["assignee"] == {"id": "01USERBO"}
    assert to_carla["incident"]["incident_role_assignments"][0]["assignee"] == {"id": "01USERCARLA"}
    assert services["incident"]["custom_field_entries"][0]["values"] == [
        {"value_catalog_entry_id": "01ENTRYCHECKOUT"},
        {"value_catalog_entry_id": "01ENTRYPAYMENTS"},
    ]
    assert resolved["incident"]["incident_status_id"] == "01STATUSCLOSED"
    by_path, by_user = served.bodies("POST", "/v2/escalations")
    assert by_path["escalation_path_id"] == "01PATHPLATFORM"
    assert by_user["user_ids"] == ["01USERLISA"]
    # The example incident is in a triage status and led by Lisa.
    assert state == ProviderState(
        status=IncidentStatus.TRIGGERED, assignee="lisa@incident.io", url="https://app.incident.io/incidents/123"
    )


def test_role_status_and_user_lookups_match_the_spec(serve: Callable[..., Served]) -> None:
    served = serve(examples_only=True)
    incident = _incident()

    # The example user lookup answers one user by id, the example status list one triage status.
    served.provider.reassign(incident, EXAMPLE_RECORD_ID, "ana@example.com")
    with pytest.raises(ConfigurationError, match="no status in the closed category; set resolvedStatusId"):
        served.provider.resolve(incident, "Rolled back", "ana@example.com")

    assert served.validating.violations == []
    assert served.requests() == [
        ("GET", f"/v2/users/{EXAMPLE_RECORD_ID}"),
        ("GET", "/v2/incident_roles"),
        ("POST", f"/v2/incidents/{EXAMPLE_INCIDENT_ID}/actions/edit"),
        ("GET", f"/v2/incidents/{EXAMPLE_INCIDENT_ID}"),
        ("GET", "/v1/incident_statuses"),
    ]
    [reassigned] = served.bodies("POST", f"/v2/incidents/{EXAMPLE_INCIDENT_ID}/actions/edit")
    assert reassigned["incident"]["incident_role_assignments"] == [
        {"incident_role_id": EXAMPLE_RECORD_ID, "assignee": {"id": EXAMPLE_RECORD_ID}}
    ]


def test_unsupported_steps_send_nothing(serve: Callable[..., Served]) -> None:
    served = serve()

    with pytest.raises(Unsupported):
        served.provider.add_note(_incident(), "Rolled back at 08:41", "ana@example.com")
    with pytest.raises(Unsupported):
        served.provider.associate_services(_incident(), ["payments"], "ana@example.com")
    with pytest.raises(Unsupported):
        served.provider.escalate(_incident(), EscalationRequest(level=2), "ana@example.com")

    assert served.recording.sent == []


def test_the_harness_flags_requests_the_spec_rejects(serve: Callable[..., Served]) -> None:
    served = serve(**CONFIGURED_IDS)
    http = served.provider.http

    with pytest.raises(ProviderApiError, match="answered 422"):
        http.request(
            "POST",
            f"/v2/incidents/{EXAMPLE_INCIDENT_ID}/actions/edit",
            json_body={"incident": {"incident_status_id": "01STATUSCLOSED"}},
        )
    with pytest.raises(ProviderApiError, match="answered 422"):
        http.request("POST", "/v2/incidents", json_body={"idempotency_key": "inc-1", "visibility": "internal"})
    with pytest.raises(ProviderApiError, match="answered 404"):
        http.request("POST", "/v2/incident_notes", json_body={"incident_id": EXAMPLE_INCIDENT_ID, "message": "x"})

    flagged = [json.dumps(violation.problems) for violation in served.validating.violations]
    assert len(flagged) == 3
    assert "notify_incident_channel" in flagged[0]
    assert "visibility" in flagged[1]
    assert "no such path" in flagged[2]


def test_the_spec_has_no_way_to_write_an_incident_update(serve: Callable[..., Served]) -> None:
    """Why add_note is Unsupported: incident updates can be listed, not written."""
    served = serve()
    http = served.provider.http

    assert http.json("GET", "/v2/incident_updates", params={"incident_id": EXAMPLE_INCIDENT_ID})["incident_updates"]
    with pytest.raises(ProviderApiError, match=r'answered 405: .*does not have "post" method defined'):
        http.request("POST", "/v2/incident_updates", json_body={"incident_id": EXAMPLE_INCIDENT_ID, "message": "x"})
