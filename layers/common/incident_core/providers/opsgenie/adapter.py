"""The Opsgenie adapter: one Opsgenie alert per incident (see the package's notes)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, ProviderName
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
from incident_core.providers.http import ProviderApiError, VendorHttp, default_error_message, vendor_client
from incident_core.providers.opsgenie.credentials import VENDOR, Credentials
from incident_core.providers.opsgenie.models import (
    PRIORITY_OF_SEVERITY,
    STATUS_OF_ALERT,
    Accepted,
    AlertAnswer,
    ErrorAnswer,
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

REQUEST_STATUS_POLLS = 3
REQUEST_STATUS_PAUSE_SECONDS = 0.5
"""A step waits at most (polls - 1) x pause for Opsgenie to process a write; after that it reports it as sent."""

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
        answer = self.http.json(method, path, json_body=body, params=params)
        try:
            accepted = Accepted.model_validate(answer)
        except ValidationError as exc:
            raise ProviderApiError(f"Opsgenie accepted the {what} without a requestId", retryable=False) from exc
        return self._confirm(accepted.requestId, what)

    def _confirm(self, request_id: str, what: str) -> RequestOutcome:
        """Poll the request status; a processed request that failed fails the step with Opsgenie's reason."""
        for poll in range(REQUEST_STATUS_POLLS):
            if poll:
                self.http.sleep(REQUEST_STATUS_PAUSE_SECONDS)
            path = f"/v2/alerts/requests/{quote(request_id, safe='')}"
            try:
                status = fetch(self.http, RequestStatusAnswer, "GET", path).data
            except ProviderApiError as error:
                if error.status_code == 404:  # not processed yet
                    continue
                raise
            if status.isSuccess is True:
                return RequestOutcome(request_id, confirmed=True, alert_id=status.alertId or None)
            if status.isSuccess is False:
                raise ProviderApiError(
                    f"Opsgenie refused the {what}: {status.status or 'no reason given'}", retryable=False
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
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.OPSGENIE)
    headers = {"Authorization": f"GenieKey {credentials.apiKey}", "Accept": "application/json"}
    client = vendor_client(credentials.api_base_url, headers, setup.transport)
    return OpsgenieProvider(
        http=VendorHttp(VENDOR, client, error_message=opsgenie_error_message),
        credentials=credentials,
        link=setup.link,
    )
