"""incident.io: the incident lives in incident.io (API v2 for incidents, escalations, roles and users; v1 for the
lists of severities and statuses), and its webhooks report what responders change there.

Quirks this adapter is built around (spec: incident-io/terraform-provider-incident, public schema v3
including secret endpoints; facts: ../shared/spec/provider-api-facts.md section 5):

- `POST /v2/incidents` requires `idempotency_key` and `visibility`; the key is our incident identifier, so a
  retried trigger returns the incident it already opened. It answers 200, not 201.
- Severities, statuses and roles are the organisation's own records, addressed by id. Ids named in the secret
  are used as they are; the rest are looked up on first use (`GET /v1/severities`, `GET /v1/incident_statuses`,
  `GET /v2/incident_roles`) and kept for the provider's life, which is one step. Naming them in the secret
  saves that request and pins the choice; the lookup picks by rank and category (`SEVERITY_POSITION`,
  `CATEGORY_OF_STATUS`).
- Incidents have no "acknowledged": acknowledging moves the incident to its first `live` (Active) status and
  makes the acknowledger the incident lead; resolving moves it to a `closed` status (or to the post-incident
  status named in `resolvedStatusId`). Going straight to closed needs the API key permission "Close incidents
  by opting out of post-incident flow" where a post-incident flow is required.
- Every edit (`POST /v2/incidents/{id}/actions/edit`) must say `notify_incident_channel`.
- `POST /v2/escalations` requires its own `idempotency_key` and takes an escalation path or user ids, never
  both; it is limited to 60 requests a minute.
- There is no endpoint to write an incident update or timeline note: notes are `Unsupported`.
- The spec declares no error responses; errors come as `{"type", "status", "request_id", "errors": [{"code",
  "message", "source": {"field"}}]}` and 429 carries `Retry-After` (honoured by `VendorHttp`).
- Webhooks are sent through Svix (Standard Webhooks): `webhook-id`, `webhook-timestamp` and
  `webhook-signature: v1,<base64 HMAC-SHA256(base64-decoded secret after "whsec_", "<id>.<timestamp>.<body>")>`.
  Events of private incidents carry only the incident id; the scheduled reconcile (`get`) catches those.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from incident_core.auth.keys import usable_secret
from incident_core.errors import (
    AuthenticationError,
    ConfigurationError,
    MalformedRequest,
    ProviderApiError,
    StepRefused,
    Unsupported,
)
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineKind
from incident_core.providers.base import (
    EscalationRequest,
    ProviderEvent,
    ProviderResult,
    ProviderState,
    parse_credentials,
)
from incident_core.providers.context import incident_context
from incident_core.providers.http import VendorHttp, default_error_message, vendor_client

if TYPE_CHECKING:
    from incident_core.providers import ProviderContext

VENDOR = "incident.io"
DEFAULT_BASE_URL = "https://api.incident.io"
WEBHOOK_TOLERANCE_SECONDS = 300
WEBHOOK_ACTOR = "incident.io"
"""incident.io's incident webhooks do not say who made the change; events name the tool itself."""

NOTIFY_INCIDENT_CHANNEL = True
"""Changes made from Port are announced in the incident's Slack channel, where the responders are."""

SUMMARY_ALERT_DESCRIPTION_CHARS = 1000

STATUS_OF_CATEGORY: dict[str, IncidentStatus] = {
    "triage": IncidentStatus.TRIGGERED,
    "live": IncidentStatus.ACKNOWLEDGED,
    "paused": IncidentStatus.ACKNOWLEDGED,
    "learning": IncidentStatus.RESOLVED,
    "closed": IncidentStatus.RESOLVED,
    "declined": IncidentStatus.RESOLVED,
    "merged": IncidentStatus.RESOLVED,
    "canceled": IncidentStatus.RESOLVED,
}
"""incident.io status category -> our status. Post-incident (`learning`) is resolved: the impact is over."""

CATEGORY_OF_STATUS: dict[IncidentStatus, str] = {
    IncidentStatus.ACKNOWLEDGED: "live",
    IncidentStatus.RESOLVED: "closed",
}
"""The category whose lowest-ranked status a step moves to when the secret names no status id."""

