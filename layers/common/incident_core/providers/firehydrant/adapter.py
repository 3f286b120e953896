"""The FireHydrant adapter: REST API v1 for every step (see the package's notes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from incident_core.errors import ProviderApiError, StepRefused, Unsupported
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
from incident_core.providers.context import incident_context
from incident_core.providers.firehydrant.command import Command, incident_path
from incident_core.providers.firehydrant.credentials import VENDOR, Credentials
from incident_core.providers.firehydrant.models import (
    ErrorAnswer,
    Events,
    FireHydrantIncident,
    IncidentsPage,
)
from incident_core.providers.firehydrant.vocabulary import Vocabulary
from incident_core.providers.http import WEBHOOK_BUDGET_SECONDS, VendorHttp, default_error_message
from incident_core.providers.lookups import Lookups
from incident_core.providers.marks import marked, write_mark

TAG_PREFIX = "port-"
SEARCH_PAGE_SIZE = 5
EVENTS_READ = 100
NOTE_EVENT_TYPES = "note,bulk_update,generic_chat_message"
"""Where a note posted through the API shows on the timeline."""


def firehydrant_error_message(response: httpx.Response) -> str:
    """FireHydrant's `ErrorEntity` (`detail`, `messages`, `code`), else the common shapes."""
    try:
        body = ErrorAnswer.model_validate_json(response.content)
    except ValidationError:
        return default_error_message(response)
    if not (body.detail or body.messages):
        return default_error_message(response)
    parts = [body.detail] if body.detail else []
    parts += [m for m in body.messages if m and m not in parts]
    code = f" ({body.code})" if body.code else ""
    return "; ".join(parts) + code


def _incident_id(entity: FireHydrantIncident) -> str:
    if not entity.id:
        # Retryable: the incident may exist, and the retried trigger finds it by its tag.
        raise ProviderApiError(f"{VENDOR} answered without an incident id", retryable=True)
    return entity.id


