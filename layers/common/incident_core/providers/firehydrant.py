"""The `firehydrant` provider: FireHydrant REST API v1 (`https://api.firehydrant.io/v1`, EU `api.eu.firehydrant.io`).

Requests carry `Authorization: Bearer <bot token>` (the spec's own description; a bot token acts as the
bot user, so every note says which Port user it speaks for). Quirks this adapter is shaped by:

- No idempotency key. The incident is tagged `port-<our incident identifier>` and a trigger first searches
  by that tag, so a trigger retried after a lost answer finds the incident instead of opening a second one.
- Status is the incident's *milestone*, and milestones are configurable per organization; the defaults
  map through `STATUS_OF_MILESTONE` and the acknowledge/resolve slugs are settings of the secret.
- Acknowledge is a status update (`PATCH /v1/incidents/{id}/impact` with `milestone` and a timeline note).
  The PUT verb of that endpoint would replace, so clear, every impact: never use it here.
- People are assigned through incident roles: reassigning hands the role `commanderRoleId` to the user
  (found by email, or mapped in `userIds`) and removes it from the previous holders. Teams use
  `team_assignments`.
- There is no escalate endpoint and no escalation level. Escalating raises the severity one step per level
  (SEV3 -> SEV2) and, when a policy or user is named, assigns that team or hands command to that user.
- Services are impacted through FireHydrant's own service ids (`serviceIds`); at creation `impacts` need a
  severity-matrix condition (`impactConditionId`), otherwise services are added one by one afterwards.
- Rate limit: about 50 requests per 10 s per account, shared by all bot tokens; a 429 has `Retry-After`.
- Errors are `{"detail", "messages", "code"}`; rate limiting answers `{"error": "rate limit exceeded"}`.
- Webhooks sign the raw body: `fh-signature` = hex HMAC-SHA256(secret, body), with no timestamp, so
  there is no replay window to check (a replayed change is applied once: its run id is stable).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from incident_core.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFound,
    ProviderApiError,
    StepRefused,
    Unsupported,
)
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.normalizers.common import format_utc
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

VENDOR = "FireHydrant"
API_HOSTS = {"us": "https://api.firehydrant.io", "eu": "https://api.eu.firehydrant.io"}
"""The spec's paths start with /v1, so the base URL is the host alone."""
SIGNATURE_HEADER = "fh-signature"
TAG_PREFIX = "port-"
SEARCH_PAGE_SIZE = 5

SEVERITY_OF = {
    Severity.CRITICAL: "SEV1",
    Severity.HIGH: "SEV2",
    Severity.WARNING: "SEV3",
    Severity.INFO: "SEV4",
}
"""Our severity -> FireHydrant's default severity slugs."""

PRIORITY_OF = {
    Severity.CRITICAL: "P1",
    Severity.HIGH: "P2",
    Severity.WARNING: "P3",
    Severity.INFO: "P4",
}
"""Our severity -> FireHydrant's default priority slugs."""

SEVERITY_LADDER = ("SEV1", "SEV2", "SEV3", "SEV4", "SEV5")
"""FireHydrant's default severities, most severe first: escalating one level moves one step left."""

STATUS_OF_MILESTONE = {
    "started": IncidentStatus.TRIGGERED,
    "detected": IncidentStatus.TRIGGERED,
    "acknowledged": IncidentStatus.ACKNOWLEDGED,
    "investigating": IncidentStatus.ACKNOWLEDGED,
    "identified": IncidentStatus.ACKNOWLEDGED,
    "mitigated": IncidentStatus.ACKNOWLEDGED,
    "resolved": IncidentStatus.RESOLVED,
    "retrospective_started": IncidentStatus.RESOLVED,
    "retrospective_completed": IncidentStatus.RESOLVED,
    "postmortem_started": IncidentStatus.RESOLVED,
    "postmortem_completed": IncidentStatus.RESOLVED,
    "closed": IncidentStatus.RESOLVED,
}
"""FireHydrant's default milestones (phases Started, Active, Post-Incident, Closed) -> our status."""


