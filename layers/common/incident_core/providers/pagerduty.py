"""PagerDuty: the REST API v2 for every step, and v3 webhooks for changes made in PagerDuty itself.

Requests carry `Authorization: Token token=<apiKey>`, `Accept: application/vnd.pagerduty+json;version=2`
(which pins API version 2 whatever the key's default) and `Content-Type: application/json`, which the
published description requires on every incident operation, reads included. Writes carry `From: <email>`:
the acting user's email when the actor is one, else the credentials' `fromEmail`, so PagerDuty's log names
the person who acted in Port. That person must be a PagerDuty user with the same email, or PagerDuty
refuses the write (the run shows its message).

Why the REST `POST /incidents` and not the Events API v2 opens incidents: REST answers synchronously with
the incident's id and page, which Port shows at once and every later step (`PUT /incidents/{id}`, notes)
needs; the Events API answers 202 with only a dedup key, so each later step would first have to search for
the incident it may not have created yet. REST's `incident_key` (the first alert's dedup key, else our
incident identifier) gives the same once-only guarantee as an event's `dedup_key`: PagerDuty refuses a
second open incident with that key on the service, and the adapter then adopts the open one
(`GET /incidents?incident_key=`), so a retried trigger never opens two. Incident creation is "heavily rate
limited" and meant for human speed; correlation opens one incident per problem, not one per alert, which
keeps it there.

Quirks this module absorbs:
- the incident body is a string: PagerDuty's Incident Creation API "only supports string Incident bodies",
  although the published OpenAPI file types `body.details` as an object (its own example sends a string);
- a PagerDuty incident belongs to exactly one service, so associating more services adds a note naming them
  (moving the incident to another service would re-route its paging, which is not what associating means);
- there is no "assign to team": a team is paged through an escalation policy, found by its name or as the
  only policy of the team of that name;
- repeating an acknowledge or resolve is refused (errors 1001/1002); the adapter reads the incident and
  treats "already so" as done;
- rate limits answer 429 with `ratelimit-reset` (seconds), which `incident_core.retry` honours;
- the EU service region lives on `api.eu.pagerduty.com`; a key used against the wrong region answers 401.

Webhooks (v3 subscriptions): `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>`, with several
comma-separated signatures while a secret is rotated. The signature covers the body only, so the signed
`event.occurred_at` bounds replays. Agents and assignees arrive as names (webhooks carry no emails).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from incident_core.errors import AuthenticationError, MalformedRequest, NotFound, ProviderApiError, StepRefused
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
from incident_core.providers.context import incident_context, is_email
from incident_core.providers.http import VendorHttp, default_error_message, vendor_client
from incident_core.validation import first_problem

if TYPE_CHECKING:
    from incident_core.providers import ProviderContext

VENDOR = "PagerDuty"
REST_BASE_URLS = {"us": "https://api.pagerduty.com", "eu": "https://api.eu.pagerduty.com"}
ACCEPT_V2 = "application/vnd.pagerduty+json;version=2"

URGENCY_OF_SEVERITY: dict[Severity, Literal["high", "low"]] = {
    Severity.CRITICAL: "high",
    Severity.HIGH: "high",
    Severity.WARNING: "low",
    Severity.INFO: "low",
}
"""PagerDuty has two urgencies: high pages by the high-urgency notification rules, low by the low ones."""

STATUS_OF_PAGERDUTY: dict[str, IncidentStatus] = {
    "triggered": IncidentStatus.TRIGGERED,
    "acknowledged": IncidentStatus.ACKNOWLEDGED,
    "resolved": IncidentStatus.RESOLVED,
}

STATUS_OF_WEBHOOK_EVENT: dict[str, IncidentStatus] = {
    "incident.acknowledged": IncidentStatus.ACKNOWLEDGED,
    "incident.unacknowledged": IncidentStatus.TRIGGERED,
    "incident.reopened": IncidentStatus.TRIGGERED,
    "incident.resolved": IncidentStatus.RESOLVED,
}
ASSIGNMENT_WEBHOOK_EVENTS = frozenset({"incident.reassigned", "incident.delegated", "incident.escalated"})
"""Another user (reassigned, escalated) or another escalation policy (delegated) now holds the incident."""
NOTE_WEBHOOK_EVENT = "incident.annotated"

SIGNATURE_HEADER = "x-pagerduty-signature"
SIGNATURE_VERSION = "v1="
REPLAY_WINDOW = timedelta(hours=1)
"""PagerDuty retries a delivery for about 20 minutes; an older signed event is a replay."""
CLOCK_SKEW = timedelta(minutes=5)

Answer = TypeVar("Answer", bound=BaseModel)


class Credentials(BaseModel):
    """The `pagerduty` secret.

    - `apiKey`: a REST API key with write access (account key, or a user key acting as that user);
    - `fromEmail`: a PagerDuty user's email, the `From` of writes whose actor is no email (automation);
    - `serviceId`: the PagerDuty service incidents are opened on;
    - `region`: `us` (default) or `eu`; `baseUrl` overrides it (a proxy, or a test double);
    - `priorityIds`: optional, our severity -> the account's priority id (priorities are per account);
    - `webhookSecret`: the v3 webhook subscription's signing secret (inbound changes are refused without it).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    apiKey: str = Field(min_length=1)
    fromEmail: str
    serviceId: str = Field(min_length=1)
    region: Literal["us", "eu"] = "us"
    baseUrl: str | None = None
    priorityIds: dict[Severity, str] = Field(default_factory=dict)
    webhookSecret: str | None = None

    @field_validator("fromEmail")
    @classmethod
    def _an_email(cls, value: str) -> str:
        if not is_email(value):
            raise ValueError("must be the email of a PagerDuty user")
        return value

    @field_validator("baseUrl")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @property
    def rest_base_url(self) -> str:
        return self.baseUrl or REST_BASE_URLS[self.region]


