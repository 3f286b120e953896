"""New Relic workflow webhook destination (issues), the default Handlebars template plus three variables.

Quirks: the default template carries the issue UUID (`id`, the dedup key), `state`
(`CREATED`/`ACTIVATED`/`CLOSED`/`DEACTIVATED`), `priority` and epoch-millisecond `createdAt`/`updatedAt`
numbers. `title` is null when the issue has no title annotation. An acknowledgement does not change
`state`: the default template only shows `trigger: "USER_ACTION"` with `state: "ACTIVATED"`, which other user
actions share, so acknowledgement is read from the extra `acknowledgedBy`/`acknowledgedAt` variables, and
the close time from the extra `closedAt`. The legacy notification-channel format (`current_state`,
`incident_id`) is a different, deprecated payload and is not accepted.
"""

from __future__ import annotations

from typing import Any

from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers.common import (
    Headers,
    describe,
    epoch_millis,
    require_external_id,
)
from incident_core.support.paths import dig
from incident_core.support.text import first_text, lookup, text

_PRIORITY_SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.WARNING,
    "low": Severity.INFO,
}
_STATE_STATUS = {"closed": AlertStatus.RESOLVED, "deactivated": AlertStatus.RESOLVED}


def parse(headers: Headers, payload: dict[str, Any]) -> list[Alert]:
    get = payload.get
    external_id = require_external_id(text(get("id")), "id")
    acknowledger = _acknowledger(get("acknowledgedBy"))
    status = _status(payload, acknowledger)
    ended_at = None
    if status is AlertStatus.RESOLVED:
        ended_at = epoch_millis(get("closedAt"), "closedAt") or epoch_millis(get("updatedAt"), "updatedAt")
    description = describe(
        (
            ("Issue", get("issueUrl")),
            ("State", get("state")),
            ("Trigger", get("trigger")),
            ("Priority", get("priority")),
            ("Impacted entities", get("impactedEntities")),
            ("Conditions", get("alertConditionNames")),
            ("Policies", get("alertPolicyNames")),
            ("Sources", get("sources")),
            ("Incidents", get("totalIncidents")),
            ("Workflow", get("workflowName")),
            ("Acknowledged by", acknowledger),
        )
    )
    return [
        Alert.model_validate(
            {
                "title": first_text(get("title"), dig(payload, "alertConditionNames", 0))
                or f"New Relic issue {external_id}",
                "description": description,
                "severity": lookup(_PRIORITY_SEVERITY, get("priority")) or Severity.WARNING,
                "status": status,
                "source": Source.NEWRELIC,
                "externalId": external_id,
                "startedAt": epoch_millis(get("createdAt"), "createdAt"),
                "endedAt": ended_at,
                "rawPayload": payload,
            }
        )
    ]


def _status(payload: dict[str, Any], acknowledger: str | None) -> AlertStatus:
    resolved = lookup(_STATE_STATUS, payload.get("state"))
    if resolved is not None:
        return resolved
    if acknowledger is not None or text(payload.get("acknowledgedAt")):
        return AlertStatus.ACKNOWLEDGED
    return AlertStatus.OPEN


def _acknowledger(value: Any) -> str | None:
    """Who acknowledged: a name, or an object rendered by `{{json acknowledgedBy}}` (name/email/id)."""
    if type(value) is dict:
        return first_text(*(value.get(key) for key in ("name", "email", "id")), *value.values())
    return text(value)
