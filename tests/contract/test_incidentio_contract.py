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

import pytest

from incident_core.errors import ConfigurationError, ProviderApiError, Unsupported
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers import ProviderContext
from incident_core.providers.base import EscalationRequest, ProviderState
from incident_core.providers.incidentio import IncidentIoProvider, build
from tests.contract.prism import PrismServer, RecordingTransport, ValidatingTransport
from tests.providers import sample_alert, sample_incident

SPEC = "incidentio-public-v3-incl-secret-endpoints.openapi3.json"
EXAMPLE_INCIDENT_ID = "01FDAG4SAP5TYPT98WGR2N7W91"  # the spec's example incident
EXAMPLE_RECORD_ID = "01FCNDV6P870EA6S7TK1DSYDG0"  # the spec's example severity, role and user id
CONFIGURED_IDS: dict[str, Any] = {
    "severityIds": {"critical": "01SEVCRITICAL", "high": "01SEVMAJOR", "warning": "01SEVMINOR", "info": "01SEVMINOR"},
    "acknowledgedStatusId": "01STATUSACTIVE",
    "resolvedStatusId": "01STATUSCLOSED",
    "leadRoleId": "01ROLELEAD",
    "servicesFieldId": "01FIELDAFFECTEDSERVICES",
    "escalationPathId": "01PATHPLATFORM",
    "incidentTypeId": "01TYPEPRODUCTION",
}


@dataclass
class Served:
    provider: IncidentIoProvider
    validating: ValidatingTransport
    recording: RecordingTransport

    def requests(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.recording.sent]

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
            notifier=_no_notifier,
            link=lambda identifier: f"https://app.port.io/incidentEntity?identifier={identifier}",
            credentials=lambda name: {"apiKey": "contract-test-key", "baseUrl": server.url, **secret},
            transport=validating,
        )
        return Served(build(context), validating, recording)

    return make


def _incident(**changes: Any) -> Incident:
    fields = {"identifier": "inc-20261127-083000-a1b2c3", "urgency": "high", "externalId": EXAMPLE_INCIDENT_ID}
    return sample_incident(ProviderName.INCIDENTIO, **(fields | changes))


def test_trigger_matches_the_spec_and_keeps_the_example_incident(serve: Callable[..., Served]) -> None:
    served = serve(**CONFIGURED_IDS)

    result = served.provider.trigger(_incident(externalId=None), [sample_alert(title="HighErrorRate checkout")])

    assert served.validating.violations == []
    assert served.requests() == [("POST", "/v2/incidents")]
    [body] = served.bodies("POST", "/v2/incidents")
    assert body["idempotency_key"] == "inc-20261127-083000-a1b2c3"
    assert body["severity_id"] == "01SEVCRITICAL"
    assert body["incident_type_id"] == "01TYPEPRODUCTION"
    assert (body["visibility"], body["mode"]) == ("public", "standard")
    assert "HighErrorRate checkout" in body["summary"]
    assert result.externalId == EXAMPLE_INCIDENT_ID
    assert result.url == "https://app.incident.io/incidents/123"
    assert result.providerData == {"reference": "INC-123"}
    assert result.message == "Opened INC-123 in incident.io (Minor)"


def test_trigger_looks_severities_up_through_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()

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
    assert served.requests() == [
        ("POST", edit),
        ("POST", edit),
        ("POST", edit),
        ("POST", edit),
        ("POST", "/v2/escalations"),
        ("GET", "/v2/users"),
        ("POST", "/v2/escalations"),
        ("POST", edit),
        ("GET", f"/v2/incidents/{EXAMPLE_INCIDENT_ID}"),
    ]
    acknowledged, *_, resolved = served.bodies("POST", edit)
    assert acknowledged["incident"]["incident_status_id"] == "01STATUSACTIVE"
    assert resolved["incident"]["incident_status_id"] == "01STATUSCLOSED"
    by_path, by_user = served.bodies("POST", "/v2/escalations")
    assert by_path["escalation_path_id"] == "01PATHPLATFORM"
    assert by_user["user_ids"] == [EXAMPLE_RECORD_ID]  # the id of the user the example lookup answered
    # The example incident is in a triage status and led by Lisa.
    assert state == ProviderState(
        status=IncidentStatus.TRIGGERED, assignee="lisa@incident.io", url="https://app.incident.io/incidents/123"
    )


def test_role_and_status_lookups_match_the_spec(serve: Callable[..., Served]) -> None:
    served = serve()
    incident = _incident()

    served.provider.reassign(incident, "bo@example.com", "ana@example.com")
    # The example status list holds one triage status: there is no Active or closed status to move to.
    with pytest.raises(ConfigurationError, match="no status in the live category; set acknowledgedStatusId"):
        served.provider.acknowledge(incident, "ana@example.com")
    with pytest.raises(ConfigurationError, match="no status in the closed category; set resolvedStatusId"):
        served.provider.resolve(incident, "Rolled back", "ana@example.com")

    assert served.validating.violations == []
    assert served.requests() == [
        ("GET", "/v2/incident_roles"),
        ("POST", f"/v2/incidents/{EXAMPLE_INCIDENT_ID}/actions/edit"),
        ("GET", "/v1/incident_statuses"),
    ]
    [reassigned] = served.bodies("POST", f"/v2/incidents/{EXAMPLE_INCIDENT_ID}/actions/edit")
    assert reassigned["incident"]["incident_role_assignments"] == [
        {"incident_role_id": EXAMPLE_RECORD_ID, "assignee": {"email": "bo@example.com"}}
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
