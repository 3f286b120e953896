"""ServiceNow: incidents as records of the `incident` table, through the Table API.

API: the Table API at its default URL `/api/now/table/{table}` (the latest version, v2: a query that
matches nothing answers 200 with an empty `result` list; v1 answered 404). Auth is Basic
(`username`/`password`) or an OAuth 2.0 access token (`oauthToken`, sent as a Bearer token). There is no
published OpenAPI description; the facts are in ../shared/spec/provider-api-facts.md §3.

Quirks this adapter lives with:

- No idempotency key. The incident carries `correlation_id` (its first alert's dedup key, else its Port
  identifier); `trigger` searches for an open record with it before creating one, and the create itself
  is sent once (a retried POST after a lost answer could open a second record): a failed create is
  retryable, and the retried trigger searches first.
- No acknowledge state: acknowledging moves the record to In Progress (state 2), which pages no one and
  stops nothing. No escalation levels either: escalating raises urgency and impact (ServiceNow derives
  the priority) and may hand the record to an assignment group (the request's policy) or a person.
- Reference fields (`assigned_to`, `assignment_group`, `business_service`) take sys_ids: people are found
  in `sys_user` by email, groups in `sys_user_group` and services in `cmdb_ci_service` by name.
- Choice fields are strings (`"state": "2"`). `work_notes` is a journal: every write appends an entry,
  so a PATCH retried after a lost answer may add its note twice.
- Resolving needs `close_code` and `close_notes` on most instances (data policies); the close code's
  values are the instance's own (`closeCode`, "Solution provided" on current releases).
- Rate limits are set per instance by its admin; a 429 carries `Retry-After` (seconds) and
  `X-RateLimit-Reset` (Unix time), which `VendorHttp` honours. Errors read
  `{"error": {"message", "detail"}, "status": "failure"}`.
- No signed webhooks: changes made in ServiceNow are picked up by `get` (state and `assigned_to.email`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from incident_core.errors import ProviderApiError, StepRefused, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest, ProviderResult, ProviderState, parse_credentials
from incident_core.providers.context import incident_context
from incident_core.providers.http import VendorHttp, default_error_message, vendor_client
from incident_core.retry import RetryPolicy

if TYPE_CHECKING:
    from incident_core.providers import ProviderContext

VENDOR = "ServiceNow"
TABLE_API = "/api/now/table"
INCIDENT_TABLE = f"{TABLE_API}/incident"
USER_TABLE = f"{TABLE_API}/sys_user"
GROUP_TABLE = f"{TABLE_API}/sys_user_group"
SERVICE_TABLE = f"{TABLE_API}/cmdb_ci_service"
SYS_ID_PATTERN = r"^[0-9a-f]{32}$"

# Field lengths of the incident table's default dictionary: longer values are cut off by the instance,
# and a cut-off correlation_id would no longer match the search that guards against duplicates.
SHORT_DESCRIPTION_MAX = 160
DESCRIPTION_MAX = 4000
CORRELATION_ID_MAX = 100

STATE_NEW = "1"
STATE_IN_PROGRESS = "2"
STATE_ON_HOLD = "3"
STATE_RESOLVED = "6"
STATE_CLOSED = "7"
STATE_CANCELED = "8"
CLOSED_STATES = (STATE_RESOLVED, STATE_CLOSED, STATE_CANCELED)

URGENCY_IMPACT_OF_SEVERITY: dict[Severity, tuple[int, int]] = {
    Severity.CRITICAL: (1, 1),  # priority 1 - Critical
    Severity.HIGH: (1, 2),  # priority 2 - High
    Severity.WARNING: (2, 2),  # priority 3 - Moderate
    Severity.INFO: (3, 3),  # priority 5 - Planning
}
"""Our severity as ServiceNow's urgency and impact (1 high, 2 medium, 3 low); the instance derives priority."""

STATUS_OF_STATE: dict[str, IncidentStatus] = {
    STATE_NEW: IncidentStatus.TRIGGERED,
    STATE_IN_PROGRESS: IncidentStatus.ACKNOWLEDGED,
    STATE_ON_HOLD: IncidentStatus.ACKNOWLEDGED,
    STATE_RESOLVED: IncidentStatus.RESOLVED,
    STATE_CLOSED: IncidentStatus.RESOLVED,
    STATE_CANCELED: IncidentStatus.RESOLVED,
}
"""ServiceNow's incident states (the Helsinki+ state model) as our statuses; On Hold is being worked on."""

