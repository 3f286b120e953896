"""Every request the ServiceNow adapter makes matches the documented Table API.

ServiceNow publishes no OpenAPI description, so prism has nothing to serve: `ServiceNowTableApi` below is
a small validating fake of the Table API (`httpx.MockTransport`) written from the documentation
(ServiceNow/ServiceNowDocs `c_TableAPI.md`, australia release; ../shared/spec/provider-api-facts.md §3).
It checks the method and path, the `sysparm_*` parameters each method documents, the headers, and every
body field's name and value; valid requests get answers in the documented shape (`{"result": ...}`), and
it keeps the records, so a test can follow one incident through all the steps.

Assumptions, where the documentation leaves a choice to the instance:
- The newer default `close_code` choices, and resolving (state 6) or closing (7) needs `close_code` and
  `close_notes`, as the incident form and most data policies demand; On Hold (3) needs `hold_reason`.
- Reference fields hold a sys_id of an existing record (or "" to clear them) unless
  `sysparm_input_display_value=true`; a made-up sys_id is flagged, though an instance would store it.
- `sysparm_fields` may dot-walk a reference (`assigned_to.email`); a field that does not exist is flagged
  (an instance ignores it silently, which hides the mistake).
- With `X-no-response-body: true` an update answers 200 with an empty body.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from incident_core.errors import ProviderApiError, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers import ProviderContext
from incident_core.providers.base import EscalationRequest
from incident_core.providers.servicenow import ServiceNowProvider, build
from tests.providers import sample_alert, sample_incident

INSTANCE = "https://acme.service-now.com"
USERNAME, PASSWORD, TOKEN = "port.integration", "s3cret", "oauth-access-token"
SYS_ID = re.compile(r"^[0-9a-f]{32}$")

# Field names as the documentation's example records and parameter tables list them.
_INCIDENT_FIELDS = """
active activity_due additional_assignee_list approval approval_history approval_set assigned_to assignment_group
business_duration business_service business_stc calendar_duration calendar_stc caller_id category caused_by
child_incidents close_code close_notes closed_at closed_by cmdb_ci comments comments_and_work_notes company
contact_type correlation_display correlation_id delivery_plan delivery_task description due_date escalation
expected_start follow_up group_list hold_reason impact incident_state knowledge location made_sla notify number
opened_at opened_by order parent parent_incident priority problem_id reassignment_count rejection_goto reopen_count
resolved_at resolved_by rfc severity short_description sla_due state subcategory sys_class_name sys_created_by
sys_created_on sys_domain sys_domain_path sys_id sys_mod_count sys_tags sys_updated_by sys_updated_on time_worked
upon_approval upon_reject urgency user_input watch_list wf_activity work_end work_notes work_notes_list work_start
"""
_WRITABLE_INCIDENT_FIELDS = """
short_description description urgency impact state hold_reason close_code close_notes assigned_to assignment_group
work_notes comments correlation_id correlation_display caller_id cmdb_ci business_service
"""
_GET_LIST_PARAMS = """
sysparm_display_value sysparm_exclude_reference_link sysparm_fields sysparm_limit sysparm_no_count sysparm_offset
sysparm_query sysparm_query_category sysparm_query_no_domain sysparm_suppress_pagination_header sysparm_view
"""
_GET_RECORD_PARAMS = """
sysparm_display_value sysparm_exclude_reference_link sysparm_fields sysparm_query_no_domain sysparm_view
"""
_UPDATE_PARAMS = """
sysparm_display_value sysparm_fields sysparm_input_display_value sysparm_query_no_domain sysparm_view
"""
_CREATE_PARAMS = """
sysparm_display_value sysparm_exclude_reference_link sysparm_fields sysparm_input_display_value sysparm_view
"""
_BOOLEAN_PARAMS = """
sysparm_exclude_reference_link sysparm_no_count sysparm_query_no_domain sysparm_suppress_pagination_header
sysparm_input_display_value
"""

INCIDENT_FIELDS = frozenset(_INCIDENT_FIELDS.split())
WRITABLE_INCIDENT_FIELDS = frozenset(_WRITABLE_INCIDENT_FIELDS.split())
"""What an integration writes; the rest are computed by the instance or belong to other processes."""
JOURNAL_FIELDS = frozenset({"work_notes", "comments"})
CHOICES = {
    "urgency": {"1", "2", "3"},
    "impact": {"1", "2", "3"},
    "state": {"1", "2", "3", "6", "7", "8"},
    "hold_reason": {"1", "3", "4", "5"},
    "close_code": {
        "Solution provided",
        "Workaround provided",
        "Resolved by caller",
        "Resolved by change",
        "Resolved by problem",
        "Resolved by request",
        "Duplicate",
        "Known error",
        "No resolution provided",
        "User error",
    },
}
MAX_LENGTH = {"short_description": 160, "description": 4000, "correlation_id": 100, "correlation_display": 100}

TABLES: dict[str, frozenset[str]] = {
    "incident": INCIDENT_FIELDS,
    "sys_user": frozenset({"sys_id", "user_name", "name", "email", "active"}),
    "sys_user_group": frozenset({"sys_id", "name", "description", "active"}),
    "cmdb_ci_service": frozenset({"sys_id", "name", "operational_status"}),
}
REFERENCES = {
    "assigned_to": "sys_user",
    "caller_id": "sys_user",
    "opened_by": "sys_user",
    "assignment_group": "sys_user_group",
    "business_service": "cmdb_ci_service",
    "cmdb_ci": "cmdb_ci_service",  # cmdb_ci references any CI; services are the only CIs the fake holds
}

# The query parameters each Table API method documents.
GET_LIST_PARAMS = frozenset(_GET_LIST_PARAMS.split())
GET_RECORD_PARAMS = frozenset(_GET_RECORD_PARAMS.split())
UPDATE_PARAMS = frozenset(_UPDATE_PARAMS.split())
CREATE_PARAMS = frozenset(_CREATE_PARAMS.split())
BOOLEAN_PARAMS = frozenset(_BOOLEAN_PARAMS.split())
PATH = re.compile(r"^/api/now(?:/v[12])?/table/(?P<table>[a-z0-9_]+)(?:/(?P<sys_id>[^/]+))?$")
CONDITION = re.compile(r"^(?P<field>[a-z_][a-z0-9_.]*)(?P<op>NOT IN|IN|!=|=|LIKE|STARTSWITH|ENDSWITH)(?P<value>.*)$")
ORDER = re.compile(r"^ORDERBY(?:DESC)?(?P<field>[a-z_][a-z0-9_.]*)$")


def failure(status: int, message: str, detail: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "detail": detail}, "status": "failure"})


@dataclass
class ServiceNowTableApi:
    """The Table API of one instance, validating every request; `violations` lists what it refused."""

    records: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: {name: {} for name in TABLES})
    journal: list[tuple[str, str, str]] = field(default_factory=list)
    """(incident sys_id, journal field, entry) for every work note or comment written."""
    requests: list[httpx.Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """One line per refused request: what was sent, and every problem found in it."""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add(self, table: str, **values: str) -> str:
        sys_id = f"{next(self._ids):032x}"
        self.records[table][sys_id] = {"sys_id": sys_id, **values}
        return sys_id

    def incidents(self) -> list[dict[str, str]]:
        return list(self.records["incident"].values())

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        where = f"{request.method} {request.url.path}"
        if not self._authenticated(request):
            self.violations.append(f"{where}: not authenticated")
            return failure(401, "User Not Authenticated", "Required to provide Auth information")
        problems: list[str] = []
        response = self._answer(request, problems)
        if problems:
            self.violations.append(f"{where}: {'; '.join(problems)}")
            return failure(400, "Invalid request", "; ".join(problems))
        return response

    def _authenticated(self, request: httpx.Request) -> bool:
        basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return request.headers.get("authorization") in (f"Basic {basic}", f"Bearer {TOKEN}")

    def _answer(self, request: httpx.Request, problems: list[str]) -> httpx.Response:
        if request.headers.get("accept") != "application/json":
            problems.append(f"Accept must be application/json, not {request.headers.get('accept')!r}")
        no_body = request.headers.get("x-no-response-body")
        if no_body not in (None, "true", "false"):
            problems.append(f"X-no-response-body must be true or false, not {no_body!r}")
        match = PATH.match(request.url.path)
        if match is None or match["table"] not in TABLES:
            problems.append(f"no such Table API path: {request.url.path}")
            return failure(400, "Invalid table")
        table, sys_id = match["table"], match["sys_id"]
        params = dict(request.url.params.multi_items())
        if len(params) != len(request.url.params.multi_items()):
            problems.append("a query parameter is repeated")
        route: dict[tuple[str, bool], Callable[[], httpx.Response]] = {
            ("GET", False): lambda: self._list(table, params, problems),
            ("GET", True): lambda: self._read(table, sys_id, params, problems),
            ("POST", False): lambda: self._create(table, request, params, problems),
            ("PATCH", True): lambda: self._update(table, sys_id, request, params, problems),
            ("PUT", True): lambda: self._update(table, sys_id, request, params, problems),
        }
        handler = route.get((request.method, sys_id is not None))
        if handler is None:
            problems.append(f"{request.method} is not a Table API method on {request.url.path}")
            return failure(405, "Method not Supported")
        return handler()

    # The methods

    def _list(self, table: str, params: dict[str, str], problems: list[str]) -> httpx.Response:
        filters = {name: value for name, value in params.items() if not name.startswith("sysparm_")}
        self._check_params(table, params, GET_LIST_PARAMS, problems, filters=filters)
        if filters and "sysparm_query" in params:
            problems.append("name-value filters and sysparm_query are mutually exclusive")
        conditions, order = self._parse_query(table, params.get("sysparm_query", ""), problems)
        conditions += [(name, "=", value) for name, value in filters.items()]
        rows = [row for row in self.records[table].values() if all(_holds(row, *c) for c in conditions)]
        for order_field, descending in reversed(order):
            rows.sort(key=lambda row, name=order_field: row.get(name, ""), reverse=descending)
        offset = int(params.get("sysparm_offset", "0") or 0)
        limit = int(params.get("sysparm_limit", "10000") or 10000)
        shown = [self._view(table, row, params) for row in rows[offset : offset + limit]]
        return httpx.Response(200, json={"result": shown}, headers={"X-Total-Count": str(len(rows))})

    def _read(self, table: str, sys_id: str, params: dict[str, str], problems: list[str]) -> httpx.Response:
        self._check_params(table, params, GET_RECORD_PARAMS, problems)
        row = self.records[table].get(sys_id)
        if row is None:
            return failure(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        return httpx.Response(200, json={"result": self._view(table, row, params)})

    def _create(
        self, table: str, request: httpx.Request, params: dict[str, str], problems: list[str]
    ) -> httpx.Response:
        self._check_params(table, params, CREATE_PARAMS, problems)
        fields = self._body(table, request, params, problems, current={})
        if table == "incident" and not fields.get("short_description"):
            problems.append("an incident needs a short_description")
        if problems:
            return failure(400, "Invalid request")
        number = f"INC{10000 + len(self.records['incident']) + 1:07d}"
        defaults = {name: "" for name in INCIDENT_FIELDS if name != "sys_id"}
        defaults |= {"number": number, "state": "1", "incident_state": "1", "active": "true"}
        defaults |= {"urgency": "3", "impact": "3", "sys_class_name": "incident"}
        defaults["sys_created_on"] = f"2026-11-27 10:{len(self.records['incident']):02d}:00"
        sys_id = self.add(table, **defaults)
        self._apply(sys_id, fields)
        headers = {"Location": f"{INSTANCE}/api/now/table/{table}/{sys_id}"}
        if request.headers.get("x-no-response-body") == "true":
            return httpx.Response(201, headers=headers)
        return httpx.Response(
            201, json={"result": self._view(table, self.records[table][sys_id], params)}, headers=headers
        )

    def _update(
        self, table: str, sys_id: str, request: httpx.Request, params: dict[str, str], problems: list[str]
    ) -> httpx.Response:
        self._check_params(table, params, UPDATE_PARAMS, problems)
        row = self.records[table].get(sys_id)
        if row is None:
            return failure(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        fields = self._body(table, request, params, problems, current=row)
        if problems:
            return failure(400, "Invalid request")
        self._apply(sys_id, fields)
        if request.headers.get("x-no-response-body") == "true":
            return httpx.Response(200)
        return httpx.Response(200, json={"result": self._view(table, row, params)})

    # Validation

    def _check_params(
        self,
        table: str,
        params: Mapping[str, str],
        documented: frozenset[str],
        problems: list[str],
        filters: Mapping[str, str] | None = None,
    ) -> None:
        for name, value in params.items():
            if filters is not None and name in filters:
                if name not in TABLES[table]:
                    problems.append(f"filter on unknown field {table}.{name}")
            elif name not in documented:
                problems.append(f"{name} is not a documented parameter of this method")
            elif name in BOOLEAN_PARAMS and value not in ("true", "false"):
                problems.append(f"{name} must be true or false, not {value!r}")
            elif name == "sysparm_display_value" and value not in ("true", "false", "all"):
                problems.append(f"sysparm_display_value must be true, false or all, not {value!r}")
            elif name in ("sysparm_limit", "sysparm_offset") and not value.isdigit():
                problems.append(f"{name} must be a number, not {value!r}")
            elif name == "sysparm_view" and value not in ("desktop", "mobile", "both"):
                problems.append(f"sysparm_view must be desktop, mobile or both, not {value!r}")
            elif name == "sysparm_fields":
                for requested in value.split(","):
                    if not self._known_field(table, requested):
                        problems.append(f"sysparm_fields names unknown field {table}.{requested}")

    def _known_field(self, table: str, name: str) -> bool:
        reference, _, walked = name.partition(".")
        if not walked:
            return name in TABLES[table]
        target = REFERENCES.get(reference)
        return reference in TABLES[table] and target is not None and self._known_field(target, walked)

    def _parse_query(
        self, table: str, query: str, problems: list[str]
    ) -> tuple[list[tuple[str, str, str]], list[tuple[str, bool]]]:
        conditions: list[tuple[str, str, str]] = []
        order: list[tuple[str, bool]] = []
        for part in filter(None, query.split("^")):
            ordering, condition = ORDER.match(part), CONDITION.match(part)
            if ordering is not None:
                order.append((ordering["field"], part.startswith("ORDERBYDESC")))
                name = ordering["field"]
            elif condition is not None:
                conditions.append((condition["field"], condition["op"], condition["value"]))
                name = condition["field"]
            else:
                problems.append(f"sysparm_query has an unreadable condition {part!r}")
                continue
            if not self._known_field(table, name):
                problems.append(f"sysparm_query names unknown field {table}.{name}")
        return conditions, order

    def _body(
        self,
        table: str,
        request: httpx.Request,
        params: Mapping[str, str],
        problems: list[str],
        current: Mapping[str, str],
    ) -> dict[str, str]:
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            problems.append(f"Content-Type must be application/json, not {request.headers.get('content-type')!r}")
        try:
            body = json.loads(request.content or b"null")
        except json.JSONDecodeError:
            problems.append("the body is not JSON")
            return {}
        if not isinstance(body, dict):
            problems.append("the body must be a JSON object of field names and values")
            return {}
        if table != "incident":
            problems.append(f"the adapter has no business writing to {table}")
            return {}
        by_display_value = params.get("sysparm_input_display_value") == "true"
        fields: dict[str, str] = {}
        for name, value in body.items():
            problem = _field_problem(name, value)
            if problem is None and name in REFERENCES and value:
                resolved = self._reference(REFERENCES[name], value, by_display_value)
                problem = None if resolved is not None else f"{name} {value!r} is not a {REFERENCES[name]} record"
                value = resolved
            if problem is not None:
                problems.append(problem)
            else:
                fields[name] = value
        after = {**current, **body}
        if body.get("state") == "3" and not after.get("hold_reason"):
            problems.append("On Hold (state 3) needs a hold_reason")
        if body.get("state") in ("6", "7"):
            missing = [name for name in ("close_code", "close_notes") if not after.get(name)]
            if missing:
                problems.append(f"resolving needs {' and '.join(missing)}")
        return fields

    def _reference(self, table: str, value: str, by_display_value: bool) -> str | None:
        if by_display_value:
            return next((sys_id for sys_id, row in self.records[table].items() if row.get("name") == value), None)
        return value if SYS_ID.match(value) and value in self.records[table] else None

    # State

    def _apply(self, sys_id: str, fields: Mapping[str, str]) -> None:
        row = self.records["incident"][sys_id]
        for name, value in fields.items():
            if name in JOURNAL_FIELDS:
                self.journal.append((sys_id, name, value))
            else:
                row[name] = value
        if "assignment_group" in fields or "assigned_to" in fields:
            row["reassignment_count"] = str(int(row.get("reassignment_count") or 0) + 1)
        row["incident_state"] = row["state"]
        row["active"] = "false" if row["state"] in ("7", "8") else "true"
        row["priority"] = str(min(5, int(row["urgency"]) + int(row["impact"]) - 1))
        row["sys_mod_count"] = str(int(row.get("sys_mod_count") or 0) + 1)

    def _view(self, table: str, row: Mapping[str, str], params: Mapping[str, str]) -> dict[str, Any]:
        names = params["sysparm_fields"].split(",") if "sysparm_fields" in params else list(row)
        links = params.get("sysparm_exclude_reference_link") != "true"
        view: dict[str, Any] = {}
        for name in names:
            reference, _, walked = name.partition(".")
            if walked:
                target = self.records[REFERENCES[reference]].get(row.get(reference, ""), {})
                view[name] = target.get(walked, "")
            elif name in REFERENCES and row.get(name) and links:
                link = f"{INSTANCE}/api/now/table/{REFERENCES[name]}/{row[name]}"
                view[name] = {"link": link, "value": row[name]}
            else:
                view[name] = row.get(name, "")
        return view


def _field_problem(name: str, value: Any) -> str | None:
    if name not in WRITABLE_INCIDENT_FIELDS:
        return f"{name} is {'a system field' if name.startswith('sys_') else 'not a writable incident field'}"
    if not isinstance(value, str):
        return f"{name} must be a string (choice and reference values are strings), not {value!r}"
    if name in CHOICES and value not in CHOICES[name]:
        return f"{name} {value!r} is not one of {sorted(CHOICES[name])}"
    if name in MAX_LENGTH and len(value) > MAX_LENGTH[name]:
        return f"{name} is longer than {MAX_LENGTH[name]} characters"
    return None


def _holds(row: Mapping[str, str], name: str, op: str, value: str) -> bool:
    actual = row.get(name, "")
    tests: dict[str, Callable[[], bool]] = {
        "=": lambda: actual == value,
        "!=": lambda: actual != value,
        "IN": lambda: actual in value.split(","),
        "NOT IN": lambda: actual not in value.split(","),
        "LIKE": lambda: value in actual,
        "STARTSWITH": lambda: actual.startswith(value),
        "ENDSWITH": lambda: actual.endswith(value),
    }
    return tests[op]()


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
        notifier=lambda: pytest.fail("ServiceNow pages nobody itself"),
        link=lambda identifier: f"https://app.getport.io/incidentEntity?identifier={identifier}",
        credentials=lambda name: credentials if name is ProviderName.SERVICENOW else {},
        transport=api.transport(),
    )
    return build(context)


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
    acknowledged = provider.get(current)
    assert (acknowledged.status, acknowledged.assignee) == (IncidentStatus.ACKNOWLEDGED, "ana@example.com")

    provider.reassign(current, "bo@example.com", "ana@example.com")
    assert provider.get(current).assignee == "bo@example.com"
    provider.reassign(current, "Database", "ana@example.com")
    assert provider.get(current).assignee is None
    provider.associate_services(current, ["checkout", "payments"], "ana@example.com")
    provider.associate_services(current, ["payments"], "ana@example.com")
    provider.escalate(current, EscalationRequest(policy="SRE", user="ana@example.com"), "bo@example.com")
    provider.add_note(current, "Rolled back 4.2.1", "ana@example.com")
    provider.resolve(current, "Rolled back the release", "ana@example.com")

    assert api.violations == []
    record = api.records["incident"][current.externalId or ""]
    assert (record["state"], record["close_code"]) == ("6", "Solution provided")
    assert record["close_notes"].startswith("Rolled back the release")
    assert record["assigned_to"] != ""
    assert record["assignment_group"] == sre
    assert provider.get(current).status is IncidentStatus.RESOLVED
    assert [name for _, name, _ in api.journal] == ["work_notes"] * 7
    patches = [path for method, path in sent(api) if method == "PATCH"]
    assert patches == [f"/api/now/table/incident/{current.externalId}"] * 8
    looked_up = {path.rsplit("/", 1)[1] for method, path in sent(api) if method == "GET"}
    assert looked_up == {"incident", "sys_user", "sys_user_group", "cmdb_ci_service", current.externalId}
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


def test_oauth_token_and_a_trigger_without_alerts_or_services(api: ServiceNowTableApi) -> None:
    provider = provider_for(api, username=None, password=None, oauthToken=TOKEN)
    current = triggered(provider, alerts=(), services=(), severity=Severity.INFO)
    provider.escalate(current, EscalationRequest(level=3), "ana@example.com")

    assert api.violations == []
    record = api.incidents()[0]
    assert record["correlation_id"] == current.identifier
    assert (record["urgency"], record["impact"]) == ("1", "1")
    assert all(request.headers["authorization"] == f"Bearer {TOKEN}" for request in api.requests)


def test_a_service_unknown_to_servicenow_is_only_listed_in_a_work_note(api: ServiceNowTableApi) -> None:
    provider = provider_for(api)
    current = triggered(provider, services=("payments",))
    result = provider.associate_services(current, ["ledger"], "ana@example.com")

    assert api.violations == []
    assert api.incidents()[0]["business_service"] == ""
    assert "ledger is not a business service" in result.message


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
