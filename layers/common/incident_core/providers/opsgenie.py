"""Opsgenie: one Opsgenie alert per incident, through the Alert API v2 (`/v2/alerts`).

Opsgenie ends support on 2027-04-05 (Atlassian stopped new sales on 2025-06-04; its REST APIs work until
that day); the successor is Jira Service Management Operations, whose integration API still takes a
`GenieKey`, so `baseUrl` can point this adapter elsewhere.

Why alerts, not the Incident API v1: incidents exist only on the Standard and Enterprise plans, need a
`serviceId`, and have no acknowledge or escalate; alerts do every step on every plan.

Quirks this module handles:

- Auth is `Authorization: GenieKey <apiKey>`; the key must be an *API integration* key (keys from "API key
  management" are refused for create, acknowledge, close and notes). US `https://api.opsgenie.com`, EU
  `https://api.eu.opsgenie.com`.
- Writes are asynchronous: 202 with a `requestId`; whether the write worked shows only in
  `GET /v2/alerts/requests/{requestId}` (`isSuccess`, `status`, `alertId`), which may answer 404 until the
  request is processed. Each write is polled a few times so a refused write fails the step; a write still
  unprocessed after that is reported as sent, not confirmed.
- Every later call addresses the alert by its alias (`?identifierType=alias`), which is ours and known at
  once, instead of the alert id, which only the request status reveals. The alias is the incident's
  identifier: Opsgenie de-duplicates open alerts by alias, so a retried trigger cannot open a second alert,
  and two incidents never share one (an alert's dedup key could come back in a later incident).
- The published spec makes `owner` (assign) and `escalation` (escalate) require `"type"`, which the API
  itself does not; sending `"type": "user"` / `"type": "escalation"` satisfies both.
- Alerts carry no services: associating services adds `service:<name>` tags, searchable in Opsgenie.
- Escalating runs a named escalation's next rule; Opsgenie cannot jump to an arbitrary level.
- Errors are `{"message", "code", "took", "requestId"}`, and 422s add an `errors` map of field messages.
- Limits: message 130, alias 512, description 15000, entity 512 characters; 20 tags of 50 characters;
  details 8000 characters in all.

No inbound webhook: the reconcile schedule reads each open alert (`get`) instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from incident_core.errors import ProviderApiError, StepRefused, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import EscalationRequest, ProviderResult, ProviderState, parse_credentials
from incident_core.providers.http import VendorHttp, default_error_message, vendor_client

if TYPE_CHECKING:
    from incident_core.providers import ProviderContext

API_BASE_URLS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}

PRIORITY_OF_SEVERITY = {
    Severity.CRITICAL: "P1",
    Severity.HIGH: "P2",
    Severity.WARNING: "P3",
    Severity.INFO: "P5",
}
"""Opsgenie's P1 critical, P2 high, P3 moderate, P4 low, P5 informational."""

STATUS_OF_ALERT: dict[tuple[str, bool], IncidentStatus] = {
    ("open", False): IncidentStatus.TRIGGERED,
    ("open", True): IncidentStatus.ACKNOWLEDGED,
    ("closed", False): IncidentStatus.RESOLVED,
    ("closed", True): IncidentStatus.RESOLVED,
}
"""(alert `status`, `acknowledged` flag) -> our status."""

SOURCE = "Port incident lifecycle"
"""The `source` Opsgenie shows for every alert and action this bundle sends."""

MESSAGE_MAX = 130
DESCRIPTION_MAX = 15_000
ENTITY_MAX = 512
TAG_MAX = 50
TAGS_MAX = 20
DETAILS_MAX = 8_000

REQUEST_STATUS_POLLS = 3
REQUEST_STATUS_PAUSE_SECONDS = 0.5
"""A step waits at most (polls - 1) x pause for Opsgenie to process a write; after that it reports it as sent."""

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_HTTP_URL = r"^https?://\S+$"


class Credentials(BaseModel):
    """The `opsgenie` secret.

    `apiKey`: an API integration key (required). `region`: `us` (default) or `eu`. `baseUrl`: another API
    host (a proxy, or Jira Service Management Operations), instead of the region's. `appUrl`: the account's
    web address (`https://<account>.app.opsgenie.com`), for links to alerts. `responderTeams`: team names
    every new alert is routed to. `defaultEscalation`: the escalation (name or id) `escalate` runs when the
    request names none.
    """

    model_config = ConfigDict(frozen=True)

    apiKey: str = Field(min_length=1, repr=False)
    region: Literal["us", "eu"] = "us"
    baseUrl: str | None = Field(default=None, pattern=_HTTP_URL)
    appUrl: str | None = Field(default=None, pattern=_HTTP_URL)
    responderTeams: list[str] = Field(default_factory=list)
    defaultEscalation: str | None = None

    @property
    def api_base_url(self) -> str:
        return (self.baseUrl or API_BASE_URLS[self.region]).rstrip("/")