CREATE_ONCE = RetryPolicy(max_attempts=1)
"""Creating is not idempotent: the create is sent once, and a retried trigger searches before it creates."""


class Credentials(BaseModel):
    """The ServiceNow secret: the instance, and Basic credentials or an OAuth access token."""

    model_config = ConfigDict(frozen=True)

    instanceUrl: str = Field(min_length=1)
    """`https://acme.service-now.com`, a custom or self-hosted base URL, or just the instance name `acme`."""
    username: str | None = Field(default=None, min_length=1)
    password: str | None = Field(default=None, min_length=1)
    oauthToken: str | None = Field(default=None, min_length=1)
    """An OAuth 2.0 access token (from the instance's `oauth_token.do`), sent as `Authorization: Bearer`."""
    callerId: str | None = Field(default=None, pattern=SYS_ID_PATTERN)
    """sys_id of the `sys_user` set as caller on incidents this bundle opens (instances often require one)."""
    assignmentGroupId: str | None = Field(default=None, pattern=SYS_ID_PATTERN)
    """sys_id of the `sys_user_group` new incidents are assigned to."""
    assignOnAcknowledge: bool = False
    """Set `assigned_to` to the acknowledging person (found in `sys_user` by email) when acknowledging."""
    closeCode: str = Field(default="Solution provided", min_length=1)
    """The `close_code` choice sent on resolve; the values are the instance's own."""

    @field_validator("instanceUrl")
    @classmethod
    def _instance_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if "://" not in value:
            value = f"https://{value}" if "." in value else f"https://{value}.service-now.com"
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"is not a URL: {exc}") from exc
        if url.scheme != "https" or not url.host or url.query or url.fragment:
            raise ValueError("must be an https URL of the instance (no query), or the instance name")
        return value

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> Credentials:
        if self.oauthToken and (self.username or self.password):
            raise ValueError("give username and password, or oauthToken, not both")
        if self.username and not self.password:
            raise ValueError("password is required with username")
        if self.password and not self.username:
            raise ValueError("username is required with password")
        if not self.oauthToken and not self.username:
            raise ValueError("give username and password (Basic), or oauthToken")
        return self

    @property
    def authorization(self) -> str:
        if self.oauthToken:
            return f"Bearer {self.oauthToken}"
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {basic}"


