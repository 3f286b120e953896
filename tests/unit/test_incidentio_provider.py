"""The incident.io adapter against a scripted API (httpx.MockTransport): mappings, each step's request, retries
and errors, credentials, and the signed webhooks (checked against the spec's own example payloads).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_core.errors import (
    AuthenticationError,
    ConfigurationError,
    MalformedRequest,
    NotFound,
    ProviderApiError,
    StepRefused,
    Unsupported,
)
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineEntry, TimelineKind
from incident_core.providers.base import (
    EscalationRequest,
    InboundWebhook,
    IncidentProvider,
    ProviderEvent,
    ProviderState,
)
from incident_core.providers.http import ACTION_RETRY_POLICY
from incident_core.providers.incidentio.adapter import IncidentIoProvider, build
from incident_core.providers.incidentio.credentials import Credentials
from incident_core.providers.incidentio.models import (
    RESOLVED_CATEGORIES,
    SEVERITY_POSITION,
    STATUS_OF_CATEGORY,
    status_of_change,
)
from incident_core.providers.incidentio.webhook import WEBHOOK
from incident_core.providers.registry import ProviderContext
from tests.providers import sample_alert, sample_incident

SPEC_FILE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "vendor-specs"
    / "incidentio-public-v3-incl-secret-endpoints.openapi3.json"
)
PORT_LINK = "https://app.port.io/incidentEntity?identifier="
EDIT = "/v2/incidents/01INCIDENT7/actions/edit"
ANSWERED_INCIDENT: dict[str, Any] = {
    "id": "01INCIDENT7",
    "reference": "INC-7",
    "permalink": "https://app.incident.io/acme/incidents/7",
    "severity": {"id": "01SEVCRITICAL", "name": "Critical", "rank": 3},
    "incident_status": {"id": "01STATUSINVESTIGATING", "name": "Investigating", "category": "live"},
    "incident_role_assignments": [
        {"role": {"id": "01ROLEREPORTER", "role_type": "reporter"}, "assignee": {"email": "reporter@example.com"}},
        {
            "role": {"id": "01ROLELEAD", "role_type": "lead"},
            "assignee": {"id": "01USERANA", "email": "ana@example.com"},
        },
    ],
    "updated_at": "2026-11-27T08:41:00Z",
}
STATUSES = {
    "incident_statuses": [
        {"id": "01STATUSTRIAGE", "name": "Triage", "category": "triage", "rank": 0},
        {"id": "01STATUSFIXING", "name": "Fixing", "category": "live", "rank": 2},
        {"id": "01STATUSINVESTIGATING", "name": "Investigating", "category": "live", "rank": 1},
        {"id": "01STATUSPOSTINCIDENT", "name": "Documenting", "category": "learning", "rank": 3},
        {"id": "01STATUSCLOSED", "name": "Closed", "category": "closed", "rank": 4},
    ]
}
SEVERITIES = {
    "severities": [
        {"id": "01SEVMINOR", "name": "Minor", "rank": 1},
        {"id": "01SEVCRITICAL", "name": "Critical", "rank": 3},
        {"id": "01SEVMAJOR", "name": "Major", "rank": 2},
    ]
}
ROLES = {
    "incident_roles": [
        {"id": "01ROLEREPORTER", "role_type": "reporter"},
        {"id": "01ROLELEAD", "role_type": "lead", "name": "Incident Lead"},
    ]
}
CONFIGURED_IDS: dict[str, Any] = {
    "severityIds": {"critical": "01SEVCRITICAL", "high": "01SEVMAJOR", "warning": "01SEVMINOR", "info": "01SEVMINOR"},
    "resolvedStatusId": "01STATUSCLOSED",
    "leadRoleId": "01ROLELEAD",
}
USERS = {"ana@example.com": "01USERANA", "bo@example.com": "01USERBO", "carla@example.com": "01USERCARLA"}
PATHS = {"escalation_paths": [{"id": "01PATHPLATFORM", "name": "Platform"}, {"id": "01PATHDATABASE", "name": "DB"}]}
CATALOG = {"checkout": "01ENTRYCHECKOUT", "payments": "01ENTRYPAYMENTS"}
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"incident-io-test-signing-key-32b").decode()
NOW = datetime(2026, 11, 27, 8, 45, tzinfo=UTC)


class FakeIncidentIo:
    """Answers each (method, path) from a script (the last answer repeats) and keeps every request."""

    def __init__(self, script: dict[tuple[str, str], Any]) -> None:
        self.script = {route: answers if isinstance(answers, list) else [answers] for route, answers in script.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.script.get((request.method, request.url.path))
        if answers is None:
            return self.organisation(request)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    @staticmethod
    def organisation(request: httpx.Request) -> httpx.Response:
        """What the organisation holds unless a test scripts otherwise: its records, people, paths and catalog."""
        path, params = request.url.path, request.url.params
        records = {
            "/v1/severities": SEVERITIES,
            "/v1/incident_statuses": STATUSES,
            "/v2/incident_roles": ROLES,
            "/v2/escalation_paths": PATHS,
            "/v2/custom_fields/01FIELDSERVICES": {"custom_field": {"id": "01FIELDSERVICES", "catalog_type_id": "01T"}},
        }
        if request.method == "GET" and path in records:
            return httpx.Response(200, json=records[path])
        if request.method == "GET" and path == "/v2/users":
            known = USERS.get(params["email"].casefold())
            return httpx.Response(200, json={"users": [{"id": known, "email": params["email"]}] if known else []})
        if (
            request.method == "GET"
            and path.startswith("/v2/users/")
            and path.removeprefix("/v2/users/") in USERS.values()
        ):
            return httpx.Response(200, json={"user": {"id": path.removeprefix("/v2/users/")}})
        if request.method == "GET" and path == "/v3/catalog_entries":
            entry = CATALOG.get(params["identifier"])
            return httpx.Response(200, json={"catalog_entries": [{"id": entry}] if entry else []})
        return httpx.Response(404, json={"type": "not_found", "status": 404, "errors": [{"message": "Not found"}]})

    def routes(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.requests]

    def writes(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.requests if request.method != "GET"]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [json.loads(r.content) for r in self.requests if (r.method, r.url.path) == (method, path)]


def _no_notifier() -> Any:
    raise AssertionError("the incident.io provider never pages through our notifier")


def make_provider(api: FakeIncidentIo, **secret: Any) -> tuple[IncidentIoProvider, list[float]]:
    """The provider as `build` makes it, with a fake sleep that records each wait."""

    def credentials(name: ProviderName) -> dict[str, Any]:
        assert name is ProviderName.INCIDENTIO
        return {"apiKey": "secret-api-key", **secret}

    context = ProviderContext(
        pager=_no_notifier,
        link=lambda identifier: PORT_LINK + identifier,
        credentials=credentials,
        transport=httpx.MockTransport(api),
    )
    provider = build(context.vendor(ProviderName.INCIDENTIO))
    waits: list[float] = []
    provider.http.sleep = waits.append
    provider.http.clock = lambda: NOW.timestamp()
    return provider, waits


def _incident(**changes: Any) -> Incident:
    fields = {
        "identifier": "inc-20261127-083000-a1b2c3",
        "title": "Checkout is down",
        "description": "Checkout answers 502 for every request",
        "urgency": "high",
        "externalId": "01INCIDENT7",
    }
    return sample_incident(ProviderName.INCIDENTIO, **(fields | changes))


def _alert() -> AlertRecord:
    return sample_alert(
        externalId="a1b2c3d4",
        title="HighErrorRate checkout",
        description="Error rate above 5% for 5 minutes\nSource: http://prometheus:9090/graph?g0.expr=errors",
        startedAt="2026-11-27T08:29:00.000Z",
    )


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return loaded


# The interfaces


def test_the_provider_and_the_webhook_implement_their_protocols() -> None:
    provider, _ = make_provider(FakeIncidentIo({}))
    steps = ["trigger", "acknowledge", "reassign", "associate_services", "escalate", "add_note", "resolve", "get"]
    assert all(callable(getattr(provider, step)) for step in steps)
    assert provider.name is ProviderName.INCIDENTIO
    typed_provider: IncidentProvider = provider
    typed_webhook: InboundWebhook = WEBHOOK
    assert callable(typed_provider.get)
    assert callable(typed_webhook.verify)
    assert callable(typed_webhook.events)


# The mapping tables


def test_every_status_category_of_the_spec_has_a_row_in_the_table(spec: dict[str, Any]) -> None:
    categories = spec["components"]["schemas"]["IncidentStatusV2"]["properties"]["category"]["enum"]
    assert set(categories) == set(STATUS_OF_CATEGORY)
    assert set(RESOLVED_CATEGORIES) <= set(categories)


@pytest.mark.parametrize(
    ("category", "status"),
    [
        ("triage", IncidentStatus.TRIGGERED),
        ("live", None),  # Active alone is no acknowledgement: incidents of some types are created Active
        ("paused", None),
        ("learning", IncidentStatus.RESOLVED),
        ("closed", IncidentStatus.RESOLVED),
        ("declined", IncidentStatus.RESOLVED),
        ("merged", IncidentStatus.RESOLVED),
        ("canceled", IncidentStatus.RESOLVED),
    ],
)
def test_status_category_maps_to_our_status(category: str, status: IncidentStatus | None) -> None:
    assert STATUS_OF_CATEGORY[category] is status


@pytest.mark.parametrize(
    ("previous", "now", "status"),
    [
        ("triage", "live", IncidentStatus.ACKNOWLEDGED),  # someone accepted it
        ("triage", "paused", IncidentStatus.ACKNOWLEDGED),
        (None, "live", None),  # created Active: no one acknowledged anything
        ("live", "live", None),  # Investigating -> Fixing
        ("paused", "live", None),
        ("live", "closed", IncidentStatus.RESOLVED),
        ("triage", "declined", IncidentStatus.RESOLVED),
        ("live", "learning", IncidentStatus.RESOLVED),
    ],
)
def test_a_status_change_is_an_acknowledgement_only_when_it_leaves_triage(
    previous: str | None, now: str, status: IncidentStatus | None
) -> None:
    assert status_of_change(previous, now) is status


def test_our_severities_map_to_the_organisations_by_rank_once_per_provider() -> None:
    api = FakeIncidentIo(
        {("GET", "/v1/severities"): SEVERITIES, ("POST", "/v2/incidents"): {"incident": ANSWERED_INCIDENT}}
    )
    provider, _ = make_provider(api)

    for severity in Severity:
        provider.trigger(_incident(externalId=None, severity=severity), [])

    sent = [body["severity_id"] for body in api.bodies("POST", "/v2/incidents")]
    assert sent == ["01SEVCRITICAL", "01SEVMAJOR", "01SEVMINOR", "01SEVMINOR"]  # info: the least severe there is
    assert api.routes().count(("GET", "/v1/severities")) == 1
    assert list(SEVERITY_POSITION) == list(Severity)


def test_severity_ids_in_the_secret_are_used_once_checked_and_only_missing_ones_looked_up() -> None:
    api = FakeIncidentIo({("POST", "/v2/incidents"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, severityIds={"critical": "01SEVMINOR"})

    provider.trigger(_incident(externalId=None, severity=Severity.CRITICAL), [])
    provider.trigger(_incident(externalId=None, severity=Severity.CRITICAL), [])
    provider.trigger(_incident(externalId=None, severity=Severity.HIGH), [])

    assert [body["severity_id"] for body in api.bodies("POST", "/v2/incidents")] == ["01SEVMINOR"] * 2 + ["01SEVMAJOR"]


def test_a_configured_id_the_organisation_does_not_have_is_named_with_the_secret() -> None:
    api = FakeIncidentIo({("GET", "/v2/incidents/01INCIDENT7"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, severityIds={"critical": "01SEVSEV1"}, resolvedStatusId="01STATUSFIXING")
    provider.http.credentials_in = "the secret acme/incidentio"

    with pytest.raises(ConfigurationError) as severity:
        provider.trigger(_incident(externalId=None), [])
    with pytest.raises(ConfigurationError) as status:
        provider.resolve(_incident(), "Rolled back", "ana@example.com")

    assert severity.value.message.startswith(
        "severityIds.critical in the secret acme/incidentio is 01SEVSEV1, which is not a severity of this "
        "incident.io organisation; it has: Critical (01SEVCRITICAL), Major (01SEVMAJOR), Minor (01SEVMINOR)"
    )
    assert (
        "resolvedStatusId in the secret acme/incidentio is 01STATUSFIXING, which is not a status in closed or "
        "learning" in status.value.message
    )
    assert api.writes() == []


def test_an_organisation_without_severities_is_a_configuration_error() -> None:
    provider, _ = make_provider(FakeIncidentIo({("GET", "/v1/severities"): {"severities": []}}))

    with pytest.raises(ConfigurationError, match="no severities; set severityIds"):
        provider.trigger(_incident(externalId=None), [])


# Trigger


def test_trigger_carries_the_alert_context_and_our_identifier_as_idempotency_key() -> None:
    api = FakeIncidentIo({("POST", "/v2/incidents"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS, visibility="private", incidentTypeId="01TYPEOUTAGE")

    result = provider.trigger(_incident(externalId=None), [_alert()])

    [body] = api.bodies("POST", "/v2/incidents")
    assert {key: value for key, value in body.items() if key != "summary"} == {
        "idempotency_key": "inc-20261127-083000-a1b2c3",
        "name": "Checkout is down",
        "severity_id": "01SEVCRITICAL",
        "visibility": "private",
        "mode": "standard",
        "incident_type_id": "01TYPEOUTAGE",
    }
    summary = body["summary"]
    for expected in (
        "Checkout answers 502 for every request",
        "Severity: critical (urgency high)",
        "Services: checkout",
        "Alert: HighErrorRate checkout",
        "Prometheus, severity critical, status open, since 2026-11-27T08:29:00.000Z",
        "Dedup key: prometheus-a1b2c3d4",
        "Source: http://prometheus:9090/graph?g0.expr=errors",
        f"Port incident inc-20261127-083000-a1b2c3: {PORT_LINK}inc-20261127-083000-a1b2c3",
    ):
        assert expected in summary
    assert result.externalId == "01INCIDENT7"
    assert result.url == "https://app.incident.io/acme/incidents/7"
    assert result.providerData == {"reference": "INC-7", "startedIn": "live"}
    assert result.message == "Opened INC-7 in incident.io (Critical)"


def test_a_retried_trigger_sends_the_same_idempotency_key() -> None:
    api = FakeIncidentIo({("POST", "/v2/incidents"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    first = provider.trigger(_incident(externalId=None), [_alert()])
    again = provider.trigger(_incident(externalId=None), [_alert()])

    keys = {body["idempotency_key"] for body in api.bodies("POST", "/v2/incidents")}
    assert keys == {"inc-20261127-083000-a1b2c3"}
    assert first.externalId == again.externalId == "01INCIDENT7"


def test_trigger_without_an_incident_id_in_the_answer_fails_with_a_sentence() -> None:
    api = FakeIncidentIo({("POST", "/v2/incidents"): {"incident": {"reference": "INC-7"}}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(ProviderApiError, match=re.escape("incident.io answered without the id of the incident")):
        provider.trigger(_incident(externalId=None), [])


# Status changes and roles


def test_acknowledge_makes_the_acknowledger_lead_and_leaves_the_status_to_incident_io() -> None:
    api = FakeIncidentIo({("POST", EDIT): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    result = provider.acknowledge(_incident(), "ana@example.com")

    # The API may not move an incident out of triage; taking the lead is owning it there.
    assert api.bodies("POST", EDIT) == [
        {
            "incident": {
                "incident_role_assignments": [{"incident_role_id": "01ROLELEAD", "assignee": {"id": "01USERANA"}}]
            },
            "notify_incident_channel": True,
        }
    ]
    assert (result.message, result.assignee) == ("Made ana@example.com the incident lead of INC-7", "ana@example.com")


def test_an_acknowledger_incident_io_does_not_know_still_acknowledges_without_changing_the_lead() -> None:
    api = FakeIncidentIo({})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    result = provider.acknowledge(_incident(), "zoe@example.com")

    assert api.writes() == []
    assert result.message == "Acknowledged in Port; incident.io has no user zoe@example.com, so its lead is unchanged"


def test_missing_statuses_and_roles_are_configuration_errors_naming_the_key() -> None:
    api = FakeIncidentIo(
        {
            ("GET", "/v1/incident_statuses"): {"incident_statuses": [STATUSES["incident_statuses"][0]]},
            ("GET", "/v2/incident_roles"): {"incident_roles": [ROLES["incident_roles"][0]]},
            ("GET", "/v2/incidents/01INCIDENT7"): {"incident": ANSWERED_INCIDENT},
        }
    )
    provider, _ = make_provider(api)

    with pytest.raises(ConfigurationError, match="no status in the closed category; set resolvedStatusId"):
        provider.resolve(_incident(), "Rolled back", "ana@example.com")
    with pytest.raises(ConfigurationError, match="no lead role; set leadRoleId"):
        provider.reassign(_incident(), "bo@example.com", "ana@example.com")
    assert ("POST", EDIT) not in api.routes()


def test_resolve_moves_to_the_status_the_secret_names() -> None:
    api = FakeIncidentIo(
        {
            ("POST", EDIT): {"incident": {**ANSWERED_INCIDENT, "incident_status": {"name": "Documenting"}}},
            ("GET", "/v2/incidents/01INCIDENT7"): {"incident": ANSWERED_INCIDENT},
        }
    )
    provider, _ = make_provider(api, **{**CONFIGURED_IDS, "resolvedStatusId": "01STATUSPOSTINCIDENT"})

    result = provider.resolve(_incident(), "Rolled back the release", "ana@example.com")

    assert api.bodies("POST", EDIT) == [
        {"incident": {"incident_status_id": "01STATUSPOSTINCIDENT"}, "notify_incident_channel": True}
    ]
    assert result.message == "Moved INC-7 to status Documenting: Rolled back the release"


def test_resolving_what_incident_io_already_closed_is_done() -> None:
    closed = {**ANSWERED_INCIDENT, "incident_status": {"id": "01STATUSCLOSED", "name": "Closed", "category": "closed"}}
    api = FakeIncidentIo({("GET", "/v2/incidents/01INCIDENT7"): {"incident": closed}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    result = provider.resolve(_incident(), "Rolled back the release", "ana@example.com")

    assert api.writes() == []
    assert result.message == "INC-7 was already status Closed in incident.io"


@pytest.mark.parametrize(
    ("assignee", "sent"),
    [("bo@example.com", {"id": "01USERBO"}), ("01USERBO", {"id": "01USERBO"})],
)
def test_reassign_makes_the_assignee_incident_lead(assignee: str, sent: dict[str, str]) -> None:
    api = FakeIncidentIo({("POST", EDIT): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    result = provider.reassign(_incident(), assignee, "ana@example.com")

    assert api.bodies("POST", EDIT) == [
        {
            "incident": {"incident_role_assignments": [{"incident_role_id": "01ROLELEAD", "assignee": sent}]},
            "notify_incident_channel": True,
        }
    ]
    assert result.assignee == assignee


@pytest.mark.parametrize("assignee", ["zoe@example.com", "01USERZOE"])
def test_reassign_to_someone_incident_io_does_not_have_names_them(assignee: str) -> None:
    api = FakeIncidentIo({})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(NotFound, match=re.escape(f"incident.io has no user {assignee}")):
        provider.reassign(_incident(), assignee, "ana@example.com")
    assert api.writes() == []


# Services, escalation, notes


def test_associate_services_sets_the_catalog_field_to_every_affected_service() -> None:
    api = FakeIncidentIo({("POST", EDIT): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS, servicesFieldId="01FIELDSERVICES")

    result = provider.associate_services(_incident(), ["payments", "checkout", "ledger"], "ana@example.com")

    assert api.bodies("POST", EDIT) == [
        {
            "incident": {
                "custom_field_entries": [
                    {
                        "custom_field_id": "01FIELDSERVICES",
                        "values": [
                            {"value_catalog_entry_id": "01ENTRYCHECKOUT"},
                            {"value_catalog_entry_id": "01ENTRYPAYMENTS"},
                        ],
                    }
                ]
            },
            "notify_incident_channel": True,
        }
    ]
    lookups = [r.url.params for r in api.requests if r.url.path == "/v3/catalog_entries"]
    assert [(p["catalog_type_id"], p["identifier"]) for p in lookups] == [
        ("01T", "checkout"),
        ("01T", "payments"),
        ("01T", "ledger"),
    ]
    assert result.message == (
        "Set the affected services of INC-7 to checkout, payments; not in the incident.io catalog: ledger"
    )


def test_trigger_links_the_incidents_services_from_the_start() -> None:
    api = FakeIncidentIo({("POST", "/v2/incidents"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS, servicesFieldId="01FIELDSERVICES")

    provider.trigger(_incident(externalId=None), [_alert()])

    [body] = api.bodies("POST", "/v2/incidents")
    assert body["custom_field_entries"] == [
        {"custom_field_id": "01FIELDSERVICES", "values": [{"value_catalog_entry_id": "01ENTRYCHECKOUT"}]}
    ]


def test_associate_services_without_the_field_is_unsupported_with_the_way_to_enable_it() -> None:
    api = FakeIncidentIo({})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(Unsupported) as refused:
        provider.associate_services(_incident(), ["payments"], "ana@example.com")

    assert refused.value.message == (
        "incident.io links services through a catalog-backed custom field; set servicesFieldId in the "
        "incident.io secret to the id of your affected-services field to use this step."
    )
    assert api.requests == []


def test_add_note_is_unsupported_because_updates_cannot_be_written() -> None:
    api = FakeIncidentIo({})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(Unsupported) as refused:
        provider.add_note(_incident(), "Rolled back at 08:41", "ana@example.com")

    assert refused.value.message == (
        "incident.io's API has no way to write an incident update or timeline note (incident updates can "
        "only be listed); post the note in the incident's Slack channel instead."
    )
    assert api.requests == []


ESCALATION = {"escalation": {"id": "01ESCALATION1", "status": "pending"}}


def test_escalate_pages_the_default_path_with_a_key_per_escalation() -> None:
    api = FakeIncidentIo({("POST", "/v2/escalations"): ESCALATION})
    provider, _ = make_provider(api, **CONFIGURED_IDS, escalationPathId="01PATHPLATFORM")
    escalated_once = _incident(
        timeline=(TimelineEntry(at="2026-11-27T08:35:00Z", kind=TimelineKind.ESCALATED, actor="a", text="level 2"),),
        escalationLevel=2,
    )

    first = provider.escalate(_incident(), EscalationRequest(), "ana@example.com")
    retried = provider.escalate(_incident(), EscalationRequest(), "ana@example.com")
    second = provider.escalate(escalated_once, EscalationRequest(), "ana@example.com")

    bodies = api.bodies("POST", "/v2/escalations")
    assert bodies[0] == {
        "idempotency_key": "inc-20261127-083000-a1b2c3-escalation-1",
        "title": "[CRITICAL] Checkout is down",
        "description": "ana@example.com escalated incident inc-20261127-083000-a1b2c3 to level 2.",
        "incident_id": "01INCIDENT7",
        "escalation_path_id": "01PATHPLATFORM",
    }
    assert bodies[1]["idempotency_key"] == bodies[0]["idempotency_key"]
    assert bodies[2]["idempotency_key"] == "inc-20261127-083000-a1b2c3-escalation-2"
    assert (first.escalationLevel, retried.escalationLevel, second.escalationLevel) == (2, 2, 3)
    assert first.assignee is None
    assert (
        first.message
        == "Escalated to level 2: incident.io paged escalation path 01PATHPLATFORM (escalation 01ESCALATION1)"
    )


def test_escalate_to_a_named_path_or_a_user() -> None:
    api = FakeIncidentIo({("POST", "/v2/escalations"): ESCALATION})
    provider, _ = make_provider(api, **CONFIGURED_IDS, escalationPathId="01PATHPLATFORM")

    by_policy = provider.escalate(_incident(), EscalationRequest(level=3, policy="DB"), "ana@example.com")
    provider.escalate(_incident(), EscalationRequest(user="bo@example.com"), "ana@example.com")
    provider.escalate(_incident(), EscalationRequest(user="01USERCARLA"), "ana@example.com")

    path, by_email, by_id = api.bodies("POST", "/v2/escalations")
    assert (path["escalation_path_id"], by_policy.escalationLevel, by_policy.escalationPolicy) == (
        "01PATHDATABASE",
        3,
        "DB",
    )
    assert (by_email["user_ids"], "escalation_path_id" in by_email) == (["01USERBO"], False)
    assert by_id["user_ids"] == ["01USERCARLA"]
    [lookup] = [r for r in api.requests if r.url.path == "/v2/users"]
    assert lookup.url.params["email"] == "bo@example.com"


def test_escalate_refuses_an_unknown_user_or_path_and_a_missing_target() -> None:
    api = FakeIncidentIo({})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(NotFound, match=re.escape("incident.io has no user zoe@example.com")):
        provider.escalate(_incident(), EscalationRequest(user="zoe@example.com"), "ana@example.com")
    with pytest.raises(NotFound, match=re.escape("incident.io has no escalation path named Payments")):
        provider.escalate(_incident(), EscalationRequest(policy="Payments"), "ana@example.com")
    with pytest.raises(
        Unsupported, match=re.escape("give a policy (an escalation path's name or id) or a user, or set escalationPath")
    ):
        provider.escalate(_incident(), EscalationRequest(level=2), "ana@example.com")
    assert ("POST", "/v2/escalations") not in api.routes()


# Get


def test_get_reads_an_incident_accepted_out_of_triage_as_acknowledged_with_its_lead_and_link() -> None:
    api = FakeIncidentIo({("GET", "/v2/incidents/01INCIDENT7"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    assert provider.get(_incident(providerData={"startedIn": "triage"})) == ProviderState(
        status=IncidentStatus.ACKNOWLEDGED, assignee="ana@example.com", url="https://app.incident.io/acme/incidents/7"
    )


def test_get_of_an_incident_created_active_acknowledges_nothing() -> None:
    api = FakeIncidentIo({("GET", "/v2/incidents/01INCIDENT7"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    state = provider.get(_incident(status=IncidentStatus.TRIGGERED, providerData={"startedIn": "live"}))

    assert state.status is IncidentStatus.TRIGGERED


def test_get_of_an_unknown_category_keeps_our_status_and_no_lead_is_no_assignee() -> None:
    answered = {**ANSWERED_INCIDENT, "incident_status": {"category": "archived"}, "incident_role_assignments": []}
    api = FakeIncidentIo({("GET", "/v2/incidents/01INCIDENT7"): {"incident": answered}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    state = provider.get(_incident(status=IncidentStatus.ACKNOWLEDGED))

    assert (state.status, state.assignee) == (IncidentStatus.ACKNOWLEDGED, None)


@pytest.mark.parametrize(
    "step",
    [
        lambda p, i: p.acknowledge(i, "ana@example.com"),
        lambda p, i: p.reassign(i, "bo@example.com", "ana@example.com"),
        lambda p, i: p.escalate(i, EscalationRequest(user="01USERBO"), "ana@example.com"),
        lambda p, i: p.resolve(i, "done", "ana@example.com"),
        lambda p, i: p.get(i),
    ],
)
def test_steps_on_an_incident_never_opened_in_incident_io_are_refused(
    step: Callable[[IncidentIoProvider, Incident], Any],
) -> None:
    api = FakeIncidentIo({})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(StepRefused, match=re.escape("was never opened in incident.io; run the trigger again")):
        step(provider, _incident(externalId=None))
    assert api.requests == []


# HTTP: headers, retries, errors


def test_requests_carry_the_bearer_key_to_the_default_host() -> None:
    api = FakeIncidentIo({("GET", "/v2/incidents/01INCIDENT7"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    provider.get(_incident())

    [request] = api.requests
    assert str(request.url) == "https://api.incident.io/v2/incidents/01INCIDENT7"
    assert request.headers["authorization"] == "Bearer secret-api-key"
    assert request.headers["accept"] == "application/json"


def test_a_configured_base_url_replaces_the_host_and_keeps_its_path() -> None:
    api = FakeIncidentIo({("GET", "/incident-io/v2/incidents/01INCIDENT7"): {"incident": ANSWERED_INCIDENT}})
    provider, _ = make_provider(api, **CONFIGURED_IDS, baseUrl="https://egress.internal.example/incident-io/")

    provider.get(_incident())

    assert str(api.requests[0].url) == "https://egress.internal.example/incident-io/v2/incidents/01INCIDENT7"


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    api = FakeIncidentIo(
        {
            ("POST", EDIT): [
                httpx.Response(429, headers={"Retry-After": "7"}, json={"type": "rate_limited", "status": 429}),
                httpx.Response(200, json={"incident": ANSWERED_INCIDENT}),
            ]
        }
    )
    provider, waits = make_provider(api, **CONFIGURED_IDS)

    provider.reassign(_incident(), "bo@example.com", "ana@example.com")

    assert waits == [7.0]
    assert api.writes() == [("POST", EDIT), ("POST", EDIT)]


def test_a_5xx_is_retried_within_the_bound_then_reported_as_retryable() -> None:
    api = FakeIncidentIo({("POST", EDIT): httpx.Response(503, text="upstream connect error")})
    provider, waits = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(ProviderApiError) as failed:
        provider.reassign(_incident(), "bo@example.com", "ana@example.com")

    assert len(api.writes()) == ACTION_RETRY_POLICY.max_attempts
    assert len(waits) == ACTION_RETRY_POLICY.max_attempts - 1
    assert (failed.value.status_code, failed.value.retryable) == (503, True)
    assert failed.value.message.startswith("incident.io answered 503 after 4 attempts")
    assert failed.value.message.endswith("upstream connect error")


def test_a_422_surfaces_incident_io_s_own_message_without_retrying() -> None:
    refusal = {
        "type": "validation_error",
        "status": 422,
        "request_id": "631766c4-b2ac-4c6c-9d3d-2bd6c2e1d4a0",
        "errors": [
            {
                "code": "is_required",
                "message": "A severity is required to open an incident",
                "source": {"field": "severity_id"},
            }
        ],
    }
    api = FakeIncidentIo({("POST", "/v2/incidents"): httpx.Response(422, json=refusal)})
    provider, waits = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(ProviderApiError) as failed:
        provider.trigger(_incident(externalId=None), [])

    assert failed.value.message == (
        "incident.io answered 422: severity_id: A severity is required to open an incident "
        "(request 631766c4-b2ac-4c6c-9d3d-2bd6c2e1d4a0)"
    )
    assert (failed.value.status_code, failed.value.retryable, waits, len(api.writes())) == (422, False, [], 1)


def test_a_401_says_what_incident_io_said() -> None:
    refusal = {
        "type": "authentication_error",
        "status": 401,
        "request_id": "req-1",
        "errors": [
            {"code": "missing_authorization_material", "message": "No authorization material provided in request"}
        ],
    }
    api = FakeIncidentIo({("GET", "/v2/incidents/01INCIDENT7"): httpx.Response(401, json=refusal)})
    provider, _ = make_provider(api, **CONFIGURED_IDS)

    with pytest.raises(
        ProviderApiError,
        match=re.escape("incident.io answered 401: No authorization material provided in request (request req-1)"),
    ):
        provider.get(_incident())


# Credentials


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ({}, "apiKey"),
        ({"apiKey": ""}, "apiKey"),
        ({"apiKey": "k", "baseUrl": "api.incident.io"}, "baseUrl"),
        ({"apiKey": "k", "visibility": "internal"}, "visibility"),
        ({"apiKey": "k", "severityIds": {"sev1": "01SEV"}}, "severityIds"),
    ],
)
def test_incomplete_credentials_are_a_configuration_error_naming_the_key(secret: dict[str, Any], named: str) -> None:
    context = ProviderContext(pager=_no_notifier, link=lambda _: None, credentials=lambda _: secret)

    with pytest.raises(ConfigurationError, match=f"the incidentio credentials are incomplete: {named}"):
        build(context.vendor(ProviderName.INCIDENTIO))


def test_credentials_defaults() -> None:
    credentials = Credentials.model_validate({"apiKey": "k"})

    assert (credentials.baseUrl, credentials.visibility, credentials.severityIds) == (
        "https://api.incident.io",
        "public",
        {},
    )
    assert credentials.webhookSecret is None


# Webhooks


def _sign(
    body: bytes, *, message_id: str = "msg_2Ot1", timestamp: int | None = None, secret: str = WEBHOOK_SECRET
) -> dict[str, str]:
    sent_at = str(int(NOW.timestamp()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{sent_at}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": sent_at,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


BODY = (
    b'{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":{"id":"01INCIDENT7"}}'
)


def test_a_genuine_signature_verifies() -> None:
    WEBHOOK.verify(_sign(BODY), BODY, WEBHOOK_SECRET, now=NOW)


def test_svix_header_names_and_a_rotated_secret_verify() -> None:
    headers = {name.replace("webhook-", "svix-"): value for name, value in _sign(BODY).items()}
    headers["svix-signature"] = "v1,c29tZXRoaW5nIGVsc2U= " + headers["svix-signature"]

    WEBHOOK.verify(headers, BODY, WEBHOOK_SECRET, now=NOW)


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (
            _sign(BODY, secret="whsec_" + base64.b64encode(b"someone-else-s-signing-key-32byt").decode()),
            BODY,
            "does not match",
        ),
        (_sign(BODY), BODY.replace(b"01INCIDENT7", b"01INCIDENT8"), "does not match"),
        ({**_sign(BODY), "webhook-id": "msg_other"}, BODY, "does not match"),
        (
            {**_sign(BODY), "webhook-signature": _sign(BODY)["webhook-signature"].replace("v1,", "v2,")},
            BODY,
            "does not match",
        ),
        (_sign(BODY, timestamp=int(NOW.timestamp()) - 301), BODY, "outside 300 s"),
        (_sign(BODY, timestamp=int(NOW.timestamp()) + 301), BODY, "outside 300 s"),
        ({**_sign(BODY), "webhook-timestamp": "yesterday"}, BODY, "not a number"),
        ({k: v for k, v in _sign(BODY).items() if k != "webhook-signature"}, BODY, "not signed by incident.io"),
        ({}, BODY, "not signed by incident.io"),
    ],
    ids=[
        "forged",
        "tampered-body",
        "tampered-id",
        "unknown-version",
        "stale",
        "future",
        "bad-timestamp",
        "unsigned",
        "no-headers",
    ],
)
def test_forged_tampered_and_stale_requests_are_refused(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason):
        WEBHOOK.verify(headers, body, WEBHOOK_SECRET, now=NOW)


def test_a_timestamp_inside_the_tolerance_verifies() -> None:
    WEBHOOK.verify(_sign(BODY, timestamp=int(NOW.timestamp()) - 299), BODY, WEBHOOK_SECRET, now=NOW)


@pytest.mark.parametrize(
    ("secret", "reason"), [("", "no incident.io webhook secret"), ("whsec_not base64!", "not a whsec_")]
)
def test_a_missing_or_broken_secret_fails_closed(secret: str, reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason):
        WEBHOOK.verify(_sign(BODY), BODY, secret, now=NOW)


@pytest.fixture(scope="module")
def examples(spec: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    """The spec's example payload of each incident.io webhook event, a fresh copy per call."""
    hooks = spec["x-webhooks"]

    def example(event_type: str) -> dict[str, Any]:
        found: dict[str, Any] = hooks[f"/x-webhooks/{event_type}"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["example"]
        return copy.deepcopy(found)

    return example


def test_a_status_update_event_reports_the_new_status_its_message_and_the_lead(
    examples: Callable[[str], dict[str, Any]],
) -> None:
    payload = examples("public_incident.incident_status_updated_v2")
    payload["public_incident.incident_status_updated_v2"]["new_status"]["category"] = "closed"

    assert WEBHOOK.events(payload) == [
        ProviderEvent(
            externalId="01FDAG4SAP5TYPT98WGR2N7W91",
            status=IncidentStatus.RESOLVED,
            assignee="lisa@incident.io",
            note="We're working on a fix, hoping to ship in the next 30 minutes",
            actor="incident.io",
            at="2021-08-17T13:28:57.801578Z",
        )
    ]


@pytest.mark.parametrize(("category", "status"), list(STATUS_OF_CATEGORY.items()))
def test_an_incident_update_event_reports_its_status_and_lead(
    examples: Callable[[str], dict[str, Any]], category: str, status: IncidentStatus
) -> None:
    payload = examples("public_incident.incident_updated_v2")
    payload["public_incident.incident_updated_v2"]["incident_status"]["category"] = category

    [event] = WEBHOOK.events(payload)

    assert (event.externalId, event.status, event.assignee, event.note) == (
        "01FDAG4SAP5TYPT98WGR2N7W91",
        status,
        "lisa@incident.io",
        None,
    )


def test_an_incident_without_a_lead_reports_no_assignee(examples: Callable[[str], dict[str, Any]]) -> None:
    payload = examples("public_incident.incident_updated_v2")
    payload["public_incident.incident_updated_v2"]["incident_role_assignments"] = []

    [event] = WEBHOOK.events(payload)

    assert (event.status, event.assignee) == (IncidentStatus.TRIGGERED, None)


@pytest.mark.parametrize(
    "event_type",
    [
        "private_incident.incident_updated_v2",
        "public_incident.incident_created_v2",
        "public_incident.follow_up_updated_v2",
        "public_alert.alert_created_v1",
    ],
)
def test_events_that_change_nothing_we_track_give_no_events(
    examples: Callable[[str], dict[str, Any]], event_type: str
) -> None:
    assert WEBHOOK.events(examples(event_type)) == []


def test_a_known_event_without_its_incident_is_malformed() -> None:
    payload = {
        "event_type": "public_incident.incident_status_updated_v2",
        "public_incident.incident_status_updated_v2": {},
    }

    with pytest.raises(MalformedRequest, match="incident"):
        WEBHOOK.events(payload)
    with pytest.raises(MalformedRequest, match=re.escape("incident.id")):
        WEBHOOK.events(
            {
                "event_type": "public_incident.incident_updated_v2",
                "public_incident.incident_updated_v2": {"incident_status": {}},
            }
        )
