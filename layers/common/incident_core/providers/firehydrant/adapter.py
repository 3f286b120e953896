"""The FireHydrant adapter: REST API v1 for every step (see the package's notes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from incident_core.errors import ConfigurationError, NotFound
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
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
from incident_core.providers.firehydrant.credentials import VENDOR, Credentials
from incident_core.providers.firehydrant.models import (
    PRIORITY_OF,
    SEVERITY_LADDER,
    SEVERITY_OF,
    ErrorAnswer,
    FireHydrantIncident,
    IncidentsPage,
    RoleAssignmentsPage,
    UsersPage,
)
from incident_core.providers.http import ProviderApiError, VendorHttp, default_error_message, vendor_client

TAG_PREFIX = "port-"
SEARCH_PAGE_SIZE = 5


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


def _incident_path(incident_id: str, *rest: str) -> str:
    return "/".join(["/v1/incidents", quote(incident_id, safe=""), *rest])


def _incident_id(entity: FireHydrantIncident) -> str:
    incident_id = entity.id
    if not incident_id:
        # Retryable: the incident may exist, and the retried trigger finds it by its tag.
        raise ProviderApiError(f"{VENDOR} answered without an incident id", retryable=True)
    return incident_id


@dataclass
class FireHydrantProvider:
    http: VendorHttp
    credentials: Credentials
    link: Callable[[str], str | None]
    """The incident's page in Port, written into the FireHydrant incident."""
    name: ProviderName = ProviderName.FIREHYDRANT

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
        entity = fetch(self.http, FireHydrantIncident, "POST", "/v1/incidents", json_body=body)
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
            "severity": SEVERITY_OF[incident.severity],
            "priority": PRIORITY_OF[incident.severity],
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
        impacted = entity.impacted
        added = []
        for service, fh_id in service_ids.items():
            if fh_id in impacted:
                continue
            body = {"id": fh_id}
            if self.credentials.impactConditionId:
                body["condition_id"] = self.credentials.impactConditionId
            self.http.request("POST", _incident_path(incident_id, "impact", "services"), json_body=body)
            added.append(service)
        return added

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
        entity = fetch(self.http, FireHydrantIncident, "GET", _incident_path(incident_id))
        added = self._impact_missing(incident_id, entity, service_ids)
        already = [s for s in service_ids if s not in added]
        message = f"FireHydrant impact: added {', '.join(added) or 'nothing new'}"
        if already:
            message += f"; already impacted: {', '.join(already)}"
        return ProviderResult(message=message + self._impacted_note([], services, service_ids))

    # Milestones and notes

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        milestone = self.credentials.acknowledgedMilestone
        body = {"milestone": milestone, "note": f"Acknowledged by {by} (from Port)."}
        self.http.request("PATCH", _incident_path(self._external_id(incident), "impact"), json_body=body)
        return ProviderResult(message=f"Moved the FireHydrant incident to the {milestone} milestone")

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        self._note(self._external_id(incident), f"{note}\n\n— {by} (from Port)")
        return ProviderResult(message="Added the note to the FireHydrant timeline")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        # Note first: if the resolve then fails, the retried step only repeats the note. The other order
        # could leave a resolved incident whose retried resolve FireHydrant refuses, and the resolution unsaid.
        self._note(incident_id, f"Resolved by {by} (from Port): {resolution}")
        milestone = self.credentials.resolvedMilestone
        self.http.request("PUT", _incident_path(incident_id, "resolve"), json_body={"milestone": milestone})
        return ProviderResult(message=f"Resolved the FireHydrant incident (milestone {milestone}) with the note")

    def _note(self, incident_id: str, body: str) -> None:
        note = {"body": body, "visibility": "private_to_org"}
        self.http.request("POST", _incident_path(incident_id, "notes"), json_body=note)

    # People and teams

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        team_id = self.credentials.teamIds.get(assignee)
        if team_id is not None:
            self._assign_team(incident_id, team_id)
            return ProviderResult(message=f"Assigned the FireHydrant team {assignee}", assignee=assignee)
        role_id, user_id = self._commander_role(), self._user_id(assignee)
        self._hand_command(incident_id, role_id, user_id)
        return ProviderResult(message=f"{assignee} is now the FireHydrant incident commander", assignee=assignee)

    def _assign_team(self, incident_id: str, team_id: str) -> None:
        body = {"team_id": team_id}
        self.http.request("POST", _incident_path(incident_id, "team_assignments"), json_body=body)

    def _commander_role(self) -> str:
        role_id = self.credentials.commanderRoleId
        if not role_id:
            raise ConfigurationError(
                "the firehydrant credentials lack commanderRoleId: FireHydrant assigns people through an "
                "incident role (GET /v1/incident_roles); name a team from teamIds to assign a team instead"
            )
        return role_id

    def _hand_command(self, incident_id: str, role_id: str, user_id: str) -> None:
        """Give the user the commander role, then take it from whoever held it before."""
        body = {"user_id": user_id, "incident_role_id": role_id}
        self.http.request("POST", _incident_path(incident_id, "role_assignments"), json_body=body)
        path = _incident_path(incident_id, "role_assignments")
        page = fetch(self.http, RoleAssignmentsPage, "GET", path, params={"status": "active"})
        for assignment in page.data:
            role_of, user_of = assignment.incident_role, assignment.user
            held_by_other = role_of is not None and role_of.id == role_id and (user_of is None or user_of.id != user_id)
            if assignment.id and held_by_other:
                self.http.request("DELETE", _incident_path(incident_id, "role_assignments", assignment.id))

    def _user_id(self, person: str) -> str:
        mapped = self.credentials.userIds.get(person)
        if mapped:
            return mapped
        page = fetch(self.http, UsersPage, "GET", "/v1/users", params={"query": person})
        wanted = person.casefold()
        field = "email" if "@" in person else "name"
        for user in page.data:
            if (getattr(user, field) or "").casefold() == wanted and user.id:
                return user.id
        raise NotFound(
            f"FireHydrant has no user with the {field} {person}; invite them, or map them in the secret's userIds"
        )

    # Escalation

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        incident_id = self._external_id(incident)
        level = request.level or incident.escalationLevel + 1
        steps = level - incident.escalationLevel
        # Who to hand command to is settled before any change, so a refusal leaves FireHydrant untouched.
        commander = (self._commander_role(), self._user_id(request.user)) if request.user else None
        done: list[str] = []
        if steps > 0:
            entity = fetch(self.http, FireHydrantIncident, "GET", _incident_path(incident_id))
            current = self._current_severity(entity, incident)
            raised = SEVERITY_LADDER[max(0, SEVERITY_LADDER.index(current) - steps)]
            if raised != current:
                self.http.request("PATCH", _incident_path(incident_id), json_body={"severity": raised})
                done.append(f"raised the severity from {current} to {raised}")
            elif not (request.policy or request.user):
                raise Unsupported(
                    f"FireHydrant has no escalation levels and the incident is already at {current}, its highest "
                    "severity; escalate to a team (policy) or a user instead."
                )
        elif not (request.policy or request.user):
            raise Unsupported(
                f"FireHydrant has no escalation levels; the incident is at level {incident.escalationLevel}, so "
                f"level {level} would lower its severity. Change the severity in FireHydrant, or name a team or user."
            )
        if request.policy:
            self._assign_team(incident_id, self.credentials.teamIds.get(request.policy, request.policy))
            done.append(f"assigned the team {request.policy}")
        if commander is not None:
            self._hand_command(incident_id, *commander)
            done.append(f"made {request.user} the incident commander")
        return ProviderResult(
            message=f"Escalated to level {max(level, incident.escalationLevel)} in FireHydrant: {'; '.join(done)}",
            escalationLevel=max(level, incident.escalationLevel),
            escalationPolicy=request.policy or incident.escalationPolicy,
            assignee=request.user,
        )

    @staticmethod
    def _current_severity(entity: FireHydrantIncident, incident: Incident) -> str:
        """FireHydrant's severity when it is on the default ladder, else the one our severity maps to."""
        slug = entity.severity_slug.upper()
        return slug if slug in SEVERITY_LADDER else SEVERITY_OF[incident.severity]

    # Reading back

    def get(self, incident: Incident) -> ProviderState:
        entity = fetch(self.http, FireHydrantIncident, "GET", _incident_path(self._external_id(incident)))
        status = entity.status
        if status is None:
            # A custom milestone: FireHydrant still says whether the incident is active.
            status = IncidentStatus.ACKNOWLEDGED if entity.active else IncidentStatus.RESOLVED
        commander = entity.commander(self.credentials.commanderRoleId)
        return ProviderState(
            status=status, assignee=commander.person if commander else None, url=entity.incident_url or None
        )

    def _external_id(self, incident: Incident) -> str:
        if not incident.externalId:
            raise StepRefused(
                f"Incident {incident.identifier} has no FireHydrant incident yet: its trigger did not reach "
                "FireHydrant. Run trigger again first."
            )
        return incident.externalId


def build(setup: VendorSetup) -> FireHydrantProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.FIREHYDRANT)
    token = credentials.botToken.get_secret_value().removeprefix("Bearer ").strip()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    http = VendorHttp(
        vendor=VENDOR,
        client=vendor_client(credentials.api_base_url, headers, setup.transport),
        error_message=firehydrant_error_message,
    )
    return FireHydrantProvider(http=http, credentials=credentials, link=setup.link)
