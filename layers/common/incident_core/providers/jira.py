"""Jira Cloud as the incident tool: one issue per incident (platform REST API v3, `/rest/api/3`).

Requests: create `POST /issue`; find a retried trigger's issue `GET /search/jql`; acknowledge and resolve
`GET` then `POST /issue/{key}/transitions`; reassign `GET /user/search` then `PUT /issue/{key}/assignee`;
services, escalation `PUT /issue/{key}`; notes `POST /issue/{key}/comment`; reconcile `GET /issue/{key}`.

Jira's quirks, and what this adapter does about them:

- No idempotency key. Every issue carries the label `port-incident-<incident identifier>`; trigger searches
  for it first, so a trigger retried after Jira created the issue finds that issue. Jira's search index
  lags new issues by seconds, which is fine for a retry that comes after a failure.
- Workflows differ per project, and a transition's id is only known by listing the issue's transitions. The
  names to look for are configurable; a name matches a transition's own name or the status it leads to,
  and when nothing matches, the refusal names the transitions Jira offers. An issue already in the wanted
  status category (a retried step) is left as it is.
- Rich text (description, comments) is Atlassian Document Format (ADF), not a string.
- Jira hides email addresses by each user's privacy setting: a user search by full address that finds
  exactly one person found them; reassigning also accepts a Jira account id.
- Statuses are per workflow; their category (`new`, `indeterminate`, `done`) is what maps to our status.
- Priorities are names the site defines; escalating raises the priority one step per level.
- Rate limits answer 429 with `Retry-After` (seconds) and `X-RateLimit-Reset` (ISO 8601), which
  `incident_core.retry` honours; errors come as `{"errorMessages": [...], "errors": {field: message}}`.
- Admin webhooks sign the raw body with HMAC-SHA256 in `X-Hub-Signature: sha256=<hex>`.

Jira Cloud has no regional hosts (data residency keeps the site URL); a custom domain or a proxy in front
of the site is a `siteUrl`. Jira Data Center has no v3 API and is not supported.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from incident_core.errors import AuthenticationError, StepRefused, Unsupported
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.normalizers.common import dig, format_utc, mapping, text
from incident_core.providers.base import (
    EscalationRequest,
    ProviderEvent,
    ProviderResult,
    ProviderState,
    parse_credentials,
)
from incident_core.providers.http import VendorHttp, default_error_message, vendor_client

if TYPE_CHECKING:
    from incident_core.providers import ProviderContext

VENDOR = "Jira"
API = "/rest/api/3"


def _issue_path(key: str, *rest: str) -> str:
    """An issue's path: the key (from Jira's answers or the incident) is one quoted segment."""
    return "/".join([f"{API}/issue", quote(key, safe=""), *rest])


CLOUD_HOST_SUFFIX = ".atlassian.net"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

DEFAULT_PRIORITIES: dict[Severity, str] = {
    Severity.CRITICAL: "Highest",
    Severity.HIGH: "High",
    Severity.WARNING: "Medium",
    Severity.INFO: "Low",
}
"""Our severity → the priority name Jira's default priority scheme uses."""

SEVERITY_RANK = (Severity.INFO, Severity.WARNING, Severity.HIGH, Severity.CRITICAL)
"""Lowest first: the order of the priority ladder that escalation climbs."""

STATUS_OF_CATEGORY: dict[str, IncidentStatus] = {
    "new": IncidentStatus.TRIGGERED,
    "indeterminate": IncidentStatus.ACKNOWLEDGED,
    "done": IncidentStatus.RESOLVED,
}
"""Jira's status category keys (every workflow status has one) → our status."""

INCIDENT_LABEL_PREFIX = "port-incident-"
ALERT_LABEL_PREFIX = "alert-"
SERVICE_LABEL_PREFIX = "service-"
LABEL_MAX_LENGTH = 255
SUMMARY_MAX_LENGTH = 255
ALERTS_DESCRIBED = 10
"""Alerts spelled out in the issue's description; Jira caps a description at 32,767 characters."""

PORT_MARK = "(via Port)"
"""Starts every comment this adapter writes, so the webhook does not report our own notes back as new."""

SIGNATURE_HEADER = "x-hub-signature"
_SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_URL = re.compile(r"https?://[^\s<>\"']*[^\s<>\"'.,;:!?)]")
"""A web address in text, without the punctuation that ends the sentence around it."""


