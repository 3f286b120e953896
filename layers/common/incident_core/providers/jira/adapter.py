"""The Jira adapter: one issue per incident through the platform REST API v3 (see the package's notes)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from incident_core.errors import StepRefused, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, ProviderName, TimelineKind
from incident_core.providers.answers import fetch
from incident_core.providers.base import (
    EscalationRequest,
    ProviderEvent,
    ProviderResult,
    ProviderState,
    VendorSetup,
    parse_credentials,
)
from incident_core.providers.http import (
    WEBHOOK_BUDGET_SECONDS,
    VendorHttp,
    default_error_message,
)
from incident_core.providers.jira.adf import adf_document, adf_heading, adf_paragraphs, adf_text, comment_body
from incident_core.providers.jira.credentials import API, VENDOR, Credentials, request_headers
from incident_core.providers.jira.models import (
    STATUS_OF_CATEGORY,
    Comments,
    CreatedIssue,
    ErrorCollection,
    Issue,
    SearchPage,
    Transition,
    Transitions,
)
from incident_core.providers.jira.people import Accounts
from incident_core.providers.lookups import Lookups
from incident_core.providers.marks import carries, write_mark

INCIDENT_LABEL_PREFIX = "port-incident-"
ALERT_LABEL_PREFIX = "alert-"
SERVICE_LABEL_PREFIX = "service-"
LABEL_MAX_LENGTH = 255
SUMMARY_MAX_LENGTH = 255
ALERTS_DESCRIBED = 10
"""Alerts spelled out in the issue's description; Jira caps a description at 32,767 characters."""
INCIDENT_PROPERTY = "port.incident"
"""The issue property set at create, which confirms which Port incident an issue found by label is for."""
SEARCH_SETTLE_PAUSES = (1.0, 2.0, 4.0)
"""Jira's search lags new issues by seconds: after a create whose answer was lost, it is asked again after
each of these pauses before the create is sent again."""
COMMENTS_READ = 100


