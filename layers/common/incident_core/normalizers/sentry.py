"""Sentry integration-platform webhooks (Internal Integration), selected by `Sentry-Hook-Resource`.

Quirks: the body is `{action, installation, data, actor}` and only the `Sentry-Hook-Resource` header says
what `data` holds. `issue` (actions `created`, `resolved`, `assigned`, `ignored` (called "archived" in
the docs; both spellings are accepted), `unresolved`) carries `data.issue` with a string `id`, the dedup
key, and ISO `firstSeen` with microseconds, but no resolve time: the `Sentry-Hook-Timestamp` header
(epoch seconds, not signed) stands in for it. `event_alert` (an issue-alert rule action, `triggered`)
carries the full `data.event`, whose dedup key is the issue id, not `event_id`; older payloads lack
`issue_id`, so it is parsed from `issue_url` or `web_url`. Every other resource (`installation`,
`comment`, `error`, `metric_alert`, `seer`, …) is not an alert and gives `[]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from incident_core.errors import MalformedRequest
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers.common import (
    Headers,
    default_title,
    describe,
    epoch_seconds,
    require_external_id,
    rfc3339,
)
from incident_core.support.paths import dig, mapping
from incident_core.support.text import lookup, text

RESOURCE_HEADER = "Sentry-Hook-Resource"
TIMESTAMP_HEADER = "Sentry-Hook-Timestamp"

_LEVEL_SEVERITY = {
    "fatal": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "debug": Severity.INFO,
}
_ACTION_STATUS = {
    "resolved": AlertStatus.RESOLVED,
    "ignored": AlertStatus.ACKNOWLEDGED,
    "archived": AlertStatus.ACKNOWLEDGED,
    "assigned": AlertStatus.ACKNOWLEDGED,
}
_ISSUE_STATUS = {"resolved": AlertStatus.RESOLVED, "ignored": AlertStatus.ACKNOWLEDGED}
_ISSUE_PATH = re.compile(r"/issues/(\d+)/")


def parse(headers: Headers, payload: dict[str, Any]) -> list[Alert]:
    resource = text(headers.get(RESOURCE_HEADER.lower()))
    if resource is None:
        raise MalformedRequest(RESOURCE_HEADER, "required header is absent")
    parser = lookup(_RESOURCE_PARSERS, resource)
    return [] if parser is None else [parser(headers, payload)]


def _issue(headers: Headers, payload: dict[str, Any]) -> Alert:
    issue = mapping(dig(payload, "data", "issue"))
    external_id = require_external_id(text(issue.get("id")), "data.issue.id")
    found = {lookup(_ACTION_STATUS, payload.get("action")), lookup(_ISSUE_STATUS, issue.get("status"))}
    status = next((s for s in (AlertStatus.RESOLVED, AlertStatus.ACKNOWLEDGED) if s in found), AlertStatus.OPEN)
    resolved = status is AlertStatus.RESOLVED
    return Alert.model_validate(
        {
            "title": text(issue.get("title")) or default_title(Source.SENTRY, external_id),
            "description": describe(
                [
                    ("", issue.get("culprit")),
                    ("Issue", issue.get("shortId")),
                    ("Project", dig(issue, "project", "slug") or dig(issue, "project", "name")),
                    ("Action", payload.get("action")),
                    ("By", dig(payload, "actor", "name")),
                    ("Events", issue.get("count")),
                    ("Link", issue.get("web_url") or issue.get("permalink")),
                ]
            ),
            "severity": lookup(_LEVEL_SEVERITY, issue.get("level")) or Severity.WARNING,
            "status": status,
            "source": Source.SENTRY,
            "externalId": external_id,
            "startedAt": rfc3339(issue.get("firstSeen"), "data.issue.firstSeen"),
            "endedAt": epoch_seconds(headers.get(TIMESTAMP_HEADER.lower()), TIMESTAMP_HEADER) if resolved else None,
            "rawPayload": payload,
        }
    )


def _event_alert(headers: Headers, payload: dict[str, Any]) -> Alert:
    event = mapping(dig(payload, "data", "event"))
    external_id = require_external_id(
        text(event.get("issue_id")) or _issue_id_in(event.get("issue_url")) or _issue_id_in(event.get("web_url")),
        "data.event.issue_id",
    )
    tags: list[Any] = event["tags"] if isinstance(event.get("tags"), list) else []
    if text(event.get("datetime")) is not None:
        started_at = rfc3339(event.get("datetime"), "data.event.datetime")
    else:
        started_at = epoch_seconds(event.get("timestamp"), "data.event.timestamp")
    return Alert.model_validate(
        {
            "title": text(event.get("title")) or default_title(Source.SENTRY, external_id),
            "description": describe(
                [
                    ("", event.get("message")),
                    ("", event.get("culprit")),
                    ("Rule", dig(payload, "data", "triggered_rule")),
                    ("Tags", {dig(t, 0): dig(t, 1) for t in tags if text(dig(t, 0)) is not None}),
                    ("Link", event.get("web_url")),
                ]
            ),
            "severity": lookup(_LEVEL_SEVERITY, event.get("level")) or Severity.WARNING,
            "status": AlertStatus.OPEN,
            "source": Source.SENTRY,
            "externalId": external_id,
            "startedAt": started_at,
            "endedAt": None,
            "rawPayload": payload,
        }
    )


def _issue_id_in(url: Any) -> str | None:
    match = _ISSUE_PATH.search(text(url) or "")
    return match.group(1) if match else None


_RESOURCE_PARSERS: dict[str, Callable[[Headers, dict[str, Any]], Alert]] = {
    "issue": _issue,
    "event_alert": _event_alert,
}