def servicenow_error_message(response: httpx.Response) -> str:
    """ServiceNow's `{"error": {"message", "detail"}}` as one sentence; other bodies as usual."""
    try:
        body = response.json()
    except ValueError:
        return default_error_message(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not error.get("message"):
        return default_error_message(response)
    message, detail = str(error["message"]), error.get("detail")
    return f"{message} ({detail})" if detail and detail != message else message


def correlation_id(incident: Incident) -> str:
    """What `correlation_id` holds: the first alert's dedup key (so ServiceNow can correlate it with the
    monitoring tool), else the incident's identifier. A key too long for the field, or holding the
    encoded-query separator `^`, is replaced by a digest so the duplicate search still matches it."""
    key = incident.alerts[0] if incident.alerts else incident.identifier
    if len(key) <= CORRELATION_ID_MAX and "^" not in key:
        return key
    return f"port-{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def raised(base: int, level: int) -> int:
    """Urgency or impact at an escalation level: one step more urgent per level above the first."""
    return max(1, base - (level - 1))


def _result(body: Any) -> Any:
    if not isinstance(body, dict) or "result" not in body:
        raise ProviderApiError(
            f"{VENDOR} answered without a result: {json.dumps(body)[:300]}", status_code=200, retryable=False
        )
    return body["result"]


def _field(record: Mapping[str, Any], name: str) -> str:
    """A field's value; reference fields come as `{"link", "value"}` unless links are excluded."""
    value = record.get(name)
    if isinstance(value, Mapping):
        value = value.get("value")
    return "" if value is None else str(value)


@dataclass
class ServiceNowProvider:
    http: VendorHttp
    credentials: Credentials
    link: Callable[[str], str | None]
    """The incident's page in Port, written into the description."""
    name: ProviderName = ProviderName.SERVICENOW

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        key = correlation_id(incident)
        existing = self._open_record(key)
        if existing is not None:
            return self._opened(
                existing, key, f"{VENDOR} incident {_field(existing, 'number')} is already open for {key}; reused it"
            )
        urgency, impact = URGENCY_IMPACT_OF_SEVERITY[incident.severity]
        fields = {
            "short_description": incident.title[:SHORT_DESCRIPTION_MAX],
            "description": incident_context(incident, alerts, self.link(incident.identifier))[:DESCRIPTION_MAX],
            "urgency": str(urgency),
            "impact": str(impact),
            "correlation_id": key,
            "correlation_display": "Port",
        }
        if self.credentials.callerId:
            fields["caller_id"] = self.credentials.callerId
        if self.credentials.assignmentGroupId:
            fields["assignment_group"] = self.credentials.assignmentGroupId
        service = self._service(incident.services[0]) if incident.services else None
        if service:
            fields["business_service"] = service
        body = dataclasses.replace(self.http, retry=CREATE_ONCE).json(
            "POST", INCIDENT_TABLE, json_body=fields, params={"sysparm_fields": "sys_id,number,state"}
        )
        created = _result(body)
        number = _field(created, "number")
        return self._opened(created, key, f"Opened {VENDOR} incident {number} (urgency {urgency}, impact {impact})")

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        fields = {
            "state": STATE_IN_PROGRESS,
            "work_notes": f"Acknowledged by {by} in Port. {VENDOR} has no acknowledged state: moved to In Progress.",
        }
        assigned = ""
        if self.credentials.assignOnAcknowledge:
            fields["assigned_to"] = self._user(by)
            assigned = f" and assigned it to {by}"
        self._update(sys_id, fields)
        return ProviderResult(
            message=f"Moved {VENDOR} {number} to In Progress{assigned} ({VENDOR} has no acknowledge: "
            "this is not a real ack and pages no one)",
            assignee=by if assigned else None,
        )

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        note = f"Reassigned to {assignee} by {by} in Port."
        if "@" in assignee:
            self._update(sys_id, {"assigned_to": self._user(assignee), "work_notes": note})
            return ProviderResult(message=f"Assigned {VENDOR} {number} to {assignee}", assignee=assignee)
        # Not a person's email: a team, i.e. an assignment group; its members pick the new assignee.
        group = self._group(assignee)
        self._update(sys_id, {"assignment_group": group, "assigned_to": "", "work_notes": note})
        return ProviderResult(message=f"Moved {VENDOR} {number} to assignment group {assignee}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        if not services:
            return ProviderResult(message="No services to associate")
        first = services[0]
        fields = {"work_notes": f"Affected services (set by {by} in Port): {', '.join(services)}"}
        service = self._service(first)
        if service:
            fields["business_service"] = service
            linked = f"Set the service of {VENDOR} {number} to {first}"
        else:
            linked = f"{first} is not a business service (cmdb_ci_service) in {VENDOR}, so {number} has no service set"
        self._update(sys_id, fields)
        return ProviderResult(message=f"{linked}; listed {', '.join(services)} in a work note")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        level = request.level or incident.escalationLevel + 1
        base_urgency, base_impact = URGENCY_IMPACT_OF_SEVERITY[incident.severity]
        urgency, impact = raised(base_urgency, level), raised(base_impact, level)
        unchanged = (urgency, impact) == (
            raised(base_urgency, incident.escalationLevel),
            raised(base_impact, incident.escalationLevel),
        )
        if unchanged and not request.policy and not request.user:
            raise Unsupported(
                f"{VENDOR} has no escalation levels and {number} is already at urgency {urgency} and impact "
                f"{impact}: escalate to a policy (an assignment group) or a user instead."
            )
        fields = {"urgency": str(urgency), "impact": str(impact)}
        targets = []
        if request.policy:
            fields["assignment_group"] = self._group(request.policy)
            targets.append(f"assignment group {request.policy}")
        if request.user:
            fields["assigned_to"] = self._user(request.user)
            targets.append(request.user)
        handed = f", handed to {' and '.join(targets)}" if targets else ""
        summary = f"level {level}: urgency {urgency}, impact {impact}{handed}"
        fields["work_notes"] = f"Escalated by {by} in Port to {summary}."
        self._update(sys_id, fields)
        return ProviderResult(
            message=f"Escalated {VENDOR} {number} to {summary}",
            escalationLevel=level,
            escalationPolicy=request.policy,
            assignee=request.user,
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        self._update(sys_id, {"work_notes": f"{note}\n\n({by}, from Port)"})
        return ProviderResult(message=f"Added a work note to {VENDOR} {number}")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        self._update(
            sys_id,
            {
                "state": STATE_RESOLVED,
                "close_code": self.credentials.closeCode,
                "close_notes": f"{resolution}\n\nResolved by {by} in Port.",
            },
        )
        return ProviderResult(message=f"Resolved {VENDOR} {number} (close code {self.credentials.closeCode})")

    def get(self, incident: Incident) -> ProviderState:
        sys_id, _ = self._record_of(incident)
        body = self.http.json(
            "GET",
            f"{INCIDENT_TABLE}/{quote(sys_id, safe='')}",
            params={"sysparm_fields": "sys_id,number,state,active,assigned_to.email"},
        )
        record = _result(body)
        state = _field(record, "state")
        # An instance on the pre-Helsinki state model has other codes: `active` still tells open from closed.
        status = STATUS_OF_STATE.get(
            state, IncidentStatus.RESOLVED if _field(record, "active") == "false" else IncidentStatus.ACKNOWLEDGED
        )
        return ProviderState(status=status, assignee=_field(record, "assigned_to.email") or None, url=self._url(sys_id))

    def _open_record(self, key: str) -> Mapping[str, Any] | None:
        # A resolved record stays active until it closes; a new alert episode gets a new incident.
        query = f"correlation_id={key}^stateNOT IN{','.join(CLOSED_STATES)}^ORDERBYDESCsys_created_on"
        body = self.http.json(
            "GET",
            INCIDENT_TABLE,
            params={"sysparm_query": query, "sysparm_fields": "sys_id,number,state", "sysparm_limit": "1"},
        )
        records = _result(body)
        return records[0] if isinstance(records, list) and records else None

    def _opened(self, record: Mapping[str, Any], key: str, message: str) -> ProviderResult:
        sys_id = _field(record, "sys_id")
        if not sys_id:
            raise ProviderApiError(f"{VENDOR} answered without the incident's sys_id", retryable=False)
        return ProviderResult(
            message=message,
            externalId=sys_id,
            url=self._url(sys_id),
            providerData={"sysId": sys_id, "number": _field(record, "number"), "correlationId": key},
        )

    def _record_of(self, incident: Incident) -> tuple[str, str]:
        sys_id = incident.externalId or incident.providerData.get("sysId")
        if not sys_id:
            raise StepRefused(
                f"Incident {incident.identifier} has no {VENDOR} record yet (its trigger did not reach "
                f"{VENDOR}); run the trigger again."
            )
        return str(sys_id), str(incident.providerData.get("number") or sys_id)

    def _update(self, sys_id: str, fields: Mapping[str, str]) -> None:
        self.http.request(
            "PATCH",
            f"{INCIDENT_TABLE}/{quote(sys_id, safe='')}",
            json_body=dict(fields),
            headers={"X-no-response-body": "true"},
        )

    def _find(self, table: str, filters: Mapping[str, str]) -> str | None:
        # Name-value filters, not `sysparm_query`: the value needs no encoded-query escaping.
        body = self.http.json("GET", table, params={**filters, "sysparm_fields": "sys_id", "sysparm_limit": "1"})
        records = _result(body)
        if not isinstance(records, list) or not records:
            return None
        return _field(records[0], "sys_id") or None

    def _user(self, email: str) -> str:
        found = self._find(USER_TABLE, {"email": email, "active": "true"})
        if found is None:
            raise ProviderApiError(f"{VENDOR} has no active user with the email {email}", retryable=False)
        return found

    def _group(self, name: str) -> str:
        found = self._find(GROUP_TABLE, {"name": name, "active": "true"})
        if found is None:
            raise ProviderApiError(f"{VENDOR} has no active assignment group named {name}", retryable=False)
        return found

    def _service(self, name: str) -> str | None:
        return self._find(SERVICE_TABLE, {"name": name})

    def _url(self, sys_id: str) -> str:
        return f"{self.credentials.instanceUrl}/nav_to.do?uri=incident.do%3Fsys_id%3D{sys_id}"


def build(context: ProviderContext) -> ServiceNowProvider:
    credentials = parse_credentials(Credentials, context.credentials(ProviderName.SERVICENOW), ProviderName.SERVICENOW)
    headers = {"Accept": "application/json", "Authorization": credentials.authorization}
    client = vendor_client(credentials.instanceUrl, headers, context.transport)
    return ServiceNowProvider(
        http=VendorHttp(VENDOR, client, error_message=servicenow_error_message),
        credentials=credentials,
        link=context.link,
    )