@dataclass
class FireHydrantProvider:
    http: VendorHttp
    credentials: Credentials
    link: Callable[[str], str | None]
    """The incident's page in Port, written into the FireHydrant incident."""
    lookups: Lookups = field(default_factory=Lookups)
    name: ProviderName = ProviderName.FIREHYDRANT

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.credentials, self.http, self.lookups)

    @property
    def command(self) -> Command:
        return Command(self.credentials, self.http)

    # Trigger

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        tag = f"{TAG_PREFIX}{incident.identifier}"
        service_ids = self._service_ids(incident.services)
        found = self._find_by_tag(tag)
        if found is not None:
            added = self._impact_missing(_incident_id(found), found, service_ids)
            opened = f"Found FireHydrant incident {found.label} opened by an earlier attempt"
            return self._opened(found, opened + self._impacted_note(added, incident.services, service_ids))
        body = self._incident_body(incident, alerts, tag, service_ids)

        def create() -> FireHydrantIncident:
            return fetch(self.http, FireHydrantIncident, "POST", "/v1/incidents", json_body=body, once=True)

        # No idempotency key: a create whose answer was lost is looked for by its tag before it is sent again.
        entity = self.http.guarded(create, lambda: self._find_by_tag(tag))
        incident_id = _incident_id(entity)
        added = list(service_ids) if "impacts" in body else self._impact_missing(incident_id, entity, service_ids)
        opened = f"Opened FireHydrant incident {entity.label} ({body['severity']}, {body['priority']})"
        return self._opened(entity, opened + self._impacted_note(added, incident.services, service_ids))

    def _find_by_tag(self, tag: str) -> FireHydrantIncident | None:
        params = {"tags": tag, "tag_match_strategy": "match_all", "per_page": SEARCH_PAGE_SIZE}
        page = fetch(self.http, IncidentsPage, "GET", "/v1/incidents", params=params)
        # The tag filter is the vendor's; an exact tag on the answer is what makes it ours.
        return next((entity for entity in page.data if tag in entity.tag_list and entity.id), None)

    def _incident_body(
        self, incident: Incident, alerts: Sequence[AlertRecord], tag: str, service_ids: Mapping[str, str]
    ) -> dict[str, Any]:
        port_url = self.link(incident.identifier)
        summary = incident.description or next((a.description for a in alerts if a.description), "")
        body: dict[str, Any] = {
            "name": incident.title,
            "summary": summary or incident.title,
            "description": incident_context(incident, alerts, port_url),
            "severity": self.vocabulary.severity(incident.severity),
            "priority": self.vocabulary.priority(incident.severity),
            "tag_list": [tag, *dict.fromkeys(a.dedup_key for a in alerts)],
            "labels": {"port_incident": incident.identifier, **({"port_url": port_url} if port_url else {})},
        }
        if service_ids and self.credentials.impactConditionId:
            body["impacts"] = [
                {"type": "service", "id": fh_id, "condition_id": self.credentials.impactConditionId}
                for fh_id in service_ids.values()
            ]
        return body

    @staticmethod
    def _opened(entity: FireHydrantIncident, message: str) -> ProviderResult:
        return ProviderResult(
            message=message,
            externalId=_incident_id(entity),
            url=entity.incident_url or None,
            providerData={"incidentNumber": entity.number} if entity.number is not None else {},
        )

    # Services

    def _service_ids(self, services: Sequence[str]) -> dict[str, str]:
        return {s: self.credentials.serviceIds[s] for s in dict.fromkeys(services) if s in self.credentials.serviceIds}

    def _impact_missing(
        self, incident_id: str, entity: FireHydrantIncident, service_ids: Mapping[str, str]
    ) -> list[str]:
        """Add each mapped service `entity` (the incident as read) does not impact yet: retries add nothing twice."""
        added = [service for service, fh_id in service_ids.items() if fh_id not in entity.impacted]
        for service in added:
            self._impact(incident_id, service_ids[service])
        return added

    def _impact(self, incident_id: str, service_id: str) -> None:
        body = {"id": service_id}
        if self.credentials.impactConditionId:
            body["condition_id"] = self.credentials.impactConditionId

        def send() -> bool:
            self.http.request("POST", incident_path(incident_id, "impact", "services"), json_body=body, once=True)
            return True

        self.http.guarded(send, lambda: True if service_id in self._read(incident_id).impacted else None)

    @staticmethod
    def _impacted_note(added: Sequence[str], services: Sequence[str], service_ids: Mapping[str, str]) -> str:
        note = f"; impacted {', '.join(added)}" if added else ""
        unmapped = [s for s in dict.fromkeys(services) if s not in service_ids]
        if unmapped:
            note += f"; not in FireHydrant (no serviceIds entry): {', '.join(unmapped)}"
        return note

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        service_ids = self._service_ids(services)
        if not service_ids:
            return ProviderResult(
                message=f"Not linked in FireHydrant: no serviceIds entry for {', '.join(services)}; recorded in Port"
            )
        added = self._impact_missing(incident_id, self._read(incident_id), service_ids)
        already = [s for s in service_ids if s not in added]
        message = f"FireHydrant impact: added {', '.join(added) or 'nothing new'}"
        if already:
            message += f"; already impacted: {', '.join(already)}"
        return ProviderResult(message=message + self._impacted_note([], services, service_ids))

    # Milestones and notes

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        milestone = self.credentials.acknowledgedMilestone
        current = self._read(incident_id).current_milestone
        # A milestone never moves back: an incident already investigating stays so.
        if self._reached(current, milestone):
            return ProviderResult(message=f"The FireHydrant incident is already at {current}, past {milestone}")
        note = marked(f"Acknowledged by {by} (from Port).", write_mark(incident, TimelineKind.ACKNOWLEDGED))
        body = {"milestone": milestone, "note": note}

        def send() -> bool:
            self.http.request("PATCH", incident_path(incident_id, "impact"), json_body=body, once=True)
            return True

        self.http.guarded(
            send, lambda: True if self._reached(self._read(incident_id).current_milestone, milestone) else None
        )
        return ProviderResult(message=f"Moved the FireHydrant incident to the {milestone} milestone")

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        mark = write_mark(incident, TimelineKind.NOTE)
        written = self._note(incident_id, f"{note}\n\n— {by} (from Port)", mark)
        return ProviderResult(
            message=f"{'Added the note to' if written else 'The note was already on'} the FireHydrant timeline"
        )

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        # Note first: if the resolve then fails, the retried step finds the note written and resolves.
        self._note(
            incident_id, f"Resolved by {by} (from Port): {resolution}", write_mark(incident, TimelineKind.RESOLVED)
        )
        milestone = self.credentials.resolvedMilestone
        current = self._read(incident_id).current_milestone
        # `PUT /resolve` refuses an incident that is not active: already resolved is done.
        if self._reached(current, milestone):
            return ProviderResult(message=f"The FireHydrant incident was already {current}; noted the resolution")

        def send() -> bool:
            self.http.request(
                "PUT", incident_path(incident_id, "resolve"), json_body={"milestone": milestone}, once=True
            )
            return True

        self.http.guarded(
            send, lambda: True if self._reached(self._read(incident_id).current_milestone, milestone) else None
        )
        return ProviderResult(message=f"Resolved the FireHydrant incident (milestone {milestone}) with the note")

    def _reached(self, current: str | None, milestone: str) -> bool:
        """Whether the incident's milestone is `milestone` or later in the organisation's lifecycle."""
        order = self.vocabulary.milestones()
        return current in order and order.index(str(current)) >= order.index(milestone)

    def _note(self, incident_id: str, text: str, mark: str) -> bool:
        """Post a marked note once: False when an earlier attempt already posted it."""

        def landed() -> bool | None:
            params = {"types": NOTE_EVENT_TYPES, "per_page": EVENTS_READ}
            events = fetch(self.http, Events, "GET", incident_path(incident_id, "events"), params=params).data
            # An event's data is one of many entities; the mark is a plain string in whichever carries the note.
            return True if any(mark in json.dumps(event.data) for event in events) else None

        if landed():
            return False
        note = {"body": marked(text, mark), "visibility": "private_to_org"}

        def send() -> bool:
            self.http.request("POST", incident_path(incident_id, "notes"), json_body=note, once=True)
            return True

        return self.http.guarded(send, landed)

    # People and teams

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        if "@" not in assignee and (assignee in self.credentials.teamIds or not self.credentials.commanderRoleId):
            self.command.assign_team(incident_id, self.vocabulary.team_id(assignee))
            return ProviderResult(message=f"Assigned the FireHydrant team {assignee}", assignee=assignee)
        role_id, user_id = self.command.role_id(), self.vocabulary.user_id(assignee)
        self.command.hand(incident_id, role_id, user_id)
        return ProviderResult(message=f"{assignee} is now the FireHydrant incident commander", assignee=assignee)

    # Escalation

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        level = request.level or incident.escalationLevel + 1
        # Who to hand command to, and which team, is settled before any change: a refusal changes nothing.
        commander = (self.command.role_id(), self.vocabulary.user_id(request.user)) if request.user else None
        team = self.vocabulary.team_id(request.policy) if request.policy else None
        done: list[str] = []
        if level > incident.escalationLevel:
            done += self._raise_severity(incident, incident_id, level, bool(request.policy or request.user))
        elif not (request.policy or request.user):
            raise Unsupported(
                f"FireHydrant has no escalation levels; the incident is at level {incident.escalationLevel}, so "
                f"level {level} would lower its severity. Change the severity in FireHydrant, or name a team or user."
            )
        if team is not None:
            self.command.assign_team(incident_id, team)
            done.append(f"assigned the team {request.policy}")
        if commander is not None:
            self.command.hand(incident_id, *commander)
            done.append(f"made {request.user} the incident commander")
        return ProviderResult(
            message=f"Escalated to level {max(level, incident.escalationLevel)} in FireHydrant: {'; '.join(done)}",
            escalationLevel=max(level, incident.escalationLevel),
            escalationPolicy=request.policy or incident.escalationPolicy,
            assignee=request.user,
        )

    def _raise_severity(self, incident: Incident, incident_id: str, level: int, has_target: bool) -> list[str]:
        """Set the severity that `level` stands for: one step more severe than the incident's own per level
        above the first. It follows from the level alone, so a repeated step sets the same severity again."""
        base = self.vocabulary.severity(incident.severity)
        ladder = [slug for slug in self.vocabulary.severity_ladder() if slug] or [base]
        start = ladder.index(base) if base in ladder else len(ladder) - 1
        target = ladder[max(0, start - (level - 1))]
        if target == base and not has_target:
            raise Unsupported(
                f"FireHydrant has no escalation levels and the incident is already at {base}, its highest "
                "severity; escalate to a team (policy) or a user instead."
            )
        current = self._read(incident_id).severity_slug
        if current in ladder and ladder.index(current) <= ladder.index(target):
            return [f"the severity is already {current}"]
        self.http.request("PATCH", incident_path(incident_id), json_body={"severity": target})
        return [f"raised the severity from {current or base} to {target}"]

    # Reading back

    def get(self, incident: Incident) -> ProviderState:
        entity = self._read(self._external_id(incident))
        status = entity.status
        if status is None:
            # A custom milestone: FireHydrant still says whether the incident is active.
            status = IncidentStatus.ACKNOWLEDGED if entity.active else IncidentStatus.RESOLVED
        commander = entity.commander(self.credentials.commanderRoleId)
        return ProviderState(
            status=status, assignee=commander.person if commander else None, url=entity.incident_url or None
        )

    def settle(self, event: ProviderEvent) -> ProviderEvent | None:
        """The commander as `get` reads it (the role the secret names), so a webhook and a reconcile agree."""
        self.http.within(WEBHOOK_BUDGET_SECONDS)
        commander = self._read(event.externalId).commander(self.credentials.commanderRoleId)
        return event.model_copy(update={"assignee": commander.person if commander else None})

    def _read(self, incident_id: str) -> FireHydrantIncident:
        return fetch(self.http, FireHydrantIncident, "GET", incident_path(incident_id))

    def _external_id(self, incident: Incident) -> str:
        if not incident.externalId:
            raise StepRefused(
                f"Incident {incident.identifier} has no FireHydrant incident yet: its trigger did not reach "
                "FireHydrant. Run trigger again first."
            )
        return incident.externalId


def build(setup: VendorSetup) -> FireHydrantProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.FIREHYDRANT, setup.secret_name)
    token = credentials.botToken.get_secret_value().removeprefix("Bearer ").strip()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    http = setup.http(VENDOR, credentials.api_base_url, headers, firehydrant_error_message)
    return FireHydrantProvider(http=http, credentials=credentials, link=setup.link, lookups=setup.lookups)