class Credentials(BaseModel):
    """The `firehydrant` secret. Only `botToken` is required; the rest adapts the adapter to the organization."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    botToken: SecretStr = Field(min_length=1)
    """A bot token (`fhb-...`) from Settings -> Bot users; sent as `Authorization: Bearer <botToken>`."""
    region: Literal["us", "eu"] = "us"
    baseUrl: str | None = None
    """Overrides `region`: another host or a proxy, with or without the trailing /v1."""
    commanderRoleId: str | None = None
    """The incident role (GET /v1/incident_roles) whose holder is the incident's assignee."""
    serviceIds: dict[str, str] = Field(default_factory=dict)
    """Port service identifier -> FireHydrant service id."""
    teamIds: dict[str, str] = Field(default_factory=dict)
    """Name used in Port (reassign target, escalation policy) -> FireHydrant team id."""
    userIds: dict[str, str] = Field(default_factory=dict)
    """Port user email -> FireHydrant user id, for people whose emails differ; others are found by email."""
    impactConditionId: str | None = None
    """Severity-matrix condition (GET /v1/severity_matrix/conditions) for impacted services."""
    acknowledgedMilestone: str = "acknowledged"
    resolvedMilestone: str = "resolved"
    webhookSecret: SecretStr | None = None
    """The secret of the FireHydrant webhook that reports incident changes to this bundle."""

    @property
    def api_base_url(self) -> str:
        base = (self.baseUrl or API_HOSTS[self.region]).rstrip("/")
        return base.removesuffix("/v1")