class _Reference(BaseModel):
    """A user, escalation policy, team or service as PagerDuty answers it (expanded or as a reference)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    summary: str | None = None
    name: str | None = None
    email: str | None = None

    @property
    def label(self) -> str:
        return self.email or self.name or self.summary or self.id


class _Assignment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assignee: _Reference


class _PagerDutyIncident(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: str
    html_url: str | None = None
    incident_number: int | None = None
    service: _Reference | None = None
    assignments: list[_Assignment] = Field(default_factory=list)

    @property
    def our_status(self) -> IncidentStatus:
        status = STATUS_OF_PAGERDUTY.get(self.status)
        if status is None:
            raise ProviderApiError(
                f"{VENDOR} reported incident {self.id} in an unknown status {self.status!r}", retryable=False
            )
        return status

    @property
    def assignee(self) -> str | None:
        return ", ".join(assignment.assignee.label for assignment in self.assignments) or None

    @property
    def reference(self) -> str:
        return f"#{self.incident_number} ({self.id})" if self.incident_number is not None else self.id


def pagerduty_error_message(response: httpx.Response) -> str:
    """`{"error": {"message", "code", "errors": [...]}}` as one sentence: the reason and its details."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return default_error_message(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return default_error_message(response)
    details = error.get("errors")
    if isinstance(details, dict):  # newer endpoints: field -> messages
        details = [
            f"{name}: {'; '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}" for name, msgs in details.items()
        ]
    sentence = str(error.get("message") or response.reason_phrase)
    if isinstance(details, list) and details:
        sentence += ": " + "; ".join(str(detail) for detail in details)
    if error.get("code") is not None:
        sentence += f" (code {error['code']})"
    return sentence


def _incident_key(incident: Incident, alerts: Sequence[AlertRecord]) -> str:
    if alerts:
        return alerts[0].dedup_key
    return incident.alerts[0] if incident.alerts else incident.identifier


def _trigger_actor(incident: Incident) -> str | None:
    return next((entry.actor for entry in incident.timeline if entry.kind is TimelineKind.TRIGGERED), None)


def _reference(kind: str, identifier: str) -> dict[str, str]:
    return {"id": identifier, "type": f"{kind}_reference"}


