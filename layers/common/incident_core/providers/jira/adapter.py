"""The Jira adapter: one issue per incident through the platform REST API v3 (see the package's notes)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from incident_core.models.alert import Severity
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
from incident_core.providers.http import VendorHttp, default_error_message, vendor_client
from incident_core.providers.jira.adf import adf_document, adf_heading, adf_paragraphs, comment_body
from incident_core.providers.jira.credentials import VENDOR, Credentials, request_headers
from incident_core.providers.jira.models import (
    STATUS_OF_CATEGORY,
    CreatedIssue,
    ErrorCollection,
    Issue,
    SearchPage,
    Transition,
    Transitions,
    Users,
)

API = "/rest/api/3"
INCIDENT_LABEL_PREFIX = "port-incident-"
ALERT_LABEL_PREFIX = "alert-"
SERVICE_LABEL_PREFIX = "service-"
LABEL_MAX_LENGTH = 255
SUMMARY_MAX_LENGTH = 255
ALERTS_DESCRIBED = 10
"""Alerts spelled out in the issue's description; Jira caps a description at 32,767 characters."""


def jira_error_message(response: httpx.Response) -> str:
    """Jira's ErrorCollection as one sentence: its messages, then each field's complaint."""
    try:
        body = ErrorCollection.model_validate_json(response.content)
    except ValidationError:
        return default_error_message(response)
    messages = [m for m in body.errorMessages if m]
    messages += [f"{field}: {problem}" for field, problem in body.errors.items()]
    return "; ".join(messages) or default_error_message(response)


def label(prefix: str, value: str) -> str:
    """A Jira label (no whitespace, at most 255 characters) standing for `value`."""
    cleaned = prefix + re.sub(r"\s+", "_", value.strip())
    if len(cleaned) <= LABEL_MAX_LENGTH:
        return cleaned
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{cleaned[: LABEL_MAX_LENGTH - 11]}-{digest}"


def incident_label(incident: Incident) -> str:
    return label(INCIDENT_LABEL_PREFIX, incident.identifier)