SEVERITY_POSITION: dict[Severity, int] = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.WARNING: 2,
    Severity.INFO: 3,
}
"""Our severity -> the organisation's severity at this position counted from the most severe (highest rank),
or its least severe one when it has fewer; used when `severityIds` does not name one."""


class Credentials(BaseModel):
    """The incident.io secret. Only `apiKey` is required; every id left out is looked up (see the module)."""

    model_config = ConfigDict(frozen=True)

    apiKey: str = Field(min_length=1)
    baseUrl: str = DEFAULT_BASE_URL
    """incident.io has one API host; a proxy or a test server goes here."""
    severityIds: dict[Severity, str] = Field(default_factory=dict)
    """Our severity (critical, high, warning, info) -> incident.io severity id."""
    acknowledgedStatusId: str | None = None
    """The status acknowledging moves to (an Active, `live` status)."""
    resolvedStatusId: str | None = None
    """The status resolving moves to (a `closed` status, or a post-incident one of the incident's flow)."""
    leadRoleId: str | None = None
    """The incident role that acknowledging and reassigning fill (the `lead` role)."""
    escalationPathId: str | None = None
    """The escalation path paged when an escalation names neither a path nor a user."""
    servicesFieldId: str | None = None
    """The catalog-backed custom field listing affected services; associating services sets it."""
    incidentTypeId: str | None = None
    visibility: Literal["public", "private"] = "public"
    webhookSecret: str | None = None
    """The signing secret (`whsec_...`) of the incident.io webhook endpoint pointed at this bundle."""

    @field_validator("baseUrl")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://api.incident.io")
        return value.rstrip("/")


def incidentio_error_message(response: httpx.Response) -> str:
    """incident.io's own words: each error's field and message, and the request id its support asks for."""
    try:
        body = response.json()
    except ValueError:
        return default_error_message(response)
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list):
        return default_error_message(response)
    parts = []
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        text = str(error.get("message") or error.get("code") or "")
        source = error.get("source")
        where = source.get("field") if isinstance(source, Mapping) else None
        parts.append(f"{where}: {text}" if where else text)
    message = "; ".join(part for part in parts if part) or default_error_message(response)
    request_id = body.get("request_id")
    return f"{message} (request {request_id})" if request_id else message


def _no_link(identifier: str) -> str | None:
    return None


