"""Every request the ServiceNow adapter makes matches the documented Table API.

ServiceNow publishes no OpenAPI description, so prism has nothing to serve: `ServiceNowTableApi`
(tests/fakes/vendors/servicenow.py) is a small validating fake of the Table API written from the
documentation, which also keeps the records, so a test can follow one incident through all the steps.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from incident_core.errors import ProviderApiError, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineEntry, TimelineKind
from incident_core.providers.base import EscalationRequest
from incident_core.providers.registry import ProviderContext
from incident_core.providers.servicenow.adapter import ServiceNowProvider, build
from tests.fakes.vendors.servicenow import (
    CHOICES,
    CLIENT_ID,
    CLIENT_SECRET,
    INSTANCE,
    PASSWORD,
    USERNAME,
    ServiceNowTableApi,
)
from tests.providers import sample_alert, sample_incident

# The adapter against the fake


@pytest.fixture
def api() -> ServiceNowTableApi:
    api = ServiceNowTableApi()
    api.add("sys_user", user_name="ana", name="Ana Lee", email="ana@example.com", active="true")
    api.add("sys_user", user_name="bo", name="Bo Chen", email="bo@example.com", active="true")
    api.add("sys_user_group", name="Database", active="true")
    api.add("sys_user_group", name="SRE", active="true")
    api.add("cmdb_ci_service", name="checkout", operational_status="1")
    return api


def provider_for(api: ServiceNowTableApi, **secret: Any) -> ServiceNowProvider:
    credentials = {"instanceUrl": INSTANCE, "username": USERNAME, "password": PASSWORD, **secret}
    context = ProviderContext(
        pager=lambda: pytest.fail("ServiceNow pages nobody itself"),
        link=lambda identifier: f"https://app.getport.io/incidentEntity?identifier={identifier}",
        credentials=lambda name: credentials if name is ProviderName.SERVICENOW else {},
        transport=api.transport(),
    )
    return build(context.vendor(ProviderName.SERVICENOW))


def alert() -> AlertRecord:
    return sample_alert(externalId="a1b2")


def incident(**changes: Any) -> Incident:
    return sample_incident(ProviderName.SERVICENOW, **({"alerts": ("prometheus-a1b2",)} | changes))


def triggered(provider: ServiceNowProvider, **changes: Any) -> Incident:
    opened = incident(**changes)
    result = provider.trigger(opened, [alert()])
    return opened.model_copy(
        update={"externalId": result.externalId, "url": result.url, "providerData": result.providerData}
    )


def recorded(current: Incident, kind: TimelineKind) -> Incident:
    """The incident after the lifecycle recorded a step: its marks count the timeline entries of each kind."""
    entry = TimelineEntry(at="2026-11-27T10:00:00Z", kind=kind, actor="ana@example.com", text=kind.value)
    return current.model_copy(update={"timeline": (*current.timeline, entry)})


def sent(api: ServiceNowTableApi) -> list[tuple[str, str]]:
    return [(request.method, request.url.path) for request in api.requests]


def test_every_step_and_get_match_the_table_api(api: ServiceNowTableApi) -> None:
    sre = next(sys_id for sys_id, row in api.records["sys_user_group"].items() if row["name"] == "SRE")
    provider = provider_for(api, assignOnAcknowledge=True, assignmentGroupId=sre)

    current = triggered(provider)
    created = api.incidents()[0]
    assert current.externalId == created["sys_id"]
    assert current.providerData == {
        "sysId": created["sys_id"],
        "number": "INC0010001",
        "correlationId": "prometheus-a1b2",
    }
    assert (created["urgency"], created["impact"], created["priority"]) == ("1", "1", "1")
    assert created["business_service"] in api.records["cmdb_ci_service"]
    assert created["assignment_group"] == sre
    assert provider.get(current).status is IncidentStatus.TRIGGERED

    provider.acknowledge(current, "ana@example.com")
    current = recorded(current, TimelineKind.ACKNOWLEDGED)
    acknowledged = provider.get(current)
    assert (acknowledged.status, acknowledged.assignee) == (IncidentStatus.ACKNOWLEDGED, "ana@example.com")

    provider.reassign(current, "bo@example.com", "ana@example.com")
    current = recorded(current, TimelineKind.REASSIGNED)
    assert provider.get(current).assignee == "bo@example.com"
    provider.reassign(current, "Database", "ana@example.com")
    current = recorded(current, TimelineKind.REASSIGNED)
    assert provider.get(current).assignee is None
    provider.associate_services(current, ["checkout", "payments"], "ana@example.com")
    current = recorded(current, TimelineKind.SERVICES_ASSOCIATED)
    provider.associate_services(current, ["payments"], "ana@example.com")
    current = recorded(current, TimelineKind.SERVICES_ASSOCIATED)
    provider.escalate(current, EscalationRequest(policy="SRE", user="ana@example.com"), "bo@example.com")
    current = recorded(current, TimelineKind.ESCALATED)
    provider.add_note(current, "Rolled back 4.2.1", "ana@example.com")
    current = recorded(current, TimelineKind.NOTE)
    provider.resolve(current, "Rolled back the release", "ana@example.com")

    assert api.violations == []
    record = api.records["incident"][current.externalId or ""]
    assert (record["state"], record["close_code"]) == ("6", "Solution provided")
    assert record["close_notes"].startswith("Rolled back the release")
    assert record["assigned_to"] != ""
    assert record["assignment_group"] == sre
    assert provider.get(current).status is IncidentStatus.RESOLVED
    assert [name for _, name, _ in api.journal] == ["work_notes"] * 7
    # Fields and work notes are separate writes: a field set twice is harmless, a journal entry is not.
    patches = [path for method, path in sent(api) if method == "PATCH"]
    assert patches == [f"/api/now/table/incident/{current.externalId}"] * (7 + 5)
    assert [path for method, path in sent(api) if method == "POST"] == [
        "/api/now/table/incident",
        "/api/now/table/task_ci",
    ]
    assert {row["ci_item"] for row in api.records["task_ci"].values()} == {created["business_service"]}
    looked_up = {path.rsplit("/", 1)[1] for method, path in sent(api) if method == "GET"}
    assert looked_up == {
        "incident",
        "sys_user",
        "sys_user_group",
        "cmdb_ci_service",
        "sys_journal_field",
        "task_ci",
        "sys_choice",
        current.externalId,
    }
    assert api.violations == []


def test_a_retried_trigger_reuses_the_open_record_instead_of_opening_another(api: ServiceNowTableApi) -> None:
    provider = provider_for(api)
    first = triggered(provider)
    again = provider.trigger(incident(), [alert()])

    assert api.violations == []
    assert len(api.incidents()) == 1
    assert again.externalId == first.externalId
    assert "already open" in again.message
    assert sent(api)[-1] == ("GET", "/api/now/table/incident")


def test_a_new_alert_episode_after_resolving_opens_a_new_record(api: ServiceNowTableApi) -> None:
    provider = provider_for(api)
    first = triggered(provider)
    provider.resolve(first, "Fixed", "ana@example.com")
    second = provider.trigger(incident(identifier="inc-20261127-110000-def456"), [alert()])

    assert api.violations == []
    assert len(api.incidents()) == 2
    assert second.externalId != first.externalId


def test_oauth_client_credentials_and_a_trigger_without_alerts_or_services(api: ServiceNowTableApi) -> None:
    provider = provider_for(api, username=None, password=None, clientId=CLIENT_ID, clientSecret=CLIENT_SECRET)
    current = triggered(provider, alerts=(), services=(), severity=Severity.INFO)
    provider.escalate(current, EscalationRequest(level=3), "ana@example.com")

    assert api.violations == []
    record = api.incidents()[0]
    assert record["correlation_id"] == current.identifier
    assert (record["urgency"], record["impact"]) == ("1", "1")
    token_request, *table_requests = api.requests
    assert token_request.url.path == "/oauth_token.do"
    assert all(request.headers["authorization"] == "Bearer access-1" for request in table_requests)


def test_a_service_unknown_to_servicenow_is_only_listed_in_a_work_note(api: ServiceNowTableApi) -> None:
    provider = provider_for(api)
    current = triggered(provider, services=("payments",))
    result = provider.associate_services(current, ["ledger"], "ana@example.com")

    assert api.violations == []
    assert api.incidents()[0]["business_service"] == ""
    assert "ledger: not a business service" in result.message


def test_a_state_changed_in_servicenow_reads_back_through_get(api: ServiceNowTableApi) -> None:
    provider = provider_for(api)
    current = triggered(provider)
    api.records["incident"][current.externalId or ""].update(state="3", hold_reason="4")
    assert provider.get(current).status is IncidentStatus.ACKNOWLEDGED
    api.records["incident"][current.externalId or ""].update(state="8", active="false")
    assert provider.get(current).status is IncidentStatus.RESOLVED
    assert api.violations == []


def test_escalating_past_the_top_is_refused_before_any_request(api: ServiceNowTableApi) -> None:
    provider = provider_for(api)
    current = triggered(provider)
    before = len(api.requests)
    with pytest.raises(Unsupported, match="no escalation levels"):
        provider.escalate(current, EscalationRequest(), "ana@example.com")
    assert len(api.requests) == before


# The fake refuses what the Table API would not take (so the tests above can fail)


def test_a_close_code_the_instance_does_not_know_is_flagged_and_surfaces_as_the_error(
    api: ServiceNowTableApi,
) -> None:
    provider = provider_for(api, closeCode="Fixed")
    current = triggered(provider)
    with pytest.raises(ProviderApiError, match="close_code 'Fixed' is not one of") as raised:
        provider.resolve(current, "Fixed it", "ana@example.com")
    assert raised.value.status_code == 400
    assert api.violations == [
        f"PATCH /api/now/table/incident/{current.externalId}: close_code 'Fixed' is not one of "
        f"{sorted(CHOICES['close_code'])}"
    ]


INCIDENT, RECORD = "/api/now/table/incident", "/api/now/table/incident/{id}"
WRONG_REQUESTS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "misspelt field": (
        "POST",
        INCIDENT,
        {"json": {"short_description": "x", "urgencey": "1"}},
        "urgencey is not a writable incident field",
    ),
    "number for a choice": (
        "POST",
        INCIDENT,
        {"json": {"short_description": "x", "urgency": 1}},
        "urgency must be a string",
    ),
    "urgency out of range": (
        "POST",
        INCIDENT,
        {"json": {"short_description": "x", "urgency": "4"}},
        "urgency '4' is not one of",
    ),
    "system field": ("POST", INCIDENT, {"json": {"short_description": "x", "sys_id": "0" * 32}}, "a system field"),
    "no short description": ("POST", INCIDENT, {"json": {"description": "x"}}, "needs a short_description"),
    "title too long": ("POST", INCIDENT, {"json": {"short_description": "x" * 161}}, "longer than 160"),
    "resolve without close code": ("PATCH", RECORD, {"json": {"state": "6"}}, "needs close_code and close_notes"),
    "on hold without reason": ("PATCH", RECORD, {"json": {"state": "3"}}, "needs a hold_reason"),
    "user name for a reference": ("PATCH", RECORD, {"json": {"assigned_to": "ana"}}, "not a sys_user record"),
    "unknown parameter": (
        "GET",
        INCIDENT,
        {"params": {"sysparm_limits": "1"}},
        "sysparm_limits is not a documented parameter",
    ),
    "query and filters": (
        "GET",
        INCIDENT,
        {"params": {"sysparm_query": "state=1", "active": "true"}},
        "mutually exclusive",
    ),
    "unknown query field": ("GET", INCIDENT, {"params": {"sysparm_query": "correlation=x"}}, "incident.correlation"),
    "unreadable query": ("GET", INCIDENT, {"params": {"sysparm_query": "state NOT IN6,7"}}, "unreadable condition"),
    "unknown field asked for": ("GET", RECORD, {"params": {"sysparm_fields": "assignee"}}, "incident.assignee"),
    "bad dot-walk": ("GET", RECORD, {"params": {"sysparm_fields": "assigned_to.mail"}}, "assigned_to.mail"),
    "create on a record path": ("POST", RECORD, {"json": {"short_description": "x"}}, "not a Table API method"),
    "unknown table": ("GET", "/api/now/table/incidents", {}, "no such Table API path"),
    "xml asked for": ("GET", INCIDENT, {"headers": {"Accept": "application/xml"}}, "Accept must be application/json"),
    "form-encoded body": ("PATCH", RECORD, {"data": {"work_notes": "x"}}, "Content-Type must be application/json"),
    "wrong password": ("GET", INCIDENT, {"auth": (USERNAME, "wrong")}, "not authenticated"),
}


@pytest.mark.parametrize("case", WRONG_REQUESTS)
def test_a_wrong_request_is_flagged(api: ServiceNowTableApi, case: str) -> None:
    sys_id = triggered(provider_for(api)).externalId or ""
    assert api.violations == []
    method, path, shared_options, reason = WRONG_REQUESTS[case]
    options = dict(shared_options)
    client = httpx.Client(
        base_url=INSTANCE,
        transport=api.transport(),
        auth=options.pop("auth", (USERNAME, PASSWORD)),
        headers={"Accept": "application/json", **options.pop("headers", {})},
    )
    response = client.request(method, path.format(id=sys_id), **options)

    assert response.status_code >= 400
    assert response.json()["status"] == "failure"
    assert len(api.violations) == 1
    assert reason in api.violations[0]
