"""The incident context sent to incident tools, and the small checks their adapters share.

What: `incident_context` writes the plain text a responder reads in the tool before opening anything else
(PagerDuty's incident details, incident.io's summary, ServiceNow's and FireHydrant's description): the
incident's description, severity and urgency, services and its page in Port, then one block per alert with
its title, source, severity, status, start, deduplication key, service, description and the monitoring
tool's own links. `alert_links` finds those links in an alert's raw payload (`generatorURL`, `ProblemURL`,
`runbook_url`, `link`...); `is_email` tells a person's email from a name or an id.

Why one module: each adapter used to write this text and scan payloads itself, and the copies drifted (one
lost the links, another the start time or the Port link). One layout now serves every tool; an adapter keeps
only what its vendor imposes, such as ServiceNow's field length or incident.io's shorter alert descriptions,
at its call site. The incident's lines, the Port link among them, come first, so a tool that cuts the text
short still shows the way back to Port.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident

LINK_DEPTH = 3
"""How deep in a payload links are looked for: a top-level key is depth 1 (`{"alert": {"generatorURL"}}` is 2)."""
LINKS_PER_ALERT = 3

_WEB = ("https://", "http://")
_LINK_KEY = re.compile(r"(?i).*(url|urls|uri|link|links|href|permalink|runbook|dashboard)")
"""Keys whose http(s) values are pages for a person: `generatorURL`, `ProblemURL`, `web_url`, `links`, `href`."""
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_email(value: str | None) -> bool:
    """Whether `value` is an email address (`name@domain.tld`, no spaces): a light check, enough to tell a
    person's email from a name, a team or an id."""
    return bool(value and _EMAIL.fullmatch(value))


def alert_links(payload: Any, *, depth: int = LINK_DEPTH) -> list[str]:
    """The http(s) links under link-like keys of an alert's raw payload, each once, in payload order.

    Items of a list count as under the list's key (`"links": ["https://..."]`); values deeper than `depth`
    levels are not read, so a large payload costs little.
    """
    found: list[str] = []
    _collect_links(payload, "", depth, found)
    return list(dict.fromkeys(found))


def _collect_links(value: Any, key: str, depth: int, found: list[str]) -> None:
    if isinstance(value, str):
        if value.startswith(_WEB) and _LINK_KEY.fullmatch(key):
            found.append(value)
    elif depth > 0 and isinstance(value, Mapping):
        for name, item in value.items():
            _collect_links(item, str(name), depth - 1, found)
    elif depth > 0 and isinstance(value, list | tuple):
        for item in value:
            _collect_links(item, key, depth - 1, found)


def incident_context(
    incident: Incident,
    alerts: Sequence[AlertRecord],
    port_url: str | None,
    *,
    alert_description_limit: int | None = None,
    links_per_alert: int = LINKS_PER_ALERT,
    urgency: str | None = None,
) -> str:
    """The incident as plain text: its own lines (the Port link among them), then a block per alert.

    `alert_description_limit` shortens each alert's description (the incident's is kept whole);
    `urgency` is the tool's own urgency when it pages by one (PagerDuty), else the incident's is shown.
    """
    lines = [incident.description] if incident.description else []
    lines.append(f"Severity: {incident.severity.value} (urgency {urgency or incident.urgency})")
    if incident.services:
        lines.append(f"Services: {', '.join(incident.services)}")
    if port_url:
        lines.append(f"Port incident {incident.identifier}: {port_url}")
    else:
        lines.append(f"Port incident: {incident.identifier}")
    for alert in alerts:
        lines += ["", *_alert_block(alert, incident, alert_description_limit, links_per_alert)]
    return "\n".join(lines)


def _alert_block(alert: AlertRecord, incident: Incident, description_limit: int | None, links: int) -> list[str]:
    since = f", since {alert.startedAt}" if alert.startedAt else ""
    block = [
        f"Alert: {alert.title}",
        f"  {alert.source.display_name}, severity {alert.severity.value}, status {alert.status.value}{since}",
        f"  Dedup key: {alert.dedup_key}",
    ]
    if alert.service:
        block.append(f"  Service: {alert.service}")
    # An incident opened from one alert usually carries its description: it is shown once, above.
    if alert.description and alert.description not in {alert.title, incident.description}:
        text = _shortened(alert.description, description_limit)
        block += [f"  {line}" for line in text.splitlines() if line.strip()]
    block += [f"  Link: {link}" for link in alert_links(alert.rawPayload)[:links]]
    return block


def _shortened(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"