@dataclass
class PagerDutyProvider:
    credentials: Credentials
    http: VendorHttp
    link: Callable[[str], str | None] = field(default=lambda identifier: None)
    """The incident's page in Port, written into the PagerDuty incident's details."""
    name: ProviderName = ProviderName.PAGERDUTY

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        key = _incident_key(incident, alerts)
        fields: dict[str, Any] = {
            "type": "incident",
            "title": incident.title,
            "service": _reference("service", self.credentials.serviceId),
            "urgency": URGENCY_OF_SEVERITY[incident.severity],
            "incident_key": key,
            "body": {
                "type": "incident_body",
                "details": incident_context(
                    incident, alerts, self.link(incident.identifier), urgency=URGENCY_OF_SEVERITY[incident.severity]
                ),
            },
        }
        priority = self.credentials.priorityIds.get(incident.severity)
        if priority:
            fields["priority"] = _reference("priority", priority)
        try:
            answer = self.http.json(
                "POST", "/incidents", json_body={"incident": fields}, headers=self._from(_trigger_actor(incident))
            )
            created = _incident_in(answer)
            message = (
                f"Opened PagerDuty incident {created.reference} ({URGENCY_OF_SEVERITY[incident.severity]} urgency)"
            )
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
                message=f"Reassigned PagerDuty incident {incident_id} to {user.name or user.summary or assignee}",
                assignee=assignee,
            )
        policy = self._escalation_policy_for(assignee)
        updated = self._update(incident_id, {"escalation_policy": _reference("escalation_policy", policy.id)}, by)
        policy_name = policy.name or policy.summary or policy.id
        return ProviderResult(
            message=f"Handed PagerDuty incident {incident_id} to escalation policy {policy_name}",
            assignee=updated.assignee or assignee,
            escalationPolicy=policy_name,
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
                message=f"Escalated PagerDuty incident {incident_id} to {user.name or user.summary or request.user}",
                assignee=request.user,
            )
        policy_name: str | None = None
        if request.policy:
            policy = self._escalation_policy_for(request.policy)
            policy_name = policy.name or policy.summary or policy.id
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
        return ProviderState(status=found.our_status, assignee=found.assignee, url=found.html_url)

    # PagerDuty requests

    def _from(self, actor: str | None) -> dict[str, str]:
        return {"From": actor if actor and is_email(actor) else self.credentials.fromEmail}

    def _update(self, incident_id: str, fields: Mapping[str, Any], by: str) -> _PagerDutyIncident:
        body = {"incident": {"type": "incident_reference", **fields}}
        answer = self.http.json(
            "PUT", f"/incidents/{quote(incident_id, safe='')}", json_body=body, headers=self._from(by)
        )
        return _incident_in(answer)

    def _fetch(self, incident_id: str) -> _PagerDutyIncident:
        # Expanded assignees carry their email, which is how Port names the people who hold an incident.
        answer = self.http.json("GET", f"/incidents/{quote(incident_id, safe='')}", params={"include[]": "assignees"})
        return _incident_in(answer)

    def _change_status(self, incident: Incident, status: str, by: str, **fields: str) -> _PagerDutyIncident:
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
            "POST",
            f"/incidents/{quote(incident_id, safe='')}/notes",
            json_body={"note": {"content": text}},
            headers=self._from(by),
        )

    def _open_incident_with_key(self, key: str) -> _PagerDutyIncident | None:
        answer = self.http.json(
            "GET",
            "/incidents",
            params={"incident_key": key, "service_ids[]": self.credentials.serviceId, "date_range": "all"},
        )
        for candidate in _list_in(answer, "incidents"):
            found = _parse(_PagerDutyIncident, candidate)
            if found.status != "resolved":
                return found
        return None

    def _user_with_email(self, email: str) -> _Reference:
        answer = self.http.json("GET", "/users", params={"query": email})
        for candidate in _list_in(answer, "users"):
            user = _parse(_Reference, candidate)
            if user.email and user.email.casefold() == email.casefold():
                return user
        raise NotFound(f"PagerDuty has no user with the email {email}.")

    def _escalation_policy_for(self, name: str) -> _Reference:
        """The escalation policy of that name (or id), else the only policy of the team of that name."""
        wanted = name.casefold()
        answer = self.http.json("GET", "/escalation_policies", params={"query": name})
        for candidate in _list_in(answer, "escalation_policies"):
            policy = _parse(_Reference, candidate)
            if wanted in {(policy.name or "").casefold(), (policy.summary or "").casefold(), policy.id.casefold()}:
                return policy
        teams = [
            team
            for team in (
                _parse(_Reference, t)
                for t in _list_in(self.http.json("GET", "/teams", params={"query": name}), "teams")
            )
            if wanted in {(team.name or "").casefold(), (team.summary or "").casefold()}
        ]
        if not teams:
            raise NotFound(f"PagerDuty has no escalation policy or team named {name}.")
        answer = self.http.json("GET", "/escalation_policies", params={"team_ids[]": teams[0].id})
        policies = [_parse(_Reference, candidate) for candidate in _list_in(answer, "escalation_policies")]
        if len(policies) == 1:
            return policies[0]
        if not policies:
            raise NotFound(f"PagerDuty team {name} has no escalation policy to hand the incident to.")
        names = ", ".join(policy.name or policy.summary or policy.id for policy in policies)
        raise StepRefused(f"PagerDuty team {name} has several escalation policies ({names}); name one of them.")


def _incident_id(incident: Incident) -> str:
    found = incident.externalId or incident.providerData.get("incidentId")
    if not found:
        raise StepRefused(
            f"Incident {incident.identifier} was never opened in PagerDuty (its trigger did not reach it); "
            "trigger it again first."
        )
    return str(found)


def _parse(model: type[Answer], value: Any) -> Answer:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        where, problem = first_problem(exc, default="answer")
        raise ProviderApiError(
            f"{VENDOR} answered in an unexpected shape: {where}: {problem}", retryable=False
        ) from exc


def _incident_in(answer: Any) -> _PagerDutyIncident:
    return _parse(_PagerDutyIncident, answer.get("incident") if isinstance(answer, dict) else None)