def opsgenie_error_message(response: httpx.Response) -> str:
    """Opsgenie's `message`, followed by the field messages a 422 lists under `errors`."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return default_error_message(response)
    if not isinstance(body, Mapping) or not isinstance(body.get("message"), str):
        return default_error_message(response)
    errors = body.get("errors")
    if isinstance(errors, Mapping) and errors:
        return f"{body['message']} ({'; '.join(f'{field}: {text}' for field, text in errors.items())})"
    return str(body["message"])


@dataclass(frozen=True)
class RequestOutcome:
    """An asynchronous write: its request id, and what the request status said within the polls."""

    request_id: str
    confirmed: bool
    alert_id: str | None = None


@dataclass
class OpsgenieProvider:
    http: VendorHttp
    credentials: Credentials
    link: Callable[[str], str | None]
    """The incident's page in Port, written into the alert."""
    name: ProviderName = ProviderName.OPSGENIE

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        alias = incident.identifier
        body = self._create_alert_body(incident, alerts, alias)
        outcome = self._write("POST", "/v2/alerts", body, what=f"new alert {alias}")
        priority = body["priority"]
        teams = f" for {', '.join(self.credentials.responderTeams)}" if self.credentials.responderTeams else ""
        if outcome.confirmed:
            message = f"Opened Opsgenie alert {alias} ({priority}){teams}"
        else:
            message = f"Sent Opsgenie alert {alias} ({priority}){teams}; Opsgenie is still processing it"
        provider_data: dict[str, Any] = {"alias": alias, "requestId": outcome.request_id}
        if outcome.alert_id:
            provider_data["alertId"] = outcome.alert_id
        return ProviderResult(
            message=message, externalId=alias, url=self._alert_url(outcome.alert_id), providerData=provider_data
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        outcome = self._act(incident, "acknowledge", {"user": by, "source": SOURCE})
        return ProviderResult(message=_reported(outcome, f"Acknowledged Opsgenie alert {_alias(incident)}"))

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        body = {"owner": {"type": "user", "username": assignee}, "user": by, "source": SOURCE}
        outcome = self._act(incident, "assign", body)
        return ProviderResult(
            message=_reported(outcome, f"Assigned Opsgenie alert {_alias(incident)} to {assignee}"),
            assignee=assignee,
        )

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        tags = list(dict.fromkeys(_tag(f"service:{service}") for service in services))
        outcome = self._act(incident, "tags", {"tags": tags, "user": by, "source": SOURCE})
        said = f"Tagged Opsgenie alert {_alias(incident)} with {', '.join(tags)} (Opsgenie alerts have no services)"
        return ProviderResult(message=_reported(outcome, said))

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        escalation = request.policy or self.credentials.defaultEscalation
        if escalation is None and request.user is None:
            raise Unsupported(
                "Opsgenie escalates through a named escalation: choose a policy or a user, "
                "or set defaultEscalation in the opsgenie secret."
            )
        next_level = incident.escalationLevel + 1
        if escalation is not None and request.level is not None and request.level != next_level:
            raise Unsupported(
                f"Opsgenie only escalates to the next rule of an escalation (level {next_level}), "
                f"not to level {request.level}."
            )
        done = []
        if request.user is not None:
            responder = {"type": "user", "username": request.user}
            outcome = self._act(incident, "responders", {"responder": responder, "user": by, "source": SOURCE})
            done.append(_reported(outcome, f"added {request.user} as a responder"))
        if escalation is not None:
            key = "id" if _UUID.match(escalation) else "name"
            body = {"escalation": {"type": "escalation", key: escalation}, "user": by, "source": SOURCE}
            outcome = self._act(incident, "escalate", body)
            done.append(_reported(outcome, f"ran the next rule of escalation {escalation} (level {next_level})"))
        return ProviderResult(
            message=f"Opsgenie alert {_alias(incident)}: {'; '.join(done)}",
            escalationLevel=next_level if escalation is not None else None,
            escalationPolicy=escalation,
        )

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        outcome = self._act(incident, "notes", {"note": note, "user": by, "source": SOURCE})
        return ProviderResult(message=_reported(outcome, f"Added the note to Opsgenie alert {_alias(incident)}"))

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        outcome = self._act(incident, "close", {"note": resolution, "user": by, "source": SOURCE})
        return ProviderResult(message=_reported(outcome, f"Closed Opsgenie alert {_alias(incident)}"))

    def get(self, incident: Incident) -> ProviderState:
        alias = _alias(incident)
        body = self.http.json("GET", f"/v2/alerts/{quote(alias, safe='')}", params={"identifierType": "alias"})
        alert = _data(body)
        status = STATUS_OF_ALERT.get((str(alert.get("status")), bool(alert.get("acknowledged"))))
        if status is None:
            raise ProviderApiError(
                f"Opsgenie reported alert {alias} as {alert.get('status')!r}, not open or closed", retryable=False
            )
        return ProviderState(status=status, assignee=alert.get("owner") or None, url=self._alert_url(alert.get("id")))

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
            "priority": PRIORITY_OF_SEVERITY[incident.severity],
            "tags": list(dict.fromkeys(_tag(tag) for tag in tags))[:TAGS_MAX],
            "details": _within_budget({k: v for k, v in details.items() if v}, DETAILS_MAX),
            "source": SOURCE,
        }
        if services:
            body["entity"] = _clip(", ".join(services), ENTITY_MAX)
        if self.credentials.responderTeams:
            body["responders"] = [{"type": "team", "name": team} for team in self.credentials.responderTeams]
        return body

    def _act(self, incident: Incident, action: str, body: dict[str, Any]) -> RequestOutcome:
        alias = _alias(incident)
        path = f"/v2/alerts/{quote(alias, safe='')}/{action}"
        what = f"{action} request for alert {alias}"
        return self._write("POST", path, body, params={"identifierType": "alias"}, what=what)

    def _write(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        *,
        what: str,
        params: Mapping[str, str] | None = None,
    ) -> RequestOutcome:
        accepted = self.http.json(method, path, json_body=body, params=params)
        request_id = accepted.get("requestId") if isinstance(accepted, Mapping) else None
        if not request_id:
            raise ProviderApiError(f"Opsgenie accepted the {what} without a requestId", retryable=False)
        return self._confirm(str(request_id), what)

    def _confirm(self, request_id: str, what: str) -> RequestOutcome:
        """Poll the request status; a processed request that failed fails the step with Opsgenie's reason."""
        for poll in range(REQUEST_STATUS_POLLS):
            if poll:
                self.http.sleep(REQUEST_STATUS_PAUSE_SECONDS)
            try:
                answer = self.http.json("GET", f"/v2/alerts/requests/{quote(request_id, safe='')}")
            except ProviderApiError as error:
                if error.status_code == 404:  # not processed yet
                    continue
                raise
            status = _data(answer)
            if status.get("isSuccess") is True:
                return RequestOutcome(request_id, confirmed=True, alert_id=status.get("alertId") or None)
            if status.get("isSuccess") is False:
                raise ProviderApiError(
                    f"Opsgenie refused the {what}: {status.get('status') or 'no reason given'}", retryable=False
                )
        return RequestOutcome(request_id, confirmed=False)

    def _alert_url(self, alert_id: str | None) -> str | None:
        if not alert_id or not self.credentials.appUrl:
            return None
        return f"{self.credentials.appUrl.rstrip('/')}/alert/detail/{quote(alert_id, safe='')}/details"


def _reported(outcome: RequestOutcome, done: str) -> str:
    return done if outcome.confirmed else f"{done} (sent; Opsgenie is still processing request {outcome.request_id})"


def _alias(incident: Incident) -> str:
    alias = incident.providerData.get("alias")
    if not alias:
        raise StepRefused(
            f"Incident {incident.identifier} has no Opsgenie alert (opening it there failed); "
            "run Trigger on its alert again to retry."
        )
    return str(alias)


def _data(body: Any) -> Mapping[str, Any]:
    """The `data` object of an Opsgenie answer (empty when the answer has none)."""
    data = body.get("data") if isinstance(body, Mapping) else None
    return data if isinstance(data, Mapping) else {}


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


def build(context: ProviderContext) -> OpsgenieProvider:
    credentials = parse_credentials(Credentials, context.credentials(ProviderName.OPSGENIE), ProviderName.OPSGENIE)
    headers = {"Authorization": f"GenieKey {credentials.apiKey}", "Accept": "application/json"}
    client = vendor_client(credentials.api_base_url, headers, context.transport)
    return OpsgenieProvider(
        http=VendorHttp("Opsgenie", client, error_message=opsgenie_error_message),
        credentials=credentials,
        link=context.link,
    )
