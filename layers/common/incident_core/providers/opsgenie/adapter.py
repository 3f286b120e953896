"""The Opsgenie adapter: one Opsgenie alert per incident (see the package's notes)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
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
from incident_core.providers.http import VendorHttp, default_error_message
from incident_core.providers.lookups import Lookups
from incident_core.providers.marks import carries, marked, write_mark
from incident_core.providers.opsgenie.credentials import VENDOR, Credentials
from incident_core.providers.opsgenie.models import (
    STATUS_OF_ALERT,
    Accepted,
    AlertAnswer,
    ErrorAnswer,
    NotesAnswer,
    RequestStatusAnswer,
)

SOURCE = "Port incident lifecycle"
"""The `source` Opsgenie shows for every alert and action this bundle sends."""

MESSAGE_MAX = 130
DESCRIPTION_MAX = 15_000
ENTITY_MAX = 512
TAG_MAX = 50
TAGS_MAX = 20
DETAILS_MAX = 8_000

REQUEST_STATUS_PAUSES = (0.5, 1.0, 2.0, 4.0, 4.0)
"""How long a step waits between reads of a write's request status (11.5 s in all, within the step's budget).
A write still unprocessed after them fails the step as retryable: the queue runs it again, and Opsgenie's
refusal (an unknown user, a wrong escalation) reaches the run instead of being reported as sent."""

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def opsgenie_error_message(response: httpx.Response) -> str:
    """Opsgenie's `message`, followed by the field messages a 422 lists under `errors`."""
    try:
        error = ErrorAnswer.model_validate_json(response.content)
    except ValidationError:
        return default_error_message(response)
    if error.errors:
        return f"{error.message} ({'; '.join(f'{field}: {text}' for field, text in error.errors.items())})"
    return error.message


@dataclass(frozen=True)
class RequestOutcome:
    """An asynchronous write Opsgenie processed: its request id, and the alert it acted on."""

    request_id: str
    alert_id: str | None = None


