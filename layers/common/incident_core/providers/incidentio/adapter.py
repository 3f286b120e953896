"""The incident.io adapter: the incident lives in incident.io (see the package's notes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from incident_core.errors import ConfigurationError
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineKind
from incident_core.providers.answers import fetch
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
from incident_core.providers.incidentio.credentials import VENDOR, Credentials
from incident_core.providers.incidentio.models import (
    CATEGORY_OF_STATUS,
    SEVERITY_POSITION,
    STATUS_OF_CATEGORY,
    ErrorAnswer,
    EscalationAnswer,
    IncidentAnswer,
    IncidentIoIncident,
    Named,
    Roles,
    Severities,
    Statuses,
    Users,
)

NOTIFY_INCIDENT_CHANNEL = True
"""Changes made from Port are announced in the incident's Slack channel, where the responders are."""

SUMMARY_ALERT_DESCRIPTION_CHARS = 1000


def incidentio_error_message(response: httpx.Response) -> str:
    """incident.io's own words: each error's field and message, and the request id its support asks for."""
    try:
        body = ErrorAnswer.model_validate_json(response.content)
    except ValidationError:
        return default_error_message(response)
    parts = []
    for error in body.errors:
        text = error.message or error.code or ""
        where = error.source.field if error.source else None
        parts.append(f"{where}: {text}" if where else text)
    message = "; ".join(part for part in parts if part) or default_error_message(response)
    return f"{message} (request {body.request_id})" if body.request_id else message


def _no_link(identifier: str) -> str | None:
    return None


@dataclass
class IncidentIoProvider:
    http: VendorHttp
    credentials: Credentials
    link: Callable[[str], str | None] = field(default=_no_link)
    """The incident's page in Port, written into the incident.io summary."""
    name: ProviderName = ProviderName.INCIDENTIO
    _severities: list[Named] | None = field(default=None, init=False, repr=False)
    _statuses: list[Named] | None = field(default=None, init=False, repr=False)
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
        opened = fetch(self.http, IncidentAnswer, "POST", "/v2/incidents", json_body=body).incident
        external_id = _id(opened.id, "incident")
        reference = opened.reference or external_id
        severity_name = opened.severity.name if opened.severity else None
        return ProviderResult(
            message=f"Opened {reference} in incident.io ({severity_name or incident.severity.value})",
            externalId=external_id,
            url=opened.permalink,
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
        return ProviderResult(message=f"Moved {edited.shown} to {edited.status_name} for {by}{lead}")

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        edited = self._edit(incident, {"incident_role_assignments": [self._lead_assignment(assignee)]})
        return ProviderResult(message=f"Made {assignee} the incident lead of {edited.shown}", assignee=assignee)

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
        return ProviderResult(message=f"Set the affected services of {edited.shown} to {', '.join(affected)}")

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
        escalation = fetch(self.http, EscalationAnswer, "POST", "/v2/escalations", json_body=body).escalation
        # The escalation pages; it does not make anyone lead, so the assignee stays as it is.
        return ProviderResult(
            message=f"Escalated to level {level}: incident.io paged {target} (escalation {escalation.id})",
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
        return ProviderResult(message=f"Moved {edited.shown} to {edited.status_name}: {resolution}")

    def get(self, incident: Incident) -> ProviderState:
        found = fetch(self.http, IncidentAnswer, "GET", f"/v2/incidents/{_path_id(incident)}").incident
        if found.incident_status is None:
            raise ProviderApiError("incident.io answered without the incident_status object", retryable=False)
        return ProviderState(
            status=STATUS_OF_CATEGORY.get(str(found.incident_status.category), incident.status),
            assignee=found.lead,
            url=found.permalink or incident.url,
        )

    def _edit(self, incident: Incident, changes: Mapping[str, Any]) -> IncidentIoIncident:
        body = {"incident": dict(changes), "notify_incident_channel": NOTIFY_INCIDENT_CHANNEL}
        path = f"/v2/incidents/{_path_id(incident)}/actions/edit"
        return fetch(self.http, IncidentAnswer, "POST", path, json_body=body).incident

    def _severity_id(self, severity: Severity) -> str:
        configured = self.credentials.severityIds.get(severity)
        if configured:
            return configured
        if self._severities is None:
            listed = fetch(self.http, Severities, "GET", "/v1/severities").severities
            self._severities = sorted(listed, key=lambda s: s.rank, reverse=True)
        if not self._severities:
            raise ConfigurationError("incident.io lists no severities; set severityIds in the incident.io secret")
        return _id(self._severities[min(SEVERITY_POSITION[severity], len(self._severities) - 1)].id, "severity")

    def _status_id(self, status: IncidentStatus) -> str:
        configured, key = {
            IncidentStatus.ACKNOWLEDGED: (self.credentials.acknowledgedStatusId, "acknowledgedStatusId"),
            IncidentStatus.RESOLVED: (self.credentials.resolvedStatusId, "resolvedStatusId"),
        }[status]
        if configured:
            return configured
        if self._statuses is None:
            self._statuses = fetch(self.http, Statuses, "GET", "/v1/incident_statuses").incident_statuses
        category = CATEGORY_OF_STATUS[status]
        matching = sorted((s for s in self._statuses if s.category == category), key=lambda s: s.rank)
        if not matching:
            raise ConfigurationError(
                f"incident.io lists no status in the {category} category; set {key} in the incident.io secret"
            )
        return _id(matching[0].id, "status")

    def _lead_assignment(self, person: str) -> dict[str, Any]:
        assignee = {"email": person} if "@" in person else {"id": person}
        return {"incident_role_id": self._lead_role(), "assignee": assignee}

    def _lead_role(self) -> str:
        if self.credentials.leadRoleId:
            return self.credentials.leadRoleId
        if self._lead_role_id is None:
            roles = fetch(self.http, Roles, "GET", "/v2/incident_roles").incident_roles
            lead = next((role for role in roles if role.role_type == "lead"), None)
            if lead is None:
                raise ConfigurationError("incident.io lists no lead role; set leadRoleId in the incident.io secret")
            self._lead_role_id = _id(lead.id, "role")
        return self._lead_role_id

    def _user_id(self, user: str) -> str:
        """An incident.io user id: an email is looked up, anything else is taken as an id already."""
        if "@" not in user:
            return user
        users = fetch(self.http, Users, "GET", "/v2/users", params={"email": user}).users
        found = next((u for u in users if (u.email or "").lower() == user.lower()), None)
        if found is None:
            raise StepRefused(f"incident.io has no user with the email {user}; escalate to one of its users.")
        return _id(found.id, "user")


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


def _id(found: str | None, what: str) -> str:
    if not found:
        raise ProviderApiError(f"incident.io answered without the id of the {what}", retryable=False)
    return found


def build(setup: VendorSetup) -> IncidentIoProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.INCIDENTIO)
    headers = {"Authorization": f"Bearer {credentials.apiKey}", "Accept": "application/json"}
    client = vendor_client(credentials.baseUrl, headers, setup.transport)
    return IncidentIoProvider(
        VendorHttp(VENDOR, client, error_message=incidentio_error_message), credentials, setup.link
    )
