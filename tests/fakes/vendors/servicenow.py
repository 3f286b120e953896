"""A ServiceNow instance's Table API, validating every request against the documentation and keeping the
records, so a test can follow one incident through all the steps (and see each work note once or twice).

ServiceNow publishes no OpenAPI description, so prism has nothing to serve: this is a small validating fake
written from the documentation (ServiceNow/ServiceNowDocs `c_TableAPI.md`, australia release;
../shared/spec/provider-api-facts.md §3 and provider-api-facts-2.md §3). It checks the method and path, the
`sysparm_*` parameters each method documents, the headers, and every body field's name and value; valid
requests get answers in the documented shape (`{"result": ...}`).

Assumptions, where the documentation leaves a choice to the instance:
- The newer default `close_code` choices, and resolving (state 6) or closing (7) needs `close_code` and
  `close_notes`, as the incident form and most data policies demand; On Hold (3) needs `hold_reason`.
- Reference fields hold a sys_id of an existing record (or "" to clear them) unless
  `sysparm_input_display_value=true`; a made-up sys_id is flagged, though an instance would store it.
- `sysparm_fields` may dot-walk a reference (`assigned_to.email`); a field that does not exist is flagged
  (an instance ignores it silently, which hides the mistake).
- With `X-no-response-body: true` an update answers 200 with an empty body.
- Work notes are journal entries, readable as `sys_journal_field` records (`element_id`, `element`, `value`);
  affected CIs are `task_ci` records (`task`, `ci_item`); choices are `sys_choice` records.
- OAuth (`POST /oauth_token.do`, form-encoded): the client-credentials and password grants issue access tokens
  that expire after `token_lifetime` seconds of the fake's clock (ServiceNow's default is 1800); the password
  grant also issues a refresh token. A request with an expired token answers 401.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

INSTANCE = "https://acme.service-now.com"
USERNAME, PASSWORD = "port.integration", "s3cret"
CLIENT_ID, CLIENT_SECRET = "port-oauth-client", "client-s3cret"
TOKEN_LIFETIME = 1799
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
    "task_ci": frozenset({"sys_id", "task", "ci_item"}),
    "sys_journal_field": frozenset({"sys_id", "element_id", "element", "name", "value"}),
    "sys_choice": frozenset({"sys_id", "name", "element", "value", "label", "inactive"}),
}
WRITABLE_TABLES = frozenset({"incident", "task_ci"})
REFERENCES = {
    "assigned_to": "sys_user",
    "caller_id": "sys_user",
    "opened_by": "sys_user",
    "assignment_group": "sys_user_group",
    "business_service": "cmdb_ci_service",
    "cmdb_ci": "cmdb_ci_service",  # cmdb_ci references any CI; services are the only CIs the fake holds
    "ci_item": "cmdb_ci_service",
    "task": "incident",
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
    clock: Callable[[], float] = lambda: 0.0
    """Epoch seconds, for the expiry of OAuth tokens."""
    tokens: dict[str, float] = field(default_factory=dict)
    """Issued access tokens and when they expire."""
    refresh_tokens: set[str] = field(default_factory=set)
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
        if request.url.path == "/oauth_token.do":
            return self._token(request)
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
        presented = request.headers.get("authorization", "")
        bearer = presented.removeprefix("Bearer ")
        return presented == f"Basic {basic}" or self.tokens.get(bearer, 0.0) > self.clock()

    def _token(self, request: httpx.Request) -> httpx.Response:
        """`oauth_token.do`: form-encoded parameters in the body only; the grants ServiceNow documents."""
        if request.method != "POST" or request.headers.get("content-type") != "application/x-www-form-urlencoded":
            self.violations.append("oauth_token.do takes a form-encoded POST")
            return httpx.Response(400, json={"error": "invalid_request"})
        form = dict(parse_qsl(request.content.decode()))
        client_ok = (form.get("client_id"), form.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)
        grant = form.get("grant_type")
        granted = client_ok and (
            grant == "client_credentials"
            or (grant == "password" and (form.get("username"), form.get("password")) == (USERNAME, PASSWORD))
            or (grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens)
        )
        if request.url.query or not granted:
            return httpx.Response(401, json={"error": "access_denied", "error_description": "access_denied"})
        token = f"access-{len(self.tokens) + 1}"
        self.tokens[token] = self.clock() + TOKEN_LIFETIME
        answer = {"access_token": token, "scope": "useraccount", "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}
        if grant == "password":
            answer["refresh_token"] = f"refresh-{len(self.tokens)}"
            self.refresh_tokens.add(answer["refresh_token"])
        return httpx.Response(200, json=answer)

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
        if table != "incident":
            sys_id = self.add(table, **fields)
            return httpx.Response(201, json={"result": self._view(table, self.records[table][sys_id], params)})
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
        if table not in WRITABLE_TABLES:
            problems.append(f"the adapter has no business writing to {table}")
            return {}
        by_display_value = params.get("sysparm_input_display_value") == "true"
        fields: dict[str, str] = {}
        for name, value in body.items():
            problem = _field_problem(name, value) if table == "incident" else _related_problem(table, name, value)
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
                self.add("sys_journal_field", element_id=sys_id, element=name, name="incident", value=value)
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


def _related_problem(table: str, name: str, value: Any) -> str | None:
    if name not in TABLES[table] or name == "sys_id":
        return f"{name} is not a writable {table} field"
    if not isinstance(value, str):
        return f"{name} must be a string, not {value!r}"
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
