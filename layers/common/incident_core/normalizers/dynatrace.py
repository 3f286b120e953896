"""Dynatrace problem notifications: custom webhook integration with a user-defined template.

Two body shapes carry the one problem of a request: the recommended template (flat placeholders such as
`PID`, `State`, `ProblemSeverity`, plus the Problems API v2 object in `ProblemDetailsJSONv2`), or a body
that is itself a Problems API v2 object (detected by its `problemId` key, as `GET /api/v2/problems`
returns it). Quirks: the two layers use different value sets (`State` is OPEN/RESOLVED, v2 `status` is
OPEN/CLOSED; v2 adds the severities INFO and MONITORING_UNAVAILABLE); only the v2 object carries times,
as epoch milliseconds, with `endTime: -1` while open; `PID`/`problemId` (`<signed int>_<epoch ms>V2`) is
unique across environments, the display id `P-…` is not, so it comes last; without "Call webhook if
problem is closed" no RESOLVED ever arrives, and event merges repeat OPEN for the same PID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from incident_core.errors import MalformedRequest
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers.common import (
    Headers,
    default_title,
    describe,
    epoch_millis,
    require_external_id,
)
from incident_core.support.paths import dig, sequence
from incident_core.support.text import first_text, lookup, text

V2_FIELD = "ProblemDetailsJSONv2"
_SEVERITY = {
    "availability": Severity.CRITICAL,
    "error": Severity.HIGH,
    "performance": Severity.WARNING,
    "resource_contention": Severity.WARNING,
    "custom_alert": Severity.WARNING,
    "monitoring_unavailable": Severity.WARNING,
    "info": Severity.INFO,
}
_STATUS = {"resolved": AlertStatus.RESOLVED, "closed": AlertStatus.RESOLVED}
_PID_IN_URL = re.compile(r"pid=([^&;#]+)")


def parse(headers: Headers, payload: dict[str, Any]) -> list[Alert]:
    v2, v2_path = _problem_details(payload)
    external_id = require_external_id(
        first_text(
            payload.get("PID"),
            v2.get("problemId"),
            _pid_from_url(payload.get("ProblemURL")),
            payload.get("ProblemID"),
            v2.get("displayId"),
        ),
        "problemId" if v2 is payload else "PID",
    )
    # The first present field decides; its table says what an unknown value maps to (warning, open).
    severity = lookup(_SEVERITY, first_text(payload.get("ProblemSeverity"), v2.get("severityLevel")))
    status = lookup(_STATUS, first_text(payload.get("State"), v2.get("status"))) or AlertStatus.OPEN
    return [
        Alert.model_validate(
            {
                "title": first_text(payload.get("ProblemTitle"), v2.get("title"))
                or default_title(Source.DYNATRACE, external_id),
                "description": _description(payload, v2),
                "severity": severity or Severity.WARNING,
                "status": status,
                "source": Source.DYNATRACE,
                "externalId": external_id,
                "startedAt": epoch_millis(v2.get("startTime"), f"{v2_path}startTime"),
                "endedAt": _ended_at(v2, status, f"{v2_path}endTime"),
                "rawPayload": payload,
            }
        )
    ]


def _problem_details(payload: dict[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The v2 object and the path prefix of its fields in 400 answers ({} when the body has none)."""
    details = payload.get(V2_FIELD)
    if type(details) is dict:
        return details, f"{V2_FIELD}."
    if details is not None and not (isinstance(details, str) and not details.strip()):
        raise MalformedRequest(V2_FIELD, "expected the Problems API v2 object (an unquoted placeholder)")
    if "problemId" in payload:
        return payload, ""
    return {}, f"{V2_FIELD}."


def _pid_from_url(url: Any) -> str | None:
    found = _PID_IN_URL.search(text(url) or "")
    return None if found is None else text(found.group(1))


def _ended_at(v2: Mapping[str, Any], status: AlertStatus, field: str) -> str | None:
    """`endTime` of a resolved problem; -1 (still open) or any other value <= 0 is no end."""
    if status is not AlertStatus.RESOLVED:
        return None
    raw = text(v2.get("endTime"))
    ended_at = epoch_millis(raw, field)
    if raw is None or ended_at is None or Decimal(raw) <= 0:
        return None
    return ended_at


def _description(payload: Mapping[str, Any], v2: Mapping[str, Any]) -> str:
    entities = v2.get("impactedEntities") or v2.get("affectedEntities")
    return describe(
        [
            ("", payload.get("ProblemDetailsText")),
            ("Problem", first_text(payload.get("ProblemID"), v2.get("displayId"))),
            ("Impact", first_text(payload.get("ProblemImpact"), v2.get("impactLevel"))),
            (
                "Impacted entities",
                first_text(payload.get("ImpactedEntityNames"))
                or [dig(entity, "name") for entity in sequence(entities)],
            ),
            ("Root cause", dig(v2, "rootCauseEntity", "name")),
            (
                "Tags",
                first_text(payload.get("Tags"))
                or [dig(tag, "stringRepresentation") for tag in sequence(v2.get("entityTags"))],
            ),
            ("Link", payload.get("ProblemURL")),
        ]
    )