@dataclass
class IncidentIoProvider:
    http: VendorHttp
    credentials: Credentials
    link: Callable[[str], str | None] = field(default=_no_link)
    """The incident's page in Port, written into the incident.io summary."""
    name: ProviderName = ProviderName.INCIDENTIO
    _severities: list[Mapping[str, Any]] | None = field(default=None, init=False, repr=False)
    _statuses: list[Mapping[str, Any]] | None = field(default=None, init=False, repr=False)
    _lead_role_id: str | None = field(default=None, init=False, repr=False)

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        body: dict[str, Any] = {
            "idempotency_key": incident.identifier,
            "name": incident.title,
            "summary": incident_context(
                incident,
                alerts,
                self.link(incident.identifier),
                alert_description_limit=SUMMARY_ALERT_DESCRIPTION_CHARS,
            ),
            "severity_id": self._severity_id(incident.severity),
            "visibility": self.credentials.visibility,
            "mode": "standard",
        }
        if self.credentials.incidentTypeId:
            body["incident_type_id"] = self.credentials.incidentTypeId
        opened = _object(self.http.json("POST", "/v2/incidents", json_body=body), "incident")
        external_id = _id(opened, "incident")
        reference = opened.get("reference") or external_id
        severity = opened.get("severity")
        severity_name = severity.get("name") if isinstance(severity, Mapping) else None
        return ProviderResult(
            message=f"Opened {reference} in incident.io ({severity_name or incident.severity.value})",
            externalId=external_id,
            url=opened.get("permalink"),
            providerData={"reference": reference},
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        changes: dict[str, Any] = {"incident_status_id": self._status_id(IncidentStatus.ACKNOWLEDGED)}
        # Our acknowledger owns the incident; making them lead keeps incident.io's lead and ours the same, so
        # its next update webhook does not hand the incident back to someone else.
        if "@" in by:
            changes["incident_role_assignments"] = [self._lead_assignment(by)]
        edited = self._edit(incident, changes)
        lead = " and made them incident lead" if "@" in by else ""
        return ProviderResult(message=f"Moved {_reference(edited)} to {_status_name(edited)} for {by}{lead}")

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        edited = self._edit(incident, {"incident_role_assignments": [self._lead_assignment(assignee)]})
        return ProviderResult(message=f"Made {assignee} the incident lead of {_reference(edited)}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        field_id = self.credentials.servicesFieldId
        if not field_id:
            raise Unsupported(
                "incident.io links services through a catalog-backed custom field; set servicesFieldId in the "
                "incident.io secret to the id of your affected-services field to use this step."
            )
        # An edit replaces the field's values, so it carries every service the incident already had.
        affected = list(dict.fromkeys([*incident.services, *services]))
        entry = {"custom_field_id": field_id, "values": [{"value_catalog_entry_id": s} for s in affected]}
        edited = self._edit(incident, {"custom_field_entries": [entry]})
        return ProviderResult(message=f"Set the affected services of {_reference(edited)} to {', '.join(affected)}")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        level = request.level or incident.escalationLevel + 1
        body: dict[str, Any] = {
            "idempotency_key": _escalation_key(incident),
            "title": f"[{incident.severity.value.upper()}] {incident.title}",
            "description": f"{by} escalated incident {incident.identifier} to level {level}.",
            "incident_id": _external_id(incident),
        }
        path = request.policy or self.credentials.escalationPathId
        named_policy = None
        if request.user:
            body["user_ids"] = [self._user_id(request.user)]
            target = request.user
        elif path:
            body["escalation_path_id"] = path
            target, named_policy = f"escalation path {path}", request.policy
        else:
            raise Unsupported(
                "incident.io escalates along an escalation path or to named users; give a policy (an escalation "
                "path id) or a user, or set escalationPathId in the incident.io secret."
            )
        escalation = _object(self.http.json("POST", "/v2/escalations", json_body=body), "escalation")
        # The escalation pages; it does not make anyone lead, so the assignee stays as it is.
        return ProviderResult(
            message=f"Escalated to level {level}: incident.io paged {target} (escalation {escalation.get('id')})",
            escalationLevel=level,
            escalationPolicy=named_policy or incident.escalationPolicy,
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        raise Unsupported(
            "incident.io's API has no way to write an incident update or timeline note (incident updates can "
            "only be listed); post the note in the incident's Slack channel instead."
        )

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        edited = self._edit(incident, {"incident_status_id": self._status_id(IncidentStatus.RESOLVED)})
        return ProviderResult(message=f"Moved {_reference(edited)} to {_status_name(edited)}: {resolution}")

    def get(self, incident: Incident) -> ProviderState:
        found = _object(self.http.json("GET", f"/v2/incidents/{_path_id(incident)}"), "incident")
        category = _object(found, "incident_status").get("category")
        return ProviderState(
            status=STATUS_OF_CATEGORY.get(str(category), incident.status),
            assignee=incident_lead(found),
            url=found.get("permalink") or incident.url,
        )

    def _edit(self, incident: Incident, changes: Mapping[str, Any]) -> Mapping[str, Any]:
        body = {"incident": dict(changes), "notify_incident_channel": NOTIFY_INCIDENT_CHANNEL}
        answer = self.http.json("POST", f"/v2/incidents/{_path_id(incident)}/actions/edit", json_body=body)
        return _object(answer, "incident")

    def _severity_id(self, severity: Severity) -> str:
        configured = self.credentials.severityIds.get(severity)
        if configured:
            return configured
        if self._severities is None:
            listed = _list(self.http.json("GET", "/v1/severities"), "severities")
            self._severities = sorted(listed, key=lambda s: int(s.get("rank") or 0), reverse=True)
        if not self._severities:
            raise ConfigurationError("incident.io lists no severities; set severityIds in the incident.io secret")
        return _id(self._severities[min(SEVERITY_POSITION[severity], len(self._severities) - 1)], "severity")

    def _status_id(self, status: IncidentStatus) -> str:
        configured, key = {
            IncidentStatus.ACKNOWLEDGED: (self.credentials.acknowledgedStatusId, "acknowledgedStatusId"),
            IncidentStatus.RESOLVED: (self.credentials.resolvedStatusId, "resolvedStatusId"),
        }[status]
        if configured:
            return configured
        if self._statuses is None:
            self._statuses = _list(self.http.json("GET", "/v1/incident_statuses"), "incident_statuses")
        category = CATEGORY_OF_STATUS[status]
        matching = sorted(
            (s for s in self._statuses if s.get("category") == category), key=lambda s: int(s.get("rank") or 0)
        )
        if not matching:
            raise ConfigurationError(
                f"incident.io lists no status in the {category} category; set {key} in the incident.io secret"
            )
        return _id(matching[0], "status")

    def _lead_assignment(self, person: str) -> dict[str, Any]:
        assignee = {"email": person} if "@" in person else {"id": person}
        return {"incident_role_id": self._lead_role(), "assignee": assignee}

    def _lead_role(self) -> str:
        if self.credentials.leadRoleId:
            return self.credentials.leadRoleId
        if self._lead_role_id is None:
            roles = _list(self.http.json("GET", "/v2/incident_roles"), "incident_roles")
            lead = next((role for role in roles if role.get("role_type") == "lead"), None)
            if lead is None:
                raise ConfigurationError("incident.io lists no lead role; set leadRoleId in the incident.io secret")
            self._lead_role_id = _id(lead, "role")
        return self._lead_role_id

    def _user_id(self, user: str) -> str:
        """An incident.io user id: an email is looked up, anything else is taken as an id already."""
        if "@" not in user:
            return user
        users = _list(self.http.json("GET", "/v2/users", params={"email": user}), "users")
        found = next((u for u in users if str(u.get("email", "")).lower() == user.lower()), None)
        if found is None:
            raise StepRefused(f"incident.io has no user with the email {user}; escalate to one of its users.")
        return _id(found, "user")


def incident_lead(incident: Mapping[str, Any]) -> str | None:
    """Who leads an incident.io incident (their email, else their id); None while nobody does."""
    for assignment in incident.get("incident_role_assignments") or []:
        if not isinstance(assignment, Mapping):
            continue
        role, assignee = assignment.get("role"), assignment.get("assignee")
        if isinstance(role, Mapping) and role.get("role_type") == "lead" and isinstance(assignee, Mapping):
            return assignee.get("email") or assignee.get("id")
    return None


def _external_id(incident: Incident) -> str:
    if not incident.externalId:
        raise StepRefused(
            f"Incident {incident.identifier} was never opened in incident.io; run the trigger again to open it."
        )
    return incident.externalId


def _path_id(incident: Incident) -> str:
    return quote(_external_id(incident), safe="")


def _escalation_key(incident: Incident) -> str:
    """One key per escalation of the incident: a retried step repeats the key, the next escalation does not.

    The lifecycle records an escalation only after the provider answered, so a retry sees the same count.
    """
    earlier = sum(1 for entry in incident.timeline if entry.kind is TimelineKind.ESCALATED)
    return f"{incident.identifier}-escalation-{earlier + 1}"


def _object(answer: Any, key: str) -> Mapping[str, Any]:
    """`answer[key]` of an API answer; an answer without it is incident.io's fault, not the request's."""
    found = answer.get(key) if isinstance(answer, Mapping) else None
    if not isinstance(found, Mapping):
        raise ProviderApiError(f"incident.io answered without the {key} object", retryable=False)
    return found


def _list(answer: Any, key: str) -> list[Mapping[str, Any]]:
    found = answer.get(key) if isinstance(answer, Mapping) else None
    if not isinstance(found, list):
        raise ProviderApiError(f"incident.io answered without the {key} list", retryable=False)
    return [item for item in found if isinstance(item, Mapping)]


def _id(record: Mapping[str, Any], what: str) -> str:
    found = record.get("id")
    if not isinstance(found, str) or not found:
        raise ProviderApiError(f"incident.io answered without the id of the {what}", retryable=False)
    return found


def _reference(incident: Mapping[str, Any]) -> str:
    return str(incident.get("reference") or incident.get("id") or "the incident")


def _status_name(incident: Mapping[str, Any]) -> str:
    status = incident.get("incident_status")
    name = status.get("name") if isinstance(status, Mapping) else None
    return f"status {name}" if name else "the new status"


def build(context: ProviderContext) -> IncidentIoProvider:
    credentials = parse_credentials(Credentials, context.credentials(ProviderName.INCIDENTIO), ProviderName.INCIDENTIO)
    headers = {"Authorization": f"Bearer {credentials.apiKey}", "Accept": "application/json"}
    client = vendor_client(credentials.baseUrl, headers, context.transport)
    return IncidentIoProvider(
        VendorHttp(VENDOR, client, error_message=incidentio_error_message), credentials, link=context.link
    )


# Inbound webhooks

WEBHOOK_HEADER_PREFIXES = ("webhook-", "svix-")
"""incident.io documents the Standard Webhooks names; Svix's own names carry the same values."""
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of Svix signing secrets, not a secret
STATUS_UPDATED_EVENT = "public_incident.incident_status_updated_v2"
UPDATED_EVENT = "public_incident.incident_updated_v2"


@dataclass(frozen=True)
class IncidentIoWebhook:
    tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        if not secret:
            raise AuthenticationError("no incident.io webhook secret is configured")
        key = _signing_key(secret)
        message_id, timestamp, presented = (_svix_header(headers, name) for name in ("id", "timestamp", "signature"))
        if not (message_id and timestamp and presented):
            raise AuthenticationError("the request is not signed by incident.io (webhook-id/-timestamp/-signature)")
        try:
            signed_at = int(timestamp)
        except ValueError as exc:
            raise AuthenticationError("the incident.io webhook-timestamp is not a number") from exc
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        # Several space-separated signatures arrive while a secret is being rotated; any v1 match counts.
        candidates = [sig for version, _, sig in (part.partition(",") for part in presented.split()) if version == "v1"]
        if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates):
            raise AuthenticationError("the incident.io signature does not match the body")
        if abs(now.timestamp() - signed_at) > self.tolerance_seconds:
            raise AuthenticationError(
                f"the incident.io webhook-timestamp is outside {self.tolerance_seconds} s (replay refused)"
            )

    def events(self, payload: Any) -> list[ProviderEvent]:
        event_type = payload.get("event_type") if isinstance(payload, Mapping) else None
        if event_type == STATUS_UPDATED_EVENT:
            change = _payload_object(payload, STATUS_UPDATED_EVENT)
            incident, status = _payload_object(change, "incident"), _payload_object(change, "new_status")
            message = change.get("message")
            return [_event(incident, status, note=message if isinstance(message, str) and message else None)]
        if event_type == UPDATED_EVENT:
            incident = _payload_object(payload, UPDATED_EVENT)
            return [_event(incident, _payload_object(incident, "incident_status"), note=None)]
        return []


def _event(incident: Mapping[str, Any], status: Mapping[str, Any], note: str | None) -> ProviderEvent:
    external_id = incident.get("id")
    if not isinstance(external_id, str) or not external_id:
        raise MalformedRequest("incident.id", "missing from the incident.io event")
    updated_at = incident.get("updated_at")
    return ProviderEvent(
        externalId=external_id,
        status=STATUS_OF_CATEGORY.get(str(status.get("category"))),
        assignee=incident_lead(incident),
        note=note,
        actor=WEBHOOK_ACTOR,
        at=updated_at if isinstance(updated_at, str) else None,
    )


def _payload_object(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    found = payload.get(key)
    if not isinstance(found, Mapping):
        raise MalformedRequest(key, "missing from the incident.io event or not an object")
    return found


def _svix_header(headers: Mapping[str, str], name: str) -> str:
    for prefix in WEBHOOK_HEADER_PREFIXES:
        value = headers.get(prefix + name, "").strip()
        if value:
            return value
    return ""


def _signing_key(secret: str) -> bytes:
    encoded = usable_secret(secret, "incident.io webhook", prefix=SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError("the incident.io webhook secret is not a whsec_ signing secret") from exc


WEBHOOK = IncidentIoWebhook()
