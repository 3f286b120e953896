"""The ServiceNow adapter: its mappings, the requests each step sends, retries, errors and its secret."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from incident_core.errors import ConfigurationError, NotFound, ProviderApiError, StepRefused, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest
from incident_core.providers.registry import ProviderContext
from incident_core.providers.servicenow.adapter import ServiceNowProvider, build, correlation_id
from incident_core.providers.servicenow.credentials import DEFAULT_URGENCY_IMPACT as URGENCY_IMPACT_OF_SEVERITY
from incident_core.providers.servicenow.models import STATUS_OF_STATE
from tests.fakes import FakeClock
from tests.providers import sample_alert, sample_incident

INSTANCE = "https://acme.service-now.com"
SYS_ID = "9d385017c611228701d22104cc95c371"
USER_ID = "681b365ec0a80164000fb0b05854a0cd"
GROUP_ID = "287ebd7da9fe198100f92cc8d1d2154e"
SERVICE_ID = "26da329f0a0a0bb400f69d8159bc753d"
SECRET = {"instanceUrl": INSTANCE, "username": "port.integration", "password": "s3cret"}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from `answer` and keeps every request."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def bodies(self, method: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.method == method]

    def on(self, table: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/api/now/table/{table}"]


def ok(result: Any = None, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"result": result}) if result is not None else httpx.Response(status)


def table_api(
    *,
    open_records: list[dict[str, str]] | None = None,
    users: dict[str, str] | None = None,
    groups: dict[str, str] | None = None,
    services: dict[str, str] | None = None,
    record: dict[str, str] | None = None,
    journal: list[str] | None = None,
    close_codes: list[str] | None = None,
) -> Recorder:
    """Answers like an instance holding the given open incidents, people (email → sys_id), groups, services,
    work notes (`journal`) and close codes; an OAuth token for any client."""
    found = {
        "/api/now/table/sys_user": ("email", users or {}),
        "/api/now/table/sys_user_group": ("name", groups or {}),
        "/api/now/table/cmdb_ci_service": ("name", services or {}),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/oauth_token.do":
            return httpx.Response(200, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 1799})
        if request.method == "GET" and path == "/api/now/table/sys_journal_field":
            wanted = request.url.params["sysparm_query"].partition("valueLIKE")[2]
            return ok([{"sys_id": "j1"} for entry in journal or [] if wanted in entry])
        if request.method == "GET" and path == "/api/now/table/sys_choice":
            return ok([{"value": code, "label": code} for code in close_codes or []])
        if request.method == "GET" and path == "/api/now/table/task_ci":
            return ok([])
        if request.method == "GET" and path == "/api/now/table/incident":
            return ok(open_records or [])
        if request.method == "GET" and path in found:
            key, known = found[path]
            sys_id = known.get(request.url.params[key])
            return ok([{"sys_id": sys_id}] if sys_id else [])
        if request.method == "GET":
            return ok(record or {})
        if request.method == "POST":
            return ok({"sys_id": SYS_ID, "number": "INC0010002", "state": "1"}, status=201)
        return ok()

    return Recorder(answer)


def provider_for(handler: Handler, clock: FakeClock | None = None, **secret: Any) -> ServiceNowProvider:
    credentials = {**SECRET, **secret}
    context = ProviderContext(
        pager=lambda: pytest.fail("ServiceNow pages nobody itself"),
        link=lambda identifier: f"https://app.getport.io/incidentEntity?identifier={identifier}",
        credentials=lambda name: credentials if name is ProviderName.SERVICENOW else {},
        transport=httpx.MockTransport(handler),
    )
    provider = build(context.vendor(ProviderName.SERVICENOW))
    clock = clock or FakeClock()
    provider.http.clock, provider.http.sleep = clock, clock.sleep
    return provider


def alert(**changes: Any) -> AlertRecord:
    fields = {
        "externalId": "a1b2",
        "title": "Checkout error rate above 5%",
        "description": "5xx ratio 7.2% over 5m on checkout-api",
        "startedAt": "2026-11-27T09:58:00Z",
        "rawPayload": {
            "generatorURL": "https://prometheus.example.com/graph?g0.expr=rate",
            "annotations": {"runbook_url": "https://runbooks.example.com/checkout", "summary": "high errors"},
        },
    }
    return sample_alert(**(fields | changes))


def incident(**changes: Any) -> Incident:
    fields = {
        "identifier": "inc-20261127-100000-abc123",
        "title": "Checkout error rate above 5%",
        "description": "5xx ratio 7.2% over 5m on checkout-api",
        "alerts": ("prometheus-a1b2",),
        "externalId": SYS_ID,
        "providerData": {"sysId": SYS_ID, "number": "INC0010002", "correlationId": "prometheus-a1b2"},
    }
    return sample_incident(ProviderName.SERVICENOW, **(fields | changes))


# Mappings


def test_every_severity_has_an_urgency_and_impact_and_worse_means_a_higher_priority() -> None:
    assert set(URGENCY_IMPACT_OF_SEVERITY) == set(Severity)
    # ServiceNow's default priority lookup: urgency + impact - 1 (1 critical ... 5 planning).
    priorities = [sum(URGENCY_IMPACT_OF_SEVERITY[s]) - 1 for s in (Severity.CRITICAL, Severity.HIGH, Severity.WARNING)]
    assert priorities == [1, 2, 3]
    assert sum(URGENCY_IMPACT_OF_SEVERITY[Severity.INFO]) - 1 == 5


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("1", IncidentStatus.TRIGGERED),
        ("2", IncidentStatus.ACKNOWLEDGED),
        ("3", IncidentStatus.ACKNOWLEDGED),
        ("6", IncidentStatus.RESOLVED),
        ("7", IncidentStatus.RESOLVED),
        ("8", IncidentStatus.RESOLVED),
    ],
)
def test_servicenow_states_as_our_statuses(state: str, status: IncidentStatus) -> None:
    assert STATUS_OF_STATE[state] is status


# Trigger


def test_trigger_searches_by_correlation_id_then_opens_one_carrying_the_alert() -> None:
    api = table_api(services={"checkout": SERVICE_ID})
    result = provider_for(api, callerId=USER_ID, assignmentGroupId=GROUP_ID).trigger(incident(), [alert()])

    search, lookup, create = api.requests
    assert search.url.params["sysparm_query"] == (
        "correlation_id=prometheus-a1b2^stateNOT IN6,7,8^ORDERBYDESCsys_created_on"
    )
    assert (search.url.params["sysparm_fields"], search.url.params["sysparm_limit"]) == ("sys_id,number,state", "1")
    assert (lookup.url.path, lookup.url.params["name"]) == ("/api/now/table/cmdb_ci_service", "checkout")
    assert (create.method, create.url.path) == ("POST", "/api/now/table/incident")
    body = json.loads(create.content)
    assert {k: v for k, v in body.items() if k != "description"} == {
        "short_description": "Checkout error rate above 5%",
        "urgency": "1",
        "impact": "1",
        "correlation_id": "prometheus-a1b2",
        "correlation_display": "Port",
        "caller_id": USER_ID,
        "assignment_group": GROUP_ID,
        "business_service": SERVICE_ID,
        "cmdb_ci": SERVICE_ID,
    }
    description = body["description"]
    for expected in (
        "Severity: critical",
        "Services: checkout",
        "Port incident inc-20261127-100000-abc123: "
        "https://app.getport.io/incidentEntity?identifier=inc-20261127-100000-abc123",
        "Alert: Checkout error rate above 5%",
        "Prometheus, severity critical, status open, since 2026-11-27T09:58:00Z",
        "Dedup key: prometheus-a1b2",
        "5xx ratio 7.2% over 5m on checkout-api",
        "Link: https://prometheus.example.com/graph?g0.expr=rate",
        "Link: https://runbooks.example.com/checkout",
    ):
        assert expected in description
    assert description.count("5xx ratio 7.2%") == 1
    assert result.externalId == SYS_ID
    assert result.url == f"{INSTANCE}/nav_to.do?uri=incident.do%3Fsys_id%3D{SYS_ID}"
    assert result.providerData == {"sysId": SYS_ID, "number": "INC0010002", "correlationId": "prometheus-a1b2"}
    assert result.message == "Opened ServiceNow incident INC0010002 (urgency 1, impact 1)"


def test_trigger_reuses_the_open_record_for_the_same_key_and_creates_nothing() -> None:
    api = table_api(open_records=[{"sys_id": SYS_ID, "number": "INC0010002", "state": "2"}])
    result = provider_for(api).trigger(incident(externalId=None, providerData={}), [alert()])

    assert [r.method for r in api.requests] == ["GET"]
    assert result.externalId == SYS_ID
    assert result.message == "ServiceNow incident INC0010002 is already open for prometheus-a1b2; reused it"


def test_trigger_cuts_the_title_and_description_to_the_fields_lengths() -> None:
    api = table_api()
    long_alert = alert(description="x" * 5000)
    provider_for(api).trigger(incident(title="t" * 300, services=()), [long_alert])

    body = api.bodies("POST")[0]
    assert len(body["short_description"]) == 160
    assert len(body["description"]) == 4000
    assert "Port incident inc-20261127-100000-abc123: https://app.getport.io/" in body["description"]  # it comes first
    assert "business_service" not in body


def test_the_correlation_id_is_the_first_alert_key_else_the_incident_and_always_fits() -> None:
    assert correlation_id(incident()) == "prometheus-a1b2"
    assert correlation_id(incident(alerts=())) == "inc-20261127-100000-abc123"
    long_key = incident(alerts=("datadog-" + "9" * 120,))
    assert correlation_id(long_key) == correlation_id(long_key)
    assert correlation_id(long_key).startswith("port-")
    assert len(correlation_id(long_key)) <= 100
    assert correlation_id(incident(alerts=("sentry-a^b",))).startswith("port-")


def test_a_create_whose_answer_is_lost_is_looked_for_before_it_is_sent_again() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return ok([]) if request.method == "GET" else httpx.Response(503, text="Service Unavailable")

    api = Recorder(answer)
    with pytest.raises(ProviderApiError) as raised:
        provider_for(api).trigger(incident(services=()), [alert()])

    assert [r.method for r in api.requests] == ["GET", *["POST", "GET"] * 3, "POST"]
    assert raised.value.retryable is True
    assert raised.value.status_code == 503


def test_a_create_that_landed_though_its_answer_was_lost_is_adopted() -> None:
    created = {"sys_id": SYS_ID, "number": "INC0010002", "state": "1"}
    searches = iter([ok([]), ok([created])])

    def answer(request: httpx.Request) -> httpx.Response:
        return next(searches) if request.method == "GET" else httpx.Response(504, text="Gateway Timeout")

    api = Recorder(answer)
    result = provider_for(api).trigger(incident(services=()), [alert()])

    assert [r.method for r in api.requests] == ["GET", "POST", "GET"]
    assert result.externalId == SYS_ID


# Retries and errors


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), ok({"state": "1"})])
    api = Recorder(lambda request: next(answers))
    clock = FakeClock()
    provider_for(api, clock).get(incident())

    assert clock.sleeps == [7.0]
    assert [r.method for r in api.requests] == ["GET", "GET"]


def test_a_429_without_retry_after_waits_until_the_rate_limit_resets() -> None:
    clock = FakeClock()
    answers = iter([httpx.Response(429, headers={"X-RateLimit-Reset": str(int(clock.now) + 12)}), ok({"state": "1"})])
    provider_for(Recorder(lambda request: next(answers)), clock).get(incident())

    assert clock.sleeps == [12.0]


def test_a_5xx_is_retried_within_the_bound_then_reported() -> None:
    api = Recorder(lambda request: httpx.Response(503, text="Service Unavailable"))
    clock = FakeClock()
    with pytest.raises(ProviderApiError, match="after 4 attempts") as raised:
        provider_for(api, clock).resolve(incident(), "Fixed", "ana@example.com")

    assert len(api.requests) == 4
    assert len(clock.sleeps) == 3
    assert raised.value.retryable is True


def test_a_4xx_is_not_retried_and_carries_servicenows_own_words() -> None:
    refusal = {
        "error": {"message": "Operation Failed", "detail": "ACL Exception Update Failed due to security constraints"},
        "status": "failure",
    }
    api = Recorder(lambda request: httpx.Response(403, json=refusal))
    with pytest.raises(ProviderApiError) as raised:
        provider_for(api).acknowledge(incident(), "ana@example.com")

    assert len(api.requests) == 1
    assert raised.value.status_code == 403
    assert raised.value.retryable is False
    assert raised.value.message == (
        "ServiceNow answered 403: Operation Failed (ACL Exception Update Failed due to security constraints)"
    )


def test_an_error_that_is_not_servicenows_json_shape_is_reported_as_it_came() -> None:
    api = Recorder(lambda request: httpx.Response(401, text="<html>User Not Authenticated</html>"))
    with pytest.raises(ProviderApiError, match="answered 401: <html>User Not Authenticated"):
        provider_for(api).get(incident())


def test_an_answer_without_a_result_is_an_error_not_a_crash() -> None:
    api = Recorder(lambda request: httpx.Response(200, json={"records": []}))
    with pytest.raises(ProviderApiError, match="without a result"):
        provider_for(api).get(incident())


# The other steps


def test_acknowledge_moves_to_in_progress_and_says_it_is_not_a_real_ack() -> None:
    api = table_api()
    result = provider_for(api).acknowledge(incident(), "ana@example.com")

    state, note = (r for r in api.requests if r.method == "PATCH")
    assert (state.url.path, note.url.path) == (f"/api/now/table/incident/{SYS_ID}",) * 2
    assert state.headers["X-no-response-body"] == "true"
    assert json.loads(state.content) == {"state": "2"}
    assert "Acknowledged by ana@example.com" in json.loads(note.content)["work_notes"]
    assert "not a real ack" in result.message
    assert result.assignee is None


def test_acknowledge_can_assign_the_acknowledging_person() -> None:
    api = table_api(users={"ana@example.com": USER_ID})
    result = provider_for(api, assignOnAcknowledge=True).acknowledge(incident(), "ana@example.com")

    lookup = api.requests[0]
    assert lookup.url.path == "/api/now/table/sys_user"
    assert dict(lookup.url.params) == {
        "email": "ana@example.com",
        "active": "true",
        "sysparm_fields": "sys_id",
        "sysparm_limit": "1",
    }
    assert api.bodies("PATCH")[0]["assigned_to"] == USER_ID
    assert result.assignee == "ana@example.com"


def test_a_person_unknown_to_servicenow_fails_the_step_by_name() -> None:
    api = table_api()
    with pytest.raises(NotFound, match=r"no active user with the email bo@example\.com"):
        provider_for(api).reassign(incident(), "bo@example.com", "ana@example.com")
    assert [r.method for r in api.requests] == ["GET"]


def test_reassign_to_a_person_sets_assigned_to_and_to_a_team_sets_the_group() -> None:
    api = table_api(users={"bo@example.com": USER_ID}, groups={"Database": GROUP_ID})
    provider = provider_for(api)
    to_person = provider.reassign(incident(), "bo@example.com", "ana@example.com")
    to_team = provider.reassign(incident(), "Database", "ana@example.com")

    person, person_note, team, team_note = api.bodies("PATCH")
    assert person == {"assigned_to": USER_ID}
    assert team == {"assignment_group": GROUP_ID, "assigned_to": ""}
    assert person_note["work_notes"].startswith("Reassigned to bo@example.com by ana@example.com in Port.")
    assert team_note["work_notes"].startswith("Reassigned to Database by ana@example.com in Port.")
    assert (to_person.assignee, to_team.assignee) == ("bo@example.com", "Database")
    assert to_team.message == "Moved ServiceNow INC0010002 to assignment group Database"


def test_associate_sets_the_service_and_ci_makes_each_service_an_affected_ci_and_notes_them_all() -> None:
    other = "0d8d2ac4db5f1010b4f0d1c3ca9619aa"
    api = table_api(services={"checkout": SERVICE_ID, "payments": other})
    result = provider_for(api).associate_services(incident(), ["checkout", "payments", "ledger"], "ana@example.com")

    fields, note = api.bodies("PATCH")
    assert fields == {"business_service": SERVICE_ID, "cmdb_ci": SERVICE_ID}
    assert note["work_notes"].startswith(
        "Affected services (set by ana@example.com in Port): checkout, payments, ledger"
    )
    assert api.bodies("POST") == [{"task": SYS_ID, "ci_item": SERVICE_ID}, {"task": SYS_ID, "ci_item": other}]
    assert result.message == (
        "ServiceNow INC0010002: its service is checkout; added checkout, payments to its affected CIs; "
        "ledger: not a business service (cmdb_ci_service) in ServiceNow; listed them all in a work note"
    )


def test_associate_with_a_service_servicenow_does_not_know_only_writes_the_work_note() -> None:
    api = table_api()
    result = provider_for(api).associate_services(incident(), ["ledger"], "ana@example.com")

    (body,) = api.bodies("PATCH")
    assert set(body) == {"work_notes"}
    assert "ledger: not a business service (cmdb_ci_service) in ServiceNow" in result.message


@pytest.mark.parametrize(
    ("severity", "level", "urgency_impact"),
    [
        (Severity.WARNING, None, ("1", "1")),
        (Severity.INFO, None, ("2", "2")),
        (Severity.INFO, 3, ("1", "1")),
        (Severity.HIGH, 2, ("1", "1")),
    ],
)
def test_escalate_raises_urgency_and_impact_one_step_per_level(
    severity: Severity, level: int | None, urgency_impact: tuple[str, str]
) -> None:
    api = table_api()
    result = provider_for(api).escalate(incident(severity=severity), EscalationRequest(level=level), "ana@example.com")

    body, note = api.bodies("PATCH")
    assert (body["urgency"], body["impact"]) == urgency_impact
    assert result.escalationLevel == (level or 2)
    assert "work_notes" in note


def test_escalate_to_a_policy_and_user_hands_the_record_over() -> None:
    api = table_api(users={"bo@example.com": USER_ID}, groups={"SRE": GROUP_ID})
    result = provider_for(api).escalate(
        incident(), EscalationRequest(policy="SRE", user="bo@example.com"), "ana@example.com"
    )

    body, _ = api.bodies("PATCH")
    assert (body["assignment_group"], body["assigned_to"]) == (GROUP_ID, USER_ID)
    assert (result.escalationPolicy, result.assignee, result.escalationLevel) == ("SRE", "bo@example.com", 2)
    assert result.message == (
        "Escalated ServiceNow INC0010002 to level 2: urgency 1, impact 1, handed to assignment group SRE and "
        "bo@example.com"
    )


def test_escalating_a_critical_incident_with_nowhere_to_go_is_unsupported() -> None:
    api = table_api()
    with pytest.raises(Unsupported) as raised:
        provider_for(api).escalate(incident(), EscalationRequest(), "ana@example.com")

    assert raised.value.message == (
        "ServiceNow has no escalation levels and INC0010002 is already at urgency 1 and impact 1: escalate to a "
        "policy (an assignment group) or a user instead."
    )
    assert api.requests == []


def test_add_note_writes_a_marked_work_note_naming_the_author() -> None:
    api = table_api()
    provider_for(api).add_note(incident(), "Rolled back 4.2.1", "ana@example.com")
    assert api.bodies("PATCH") == [
        {"work_notes": "Rolled back 4.2.1\n\n(ana@example.com, from Port)\n\n[port:inc-20261127-100000-abc123:note:1]"}
    ]
    (search,) = api.on("sys_journal_field")
    assert search.url.params["sysparm_query"] == (
        f"element_id={SYS_ID}^element=work_notes^valueLIKE[port:inc-20261127-100000-abc123:note:1]"
    )


def test_a_work_note_an_earlier_attempt_wrote_is_not_written_again() -> None:
    api = table_api(journal=["Rolled back 4.2.1\n\n[port:inc-20261127-100000-abc123:note:1]"])
    result = provider_for(api).add_note(incident(), "Rolled back 4.2.1", "ana@example.com")
    assert api.bodies("PATCH") == []
    assert result.message == "The work note was already on ServiceNow INC0010002"


def test_resolve_sends_state_6_with_the_configured_close_code_and_notes() -> None:
    api = table_api()
    provider = provider_for(api, closeCode="Solved (Permanently)")
    result = provider.resolve(incident(), "Rolled back", "ana@example.com")

    assert api.bodies("PATCH") == [
        {
            "state": "6",
            "close_code": "Solved (Permanently)",
            "close_notes": "Rolled back\n\nResolved by ana@example.com in Port.",
        }
    ]
    assert result.message == "Resolved ServiceNow INC0010002 (close code Solved (Permanently))"


def test_resolving_what_servicenow_already_resolved_is_done() -> None:
    api = table_api(record={"sys_id": SYS_ID, "state": "6"})
    result = provider_for(api).resolve(incident(), "Rolled back", "ana@example.com")
    assert api.bodies("PATCH") == []
    assert result.message == "ServiceNow INC0010002 was already resolved there"


def test_a_close_code_the_instance_does_not_have_is_named_with_the_secret_before_resolving() -> None:
    api = table_api(close_codes=["Solution provided", "Workaround provided"])
    provider = provider_for(api, closeCode="Fixed")
    provider.http.credentials_in = "the secret incident-lifecycle/servicenow"

    with pytest.raises(ConfigurationError) as raised:
        provider.resolve(incident(), "Rolled back", "ana@example.com")

    assert raised.value.message == (
        "closeCode in the secret incident-lifecycle/servicenow is 'Fixed', which is not a close code of this "
        "ServiceNow instance; it has: Solution provided, Workaround provided"
    )
    assert api.bodies("PATCH") == []


@pytest.mark.parametrize(
    ("record", "status", "assignee"),
    [
        ({"state": "1", "active": "true", "assigned_to.email": ""}, IncidentStatus.TRIGGERED, None),
        (
            {"state": "2", "active": "true", "assigned_to.email": "bo@example.com"},
            IncidentStatus.ACKNOWLEDGED,
            "bo@example.com",
        ),
        ({"state": "6", "active": "true", "assigned_to.email": ""}, IncidentStatus.RESOLVED, None),
        # An instance on the old state model: its own codes, and `active` tells open from closed.
        ({"state": "4", "active": "true", "assigned_to.email": ""}, IncidentStatus.ACKNOWLEDGED, None),
        ({"state": "9", "active": "false", "assigned_to.email": ""}, IncidentStatus.RESOLVED, None),
    ],
)
def test_get_reads_the_state_and_the_assignees_email(
    record: dict[str, str], status: IncidentStatus, assignee: str | None
) -> None:
    api = table_api(record={"sys_id": SYS_ID, "number": "INC0010002", **record})
    state = provider_for(api).get(incident())

    (request,) = api.requests
    assert request.url.path == f"/api/now/table/incident/{SYS_ID}"
    assert request.url.params["sysparm_fields"] == "sys_id,number,state,active,assigned_to.email"
    assert (state.status, state.assignee) == (status, assignee)
    assert state.url == f"{INSTANCE}/nav_to.do?uri=incident.do%3Fsys_id%3D{SYS_ID}"


def test_a_step_on_an_incident_servicenow_never_received_is_refused() -> None:
    api = table_api()
    with pytest.raises(StepRefused, match="has no ServiceNow record yet"):
        provider_for(api).add_note(incident(externalId=None, providerData={}), "x", "ana@example.com")
    assert api.requests == []


# The secret


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ({"username": "u", "password": "p"}, "instanceUrl"),
        ({"instanceUrl": "http://acme.service-now.com", "oauthToken": "t"}, "instanceUrl"),
        ({"instanceUrl": "https://[::1", "oauthToken": "t"}, "instanceUrl"),
        ({"instanceUrl": INSTANCE}, "give clientId and clientSecret (OAuth), or username and password (Basic)"),
        ({"instanceUrl": INSTANCE, "username": "u"}, "password is required"),
        ({"instanceUrl": INSTANCE, "password": "p"}, "username is required"),
        ({"instanceUrl": INSTANCE, "clientId": "c"}, "clientId and clientSecret go together"),
        ({"instanceUrl": INSTANCE, "oauthToken": "t"}, "oauthToken is a static access token, which expires"),
        ({"instanceUrl": INSTANCE, "username": "u", "password": "p", "callerId": "Ana Lee"}, "callerId"),
        ({"instanceUrl": INSTANCE, "username": "u", "password": "p", "urgencyImpact": {"info": [4, 3]}}, "less"),
    ],
)
def test_an_incomplete_secret_is_a_configuration_error_naming_the_key(secret: dict[str, str], named: str) -> None:
    context = ProviderContext(
        pager=lambda: pytest.fail("ServiceNow pages nobody itself"),
        link=lambda identifier: None,
        credentials=lambda name: secret,
    )
    with pytest.raises(ConfigurationError, match="servicenow credentials are incomplete") as raised:
        build(context.vendor(ProviderName.SERVICENOW))
    assert named in raised.value.message


@pytest.mark.parametrize(
    ("instance_url", "base"),
    [
        ("acme", "https://acme.service-now.com"),
        ("acme.service-now.com", "https://acme.service-now.com"),
        ("https://acme.service-now.com/", "https://acme.service-now.com"),
        ("https://itsm.example.com/servicenow", "https://itsm.example.com/servicenow"),
    ],
)
def test_the_instance_or_a_self_hosted_base_url_is_where_requests_go(instance_url: str, base: str) -> None:
    api = table_api(record={"state": "1"})
    state = provider_for(api, instanceUrl=instance_url).get(incident())

    assert str(api.requests[0].url).startswith(f"{base}/api/now/table/incident/{SYS_ID}?")
    assert state.url == f"{base}/nav_to.do?uri=incident.do%3Fsys_id%3D{SYS_ID}"


def test_basic_or_bearer_authorization_and_json_accept() -> None:
    basic, bearer = table_api(record={"state": "1"}), table_api(record={"state": "1"})
    provider_for(basic).get(incident())
    provider_for(bearer, username=None, password=None, clientId="c", clientSecret="s").get(incident())

    expected_basic = base64.b64encode(b"port.integration:s3cret").decode()
    assert basic.requests[0].headers["Authorization"] == f"Basic {expected_basic}"
    token, read = bearer.requests
    assert (token.url.path, token.content) == (
        "/oauth_token.do",
        b"grant_type=client_credentials&client_id=c&client_secret=s",
    )
    assert read.headers["Authorization"] == "Bearer tok"
    assert basic.requests[0].headers["Accept"] == "application/json"