class Credentials(BaseModel):
    """The Jira secret (one JSON object).

    `siteUrl`: `https://<site>.atlassian.net`, the bare site name, or the URL of a custom domain or proxy;
    `email` + `apiToken`: the Atlassian account the adapter acts as (Basic auth); `projectKey`: where issues
    are opened; `issueType`: "Incident" (Jira Service Management) or, say, "Bug" (Jira Software);
    `acknowledgeTransition` / `resolveTransition`: transition (or target status) names of the project's
    workflow; `resolutionName`: set when the resolve transition's screen asks for a resolution;
    `priorities`: our severity → Jira priority name (missing severities keep the defaults);
    `serviceField`: where services go, `labels` or `components` (components must exist in the project);
    `webhookSecret`: the secret of the admin webhook that reports changes made in Jira.
    """

    model_config = ConfigDict(frozen=True)

    siteUrl: str = Field(min_length=1)
    email: str = Field(min_length=3)
    apiToken: SecretStr
    projectKey: str = Field(min_length=1)
    issueType: str = "Incident"
    acknowledgeTransition: str = "In Progress"
    resolveTransition: str = "Done"
    resolutionName: str = "Done"
    priorities: dict[Severity, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    serviceField: Literal["labels", "components"] = "labels"
    webhookSecret: SecretStr | None = None

    @field_validator("siteUrl")
    @classmethod
    def _site_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if _SITE_NAME.fullmatch(value):
            return f"https://{value}{CLOUD_HOST_SUFFIX}"
        parts = urlsplit(value)
        # Basic auth sends the API token with every request: only TLS may carry it off this machine.
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
        ):
            raise ValueError("must be an https:// URL (or the bare site name of <site>.atlassian.net)")
        return value

    @field_validator("priorities")
    @classmethod
    def _all_priorities(cls, value: dict[Severity, str]) -> dict[Severity, str]:
        return {**DEFAULT_PRIORITIES, **value}

    @property
    def priority_ladder(self) -> list[str]:
        """Distinct priority names, lowest first."""
        return list(dict.fromkeys(self.priorities[severity] for severity in SEVERITY_RANK))


def request_headers(credentials: Credentials) -> dict[str, str]:
    pair = f"{credentials.email}:{credentials.apiToken.get_secret_value()}".encode()
    return {
        "Authorization": f"Basic {base64.b64encode(pair).decode()}",
        "Accept": "application/json",
    }


def jira_error_message(response: httpx.Response) -> str:
    """Jira's ErrorCollection as one sentence: its messages, then each field's complaint."""
    try:
        body = response.json()
    except ValueError:
        return default_error_message(response)
    if not isinstance(body, Mapping):
        return default_error_message(response)
    messages = [m for m in body.get("errorMessages") or [] if isinstance(m, str) and m]
    messages += [f"{field}: {problem}" for field, problem in mapping(body.get("errors")).items()]
    return "; ".join(messages) or default_error_message(response)


# Labels and JQL


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


# Atlassian Document Format


