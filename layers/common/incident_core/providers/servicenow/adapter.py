"""The ServiceNow adapter: incidents as records of the `incident` table (see the package's notes)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import (
    EscalationRequest,
    ProviderResult,
    ProviderState,
    StepRefused,
    Unsupported,
    VendorSetup,
    parse_credentials,
)
from incident_core.providers.context import incident_context
from incident_core.providers.http import ProviderApiError, VendorHttp, default_error_message, vendor_client
from incident_core.providers.servicenow.credentials import VENDOR, Credentials
from incident_core.providers.servicenow.models import (
    CLOSED_STATES,
    STATE_IN_PROGRESS,
    STATE_RESOLVED,
    STATUS_OF_STATE,
    URGENCY_IMPACT_OF_SEVERITY,
    ErrorAnswer,
    Record,
    RecordAnswer,
    RecordsAnswer,
)
from incident_core.retry import RetryPolicy

TABLE_API = "/api/now/table"
INCIDENT_TABLE = f"{TABLE_API}/incident"
USER_TABLE = f"{TABLE_API}/sys_user"
GROUP_TABLE = f"{TABLE_API}/sys_user_group"
SERVICE_TABLE = f"{TABLE_API}/cmdb_ci_service"

# Field lengths of the incident table's default dictionary: longer values are cut off by the instance,
# and a cut-off correlation_id would no longer match the search that guards against duplicates.
SHORT_DESCRIPTION_MAX = 160
DESCRIPTION_MAX = 4000
CORRELATION_ID_MAX = 100

CREATE_ONCE = RetryPolicy(max_attempts=1)
"""Creating is not idempotent: the create is sent once, and a retried trigger searches before it creates."""

Answer = TypeVar("Answer", bound=BaseModel)


def servicenow_error_message(response: httpx.Response) -> str:
    """ServiceNow's `{"error": {"message", "detail"}}` as one sentence; other bodies as usual."""
    try:
        error = ErrorAnswer.model_validate_json(response.content).error
    except ValidationError:
        return default_error_message(response)
    message, detail = error.message, error.detail
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


def _read(model: type[Answer], body: Any) -> Answer:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ProviderApiError(
            f"{VENDOR} answered without a result: {json.dumps(body)[:300]}", status_code=200, retryable=False
        ) from exc


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
                existing, key, f"{VENDOR} incident {existing.number} is already open for {key}; reused it"
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
        created = _read(RecordAnswer, body).result
        message = f"Opened {VENDOR} incident {created.number} (urgency {urgency}, impact {impact})"
        return self._opened(created, key, message)

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
            f"{INCIDENT_TABLE}/{sys_id}",
            params={"sysparm_fields": "sys_id,number,state,active,assigned_to.email"},
        )
        record = _read(RecordAnswer, body).result
        # An instance on the pre-Helsinki state model has other codes: `active` still tells open from closed.
        status = STATUS_OF_STATE.get(
            record.state, IncidentStatus.RESOLVED if record.active == "false" else IncidentStatus.ACKNOWLEDGED
        )
        return ProviderState(status=status, assignee=record.assigned_to_email or None, url=self._url(sys_id))

    def _open_record(self, key: str) -> Record | None:
        # A resolved record stays active until it closes; a new alert episode gets a new incident.
        query = f"correlation_id={key}^stateNOT IN{','.join(CLOSED_STATES)}^ORDERBYDESCsys_created_on"
        body = self.http.json(
            "GET",
            INCIDENT_TABLE,
            params={"sysparm_query": query, "sysparm_fields": "sys_id,number,state", "sysparm_limit": "1"},
        )
        records = _read(RecordsAnswer, body).result
        return records[0] if records else None

    def _opened(self, record: Record, key: str, message: str) -> ProviderResult:
        sys_id = record.sys_id
        if not sys_id:
            raise ProviderApiError(f"{VENDOR} answered without the incident's sys_id", retryable=False)
        return ProviderResult(
            message=message,
            externalId=sys_id,
            url=self._url(sys_id),
            providerData={"sysId": sys_id, "number": record.number, "correlationId": key},
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
            "PATCH", f"{INCIDENT_TABLE}/{sys_id}", json_body=dict(fields), headers={"X-no-response-body": "true"}
        )

    def _find(self, table: str, filters: Mapping[str, str]) -> str | None:
        # Name-value filters, not `sysparm_query`: the value needs no encoded-query escaping.
        body = self.http.json("GET", table, params={**filters, "sysparm_fields": "sys_id", "sysparm_limit": "1"})
        records = _read(RecordsAnswer, body).result
        return (records[0].sys_id or None) if records else None

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


def build(setup: VendorSetup) -> ServiceNowProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.SERVICENOW)
    headers = {"Accept": "application/json", "Authorization": credentials.authorization}
    client = vendor_client(credentials.instanceUrl, headers, setup.transport)
    return ServiceNowProvider(
        http=VendorHttp(VENDOR, client, error_message=servicenow_error_message),
        credentials=credentials,
        link=setup.link,
    )
