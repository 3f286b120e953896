"""The ServiceNow adapter: incidents as records of the `incident` table (see the package's notes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from incident_core.errors import ConfigurationError, NotFound, ProviderApiError, StepRefused, Unsupported
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineKind
from incident_core.providers.base import (
    EscalationRequest,
    ProviderResult,
    ProviderState,
    VendorSetup,
    parse_credentials,
)
from incident_core.providers.context import incident_context
from incident_core.providers.http import VendorHttp, default_error_message
from incident_core.providers.lookups import Lookups
from incident_core.providers.marks import marked, write_mark
from incident_core.providers.servicenow.auth import ServiceNowOAuth
from incident_core.providers.servicenow.credentials import VENDOR, Credentials
from incident_core.providers.servicenow.models import (
    CLOSED_STATES,
    STATUS_OF_STATE,
    ErrorAnswer,
    Record,
    RecordAnswer,
    RecordsAnswer,
)

TABLE_API = "/api/now/table"
INCIDENT_TABLE = f"{TABLE_API}/incident"
USER_TABLE = f"{TABLE_API}/sys_user"
GROUP_TABLE = f"{TABLE_API}/sys_user_group"
SERVICE_TABLE = f"{TABLE_API}/cmdb_ci_service"
AFFECTED_CI_TABLE = f"{TABLE_API}/task_ci"
JOURNAL_TABLE = f"{TABLE_API}/sys_journal_field"
CHOICE_TABLE = f"{TABLE_API}/sys_choice"

# Field lengths of the incident table's default dictionary: longer values are cut off by the instance,
# and a cut-off correlation_id would no longer match the search that guards against duplicates.
SHORT_DESCRIPTION_MAX = 160
DESCRIPTION_MAX = 4000
CORRELATION_ID_MAX = 100

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
    lookups: Lookups = field(default_factory=Lookups)
    name: ProviderName = ProviderName.SERVICENOW

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        key = correlation_id(incident)
        existing = self._open_record(key)
        if existing is not None:
            said = f"{VENDOR} incident {existing.number} is already open for {key}; reused it"
            return self._opened(existing, key, said)
        urgency, impact = self.credentials.urgencyImpact[incident.severity]
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
        service = next(filter(None, map(self._service, incident.services)), None)
        if service:
            fields |= {"business_service": service, "cmdb_ci": service}

        def create() -> Record:
            params = {"sysparm_fields": "sys_id,number,state"}
            body = self.http.json("POST", INCIDENT_TABLE, json_body=fields, params=params, once=True)
            return _read(RecordAnswer, body).result

        # No idempotency key: a create whose answer was lost is looked for by its correlation_id first.
        created = self.http.guarded(create, lambda: self._open_record(key))
        message = f"Opened {VENDOR} incident {created.number} (urgency {urgency}, impact {impact})"
        return self._opened(created, key, message)

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        fields: dict[str, str] = {"state": self.credentials.acknowledgedState}
        assigned = ""
        if self.credentials.assignOnAcknowledge:
            fields["assigned_to"] = self._user(by)
            assigned = f" and assigned it to {by}"
        self._update(sys_id, fields)
        note = f"Acknowledged by {by} in Port. {VENDOR} has no acknowledged state: moved to In Progress."
        self._work_note(sys_id, note, write_mark(incident, TimelineKind.ACKNOWLEDGED))
        return ProviderResult(
            message=f"Moved {VENDOR} {number} to In Progress{assigned} ({VENDOR} has no acknowledge: "
            "this is not a real ack and pages no one)",
            assignee=by if assigned else None,
        )

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        mark = write_mark(incident, TimelineKind.REASSIGNED)
        note = f"Reassigned to {assignee} by {by} in Port."
        if "@" in assignee:
            self._update(sys_id, {"assigned_to": self._user(assignee)})
            self._work_note(sys_id, note, mark)
            return ProviderResult(message=f"Assigned {VENDOR} {number} to {assignee}", assignee=assignee)
        # Not a person's email: a team, i.e. an assignment group; its members pick the new assignee.
        self._update(sys_id, {"assignment_group": self._group(assignee), "assigned_to": ""})
        self._work_note(sys_id, note, mark)
        return ProviderResult(message=f"Moved {VENDOR} {number} to assignment group {assignee}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        if not services:
            return ProviderResult(message="No services to associate")
        found = {service: ci for service in dict.fromkeys(services) if (ci := self._service(service))}
        unknown = [service for service in dict.fromkeys(services) if service not in found]
        record = self._read_record(sys_id, "sys_id,business_service")
        done = []
        if found and not record.business_service:
            first = next(iter(found))
            self._update(sys_id, {"business_service": found[first], "cmdb_ci": found[first]})
            done.append(f"its service is {first}")
        # Every service is an affected CI of the incident (its related list), each added once.
        added = [service for service, ci in found.items() if self._affected_ci(sys_id, ci)]
        if added:
            done.append(f"added {', '.join(added)} to its affected CIs")
        elif found:
            done.append(f"{', '.join(found)} already affected")
        if unknown:
            done.append(f"{', '.join(unknown)}: not a business service (cmdb_ci_service) in {VENDOR}")
        note = f"Affected services (set by {by} in Port): {', '.join(services)}"
        self._work_note(sys_id, note, write_mark(incident, TimelineKind.SERVICES_ASSOCIATED))
        return ProviderResult(message=f"{VENDOR} {number}: {'; '.join(done)}; listed them all in a work note")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        level = request.level or incident.escalationLevel + 1
        base_urgency, base_impact = self.credentials.urgencyImpact[incident.severity]
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
        # The target follows from the level Port asked for, so a repeated step sets the same fields again.
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
        self._update(sys_id, fields)
        self._work_note(
            sys_id, f"Escalated by {by} in Port to {summary}.", write_mark(incident, TimelineKind.ESCALATED)
        )
        return ProviderResult(
            message=f"Escalated {VENDOR} {number} to {summary}",
            escalationLevel=level,
            escalationPolicy=request.policy,
            assignee=request.user,
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        written = self._work_note(sys_id, f"{note}\n\n({by}, from Port)", write_mark(incident, TimelineKind.NOTE))
        said = "Added a work note to" if written else "The work note was already on"
        return ProviderResult(message=f"{said} {VENDOR} {number}")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        sys_id, number = self._record_of(incident)
        close_code = self._close_code()
        if self._read_record(sys_id, "sys_id,state").state in CLOSED_STATES:
            return ProviderResult(message=f"{VENDOR} {number} was already resolved there")
        fields = {
            "state": self.credentials.resolvedState,
            "close_code": close_code,
            "close_notes": f"{resolution}\n\nResolved by {by} in Port.",
        }
        self._update(sys_id, fields)
        return ProviderResult(message=f"Resolved {VENDOR} {number} (close code {close_code})")

    def get(self, incident: Incident) -> ProviderState:
        sys_id, _ = self._record_of(incident)
        record = self._read_record(sys_id, "sys_id,number,state,active,assigned_to.email")
        # An instance on the pre-Helsinki state model has other codes: `active` still tells open from closed.
        status = STATUS_OF_STATE.get(
            record.state, IncidentStatus.RESOLVED if record.active == "false" else IncidentStatus.ACKNOWLEDGED
        )
        return ProviderState(status=status, assignee=record.assigned_to_email or None, url=self._url(sys_id))

    def _read_record(self, sys_id: str, fields: str) -> Record:
        return _read(
            RecordAnswer,
            self.http.json("GET", f"{INCIDENT_TABLE}/{quote(sys_id, safe='')}", params={"sysparm_fields": fields}),
        ).result

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
        """Set fields (safe to repeat); work notes go through `_work_note`, since a journal entry is not."""
        self.http.request(
            "PATCH",
            f"{INCIDENT_TABLE}/{quote(sys_id, safe='')}",
            json_body=dict(fields),
            headers={"X-no-response-body": "true"},
        )

    def _work_note(self, sys_id: str, text: str, mark: str) -> bool:
        """Append a marked work note once: False when an earlier attempt already wrote it."""
        if self._journal_has(sys_id, mark):
            return False

        def send() -> bool:
            body = {"work_notes": marked(text, mark)}
            path = f"{INCIDENT_TABLE}/{quote(sys_id, safe='')}"
            self.http.request("PATCH", path, json_body=body, headers={"X-no-response-body": "true"}, once=True)
            return True

        return self.http.guarded(send, lambda: True if self._journal_has(sys_id, mark) else None)

    def _journal_has(self, sys_id: str, mark: str) -> bool:
        query = f"element_id={sys_id}^element=work_notes^valueLIKE{mark}"
        params = {"sysparm_query": query, "sysparm_fields": "sys_id", "sysparm_limit": "1"}
        return bool(_read(RecordsAnswer, self.http.json("GET", JOURNAL_TABLE, params=params)).result)

    def _affected_ci(self, sys_id: str, ci: str) -> bool:
        """Relate `ci` to the incident as an affected CI, unless it already is: True when it was added."""
        params = {"task": sys_id, "ci_item": ci, "sysparm_fields": "sys_id", "sysparm_limit": "1"}

        def related() -> bool | None:
            return (
                True if _read(RecordsAnswer, self.http.json("GET", AFFECTED_CI_TABLE, params=params)).result else None
            )

        if related():
            return False

        def send() -> bool:
            self.http.request("POST", AFFECTED_CI_TABLE, json_body={"task": sys_id, "ci_item": ci}, once=True)
            return True

        return self.http.guarded(send, related)

    def _find(self, table: str, filters: Mapping[str, str]) -> str | None:
        # Name-value filters, not `sysparm_query`: the value needs no encoded-query escaping.
        def load() -> str | None:
            body = self.http.json("GET", table, params={**filters, "sysparm_fields": "sys_id", "sysparm_limit": "1"})
            records = _read(RecordsAnswer, body).result
            return (records[0].sys_id or None) if records else None

        key = ("servicenow", self.credentials.instanceUrl, table, *(f"{k}={v}" for k, v in sorted(filters.items())))
        return self.lookups.get(key, load)

    def _user(self, email: str) -> str:
        found = self._find(USER_TABLE, {"email": email, "active": "true"})
        if found is None:
            raise NotFound(f"{VENDOR} has no active user with the email {email}")
        return found

    def _group(self, name: str) -> str:
        found = self._find(GROUP_TABLE, {"name": name, "active": "true"})
        if found is None:
            raise NotFound(f"{VENDOR} has no active assignment group named {name}")
        return found

    def _service(self, name: str) -> str | None:
        return self._find(SERVICE_TABLE, {"name": name})

    def _close_code(self) -> str:
        """The configured close code, checked once against the instance's choices for `incident.close_code`."""
        wanted = self.credentials.closeCode

        def load() -> str | None:
            query = "name=incident^element=close_code^inactive=false"
            params = {"sysparm_query": query, "sysparm_fields": "value,label"}
            choices = _read(RecordsAnswer, self.http.json("GET", CHOICE_TABLE, params=params)).result
            if not choices or any(choice.value == wanted for choice in choices):
                return wanted  # an instance that lets the API read no choices is taken at its word
            known = ", ".join(choice.value for choice in choices)
            raise ConfigurationError(
                f"closeCode in {self.http.credentials_in} is {wanted!r}, which is not a close code of this "
                f"{VENDOR} instance; it has: {known}"
            )

        return self.lookups.get(("servicenow", self.credentials.instanceUrl, "close_code", wanted), load) or wanted

    def _url(self, sys_id: str) -> str:
        return f"{self.credentials.instanceUrl}/nav_to.do?uri=incident.do%3Fsys_id%3D{sys_id}"


def build(setup: VendorSetup) -> ServiceNowProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.SERVICENOW, setup.secret_name)
    headers = {"Accept": "application/json"}
    auth: httpx.Auth | None = None
    if credentials.grant:
        auth = ServiceNowOAuth(credentials, setup.lookups, setup.secret_name)
    else:
        headers["Authorization"] = credentials.basic_authorization
    http = setup.http(VENDOR, credentials.instanceUrl, headers, servicenow_error_message, auth=auth)
    return ServiceNowProvider(http=http, credentials=credentials, link=setup.link, lookups=setup.lookups)
