"""The PagerDuty adapter: every lifecycle step through the REST API v2 (see the package's notes)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from incident_core.errors import ProviderApiError, StepRefused
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineKind
from incident_core.providers.answers import fetch
from incident_core.providers.base import (
    EscalationRequest,
    ProviderEvent,
    ProviderResult,
    ProviderState,
    VendorSetup,
    parse_credentials,
)
from incident_core.providers.context import incident_context, is_email
from incident_core.providers.http import WEBHOOK_BUDGET_SECONDS, VendorHttp, default_error_message
from incident_core.providers.lookups import Lookups
from incident_core.providers.marks import carries, marked, write_mark
from incident_core.providers.pagerduty.credentials import VENDOR, Credentials, rest_headers
from incident_core.providers.pagerduty.models import (
    STATUS_OF_PAGERDUTY,
    URGENCY_OF_SEVERITY,
    ErrorAnswer,
    IncidentAnswer,
    IncidentsPage,
    NotesPage,
    OncallsPage,
    PagerDutyIncident,
)
from incident_core.providers.pagerduty.people import People

_LEVEL_IN_NOTE = re.compile(r"to level (\d+)")


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
    lookups: Lookups = field(default_factory=Lookups)
    name: ProviderName = ProviderName.PAGERDUTY

    @property
    def people(self) -> People:
        return People(self.credentials, self.http, self.lookups)

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        # Our incident's own id: one PagerDuty incident per Port incident. An alert's key would let a new
        # Port incident for an alert that fired before join the older PagerDuty incident still open for it.
        key = incident.identifier
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
        priority = self.people.priority(incident.severity)
        if priority:
            fields["priority"] = _reference("priority", priority)
        sender = {"From": self.people.writer(_trigger_actor(incident))}

        def create() -> PagerDutyIncident:
            body = {"incident": fields}
            return fetch(
                self.http, IncidentAnswer, "POST", "/incidents", json_body=body, headers=sender, once=True
            ).incident

        try:
            created = self.http.guarded(create, lambda: self._open_incident_with_key(key))
            message = f"Opened PagerDuty incident {created.reference} ({urgency} urgency)"
        except ProviderApiError as refused:
            # PagerDuty refuses a second open incident with the same key on the service (400): an earlier
            # attempt of this step opened it and its answer was lost; adopt it.
            existing = self._open_incident_with_key(key) if refused.status_code == 400 else None
            if existing is None:
                raise
            created = existing
            message = f"PagerDuty incident {created.reference} is already open for {key}; linked to it"
        return ProviderResult(
            message=message,
            externalId=created.id,
            url=created.html_url,
            assignee=self.people.holders(created.holders),
            providerData={
                "incidentId": created.id,
                "incidentNumber": created.incident_number,
                "incidentKey": key,
                "serviceId": created.service.id if created.service else self.credentials.serviceId,
            },
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        updated, already = self._change_status(incident, "acknowledged", by)
        said = f"PagerDuty incident {updated.reference} was already acknowledged there" if already else ""
        # Acknowledging through the REST API assigns the incident to the `From` user: that is who holds it now.
        holder = self.people.holders(updated.holders)
        return ProviderResult(message=said or f"Acknowledged PagerDuty incident {updated.reference}", assignee=holder)

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        if is_email(assignee):
            user_id = self.people.required_user(assignee)
            self._update(incident_id, {"assignments": [{"assignee": _reference("user", user_id)}]}, by)
            return ProviderResult(
                message=f"Reassigned PagerDuty incident {incident_id} to {assignee}", assignee=assignee
            )
        policy = self.people.escalation_policy(assignee)
        updated = self._update(incident_id, {"escalation_policy": _reference("escalation_policy", policy.id)}, by)
        return ProviderResult(
            message=f"Handed PagerDuty incident {incident_id} to escalation policy {policy.shown}",
            assignee=self.people.holders(updated.holders) or assignee,
            escalationPolicy=policy.shown,
        )

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        listed = ", ".join(services)
        mark = write_mark(incident, TimelineKind.SERVICES_ASSOCIATED)
        written = self._note(incident_id, f"Impacted services (associated in Port by {by}): {listed}", mark, by)
        done = "noted the impacted services" if written else "the impacted services were already noted"
        return ProviderResult(message=f"A PagerDuty incident has one service; {done} on {incident_id}: {listed}")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        if request.user and request.policy:
            raise StepRefused(
                "PagerDuty assigns an incident to users or to an escalation policy, not both; choose one."
            )
        if request.user:
            user_id = self.people.required_user(request.user)
            self._update(incident_id, {"assignments": [{"assignee": _reference("user", user_id)}]}, by)
            return ProviderResult(
                message=f"Escalated PagerDuty incident {incident_id} to {request.user}", assignee=request.user
            )
        mark = write_mark(incident, TimelineKind.ESCALATED)
        policy = self.people.escalation_policy(request.policy) if request.policy else None
        level = self._intended_level(incident, incident_id, request, mark, by, policy.shown if policy else None)
        if policy is not None:
            # A new policy starts paging at its first level; a level asked for as well is a second change.
            updated = self._update(incident_id, {"escalation_policy": _reference("escalation_policy", policy.id)}, by)
            if level > 1:
                updated = self._update(incident_id, {"escalation_level": level}, by)
        else:
            updated = self._update(incident_id, {"escalation_level": level}, by)
        target = f"policy {policy.shown}, level {level}" if policy else f"level {level}"
        holders = self.people.holders(updated.holders)
        return ProviderResult(
            message=f"Escalated PagerDuty incident {incident_id} to {target}; paging {holders or 'the on-call'}",
            escalationLevel=level,
            escalationPolicy=policy.shown if policy else None,
            assignee=holders,
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        incident_id = _incident_id(incident)
        written = self._note(incident_id, note, write_mark(incident, TimelineKind.NOTE), by)
        said = "Added the note to" if written else "The note was already on"
        return ProviderResult(message=f"{said} PagerDuty incident {incident_id}")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        updated, already = self._change_status(incident, "resolved", by, resolution=resolution)
        if already:
            return ProviderResult(message=f"PagerDuty incident {updated.reference} was already resolved there")
        return ProviderResult(message=f"Resolved PagerDuty incident {updated.reference}")

    def get(self, incident: Incident) -> ProviderState:
        found = self._fetch(_incident_id(incident))
        return ProviderState(status=our_status(found), assignee=self.people.holders(found.holders), url=found.html_url)

    def settle(self, event: ProviderEvent) -> ProviderEvent | None:
        """People as emails; None for a change this bundle made itself (written as the configured user)."""
        self.http.within(WEBHOOK_BUDGET_SECONDS)
        people = self.people
        actor = people.email_of_id(event.actorId) if event.actorId else None
        if actor == self.credentials.fromEmail.casefold():
            return None
        emails = [people.email_of_id(holder) for holder in event.assigneeIds]
        # Someone PagerDuty has no email for (a deleted user) keeps the names the webhook gave.
        assignee = ", ".join(e for e in emails if e) if emails and all(emails) else event.assignee
        return event.model_copy(update={"actor": actor or event.actor, "assignee": assignee})

    # PagerDuty requests

    def _update(self, incident_id: str, fields: Mapping[str, Any], by: str) -> PagerDutyIncident:
        body = {"incident": {"type": "incident_reference", **fields}}
        headers = {"From": self.people.writer(by)}
        return fetch(
            self.http, IncidentAnswer, "PUT", _incident_path(incident_id), json_body=body, headers=headers
        ).incident

    def _fetch(self, incident_id: str) -> PagerDutyIncident:
        # Expanded assignees carry their email, which is how Port names the people who hold an incident.
        params = {"include[]": "assignees"}
        return fetch(self.http, IncidentAnswer, "GET", _incident_path(incident_id), params=params).incident

    def _change_status(self, incident: Incident, status: str, by: str, **fields: str) -> tuple[PagerDutyIncident, bool]:
        """The incident after the change, and whether PagerDuty had it so already (a repeated step)."""
        incident_id = _incident_id(incident)
        try:
            return self._update(incident_id, {"status": status, **fields}, by), False
        except ProviderApiError as refused:
            if refused.status_code != 400:
                raise
            current = self._fetch(incident_id)
            if current.status == status:
                return current, True
            if current.status == "resolved":
                raise StepRefused(
                    f"PagerDuty incident {current.reference} is already resolved there; it cannot be {status}."
                ) from refused
            raise

    def _notes(self, incident_id: str) -> list[str]:
        return [note.content for note in fetch(self.http, NotesPage, "GET", _incident_path(incident_id, "notes")).notes]

    def _note(self, incident_id: str, content: str, mark: str, by: str) -> bool:
        """Write a marked note once: False when an earlier attempt already wrote it."""
        if any(carries(text, mark) for text in self._notes(incident_id)):
            return False
        # PagerDuty attributes a note to the `From` user; when that is not the actor, the note says who it was.
        writer = self.people.writer(by)
        text = marked(content if writer == by else f"{by}: {content}", mark)

        def send() -> bool:
            body = {"note": {"content": text}}
            path = _incident_path(incident_id, "notes")
            self.http.request("POST", path, json_body=body, headers={"From": writer}, once=True)
            return True

        def landed() -> bool | None:
            return True if any(carries(t, mark) for t in self._notes(incident_id)) else None

        return self.http.guarded(send, landed)

    def _intended_level(
        self,
        incident: Incident,
        incident_id: str,
        request: EscalationRequest,
        mark: str,
        by: str,
        policy: str | None,
    ) -> int:
        """The level this escalation goes to, recorded first in a marked note: a repeated step reads it back
        instead of counting one more level, and a step cut short finishes the move it announced."""
        recorded = next((n for n in self._notes(incident_id) if carries(n, mark)), None)
        found = _LEVEL_IN_NOTE.search(recorded) if recorded else None
        if found:
            return int(found.group(1))
        if policy is not None:
            level = max(request.level or 1, 1)
            said = f"Escalated by {by} in Port to policy {policy}, to level {level}"
        else:
            level = request.level or self._current_level(incident, incident_id) + 1
            said = f"Escalated by {by} in Port to level {level}"
        self._note(incident_id, said, mark, by)
        return level

    def _current_level(self, incident: Incident, incident_id: str) -> int:
        """The level PagerDuty is paging now (it escalates by itself): the on-call level of who holds the
        incident; the level Port last knew when PagerDuty does not tell."""
        current = self._fetch(incident_id)
        if current.escalation_policy is None:
            return incident.escalationLevel
        params = {"escalation_policy_ids[]": current.escalation_policy.id}
        oncalls = fetch(self.http, OncallsPage, "GET", "/oncalls", params=params).oncalls
        holders = {holder.id for holder in current.holders}
        levels = [o.escalation_level for o in oncalls if o.user is not None and o.user.id in holders]
        return min(levels) if levels else incident.escalationLevel

    def _open_incident_with_key(self, key: str) -> PagerDutyIncident | None:
        params = {"incident_key": key, "service_ids[]": self.credentials.serviceId, "date_range": "all"}
        page = fetch(self.http, IncidentsPage, "GET", "/incidents", params=params)
        return next((found for found in page.incidents if found.status != "resolved"), None)


def _incident_id(incident: Incident) -> str:
    found = incident.externalId or incident.providerData.get("incidentId")
    if not found:
        raise StepRefused(
            f"Incident {incident.identifier} was never opened in PagerDuty (its trigger did not reach it); "
            "trigger it again first."
        )
    return str(found)


def build(setup: VendorSetup) -> PagerDutyProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.PAGERDUTY, setup.secret_name)
    http = setup.http(VENDOR, credentials.rest_base_url, rest_headers(credentials), pagerduty_error_message)
    return PagerDutyProvider(credentials, http, setup.link, setup.lookups)