def firehydrant_error_message(response: httpx.Response) -> str:
    """FireHydrant's `ErrorEntity` (`detail`, `messages`, `code`), else the common shapes."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and (body.get("detail") or body.get("messages")):
        messages = [str(m) for m in body.get("messages") or [] if m]
        parts = [str(body["detail"])] if body.get("detail") else []
        parts += [m for m in messages if m not in parts]
        code = f" ({body['code']})" if body.get("code") else ""
        return "; ".join(parts) + code
    return default_error_message(response)


def _incident_path(incident_id: str, *rest: str) -> str:
    return "/".join(["/v1/incidents", quote(incident_id, safe=""), *rest])


def _incident_id(entity: Mapping[str, Any]) -> str:
    incident_id = entity.get("id")
    if not isinstance(incident_id, str) or not incident_id:
        # Retryable: the incident may exist, and the retried trigger finds it by its tag.
        raise ProviderApiError(f"{VENDOR} answered without an incident id", retryable=True)
    return incident_id


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _utc(value: Any) -> str | None:
    """FireHydrant times come as ISO 8601 (API) or `2023-07-25 13:34:49 UTC` (webhooks)."""
    raw = _text(value)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" UTC", "+00:00").replace("Z", "+00:00"))
    except ValueError:
        return None
    return format_utc(moment) if moment.tzinfo else None


def _commander(assignments: Any, role_id: str | None) -> Mapping[str, Any] | None:
    """The user holding the commander role: `role_id` when known, else a role named like "Commander"."""
    for assignment in assignments if isinstance(assignments, list) else []:
        if not isinstance(assignment, Mapping) or assignment.get("status", "active") != "active":
            continue
        role = assignment.get("incident_role")
        user = assignment.get("user")
        if not isinstance(role, Mapping) or not isinstance(user, Mapping):
            continue
        matches = role.get("id") == role_id if role_id else "commander" in str(role.get("name", "")).lower()
        if matches:
            return user
    return None


def _person(user: Mapping[str, Any] | None) -> str | None:
    if user is None:
        return None
    return _text(user.get("email")) or _text(user.get("name"))


def _status_of(entity: Mapping[str, Any]) -> IncidentStatus | None:
    return STATUS_OF_MILESTONE.get(str(entity.get("current_milestone") or "").lower())


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
            opened = f"Found FireHydrant incident {self._label(found)} opened by an earlier attempt"
            return self._opened(found, opened + self._impacted_note(added, incident.services, service_ids))

        body = self._incident_body(incident, alerts, tag, service_ids)
        created = self.http.json("POST", "/v1/incidents", json_body=body)
        entity = created if isinstance(created, Mapping) else {}
        incident_id = _incident_id(entity)
        added = list(service_ids) if "impacts" in body else self._impact_missing(incident_id, entity, service_ids)
        opened = f"Opened FireHydrant incident {self._label(entity)} ({body['severity']}, {body['priority']})"
        return self._opened(entity, opened + self._impacted_note(added, incident.services, service_ids))

    def _find_by_tag(self, tag: str) -> Mapping[str, Any] | None:
        params = {"tags": tag, "tag_match_strategy": "match_all", "per_page": SEARCH_PAGE_SIZE}
        page = self.http.json("GET", "/v1/incidents", params=params)
        incidents = page.get("data") if isinstance(page, Mapping) else None
        for entity in incidents if isinstance(incidents, list) else []:
            # The tag filter is the vendor's; an exact tag on the answer is what makes it ours.
            if isinstance(entity, Mapping) and tag in (entity.get("tag_list") or []) and _text(entity.get("id")):
                return entity
        return None

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
    def _opened(entity: Mapping[str, Any], message: str) -> ProviderResult:
        number = entity.get("number")
        return ProviderResult(
            message=message,
            externalId=_incident_id(entity),
            url=_text(entity.get("incident_url")),
            providerData={"incidentNumber": number} if isinstance(number, int) else {},
        )

    @staticmethod
    def _label(entity: Mapping[str, Any]) -> str:
        number = entity.get("number")
        return f"#{number}" if isinstance(number, int) and number > 0 else str(entity.get("id"))

    # Services

    def _service_ids(self, services: Sequence[str]) -> dict[str, str]:
        return {s: self.credentials.serviceIds[s] for s in dict.fromkeys(services) if s in self.credentials.serviceIds}

    def _impact_missing(self, incident_id: str, entity: Any, service_ids: Mapping[str, str]) -> list[str]:
        """Add each mapped service `entity` (the incident as read) does not impact yet: retries add nothing twice."""
        entity = entity if isinstance(entity, Mapping) else {}
        impacted = {s.get("id") for s in entity.get("services") or [] if isinstance(s, Mapping)}
        impacted |= {
            i["impact"].get("id")
            for i in entity.get("impacts") or []
            if isinstance(i, Mapping) and isinstance(i.get("impact"), Mapping)
        }
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
        entity = self.http.json("GET", _incident_path(incident_id))
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
        page = self.http.json("GET", _incident_path(incident_id, "role_assignments"), params={"status": "active"})
        assignments = page.get("data") if isinstance(page, Mapping) else None
        for assignment in assignments if isinstance(assignments, list) else []:
            if not isinstance(assignment, Mapping):
                continue
            role = assignment.get("incident_role") or {}
            user = assignment.get("user") or {}
            previous = _text(assignment.get("id"))
            if previous and role.get("id") == role_id and user.get("id") != user_id:
                self.http.request("DELETE", _incident_path(incident_id, "role_assignments", previous))

    def _user_id(self, person: str) -> str:
        mapped = self.credentials.userIds.get(person)
        if mapped:
            return mapped
        page = self.http.json("GET", "/v1/users", params={"query": person})
        users = page.get("data") if isinstance(page, Mapping) else None
        wanted = person.casefold()
        field = "email" if "@" in person else "name"
        for user in users if isinstance(users, list) else []:
            if isinstance(user, Mapping) and str(user.get(field, "")).casefold() == wanted and _text(user.get("id")):
                return str(user["id"])
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
            entity = self.http.json("GET", _incident_path(incident_id))
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
    def _current_severity(entity: Any, incident: Incident) -> str:
        """FireHydrant's severity when it is on the default ladder, else the one our severity maps to."""
        severity = entity.get("severity") if isinstance(entity, Mapping) else None
        slug = str(severity or "").upper()
        return slug if slug in SEVERITY_LADDER else SEVERITY_OF[incident.severity]

    # Reading back

    def get(self, incident: Incident) -> ProviderState:
        entity = self.http.json("GET", _incident_path(self._external_id(incident)))
        if not isinstance(entity, Mapping):
            raise NotFound(f"{VENDOR} answered without the incident {incident.externalId}")
        status = _status_of(entity)
        if status is None:
            # A custom milestone: FireHydrant still says whether the incident is active.
            status = IncidentStatus.ACKNOWLEDGED if entity.get("active", True) else IncidentStatus.RESOLVED
        commander = _commander(entity.get("role_assignments"), self.credentials.commanderRoleId)
        return ProviderState(status=status, assignee=_person(commander), url=_text(entity.get("incident_url")))

    def _external_id(self, incident: Incident) -> str:
        if not incident.externalId:
            raise StepRefused(
                f"Incident {incident.identifier} has no FireHydrant incident yet: its trigger did not reach "
                "FireHydrant. Run trigger again first."
            )
        return incident.externalId