def jql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass
class JiraProvider:
    credentials: Credentials
    http: VendorHttp
    link: Callable[[str], str | None]
    """The incident's page in Port, linked from the issue's description."""
    name: ProviderName = ProviderName.JIRA

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        own_label = incident_label(incident)
        jql = f"project = {jql_string(self.credentials.projectKey)} AND labels = {jql_string(own_label)}"
        found = fetch(self.http, SearchPage, "GET", f"{API}/search/jql", params={"jql": jql, "maxResults": 1})
        key = next((issue.key for issue in found.issues if issue.key), None)
        if key:
            return ProviderResult(
                message=f"Found Jira issue {key}, opened by an earlier attempt", externalId=key, url=self._url(key)
            )
        priority = self.credentials.priorities[incident.severity]
        dedup_keys = dict.fromkeys([*incident.alerts, *(alert.dedup_key for alert in alerts)])
        labels = [own_label, *(label(ALERT_LABEL_PREFIX, key) for key in dedup_keys)]
        fields: dict[str, Any] = {
            "project": {"key": self.credentials.projectKey},
            "issuetype": {"name": self.credentials.issueType},
            "summary": _summary(incident.title),
            "description": self._description(incident, alerts, priority),
            "priority": {"name": priority},
        }
        if self.credentials.serviceField == "components":
            fields["components"] = [{"name": service} for service in incident.services]
        else:
            labels += [label(SERVICE_LABEL_PREFIX, service) for service in incident.services]
        fields["labels"] = list(dict.fromkeys(labels))
        key = fetch(self.http, CreatedIssue, "POST", f"{API}/issue", json_body={"fields": fields}).key
        return ProviderResult(
            message=f"Opened Jira issue {key} in {self.credentials.projectKey} with priority {priority}",
            externalId=key,
            url=self._url(key),
        )

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
        key = self._key(incident, "acknowledged")
        moved = self._transition(key, self.credentials.acknowledgeTransition, "indeterminate", "acknowledgeTransition")
        return ProviderResult(message=moved)

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult:
        key = self._key(incident, "reassigned")
        account_id, shown = self._account(assignee)
        self.http.request("PUT", f"{API}/issue/{key}/assignee", json_body={"accountId": account_id})
        return ProviderResult(message=f"Assigned {key} to {shown}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        key = self._key(incident, "linked to services")
        if not services:
            return ProviderResult(message=f"No services to add to {key}")
        if self.credentials.serviceField == "components":
            update: dict[str, Any] = {"components": [{"add": {"name": service}} for service in services]}
            where = "components"
        else:
            update = {"labels": [{"add": label(SERVICE_LABEL_PREFIX, service)} for service in services]}
            where = "labels"
        self.http.request("PUT", f"{API}/issue/{key}", json_body={"update": update})
        return ProviderResult(message=f"Added {', '.join(services)} to the {where} of {key}")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        if request.policy:
            raise Unsupported(
                "Jira has no escalation policies: escalate by level (it raises the issue's priority) or to a user."
            )
        key = self._key(incident, "escalated")
        level = request.level or incident.escalationLevel + 1
        priority = self._priority_at(incident.severity, level)
        self.http.request("PUT", f"{API}/issue/{key}", json_body={"fields": {"priority": {"name": priority}}})
        done = [f"priority {priority}"]
        if request.user:
            account_id, shown = self._account(request.user)
            self.http.request("PUT", f"{API}/issue/{key}/assignee", json_body={"accountId": account_id})
            done.append(f"assigned to {shown}")
        summary = f"Escalated {key} to level {level}: {', '.join(done)}"
        self.http.request(
            "POST", f"{API}/issue/{key}/comment", json_body={"body": comment_body(f"{summary} (by {by})")}
        )
        return ProviderResult(message=summary, escalationLevel=level, assignee=request.user)

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        key = self._key(incident, "noted")
        self.http.request("POST", f"{API}/issue/{key}/comment", json_body={"body": comment_body(f"{by}:", note)})
        return ProviderResult(message=f"Added the note to {key} as a comment")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        key = self._key(incident, "resolved")
        moved = self._transition(key, self.credentials.resolveTransition, "done", "resolveTransition")
        # A transition may carry a comment only when its screen has one; a separate comment always works.
        self.http.request(
            "POST", f"{API}/issue/{key}/comment", json_body={"body": comment_body(f"Resolved by {by}:", resolution)}
        )
        return ProviderResult(message=f"{moved}; commented the resolution")

    def get(self, incident: Incident) -> ProviderState:
        key = self._key(incident, "read")
        issue = fetch(self.http, Issue, "GET", f"{API}/issue/{key}", params={"fields": "status,assignee"})
        fields = issue.fields
        # A status Jira does not categorize (or hides) tells us nothing: keep what we know.
        status = STATUS_OF_CATEGORY.get(str(fields.status.category if fields.status else None), incident.status)
        assignee = fields.assignee.emailAddress if fields.assignee else None
        return ProviderState(status=status, assignee=assignee or None, url=self._url(key))

    # Helpers

    def _url(self, key: str) -> str:
        return f"{self.credentials.siteUrl}/browse/{key}"

    def _key(self, incident: Incident, doing: str) -> str:
        if not incident.externalId:
            raise StepRefused(
                f"Incident {incident.identifier} has no Jira issue yet (opening it in Jira failed), "
                f"so it cannot be {doing} in Jira."
            )
        return incident.externalId

    def _priority_at(self, severity: Severity, level: int) -> str:
        ladder = self.credentials.priority_ladder
        start = ladder.index(self.credentials.priorities[severity])
        return ladder[max(0, min(start + level - 1, len(ladder) - 1))]

    def _description(self, incident: Incident, alerts: Sequence[AlertRecord], priority: str) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = []
        if incident.description and incident.description not in {alert.description for alert in alerts}:
            blocks += adf_paragraphs(incident.description)
        facts = [
            f"Severity: {incident.severity.value} (priority {priority}, urgency {incident.urgency})",
            f"Port incident: {incident.identifier}",
        ]
        if incident.services:
            facts.append(f"Services: {', '.join(incident.services)}")
        port_page = self.link(incident.identifier)
        if port_page:
            facts.append(f"Open in Port: {port_page}")
        blocks += adf_paragraphs("\n".join(facts))
        for alert in alerts[:ALERTS_DESCRIBED]:
            blocks.append(adf_heading(f"Alert: {alert.title}"))
            origin = f"{alert.source.display_name}, {alert.severity.value}, {alert.status.value}"
            started = f", since {alert.startedAt}" if alert.startedAt else ""
            blocks += adf_paragraphs(f"{origin}{started} (dedup key {alert.dedup_key})\n{alert.description}")
        if len(alerts) > ALERTS_DESCRIBED:
            blocks += adf_paragraphs(f"…and {len(alerts) - ALERTS_DESCRIBED} more alerts (see Port).")
        return adf_document(blocks)

    def _transition(self, key: str, wanted: str, category: str, setting: str) -> str:
        params = {"expand": "transitions.fields"}
        listing = fetch(self.http, Transitions, "GET", f"{API}/issue/{key}/transitions", params=params)
        offered = [t for t in listing.transitions if t.id and t.isAvailable is not False]
        chosen = _matching_transition(offered, wanted)
        if chosen is None or chosen.id is None:
            issue = fetch(self.http, Issue, "GET", f"{API}/issue/{key}", params={"fields": "status"})
            status = issue.fields.status
            if status is not None and status.category == category:
                return f"{key} is already {status.name or category} in Jira"
            names = ", ".join(t.describe() for t in offered) or "none"
            raise StepRefused(
                f"Jira offers no transition named '{wanted}' for {key}; available: {names}. "
                f"Set `{setting}` in the Jira secret to one of them."
            )
        body: dict[str, Any] = {"transition": {"id": chosen.id}}
        if category == "done" and "resolution" in chosen.fields:
            body["fields"] = {"resolution": {"name": self.credentials.resolutionName}}
        self.http.request("POST", f"{API}/issue/{key}/transitions", json_body=body)
        target = chosen.to.name if chosen.to else None
        return f"Moved {key} to {target or wanted} (transition '{chosen.name}')"

    def _account(self, person: str) -> tuple[str, str]:
        """The Jira account id of `person` (an email address, or already an account id) and a name to show."""
        if "@" not in person:
            return person, person
        found = fetch(self.http, Users, "GET", f"{API}/user/search", params={"query": person})
        users = [user for user in found.root if user.accountId]
        if not users:
            raise StepRefused(
                f"Jira has no user {person} that this account can see; check their access to the site, "
                "or give their Jira account id."
            )
        exact = [user for user in users if (user.emailAddress or "").casefold() == person.casefold()]
        matches = exact or (users if len(users) == 1 else [])
        if len(matches) != 1:
            names = ", ".join(user.displayName or str(user.accountId) for user in users)
            raise StepRefused(
                f"Jira finds {len(users)} users for {person} ({names}) and shows none's email address; "
                "give the Jira account id of the right one."
            )
        user = matches[0]
        return str(user.accountId), f"{user.displayName or person} ({person})"


def _summary(title: str) -> str:
    flat = " ".join(title.split()) or "Incident"
    return flat if len(flat) <= SUMMARY_MAX_LENGTH else flat[: SUMMARY_MAX_LENGTH - 1] + "…"


def _matching_transition(offered: Sequence[Transition], wanted: str) -> Transition | None:
    """The transition named `wanted`, else the one leading to a status named `wanted` (case-insensitive)."""
    wanted_name = wanted.strip().casefold()

    def named(value: str | None) -> bool:
        return value is not None and value.strip().casefold() == wanted_name

    by_name = [t for t in offered if named(t.name)]
    by_target = [t for t in offered if named(t.to.name if t.to else None)]
    return next(iter(by_name + by_target), None)


def build(setup: VendorSetup) -> JiraProvider:
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.JIRA)
    client = vendor_client(credentials.siteUrl, request_headers(credentials), setup.transport)
    return JiraProvider(credentials, VendorHttp(VENDOR, client, error_message=jira_error_message), setup.link)
