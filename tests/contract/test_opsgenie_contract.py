"""Every request the Opsgenie adapter makes, for every step, matches Opsgenie's published spec (served by
prism from `opsgenie-swagger2.consumes-json.json`).

Prism answers the spec's placeholders (`requestId` "string", `isSuccess` true, alert `status` "string"),
so these tests check the requests sent and what the adapter makes of those answers, not Opsgenie's behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from incident_core.errors import ProviderApiError
from incident_core.models.incident import Incident, ProviderName
from incident_core.providers.base import EscalationRequest
from incident_core.providers.opsgenie.adapter import OpsgenieProvider, build
from incident_core.providers.registry import ProviderContext
from tests.contract.prism import PrismServer, RecordingTransport, ValidatingTransport
from tests.providers import sample_alert, sample_incident

SPEC = "opsgenie-swagger2.consumes-json.json"
ALIAS = "inc-20261127-101500-abc123"
BY = "ana@example.com"


@dataclass
class Harness:
    provider: OpsgenieProvider
    validating: ValidatingTransport
    recording: RecordingTransport

    def body(self, index: int) -> dict[str, Any]:
        """The body of the `index`th write."""
        writes = [request for request in self.recording.sent if request.method != "GET"]
        body: dict[str, Any] = json.loads(writes[index].content)
        return body

    @property
    def steps(self) -> list[tuple[str, str, int]]:
        """What was answered, without the checks a step makes first (users it names, notes it wrote before)."""
        return [
            answer
            for answer in self.validating.answered
            if (not answer[1].startswith("/v2/users/") and not answer[1].endswith("/notes")) or answer[0] == "POST"
        ]


@pytest.fixture(scope="module")
def server(prism: Callable[[str], PrismServer]) -> PrismServer:
    return prism(SPEC)


@pytest.fixture
def harness(server: PrismServer) -> Harness:
    recording = RecordingTransport()
    validating = ValidatingTransport(inner=recording)
    secret = {
        "apiKey": "eb243592-faa2-4ba2-a551-1afdf565c889",
        "baseUrl": server.url,
        "appUrl": "https://acme.app.opsgenie.com",
        "responderTeams": ["payments-oncall"],
        "defaultEscalation": "Payments Escalation",
    }

    def credentials(name: ProviderName) -> Mapping[str, Any]:
        assert name is ProviderName.OPSGENIE
        return secret

    def no_notifier() -> Any:
        raise AssertionError("the Opsgenie adapter pages through Opsgenie, not the notifier")

    context = ProviderContext(
        pager=no_notifier,
        link=lambda identifier: f"https://app.getport.io/incidentEntity?identifier={identifier}",
        credentials=credentials,
        transport=validating,
    )
    return Harness(build(context.vendor(ProviderName.OPSGENIE)), validating, recording)


def incident(**changes: Any) -> Incident:
    fields = {
        "identifier": ALIAS,
        "externalId": ALIAS,
        "providerData": {"alias": ALIAS, "requestId": "string", "alertId": "string"},
    }
    return sample_incident(ProviderName.OPSGENIE, **(fields | changes))


def test_trigger_creates_the_alert_within_the_spec(harness: Harness) -> None:
    result = harness.provider.trigger(incident(providerData={}), [sample_alert()])

    assert harness.validating.violations == []
    assert harness.validating.answered == [("POST", "/v2/alerts", 202), ("GET", "/v2/alerts/requests/string", 200)]
    sent = harness.body(0)
    assert (sent["alias"], sent["priority"], sent["responders"]) == (
        ALIAS,
        "P1",
        [{"type": "team", "name": "payments-oncall"}],
    )
    # prism's placeholders: the request id is "string" and the processed request names alert "string"
    assert result.providerData == {"alias": ALIAS, "requestId": "string", "alertId": "string"}
    assert result.externalId == ALIAS
    assert result.url == "https://acme.app.opsgenie.com/alert/detail/string/details"


@pytest.mark.parametrize(
    ("step", "action"),
    [
        (lambda p: p.acknowledge(incident(), BY), "acknowledge"),
        (lambda p: p.reassign(incident(), "bo@example.com", BY), "assign"),
        (lambda p: p.associate_services(incident(), ["payments", "ledger"], BY), "tags"),
        (lambda p: p.escalate(incident(), EscalationRequest(policy="Payments Nights"), BY), "escalate"),
        (
            lambda p: p.escalate(incident(), EscalationRequest(policy="4c2c2a4b-7f0e-4b8e-9a4f-3c7e0d5b9a11"), BY),
            "escalate",
        ),
        (lambda p: p.escalate(incident(), EscalationRequest(), BY), "escalate"),
        (lambda p: p.add_note(incident(), "Rolled back 4.2.1", BY), "notes"),
        (lambda p: p.resolve(incident(), "Rolled back 4.2.1", BY), "close"),
    ],
    ids=[
        "acknowledge",
        "reassign",
        "associate_services",
        "escalate-name",
        "escalate-id",
        "escalate-default",
        "add_note",
        "resolve",
    ],
)
def test_each_step_acts_on_the_alert_within_the_spec(
    harness: Harness, step: Callable[[OpsgenieProvider], object], action: str
) -> None:
    step(harness.provider)

    assert harness.validating.violations == []
    assert harness.steps == [
        ("POST", f"/v2/alerts/{ALIAS}/{action}", 202),
        ("GET", "/v2/alerts/requests/string", 200),
    ]
    (write,) = [request for request in harness.recording.sent if request.method == "POST"]
    assert write.url.params["identifierType"] == "alias"


def test_escalating_to_a_user_adds_a_responder_within_the_spec(harness: Harness) -> None:
    result = harness.provider.escalate(
        incident(), EscalationRequest(user="bo@example.com", policy="Payments Nights"), BY
    )

    assert harness.validating.violations == []
    assert [(method, path) for method, path, _ in harness.steps] == [
        ("POST", f"/v2/alerts/{ALIAS}/responders"),
        ("GET", "/v2/alerts/requests/string"),
        ("POST", f"/v2/alerts/{ALIAS}/escalate"),
        ("GET", "/v2/alerts/requests/string"),
    ]
    assert harness.body(0)["responder"] == {"type": "user", "username": "bo@example.com"}
    assert result.escalationPolicy == "Payments Nights"


def test_get_reads_the_alert_within_the_spec(harness: Harness) -> None:
    # prism's example alert has status "string": the adapter refuses to guess what that means
    with pytest.raises(ProviderApiError, match="as 'string', not open or closed"):
        harness.provider.get(incident())

    assert harness.validating.violations == []
    assert harness.validating.answered == [("GET", f"/v2/alerts/{ALIAS}", 200)]
    assert harness.recording.sent[0].url.params["identifierType"] == "alias"


def test_reassign_sends_the_owner_type_the_spec_requires(harness: Harness) -> None:
    harness.provider.reassign(incident(), "bo@example.com", BY)
    assert harness.body(0)["owner"] == {"type": "user", "username": "bo@example.com"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # valid per Opsgenie's docs, but the spec requires "type" in owner
        ("POST", f"/v2/alerts/{ALIAS}/assign?identifierType=alias", {"owner": {"username": "bo@example.com"}}),
        ("POST", f"/v2/alerts/{ALIAS}/notes?identifierType=alias", {"user": BY}),
        ("POST", "/v2/alerts", {"alias": ALIAS, "priority": "P1"}),
        ("POST", "/v2/alerts", {"message": "x", "priority": "P9"}),
        ("POST", f"/v2/alerts/{ALIAS}/close?identifierType=name", {}),
        ("POST", "/v1/incidents/inc-1/resolve", {"note": "absent from the stored spec"}),
    ],
    ids=[
        "assign-without-type",
        "note-without-note",
        "create-without-message",
        "bad-priority",
        "bad-identifier-type",
        "unknown-path",
    ],
)
def test_a_request_outside_the_spec_is_flagged(
    server: PrismServer, method: str, path: str, body: dict[str, Any]
) -> None:
    validating = ValidatingTransport()
    with httpx.Client(base_url=server.url, transport=validating, headers={"Authorization": "GenieKey k"}) as client:
        client.request(method, path, json=body)
    assert len(validating.violations) == 1
    assert validating.violations[0].status in (404, 422)


def test_a_flagged_request_surfaces_as_a_provider_error(harness: Harness) -> None:
    # the adapter's own client, sending what the docs allow but the spec does not
    with pytest.raises(ProviderApiError, match=r"^Opsgenie answered 422"):
        harness.provider.http.request(
            "POST",
            f"/v2/alerts/{ALIAS}/assign",
            params={"identifierType": "alias"},
            json_body={"owner": {"username": "bo@example.com"}},
        )
    assert harness.validating.violations[0].problems[0]["message"] == (
        "Request body property owner must have required property 'type'"
    )