@dataclass
class OpsgenieProvider:
    http: VendorHttp
    credentials: Credentials
    link: Callable[[str], str | None]
    """The incident's page in Port, written into the alert."""
    lookups: Lookups = field(default_factory=Lookups)
    name: ProviderName = ProviderName.OPSGENIE

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        # Opsgenie de-duplicates open alerts by alias: a create sent again after a lost answer only counts up.
        alias = incident.identifier
        body = self._create_alert_body(incident, alerts, alias)
        outcome = self._write("POST", "/v2/alerts", body, what=f"new alert {alias}")
        teams = f" for {', '.join(self.credentials.responderTeams)}" if self.credentials.responderTeams else ""
        provider_data: dict[str, Any] = {"alias": alias, "requestId": outcome.request_id}
        if outcome.alert_id:
            provider_data["alertId"] = outcome.alert_id
        return ProviderResult(
            message=f"Opened Opsgenie alert {alias} ({body['priority']}){teams}",
            externalId=alias,
            url=self._alert_url(outcome.alert_id),
            providerData=provider_data,
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        self._act(incident, "acknowledge", {"user": by, "source": SOURCE})
        return ProviderResult(message=f"Acknowledged Opsgenie alert {_alias(incident)}")

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        self._known_user(assignee)
        body = {"owner": {"type": "user", "username": assignee}, "user": by, "source": SOURCE}
        self._act(incident, "assign", body)
        return ProviderResult(message=f"Assigned Opsgenie alert {_alias(incident)} to {assignee}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        tags = list(dict.fromkeys(_tag(f"service:{service}") for service in services))
        self._act(incident, "tags", {"tags": tags, "user": by, "source": SOURCE})
        listed = ", ".join(tags)
        return ProviderResult(
            message=f"Tagged Opsgenie alert {_alias(incident)} with {listed} (alerts have no services)"
        )

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        escalation = request.policy or self.credentials.defaultEscalation
        if escalation is None and request.user is None:
            raise Unsupported(
                "Opsgenie escalates through a named escalation: choose a policy or a user, "
                "or set defaultEscalation in the opsgenie secret."
            )
        if escalation is not None and request.level is not None:
            raise Unsupported(
                f"Opsgenie runs the next rule of an escalation and does not say which level an alert is at, so it "
                f"cannot escalate to level {request.level}; escalate without a level."
            )
        mark = write_mark(incident, TimelineKind.ESCALATED)
        done = []
        if request.user is not None:
            self._known_user(request.user)
            body = {"responder": {"type": "user", "username": request.user}, "user": by, "source": SOURCE}
            already = self._marked_act(incident, "responders", body, f"{by} added {request.user} from Port", mark)
            done.append(f"{request.user} {'was already' if already else 'is now'} a responder")
        if escalation is not None:
            key = "id" if _UUID.match(escalation) else "name"
            body = {"escalation": {"type": "escalation", key: escalation}, "user": by, "source": SOURCE}
            said = f"{by} escalated from Port along {escalation}"
            already = self._marked_act(incident, "escalate", body, said, mark)
            done.append(f"{'already ran' if already else 'ran'} the next rule of escalation {escalation}")
        # Opsgenie does not tell which rule an alert is at, so no level is claimed for it.
        return ProviderResult(
            message=f"Opsgenie alert {_alias(incident)}: {'; '.join(done)}", escalationPolicy=escalation
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        mark = write_mark(incident, TimelineKind.NOTE)
        body = {"user": by, "source": SOURCE}
        already = self._marked_act(incident, "notes", body, note, mark)
        said = "The note was already on" if already else "Added the note to"
        return ProviderResult(message=f"{said} Opsgenie alert {_alias(incident)}")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        mark = write_mark(incident, TimelineKind.RESOLVED)
        try:
            already = self._marked_act(incident, "close", {"user": by, "source": SOURCE}, resolution, mark)
        except ProviderApiError as refused:
            # Someone closed it in Opsgenie first: the step's goal is met.
            if refused.retryable or self.get(incident).status is not IncidentStatus.RESOLVED:
                raise
            already = True
        said = "Opsgenie alert {} was already closed" if already else "Closed Opsgenie alert {}"
        return ProviderResult(message=said.format(_alias(incident)))

    def get(self, incident: Incident) -> ProviderState:
        alias = _alias(incident)
        path = f"/v2/alerts/{quote(alias, safe='')}"
        alert = fetch(self.http, AlertAnswer, "GET", path, params={"identifierType": "alias"}).data
        status = STATUS_OF_ALERT.get((str(alert.status), alert.acknowledged))
        if status is None:
            raise ProviderApiError(
                f"Opsgenie reported alert {alias} as {alert.status!r}, not open or closed", retryable=False
            )
        return ProviderState(status=status, assignee=alert.owner or None, url=self._alert_url(alert.id))

    def _create_alert_body(self, incident: Incident, alerts: Sequence[AlertRecord], alias: str) -> dict[str, Any]:
        port_url = self.link(incident.identifier)
        services = list(dict.fromkeys([*incident.services, *(a.service for a in alerts if a.service)]))
        lines = [incident.description] if incident.description else []
        for alert in alerts:
            lines.append(f"- [{alert.severity.value}] {alert.title} ({alert.source.display_name}, {alert.dedup_key})")
            if alert.description and alert.description != incident.description:
                lines.append(f"  {alert.description}")
        if port_url:
            lines.append(f"Port: {port_url}")
        details = {
            "portIncident": incident.identifier,
            "portUrl": port_url,
            "severity": incident.severity.value,
            "urgency": incident.urgency,
            "services": ", ".join(services),
            "alerts": ", ".join(a.dedup_key for a in alerts),
            "alertSources": ", ".join(dict.fromkeys(a.source.value for a in alerts)),
        }
        tags = [
            f"severity:{incident.severity.value}",
            *(f"source:{a.source.value}" for a in alerts),
            *(f"service:{service}" for service in services),
        ]
        body: dict[str, Any] = {
            "message": _clip(incident.title, MESSAGE_MAX),
            "alias": alias,
            "description": _clip("\n".join(lines), DESCRIPTION_MAX),
            "priority": self.credentials.priorities[incident.severity],
            "tags": list(dict.fromkeys(_tag(tag) for tag in tags))[:TAGS_MAX],
            "details": _within_budget({k: v for k, v in details.items() if v}, DETAILS_MAX),
            "source": SOURCE,
        }
        if services:
            body["entity"] = _clip(", ".join(services), ENTITY_MAX)
        if self.credentials.responderTeams:
            body["responders"] = [{"type": "team", "name": team} for team in self.credentials.responderTeams]
        return body

    def _act(self, incident: Incident, action: str, body: dict[str, Any], *, once: bool = False) -> RequestOutcome:
        alias = _alias(incident)
        path = f"/v2/alerts/{quote(alias, safe='')}/{action}"
        what = f"{action} request for alert {alias}"
        return self._write("POST", path, body, params={"identifierType": "alias"}, what=what, once=once)

    def _marked_act(self, incident: Incident, action: str, body: dict[str, Any], note: str, mark: str) -> bool:
        """An action that is not safe to repeat, carrying a marked note: True when an earlier attempt did it.

        Its note shows on the alert once Opsgenie processed the action, so finding the mark among the
        alert's notes is how a retried step knows the action landed.
        """
        if self._has_note(incident, mark):
            return True
        marked_body = {**body, "note": marked(note, mark)}
        self.http.guarded(
            lambda: self._act(incident, action, marked_body, once=True),
            lambda: RequestOutcome("earlier attempt") if self._has_note(incident, mark) else None,
        )
        return False

    def _has_note(self, incident: Incident, mark: str) -> bool:
        path = f"/v2/alerts/{quote(_alias(incident), safe='')}/notes"
        notes = fetch(self.http, NotesAnswer, "GET", path, params={"identifierType": "alias", "limit": "100"})
        return any(carries(note.note, mark) for note in notes.data)

    def _known_user(self, username: str) -> None:
        """Opsgenie refuses an unknown owner or responder only while processing the request; ask first."""

        def load() -> str | None:
            try:
                self.http.request("GET", f"/v2/users/{quote(username, safe='')}")
            except ProviderApiError as error:
                if error.status_code == 404:
                    return None
                raise
            return username

        if self.lookups.get(("opsgenie", self.credentials.api_base_url, "user", username.casefold()), load) is None:
            raise NotFound(f"Opsgenie has no user {username}; invite them to Opsgenie or choose one of its users.")

    def _write(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        once: bool = False,
    ) -> RequestOutcome:
        answer = self.http.json(method, path, json_body=body, params=params, once=once)
        try:
            accepted = Accepted.model_validate(answer)
        except ValidationError as exc:
            raise ProviderApiError(f"Opsgenie accepted the {what} without a requestId", retryable=False) from exc
        return self._confirm(accepted.requestId, what)

    def _confirm(self, request_id: str, what: str) -> RequestOutcome:
        """Read the request status until Opsgenie processed the write; its refusal fails the step with the
        reason, and a write still unprocessed fails it as retryable (see `REQUEST_STATUS_PAUSES`)."""
        path = f"/v2/alerts/requests/{quote(request_id, safe='')}"
        for pause in (0.0, *REQUEST_STATUS_PAUSES):
            if pause:
                self.http.pause(pause)
            try:
                status = fetch(self.http, RequestStatusAnswer, "GET", path).data
            except ProviderApiError as error:
                if error.status_code == 404:  # not processed yet
                    continue
                raise
            if status.isSuccess is True:
                return RequestOutcome(request_id, alert_id=status.alertId or None)
            if status.isSuccess is False:
                raise ProviderApiError(
                    f"Opsgenie refused the {what}: {status.status or 'no reason given'}", retryable=False
                )
        waited = sum(REQUEST_STATUS_PAUSES)
        raise ProviderApiError(
            f"Opsgenie has not processed the {what} (request {request_id}) after {waited:.1f} s; the step will be "
            "retried and its outcome checked then",
            retryable=True,
        )

    def _alert_url(self, alert_id: str | None) -> str | None:
        if not alert_id or not self.credentials.appUrl:
            return None
        return f"{self.credentials.appUrl.rstrip('/')}/alert/detail/{quote(alert_id, safe='')}/details"


def _alias(incident: Incident) -> str:
    alias = incident.providerData.get("alias")
    if not alias:
        raise StepRefused(
            f"Incident {incident.identifier} has no Opsgenie alert (opening it there failed); "
            "run Trigger on its alert again to retry."
        )
    return str(alias)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tag(tag: str) -> str:
    return _clip(tag, TAG_MAX)


def _within_budget(details: dict[str, str], budget: int) -> dict[str, str]:
    """Opsgenie counts keys and values together; later entries are shortened, then dropped, to fit."""
    kept: dict[str, str] = {}
    left = budget
    for key, value in details.items():
        room = left - len(key)
        if room <= 1:
            break
        kept[key] = _clip(value, room)
        left -= len(key) + len(kept[key])
    return kept


def build(setup: VendorSetup) -> OpsgenieProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.OPSGENIE, setup.secret_name)
    headers = {"Authorization": f"GenieKey {credentials.apiKey}", "Accept": "application/json"}
    http = setup.http(VENDOR, credentials.api_base_url, headers, opsgenie_error_message)
    return OpsgenieProvider(http=http, credentials=credentials, link=setup.link, lookups=setup.lookups)