class FireHydrantWebhook:
    """FireHydrant's incident webhooks (Settings -> Webhooks, subscription "Incidents")."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        # FireHydrant signs no timestamp, so `now` has nothing to check against.
        if not secret:
            raise AuthenticationError("no FireHydrant webhook secret is configured (webhookSecret); refused")
        signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
        if not signature:
            raise AuthenticationError(f"the request carries no {SIGNATURE_HEADER} header")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise AuthenticationError(f"the {SIGNATURE_HEADER} signature does not match the body")

    def events(self, payload: Any) -> list[ProviderEvent]:
        if not isinstance(payload, Mapping):
            return []
        event = payload.get("event")
        data = payload.get("data")
        if not isinstance(event, Mapping) or str(event.get("resource_type", "")).lower() != "incident":
            return []
        incident = data.get("incident") if isinstance(data, Mapping) else None
        if not isinstance(incident, Mapping) or not _text(incident.get("id")):
            return []
        status = _status_of(incident)
        assignee = _person(_commander(incident.get("role_assignments"), None))
        if status is None and assignee is None:
            return []
        return [
            ProviderEvent(
                externalId=str(incident["id"]),
                status=status,
                assignee=assignee,
                actor=_milestone_actor(incident),
                at=_utc(incident.get("updated_at")),
            )
        ]


def _milestone_actor(incident: Mapping[str, Any]) -> str:
    """Who set the current milestone: their email when they hold a role, else their FireHydrant user id."""
    current = str(incident.get("current_milestone") or "")
    milestones = incident.get("milestones")
    setter = next(
        (
            _text(m.get("updated_by_id"))
            for m in (milestones if isinstance(milestones, list) else [])
            if isinstance(m, Mapping) and m.get("type") == current
        ),
        None,
    )
    if setter is None:
        return VENDOR
    assignments = incident.get("role_assignments")
    for assignment in assignments if isinstance(assignments, list) else []:
        user = assignment.get("user") if isinstance(assignment, Mapping) else None
        if isinstance(user, Mapping) and user.get("id") == setter and _person(user):
            return str(_person(user))
    return f"FireHydrant user {setter}"


WEBHOOK = FireHydrantWebhook()


def build(context: ProviderContext) -> FireHydrantProvider:
    credentials = parse_credentials(
        Credentials, context.credentials(ProviderName.FIREHYDRANT), ProviderName.FIREHYDRANT
    )
    token = credentials.botToken.get_secret_value().removeprefix("Bearer ").strip()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    http = VendorHttp(
        vendor=VENDOR,
        client=vendor_client(credentials.api_base_url, headers, context.transport),
        error_message=firehydrant_error_message,
    )
    return FireHydrantProvider(http=http, credentials=credentials, link=context.link)
