"""Prometheus Alertmanager webhook receiver (`webhook_configs`, payload `version: "4"`).

Quirks: the top-level `status` says `firing` while any alert of the group fires, so each alert's own
`status` is the truth; firing alerts carry the zero time `0001-01-01T00:00:00Z` as `endsAt`;
`truncatedAlerts` counts alerts dropped by `max_alerts`, which are never re-sent (we normalize what
is present). `fingerprint` hashes the label set and is stable from firing to resolved.
Grafana's unified alerting embeds the same pipeline, so `alert_elements` serves it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from incident_core.bounds import MAX_ALERTS_PER_REQUEST
from incident_core.errors import MalformedRequest, PayloadTooLarge
from incident_core.models import Alert, AlertStatus, Source
from incident_core.normalizers.common import (
    Headers,
    default_title,
    describe,
    require_external_id,
    rfc3339,
    shared_severity,
)
from incident_core.support.paths import mapping
from incident_core.support.text import lookup, text

_ALERT_STATUS = {"resolved": AlertStatus.RESOLVED}
GROUP_FIELDS = ("receiver", "groupKey", "groupLabels", "commonLabels", "commonAnnotations", "externalURL")


def parse(headers: Headers, payload: dict[str, Any]) -> list[Alert]:
    return alert_elements(Source.PROMETHEUS, payload, title_of=lambda labels: text(labels.get("alertname")))


def alert_elements(
    source: Source,
    payload: dict[str, Any],
    *,
    title_of: Callable[[Mapping[str, Any]], str | None],
    group_fields: tuple[str, ...] = GROUP_FIELDS,
) -> list[Alert]:
    """One alert per entry of `alerts[]`, in payload order (shared by Alertmanager and Grafana)."""
    entries = payload.get("alerts")
    if type(entries) is not list:
        raise MalformedRequest("alerts", "expected a list of alerts")
    if len(entries) > MAX_ALERTS_PER_REQUEST:
        raise PayloadTooLarge(
            f"alerts: {len(entries)} in one notification; at most {MAX_ALERTS_PER_REQUEST} "
            "(lower the sender's max_alerts)"
        )
    group = {name: payload[name] for name in group_fields if name in payload}
    alerts = []
    for index, entry in enumerate(entries):
        try:
            alerts.append(_alert(source, entry, group, title_of))
        except MalformedRequest as refused:  # named within its entry; the entry's place is added here, once
            raise MalformedRequest(f"alerts[{index}]{refused.field}", refused.problem) from None
    return alerts


def _alert(
    source: Source,
    entry: Any,
    group: dict[str, Any],
    title_of: Callable[[Mapping[str, Any]], str | None],
) -> Alert:
    """One entry; fields are named from the entry (`.startsAt`), and `alert_elements` adds its place."""
    if type(entry) is not dict:
        raise MalformedRequest("", "expected an object")
    get = entry.get
    labels = mapping(get("labels"))
    annotations = mapping(get("annotations"))
    external_id = require_external_id(text(get("fingerprint")), ".fingerprint")
    status = lookup(_ALERT_STATUS, get("status")) or AlertStatus.OPEN
    ended_at = rfc3339(get("endsAt"), ".endsAt")
    return Alert.model_validate(
        {
            "title": title_of(labels) or default_title(source, external_id),
            "description": describe(
                (
                    ("", annotations.get("summary")),
                    ("", annotations.get("description") or annotations.get("message")),
                    ("Runbook", annotations.get("runbook_url")),
                    ("Labels", labels),
                    ("Source", get("generatorURL")),
                )
            ),
            "severity": shared_severity(labels.get("severity")),
            "status": status,
            "source": source,
            "externalId": external_id,
            "startedAt": rfc3339(get("startsAt"), ".startsAt"),
            "endedAt": ended_at if status is AlertStatus.RESOLVED else None,
            "rawPayload": {**group, "alert": entry},
        }
    )
