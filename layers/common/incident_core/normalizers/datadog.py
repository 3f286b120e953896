"""Datadog Webhooks integration, with a user-defined JSON template (one monitor event per request).

Quirks: every `$VAR` is substituted as text, so numbers (`$ALERT_ID`, `$DATE`) arrive as strings and an
unset variable as `""`. Datadog's default payload (`id`, `title`, `body`, `date`, `last_updated`,
`event_type`, `org`) has no monitor id, transition, priority or scope: its `$ID` is new per notification,
so it cannot be deduplicated, and only the `[Triggered on …]`/`[Recovered on …]` prefix of `$EVENT_TITLE`
tells the status. The recommended template (../shared/spec/alert-normalization.md) adds `alert_id` and
`alert_scope`, the dedup key of a multi-alert monitor. `$DATE` is epoch milliseconds. Monitors have no
acknowledgement.
"""

from __future__ import annotations

import re
from typing import Any

from incident_core.bounds import check_identifier
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers.common import (
    Headers,
    default_title,
    describe,
    epoch_millis,
    require_external_id,
)
from incident_core.support.text import lookup, text

_LEADING_BRACKET_GROUPS = re.compile(r"^(\s*\[[^\]]*\])+\s*")
_BRACKET_GROUP = re.compile(r"\[([^\]]*)\]")
_TRANSITION_STATUS = {"recovered": AlertStatus.RESOLVED}
_PRIORITY_SEVERITY = {
    "p1": Severity.CRITICAL,
    "p2": Severity.HIGH,
    "p3": Severity.WARNING,
    "p4": Severity.INFO,
    "p5": Severity.INFO,
}
_ALERT_TYPE_SEVERITY = {
    "error": Severity.CRITICAL,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "success": Severity.INFO,
}


def parse(headers: Headers, payload: dict[str, Any]) -> list[Alert]:
    raw_title = text(payload.get("title"))
    external_id = _external_id(payload)
    status = _status(payload.get("alert_transition"), raw_title)
    date = epoch_millis(payload.get("date"), "date")
    resolved = status is AlertStatus.RESOLVED
    return [
        Alert.model_validate(
            {
                "title": _title(raw_title) or default_title(Source.DATADOG, external_id),
                "description": describe(
                    [
                        ("", payload.get("body")),
                        ("Transition", payload.get("alert_transition")),
                        ("Scope", payload.get("alert_scope")),
                        ("Query", payload.get("alert_query")),
                        ("Host", payload.get("hostname")),
                        ("Tags", payload.get("tags")),
                        ("Link", payload.get("link")),
                    ]
                ),
                "severity": lookup(_PRIORITY_SEVERITY, payload.get("alert_priority"))
                or lookup(_ALERT_TYPE_SEVERITY, payload.get("alert_type"))
                or Severity.WARNING,
                "status": status,
                "source": Source.DATADOG,
                "externalId": external_id,
                "startedAt": None if resolved else date,
                "endedAt": date if resolved else None,
                "rawPayload": payload,
            }
        )
    ]


def _title(raw_title: str | None) -> str | None:
    """The title without its leading `[P1] [Triggered on {…}]` groups; the original if nothing is left."""
    if raw_title is None:
        return None
    return _LEADING_BRACKET_GROUPS.sub("", raw_title, count=1) or raw_title


def _status(transition: Any, raw_title: str | None) -> AlertStatus:
    if text(transition) is not None:
        return lookup(_TRANSITION_STATUS, transition) or AlertStatus.OPEN
    prefix = _LEADING_BRACKET_GROUPS.match(raw_title or "")
    groups = _BRACKET_GROUP.findall(prefix.group(0)) if prefix else []
    recovered = any(group.strip().lower().startswith("recovered") for group in groups)
    return AlertStatus.RESOLVED if recovered else AlertStatus.OPEN


def _external_id(payload: dict[str, Any]) -> str:
    """`<alert_id>:<sorted scope>` (`*` for no scope); `event:<id>` without a monitor id (no dedup)."""
    alert_id = text(payload.get("alert_id"))
    if alert_id is not None:
        check_identifier(alert_id, "alert_id")
        scope = sorted(part.strip() for part in (text(payload.get("alert_scope")) or "").split(","))
        return check_identifier(f"{alert_id}:{','.join(part for part in scope if part) or '*'}", "alert_scope")
    event_id = text(payload.get("id"))
    return require_external_id(None if event_id is None else f"event:{event_id}", "alert_id")