def _issue_path(key: str, *rest: str) -> str:
    """An issue's path: the key (from Jira's answers or the incident) is one quoted segment."""
    return "/".join([f"{API}/issue", quote(key, safe=""), *rest])


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
    lookups: Lookups = field(default_factory=Lookups)
    name: ProviderName = ProviderName.JIRA

    @property
    def accounts(self) -> Accounts:
        return Accounts(self.credentials, self.http, self.lookups)

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult:
        existing = self._issue_of(incident)
        if existing:
            return ProviderResult(
                message=f"Found Jira issue {existing}, opened by an earlier attempt",
                externalId=existing,
                url=self._url(existing),
            )
        priority = self.credentials.priorities[incident.severity]
        self.accounts.check_priority(priority, f"priorities.{incident.severity.value}")
        dedup_keys = dict.fromkeys([*incident.alerts, *(alert.dedup_key for alert in alerts)])
        labels = [incident_label(incident), *(label(ALERT_LABEL_PREFIX, key) for key in dedup_keys)]
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
        # The property marks the issue as this incident's from the start; search cannot find it for seconds.
        body = {
            "fields": fields,
            "properties": [{"key": INCIDENT_PROPERTY, "value": {"incident": incident.identifier}}],
        }

        def create() -> str:
            return fetch(self.http, CreatedIssue, "POST", f"{API}/issue", json_body=body, once=True).key

        key = self.http.guarded(create, lambda: self._issue_of(incident, patient=True))
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
        account_id = self.accounts.account_of(assignee)
        self.http.request("PUT", _issue_path(key, "assignee"), json_body={"accountId": account_id})
        return ProviderResult(message=f"Assigned {key} to {assignee}", assignee=assignee)

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult:
        key = self._key(incident, "linked to services")
        if not services:
            return ProviderResult(message=f"No services to add to {key}")
        # Adding a label or component that is there already changes nothing: safe to repeat.
        if self.credentials.serviceField == "components":
            update: dict[str, Any] = {"components": [{"add": {"name": service}} for service in services]}
            where = "components"
        else:
            update = {"labels": [{"add": label(SERVICE_LABEL_PREFIX, service)} for service in services]}
            where = "labels"
        self.http.request("PUT", _issue_path(key), json_body={"update": update})
        return ProviderResult(message=f"Added {', '.join(services)} to the {where} of {key}")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        if request.policy:
            raise Unsupported(
                "Jira has no escalation policies: escalate by level (it raises the issue's priority) or to a user."
            )
        key = self._key(incident, "escalated")
        # Jira has no levels: the level is Port's, and the priority follows from it, so a repeat sets the same.
        level = request.level or incident.escalationLevel + 1
        priority = self._priority_at(incident.severity, level)
        self.http.request("PUT", _issue_path(key), json_body={"fields": {"priority": {"name": priority}}})
        done = [f"priority {priority}"]
        if request.user:
            account_id = self.accounts.account_of(request.user)
            self.http.request("PUT", _issue_path(key, "assignee"), json_body={"accountId": account_id})
            done.append(f"assigned to {request.user}")
        summary = f"Escalated {key} to level {level}: {', '.join(done)}"
        self._comment(key, f"{summary} (by {by})", "", write_mark(incident, TimelineKind.ESCALATED))
        return ProviderResult(message=summary, escalationLevel=level, assignee=request.user)

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        key = self._key(incident, "noted")
        written = self._comment(key, f"{by}:", note, write_mark(incident, TimelineKind.NOTE))
        return ProviderResult(message=f"{'Added the note to' if written else 'The note was already on'} {key}")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        key = self._key(incident, "resolved")
        moved = self._transition(key, self.credentials.resolveTransition, "done", "resolveTransition")
        # A transition may carry a comment only when its screen has one; a separate comment always works.
        self._comment(key, f"Resolved by {by}:", resolution, write_mark(incident, TimelineKind.RESOLVED))
        return ProviderResult(message=f"{moved}; commented the resolution")

    def get(self, incident: Incident) -> ProviderState:
        key = self._key(incident, "read")
        issue = fetch(self.http, Issue, "GET", _issue_path(key), params={"fields": "status,assignee"})
        fields = issue.fields
        # A status Jira does not categorize (or hides) tells us nothing: keep what we know.
        status = STATUS_OF_CATEGORY.get(str(fields.status.category if fields.status else None), incident.status)
        return ProviderState(status=status, assignee=self.accounts.label_of(fields.assignee), url=self._url(key))

    def settle(self, event: ProviderEvent) -> ProviderEvent | None:
        """People as emails; None for a change this adapter's own account made."""
        self.http.within(WEBHOOK_BUDGET_SECONDS)
        accounts = self.accounts
        if event.actorId is not None and event.actorId == accounts.myself():
            return None
        actor = accounts.email_of(event.actorId) if event.actorId else None
        holders = [accounts.email_of(holder) for holder in event.assigneeIds]
        assignee = ", ".join(h for h in holders if h) if holders and all(holders) else event.assignee
        return event.model_copy(update={"actor": actor or event.actor, "assignee": assignee})

    # Helpers

    def _url(self, key: str) -> str:
        return f"{self.credentials.siteUrl}/browse/{quote(key, safe='')}"

    def _key(self, incident: Incident, doing: str) -> str:
        if not incident.externalId:
            raise StepRefused(
                f"Incident {incident.identifier} has no Jira issue yet (opening it in Jira failed), "
                f"so it cannot be {doing} in Jira."
            )
        return incident.externalId

    def _issue_of(self, incident: Incident, *, patient: bool = False) -> str | None:
        """The key of the issue opened for `incident`: found by its label, confirmed by its property (or, for
        issues opened before the property, by the label alone). `patient` asks again while search catches up."""
        own_label = incident_label(incident)
        jql = f"project = {jql_string(self.credentials.projectKey)} AND labels = {jql_string(own_label)}"
        # Without `fields`, search answers ids only; the key and the property are asked for by name.
        params = {"jql": jql, "maxResults": 5, "fields": "labels", "properties": INCIDENT_PROPERTY}
        for pause in (0.0, *(SEARCH_SETTLE_PAUSES if patient else ())):
            if pause:
                self.http.pause(pause)
            found = fetch(self.http, SearchPage, "GET", f"{API}/search/jql", params=params)
            for issue in found.issues:
                marked = issue.properties.get(INCIDENT_PROPERTY)
                if issue.key and (marked is None or marked.incident == incident.identifier):
                    return issue.key
        return None

    def _comment(self, key: str, first_line: str, details: str, mark: str) -> bool:
        """Write a marked comment once: False when an earlier attempt already wrote it."""

        def landed() -> bool | None:
            params = {"maxResults": COMMENTS_READ, "orderBy": "-created"}
            listed = fetch(self.http, Comments, "GET", _issue_path(key, "comment"), params=params)
            return True if any(carries(adf_text(comment.body), mark) for comment in listed.comments) else None

        if landed():
            return False
        body = {"body": comment_body(first_line, f"{details}\n{mark}" if details else mark)}

        def send() -> bool:
            self.http.request("POST", _issue_path(key, "comment"), json_body=body, once=True)
            return True

        return self.http.guarded(send, landed)

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
        """Move the issue into the status category `category` through the transition named `wanted`; an issue
        already in that category (a repeated step, or someone in Jira was quicker) is left as it is.

        A transition cannot be sent twice (the second is an illegal workflow operation): after a lost answer,
        the issue's status says whether it moved."""

        def arrived() -> str | None:
            status = fetch(self.http, Issue, "GET", _issue_path(key), params={"fields": "status"}).fields.status
            return status.name or category if status is not None and status.category == category else None

        already = arrived()
        if already is not None:
            return f"{key} is already {already} in Jira"
        params = {"expand": "transitions.fields"}
        listing = fetch(self.http, Transitions, "GET", _issue_path(key, "transitions"), params=params)
        offered = [t for t in listing.transitions if t.id and t.isAvailable is not False]
        chosen = _matching_transition(offered, wanted)
        if chosen is None or chosen.id is None:
            names = ", ".join(t.describe() for t in offered) or "none"
            raise StepRefused(
                f"Jira offers no transition named '{wanted}' for {key}; available: {names}. "
                f"Set `{setting}` in the Jira secret to one of them."
            )
        body: dict[str, Any] = {"transition": {"id": chosen.id}}
        if category == "done" and "resolution" in chosen.fields:
            body["fields"] = {"resolution": {"name": self.credentials.resolutionName}}
        target = (chosen.to.name if chosen.to else None) or wanted
        moved = f"Moved {key} to {target} (transition '{chosen.name}')"

        def send() -> str:
            self.http.request("POST", _issue_path(key, "transitions"), json_body=body, once=True)
            return moved

        return self.http.guarded(send, lambda: moved if arrived() else None)


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
    credentials = parse_credentials(Credentials, setup.secret, ProviderName.JIRA, setup.secret_name)
    http = setup.http(VENDOR, credentials.siteUrl, request_headers(credentials), jira_error_message)
    return JiraProvider(credentials, http, setup.link, setup.lookups)