def _list_in(answer: Any, key: str) -> list[Any]:
    items = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise ProviderApiError(f"{VENDOR} answered without its {key} list", retryable=False)
    return items


def rest_headers(credentials: Credentials) -> dict[str, str]:
    return {
        "Authorization": f"Token token={credentials.apiKey}",
        "Accept": ACCEPT_V2,
        "Content-Type": "application/json",
    }


def build(context: ProviderContext) -> PagerDutyProvider:
    credentials = parse_credentials(Credentials, context.credentials(ProviderName.PAGERDUTY), ProviderName.PAGERDUTY)
    client = vendor_client(credentials.rest_base_url, rest_headers(credentials), context.transport)
    http = VendorHttp(VENDOR, client, error_message=pagerduty_error_message)
    return PagerDutyProvider(credentials, http, context.link)


# Inbound: PagerDuty v3 webhooks


def webhook_signature(secret: str, body: bytes) -> str:
    return SIGNATURE_VERSION + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _occurred_at(body: bytes) -> datetime | None:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    event = payload.get("event") if isinstance(payload, dict) else None
    occurred = event.get("occurred_at") if isinstance(event, dict) else None
    if not isinstance(occurred, str):
        return None
    try:
        moment = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # PagerDuty's times are UTC


def _person(reference: Any) -> str | None:
    """A user reference as PagerDuty's webhooks send it: a name (`summary`), an email only where expanded."""
    if isinstance(reference, Mapping):
        for key in ("email", "summary", "name", "id"):
            if isinstance(reference.get(key), str) and reference[key]:
                return str(reference[key])
    return None


class PagerDutyWebhook:
    """Verifies `X-PagerDuty-Signature` and reads incident changes from v3 webhook events."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        if not secret:
            raise AuthenticationError("no PagerDuty webhook secret is configured")
        presented = [part.strip() for part in headers.get(SIGNATURE_HEADER, "").split(",")]
        candidates = [part.lower() for part in presented if part.startswith(SIGNATURE_VERSION)]
        if not candidates:
            raise AuthenticationError("the request carries no PagerDuty v1 signature")
        expected = webhook_signature(secret, body).encode()
        # Any one match counts: during a secret rotation PagerDuty signs with the old and the new secret.
        if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates):
            raise AuthenticationError("the PagerDuty signature does not match the body")
        occurred = _occurred_at(body)
        if occurred is not None and not now - REPLAY_WINDOW <= occurred <= now + CLOCK_SKEW:
            raise AuthenticationError(
                f"the PagerDuty event occurred at {occurred.isoformat()}, "
                f"outside {REPLAY_WINDOW} of now (replay refused)"
            )

    def events(self, payload: Any) -> list[ProviderEvent]:
        event = payload.get("event") if isinstance(payload, Mapping) else None
        if not isinstance(event, Mapping):
            raise MalformedRequest("event", "a PagerDuty v3 webhook carries one event object")
        event_type = event.get("event_type")
        tracked = event_type in STATUS_OF_WEBHOOK_EVENT or event_type in ASSIGNMENT_WEBHOOK_EVENTS
        if not tracked and event_type != NOTE_WEBHOOK_EVENT:
            return []
        data = event.get("data")
        if not isinstance(data, Mapping):
            raise MalformedRequest("event.data", f"a PagerDuty {event_type} event carries its data object")
        # No agent means PagerDuty itself acted (an auto-resolve timeout, an escalation rule).
        actor = _person(event.get("agent")) or VENDOR
        at = event.get("occurred_at") if isinstance(event.get("occurred_at"), str) else None
        if event_type == NOTE_WEBHOOK_EVENT:
            incident = data.get("incident")
            incident_id = incident.get("id") if isinstance(incident, Mapping) else None
            content = data.get("content")
            if not isinstance(incident_id, str) or not isinstance(content, str):
                raise MalformedRequest("event.data", "an incident.annotated event names its incident and note")
            return [ProviderEvent(externalId=incident_id, note=content, actor=actor, at=at)]
        incident_id = data.get("id")
        if not isinstance(incident_id, str):
            raise MalformedRequest("event.data.id", f"a PagerDuty {event_type} event names its incident")
        status = STATUS_OF_WEBHOOK_EVENT.get(str(event_type)) or STATUS_OF_PAGERDUTY.get(str(data.get("status")))
        assignee = None
        if event_type in ASSIGNMENT_WEBHOOK_EVENTS:
            assignees = data.get("assignees")
            names = [_person(person) for person in assignees] if isinstance(assignees, list) else []
            assignee = ", ".join(name for name in names if name) or None
        return [ProviderEvent(externalId=incident_id, status=status, assignee=assignee, actor=actor, at=at)]


WEBHOOK = PagerDutyWebhook()