def adf_document(blocks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def adf_paragraphs(value: str) -> list[dict[str, Any]]:
    """One paragraph per non-blank line, web addresses as links (ADF refuses empty text nodes)."""
    return [{"type": "paragraph", "content": _inline(line)} for line in value.splitlines() if line.strip()]


def adf_heading(value: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": value}]}


def _inline(line: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    position = 0
    for found in _URL.finditer(line):
        if found.start() > position:
            nodes.append({"type": "text", "text": line[position : found.start()]})
        url = found.group()
        nodes.append({"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]})
        position = found.end()
    if position < len(line):
        nodes.append({"type": "text", "text": line[position:]})
    return nodes


def adf_text(node: Any) -> str:
    """The plain text of an ADF node (or of a string, as webhooks send comment bodies)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, Mapping):
        return ""
    if node.get("type") == "text":
        return str(node.get("text") or "")
    parts = [adf_text(child) for child in node.get("content") or []]
    separator = "\n" if node.get("type") == "doc" else ""
    return separator.join(parts)


def comment_body(first_line: str, details: str = "") -> dict[str, Any]:
    return adf_document(adf_paragraphs(f"{PORT_MARK} {first_line}\n{details}"))


# The provider


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
        found = self.http.json("GET", f"{API}/search/jql", params={"jql": jql, "maxResults": 1})
        issues = [issue for issue in (found or {}).get("issues") or [] if issue.get("key")]
        if issues:
            key = str(issues[0]["key"])
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
        created = self.http.json("POST", f"{API}/issue", json_body={"fields": fields})
        key = str(created["key"])
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
        self.http.request("PUT", _issue_path(key, "assignee"), json_body={"accountId": account_id})
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
        self.http.request("PUT", _issue_path(key), json_body={"update": update})
        return ProviderResult(message=f"Added {', '.join(services)} to the {where} of {key}")

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult:
        if request.policy:
            raise Unsupported(
                "Jira has no escalation policies: escalate by level (it raises the issue's priority) or to a user."
            )
        key = self._key(incident, "escalated")
        level = request.level or incident.escalationLevel + 1
        priority = self._priority_at(incident.severity, level)
        self.http.request("PUT", _issue_path(key), json_body={"fields": {"priority": {"name": priority}}})
        done = [f"priority {priority}"]
        if request.user:
            account_id, shown = self._account(request.user)
            self.http.request("PUT", _issue_path(key, "assignee"), json_body={"accountId": account_id})
            done.append(f"assigned to {shown}")
        summary = f"Escalated {key} to level {level}: {', '.join(done)}"
        self.http.request("POST", _issue_path(key, "comment"), json_body={"body": comment_body(f"{summary} (by {by})")})
        return ProviderResult(message=summary, escalationLevel=level, assignee=request.user)

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult:
        key = self._key(incident, "noted")
        self.http.request("POST", _issue_path(key, "comment"), json_body={"body": comment_body(f"{by}:", note)})
        return ProviderResult(message=f"Added the note to {key} as a comment")

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult:
        key = self._key(incident, "resolved")
        moved = self._transition(key, self.credentials.resolveTransition, "done", "resolveTransition")
        # A transition may carry a comment only when its screen has one; a separate comment always works.
        self.http.request(
            "POST", _issue_path(key, "comment"), json_body={"body": comment_body(f"Resolved by {by}:", resolution)}
        )
        return ProviderResult(message=f"{moved}; commented the resolution")

    def get(self, incident: Incident) -> ProviderState:
        key = self._key(incident, "read")
        issue = self.http.json("GET", _issue_path(key), params={"fields": "status,assignee"})
        category = dig(issue, "fields", "status", "statusCategory", "key")
        # A status Jira does not categorize (or hides) tells us nothing: keep what we know.
        status = STATUS_OF_CATEGORY.get(str(category), incident.status)
        return ProviderState(
            status=status, assignee=text(dig(issue, "fields", "assignee", "emailAddress")), url=self._url(key)
        )

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
        listing = self.http.json("GET", _issue_path(key, "transitions"), params={"expand": "transitions.fields"})
        transitions = (listing or {}).get("transitions") or []
        offered = [t for t in transitions if t.get("id") and t.get("isAvailable") is not False]
        chosen = _matching_transition(offered, wanted)
        if chosen is None:
            issue = self.http.json("GET", _issue_path(key), params={"fields": "status"})
            status = mapping(dig(issue, "fields", "status"))
            if dig(status, "statusCategory", "key") == category:
                return f"{key} is already {status.get('name') or category} in Jira"
            names = ", ".join(_describe_transition(t) for t in offered) or "none"
            raise StepRefused(
                f"Jira offers no transition named '{wanted}' for {key}; available: {names}. "
                f"Set `{setting}` in the Jira secret to one of them."
            )
        body: dict[str, Any] = {"transition": {"id": str(chosen["id"])}}
        if category == "done" and "resolution" in mapping(chosen.get("fields")):
            body["fields"] = {"resolution": {"name": self.credentials.resolutionName}}
        self.http.request("POST", _issue_path(key, "transitions"), json_body=body)
        return f"Moved {key} to {dig(chosen, 'to', 'name') or wanted} (transition '{chosen.get('name')}')"

    def _account(self, person: str) -> tuple[str, str]:
        """The Jira account id of `person` (an email address, or already an account id) and a name to show."""
        if "@" not in person:
            return person, person
        found = self.http.json("GET", f"{API}/user/search", params={"query": person}) or []
        users = [user for user in found if isinstance(user, dict) and user.get("accountId")]
        if not users:
            raise StepRefused(
                f"Jira has no user {person} that this account can see; check their access to the site, "
                "or give their Jira account id."
            )
        exact = [user for user in users if str(user.get("emailAddress") or "").casefold() == person.casefold()]
        matches = exact or (users if len(users) == 1 else [])
        if len(matches) != 1:
            names = ", ".join(str(user.get("displayName") or user["accountId"]) for user in users)
            raise StepRefused(
                f"Jira finds {len(users)} users for {person} ({names}) and shows none's email address; "
                "give the Jira account id of the right one."
            )
        user = matches[0]
        return str(user["accountId"]), f"{user.get('displayName') or person} ({person})"


def _summary(title: str) -> str:
    flat = " ".join(title.split()) or "Incident"
    return flat if len(flat) <= SUMMARY_MAX_LENGTH else flat[: SUMMARY_MAX_LENGTH - 1] + "…"


def _matching_transition(offered: Sequence[Mapping[str, Any]], wanted: str) -> Mapping[str, Any] | None:
    """The transition named `wanted`, else the one leading to a status named `wanted` (case-insensitive)."""
    wanted_name = wanted.strip().casefold()

    def named(value: Any) -> bool:
        return isinstance(value, str) and value.strip().casefold() == wanted_name

    by_name = [t for t in offered if named(t.get("name"))]
    by_target = [t for t in offered if named(dig(t, "to", "name"))]
    return next(iter(by_name + by_target), None)


def _describe_transition(transition: Mapping[str, Any]) -> str:
    target = dig(transition, "to", "name")
    return f"'{transition.get('name')}'" + (f" (to {target})" if target else "")


# Changes made in Jira


@dataclass(frozen=True)
class JiraWebhook:
    """Jira's admin webhook (`jira:issue_updated`, `comment_created`), signed with its secret.

    Jira signs no timestamp; a replayed body repeats an event whose run id is derived from its content,
    so it changes nothing twice.
    """

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        if not secret:
            raise AuthenticationError("no Jira webhook secret is configured")
        presented = headers.get(SIGNATURE_HEADER, "").strip()
        algorithm, _, digest = presented.partition("=")
        if algorithm.lower() != "sha256" or not digest:
            raise AuthenticationError(f"the Jira webhook lacks a sha256 signature in {SIGNATURE_HEADER}")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), digest.lower().encode()):
            raise AuthenticationError("the signature does not match the body")

    def events(self, payload: Any) -> list[ProviderEvent]:
        body = mapping(payload)
        key = text(dig(body, "issue", "key"))
        if key is None:
            return []
        at = _epoch_millis(body.get("timestamp"))
        kind = body.get("webhookEvent")
        if kind == "comment_created":
            note = adf_text(dig(body, "comment", "body")).strip()
            if not note or note.startswith(PORT_MARK):
                return []
            actor = _person(dig(body, "comment", "author")) or _person(body.get("user")) or "someone in Jira"
            return [ProviderEvent(externalId=key, note=note, actor=actor, at=at)]
        if kind != "jira:issue_updated":
            return []
        changed = {str(item.get("field")) for item in dig(body, "changelog", "items") or [] if isinstance(item, dict)}
        status = None
        if "status" in changed:
            status = STATUS_OF_CATEGORY.get(str(dig(body, "issue", "fields", "status", "statusCategory", "key")))
        assignee = text(dig(body, "issue", "fields", "assignee", "emailAddress")) if "assignee" in changed else None
        if status is None and assignee is None:
            return []
        actor = _person(body.get("user")) or "someone in Jira"
        return [ProviderEvent(externalId=key, status=status, assignee=assignee, actor=actor, at=at)]


def _person(user: Any) -> str | None:
    details = mapping(user)
    return text(details.get("emailAddress")) or text(details.get("displayName")) or text(details.get("accountId"))


def _epoch_millis(value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return format_utc(datetime.fromtimestamp(value / 1000, UTC))


def build(context: ProviderContext) -> JiraProvider:
    credentials = parse_credentials(Credentials, context.credentials(ProviderName.JIRA), ProviderName.JIRA)
    client = vendor_client(credentials.siteUrl, request_headers(credentials), context.transport)
    return JiraProvider(credentials, VendorHttp(VENDOR, client, error_message=jira_error_message), context.link)
