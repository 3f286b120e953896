"""The PagerDuty adapter: every lifecycle step through the REST API v2 (see the package's notes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from incident_core.errors import NotFound
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineKind
from incident_core.providers.answers import fetch
from incident_core.providers.base import (
    EscalationRequest,
    ProviderResult,
    ProviderState,
    StepRefused,
    VendorSetup,
    parse_credentials,
)
from incident_core.providers.context import incident_context, is_email
from incident_core.providers.http import ProviderApiError, VendorHttp, default_error_message, vendor_client
from incident_core.providers.pagerduty.credentials import VENDOR, Credentials, rest_headers
from incident_core.providers.pagerduty.models import (
    STATUS_OF_PAGERDUTY,
    URGENCY_OF_SEVERITY,
    ErrorAnswer,
    EscalationPoliciesPage,
    IncidentAnswer,
    IncidentsPage,
    PagerDutyIncident,
    Reference,
    TeamsPage,
    UsersPage,
)


def pagerduty_error_message(response: httpx.Response) -> str:
    """`{"error": {"message", "code", "errors": [...]}}` as one sentence: the reason and its details."""
    try:
        error = ErrorAnswer.model_validate_json(response.content).error
    except ValidationError:
        return default_error_message(response)
    details = error.errors
    if isinstance(details, dict):  # newer endpoints: field -> messages
        details = [f"{name}: {'; '.join(m) if isinstance(m, list) else m}" for name, m in details.items()]
    sentence = error.message or response.reason_phrase
    if details:
        sentence += ": " + "; ".join(details)
    if error.code is not None:
        sentence += f" (code {error.code})"
    return sentence


def our_status(incident: PagerDutyIncident) -> IncidentStatus:
    status = STATUS_OF_PAGERDUTY.get(incident.status)
    if status is None:
        raise ProviderApiError(
            f"{VENDOR} reported incident {incident.id} in an unknown status {incident.status!r}", retryable=False
        )
    return status


def _incident_key(incident: Incident, alerts: Sequence[AlertRecord]) -> str:
    if alerts:
        return alerts[0].dedup_key
    return incident.alerts[0] if incident.alerts else incident.identifier


def _trigger_actor(incident: Incident) -> str | None:
    return next((entry.actor for entry in incident.timeline if entry.kind is TimelineKind.TRIGGERED), None)


def _reference(kind: str, identifier: str) -> dict[str, str]:
    return {"id": identifier, "type": f"{kind}_reference"}


def _incident_path(incident_id: str, *rest: str) -> str:
    return "/".join(["/incidents", quote(incident_id, safe=""), *rest])


@dataclass
class PagerDutyProvider:
    credentials: Credentials
    http: VendorHttp
    link: Callable[[str], str | None] = field(default=lambda identifier: None)
    """The incident's page in Port, written into the PagerDuty incident's details."""
    name: ProviderName = ProviderName.PAGERDUTY

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        key = _incident_key(incident, alerts)
        urgency = URGENCY_OF_SEVERITY[incident.severity]
        fields: dict[str, Any] = {
            "type": "incident",
            "title": incident.title,
            "service": _reference("service", self.credentials.serviceId),
            "urgency": urgency,
            "incident_key": key,
            "body": {
                "type": "incident_body",
                "details": incident_context(incident, alerts, self.link(incident.identifier), urgency=urgency),
            },
        }
        priority = self.credentials.priorityIds.get(incident.severity)
        if priority:
            fields["priority"] = _reference("priority", priority)
        try:
            answer = fetch(
                self.http,
                IncidentAnswer,
                "POST",
                "/incidents",
                json_body={"incident": fields},
                headers=self._from(_trigger_actor(incident)),
            )
            created = answer.incident
            message = f"Opened PagerDuty incident {created.reference} ({urgency} urgency)"
        except ProviderApiError as refused:
            # PagerDuty refuses a second open incident with the same key on the service (400): this trigger is
            # a retry whose first answer was lost, or the problem is still open there; either way, join it.
            existing = self._open_incident_with_key(key) if refused.status_code == 400 else None
            if existing is None:
                raise
            created = existing
            message = f"PagerDuty incident {created.reference} is already open for {key}; linked to it"
        return ProviderResult(
            message=message,
            externalId=created.id,
            url=created.html_url,
            assignee=created.assignee,
            providerData={
                "incidentId": created.id,
                "incidentNumber": created.incident_number,
                "incidentKey": key,
                "serviceId": created.service.id if created.service else self.credentials.serviceId,
            },
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        updated = self._change_status(incident, "acknowledged", by)
        return ProviderResult(message=f"Acknowledged PagerDuty incident {updated.reference}", assignee=updated.assignee)

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        if is_email(assignee):
            user = self._user_with_email(assignee)
            self._update(incident_id, {"assignments": [{"assignee": _reference("user", user.id)}]}, by)
            return ProviderResult(
                message=f"Reassigned PagerDuty incident {incident_id} to {user.shown}", assignee=assignee
            )
        policy = self._escalation_policy_for(assignee)
        updated = self._update(incident_id, {"escalation_policy": _reference("escalation_policy", policy.id)}, by)
        return ProviderResult(
            message=f"Handed PagerDuty incident {incident_id} to escalation policy {policy.shown}",
            assignee=updated.assignee or assignee,
            escalationPolicy=policy.shown,
        )

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        listed = ", ".join(services)
        self._add_note(incident_id, f"Impacted services (associated in Port by {by}): {listed}", by)
        return ProviderResult(
            message=f"A PagerDuty incident has one service; noted the impacted services on {incident_id}: {listed}"
        )

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        if request.user and request.policy:
            raise StepRefused(
                "PagerDuty assigns an incident to users or to an escalation policy, not both; choose one."
            )
        if request.user:
            if not is_email(request.user):
                raise StepRefused(f"PagerDuty finds users by email; {request.user!r} is not one.")
            user = self._user_with_email(request.user)
            self._update(incident_id, {"assignments": [{"assignee": _reference("user", user.id)}]}, by)
            return ProviderResult(
                message=f"Escalated PagerDuty incident {incident_id} to {user.shown}", assignee=request.user
            )
        policy_name: str | None = None
        if request.policy:
            policy = self._escalation_policy_for(request.policy)
            policy_name = policy.shown
            # A new policy starts paging at its first level; a level asked for as well is a second change.
            updated = self._update(incident_id, {"escalation_policy": _reference("escalation_policy", policy.id)}, by)
            level = 1
            if request.level and request.level > 1:
                updated = self._update(incident_id, {"escalation_level": request.level}, by)
                level = request.level
        else:
            level = request.level or incident.escalationLevel + 1
            updated = self._update(incident_id, {"escalation_level": level}, by)
        target = f"policy {policy_name}, level {level}" if policy_name else f"level {level}"
        paged = updated.assignee or "the on-call responders"
        return ProviderResult(
            message=f"Escalated PagerDuty incident {incident_id} to {target}; paging {paged}",
            escalationLevel=level,
            escalationPolicy=policy_name,
            assignee=updated.assignee,
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        self._add_note(incident_id, note, by)
        return ProviderResult(message=f"Added the note to PagerDuty incident {incident_id}")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        updated = self._change_status(incident, "resolved", by, resolution=resolution)
        return ProviderResult(message=f"Resolved PagerDuty incident {updated.reference}")

    def get(self, incident: Incident) -> ProviderState:
        found = self._fetch(_incident_id(incident))
        return ProviderState(status=our_status(found), assignee=found.assignee, url=found.html_url)

    # PagerDuty requests

    def _from(self, actor: str | None) -> dict[str, str]:
        return {"From": actor if actor and is_email(actor) else self.credentials.fromEmail}

    def _update(self, incident_id: str, fields: Mapping[str, Any], by: str) -> PagerDutyIncident:
        body = {"incident": {"type": "incident_reference", **fields}}
        return fetch(
            self.http, IncidentAnswer, "PUT", _incident_path(incident_id), json_body=body, headers=self._from(by)
        ).incident

    def _fetch(self, incident_id: str) -> PagerDutyIncident:
        # Expanded assignees carry their email, which is how Port names the people who hold an incident.
        return fetch(
            self.http, IncidentAnswer, "GET", _incident_path(incident_id), params={"include[]": "assignees"}
        ).incident

    def _change_status(self, incident: Incident, status: str, by: str, **fields: str) -> PagerDutyIncident:
        incident_id = _incident_id(incident)
        try:
            return self._update(incident_id, {"status": status, **fields}, by)
        except ProviderApiError as refused:
            if refused.status_code != 400:
                raise
            current = self._fetch(incident_id)
            if current.status == status:
                return current
            if current.status == "resolved":
                raise StepRefused(
                    f"PagerDuty incident {current.reference} is already resolved there; it cannot be {status}."
                ) from refused
            raise

    def _add_note(self, incident_id: str, content: str, by: str) -> None:
        # PagerDuty attributes a note to the `From` user; when that is not the actor, the note says who it was.
        text = content if is_email(by) else f"{by}: {content}"
        self.http.json(
            "POST", _incident_path(incident_id, "notes"), json_body={"note": {"content": text}}, headers=self._from(by)
        )

    def _open_incident_with_key(self, key: str) -> PagerDutyIncident | None:
        params = {"incident_key": key, "service_ids[]": self.credentials.serviceId, "date_range": "all"}
        page = fetch(self.http, IncidentsPage, "GET", "/incidents", params=params)
        return next((found for found in page.incidents if found.status != "resolved"), None)

    def _user_with_email(self, email: str) -> Reference:
        page = fetch(self.http, UsersPage, "GET", "/users", params={"query": email})
        for user in page.users:
            if user.email and user.email.casefold() == email.casefold():
                return user
        raise NotFound(f"PagerDuty has no user with the email {email}.")

    def _escalation_policy_for(self, name: str) -> Reference:
        """The escalation policy of that name (or id), else the only policy of the team of that name."""
        wanted = name.casefold()
        named = fetch(self.http, EscalationPoliciesPage, "GET", "/escalation_policies", params={"query": name})
        for policy in named.escalation_policies:
            if wanted in {(policy.name or "").casefold(), (policy.summary or "").casefold(), policy.id.casefold()}:
                return policy
        found = fetch(self.http, TeamsPage, "GET", "/teams", params={"query": name})
        teams = [t for t in found.teams if wanted in {(t.name or "").casefold(), (t.summary or "").casefold()}]
        if not teams:
            raise NotFound(f"PagerDuty has no escalation policy or team named {name}.")
        params = {"team_ids[]": teams[0].id}
        policies = fetch(self.http, EscalationPoliciesPage, "GET", "/escalation_policies", params=params)
        if len(policies.escalation_policies) == 1:
            return policies.escalation_policies[0]
        if not policies.escalation_policies:
            raise NotFound(f"PagerDuty team {name} has no escalation policy to hand the incident to.")
        names = ", ".join(policy.shown for policy in policies.escalation_policies)
        raise StepRefused(f"PagerDuty team {name} has several escalation policies ({names}); name one of them.")


def _incident_id(incident: Incident) -> str:
    found = incident.externalId or incident.providerData.get("incidentId")
    if not found:
        raise StepRefused(
            f"Incident {incident.identifier} was never opened in PagerDuty (its trigger did not reach it); "
            "trigger it again first."
        )
    return str(found)


def build(setup: VendorSetup) -> PagerDutyProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.PAGERDUTY)
    client = vendor_client(credentials.rest_base_url, rest_headers(credentials), setup.transport)
    http = VendorHttp(VENDOR, client, error_message=pagerduty_error_message)
    return PagerDutyProvider(credentials, http, setup.link)
