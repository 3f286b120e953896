"""The incident.io adapter: the incident lives in incident.io (see the package's notes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from incident_core.errors import NotFound, ProviderApiError, StepRefused, Unsupported
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineKind
from incident_core.providers.answers import fetch
from incident_core.providers.base import (
    EscalationRequest,
    ProviderResult,
    ProviderState,
    VendorSetup,
    parse_credentials,
)
from incident_core.providers.context import incident_context
from incident_core.providers.http import VendorHttp, default_error_message
from incident_core.providers.incidentio.credentials import VENDOR, Credentials
from incident_core.providers.incidentio.models import (
    ACCEPTED_FROM,
    STATUS_OF_CATEGORY,
    ErrorAnswer,
    EscalationAnswer,
    IncidentAnswer,
    IncidentIoIncident,
)
from incident_core.providers.incidentio.records import Records
from incident_core.providers.lookups import Lookups

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
    lookups: Lookups = field(default_factory=Lookups)
    name: ProviderName = ProviderName.INCIDENTIO

    @property
    def records(self) -> Records:
        return Records(self.credentials, self.http, self.lookups)

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
            "severity_id": self.records.severity_id(incident.severity),
            "visibility": self.credentials.visibility,
            "mode": "standard",
        }
        if self.credentials.incidentTypeId:
            body["incident_type_id"] = self.credentials.incidentTypeId
        services, unknown = self._catalog_entries(incident.services)
        if services:
            body["custom_field_entries"] = [self._services_entry(services.values())]
        # The idempotency key makes a create sent again after a lost answer return the incident it opened.
        opened = fetch(self.http, IncidentAnswer, "POST", "/v2/incidents", json_body=body).incident
        external_id = _id(opened.id, "incident")
        reference = opened.reference or external_id
        severity_name = opened.severity.name if opened.severity else None
        # Where it started decides what Active means later: accepted out of triage, or created so.
        started = opened.incident_status.category if opened.incident_status else None
        return ProviderResult(
            message=f"Opened {reference} in incident.io ({severity_name or incident.severity.value})"
            + _not_in_catalog(unknown),
            externalId=external_id,
            url=opened.permalink,
            providerData={"reference": reference, "startedIn": started},
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        _external_id(incident)
        # incident.io has no acknowledged state, and its API may not move an incident out of triage (the
        # published transitions do not include triage -> Active): taking the lead is how someone owns it there.
        lead = self.records.user_id(by)
        if lead is None:
            return ProviderResult(
                message=f"Acknowledged in Port; incident.io has no user {by}, so its lead is unchanged"
            )
        edited = self._edit(incident, {"incident_role_assignments": [self._lead(lead)]})
        return ProviderResult(message=f"Made {by} the incident lead of {edited.shown}", assignee=by)

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        _external_id(incident)
        lead = self.records.user_id(assignee)
        if lead is None:
            raise NotFound(f"incident.io has no user {assignee}; hand the incident to one of its users.")
        edited = self._edit(incident, {"incident_role_assignments": [self._lead(lead)]})
        return ProviderResult(message=f"Made {assignee} the incident lead of {edited.shown}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        if not self.credentials.servicesFieldId:
            raise Unsupported(
                "incident.io links services through a catalog-backed custom field; set servicesFieldId in the "
                "incident.io secret to the id of your affected-services field to use this step."
            )
        # An edit replaces the field's values, so it carries every service the incident already had.
        affected, unknown = self._catalog_entries([*incident.services, *services])
        if not affected:
            return ProviderResult(message=f"Nothing to link in incident.io{_not_in_catalog(unknown)}")
        edited = self._edit(incident, {"custom_field_entries": [self._services_entry(affected.values())]})
        linked = ", ".join(affected)
        return ProviderResult(
            message=f"Set the affected services of {edited.shown} to {linked}{_not_in_catalog(unknown)}"
        )

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
            user = self.records.user_id(request.user)
            if user is None:
                raise NotFound(f"incident.io has no user {request.user}; escalate to one of its users.")
            body["user_ids"] = [user]
            target = request.user
        elif request.policy:
            body["escalation_path_id"] = self.records.escalation_path_id(request.policy)
            target, named_policy = f"escalation path {request.policy}", request.policy
        elif path:
            body["escalation_path_id"] = path
            target = f"escalation path {path}"
        else:
            raise Unsupported(
                "incident.io escalates along an escalation path or to named users; give a policy (an escalation "
                "path's name or id) or a user, or set escalationPathId in the incident.io secret."
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
        current = _resolved(self._read(incident))
        if current is not None:
            return ProviderResult(message=f"{current.shown} was already {current.status_name} in incident.io")
        # Sent again after a lost answer, the move could be refused (closed to closed): what the incident shows
        # settles whether it happened.
        changes = {"incident_status_id": self.records.status_id(IncidentStatus.RESOLVED)}
        edited = self.http.guarded(
            lambda: self._edit(incident, changes, once=True), lambda: _resolved(self._read(incident))
        )
        return ProviderResult(message=f"Moved {edited.shown} to {edited.status_name}: {resolution}")

    def get(self, incident: Incident) -> ProviderState:
        found = self._read(incident)
        if found.incident_status is None:
            raise ProviderApiError("incident.io answered without the incident_status object", retryable=False)
        category = str(found.incident_status.category)
        status = STATUS_OF_CATEGORY.get(category)
        if status is None and incident.providerData.get("startedIn") == ACCEPTED_FROM:
            status = IncidentStatus.ACKNOWLEDGED  # it left triage: someone accepted it
        # Active from the start says nothing about acknowledging: what we know stands.
        return ProviderState(status=status or incident.status, assignee=found.lead, url=found.permalink or incident.url)

    def _read(self, incident: Incident) -> IncidentIoIncident:
        return fetch(self.http, IncidentAnswer, "GET", f"/v2/incidents/{_path_id(incident)}").incident

    def _edit(self, incident: Incident, changes: Mapping[str, Any], *, once: bool = False) -> IncidentIoIncident:
        body = {"incident": dict(changes), "notify_incident_channel": NOTIFY_INCIDENT_CHANNEL}
        path = f"/v2/incidents/{_path_id(incident)}/actions/edit"
        return fetch(self.http, IncidentAnswer, "POST", path, json_body=body, once=once).incident

    def _lead(self, user_id: str) -> dict[str, Any]:
        return {"incident_role_id": self.records.lead_role_id(), "assignee": {"id": user_id}}

    def _catalog_entries(self, services: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """Port services -> their catalog entries, and the services the catalog does not have."""
        field_id = self.credentials.servicesFieldId
        if not field_id or not services:
            return {}, []
        found = {service: self.records.catalog_entry_id(field_id, service) for service in dict.fromkeys(services)}
        return {s: entry for s, entry in found.items() if entry}, [s for s, entry in found.items() if not entry]

    def _services_entry(self, entries: Iterable[str]) -> dict[str, Any]:
        values = [{"value_catalog_entry_id": entry} for entry in entries]
        return {"custom_field_id": self.credentials.servicesFieldId, "values": values}


def _resolved(incident: IncidentIoIncident) -> IncidentIoIncident | None:
    category = incident.incident_status.category if incident.incident_status else None
    return incident if STATUS_OF_CATEGORY.get(str(category)) is IncidentStatus.RESOLVED else None


def _not_in_catalog(unknown: Sequence[str]) -> str:
    return f"; not in the incident.io catalog: {', '.join(unknown)}" if unknown else ""


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
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.INCIDENTIO, setup.secret_name)
    headers = {"Authorization": f"Bearer {credentials.apiKey}", "Accept": "application/json"}
    http = setup.http(VENDOR, credentials.baseUrl, headers, incidentio_error_message)
    return IncidentIoProvider(http, credentials, setup.link, setup.lookups)
