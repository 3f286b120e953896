"""Grafana webhook contact point: unified alerting (payload `version: "1"`) and legacy dashboard alerts.

Unified alerting (Grafana 8+, the only kind since 11.0) embeds the Alertmanager pipeline, so a request
is a batch handled by `prometheus.alert_elements`. Quirks: the top-level `status` and `state` describe
the whole group and are ignored (each alert's own `status` is the truth); `startsAt` often carries the
server's local offset (`+02:00`); the no-data and error instances of a rule arrive as separate alerts
named `DatasourceNoData` / `DatasourceError` (own fingerprint, the rule's title in `labels.rulename`,
maybe no `severity`); the group-wide `message` renders every alert, so it stays out of `rawPayload`.

Legacy dashboard alerting (Grafana 10 and older; a body without `alerts` but with `ruleId` or
`evalMatches`) sends one request per rule state change, with no fingerprint, no timestamps and no
severity: the rule id is the key, `tags.severity` the only severity hint, times stay null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers.common import (
    Headers,
    default_title,
    describe,
    require_external_id,
    shared_severity,
)
from incident_core.normalizers.prometheus import GROUP_FIELDS, alert_elements
from incident_core.support.paths import dig, sequence
from incident_core.support.text import first_text, lookup, text

UNIFIED_GROUP_FIELDS = (*GROUP_FIELDS, "orgId")
_DATASOURCE_ALERTS = {"datasourceerror": True, "datasourcenodata": True}
_LEGACY_STATUS = {"ok": AlertStatus.RESOLVED, "paused": AlertStatus.RESOLVED}
LEGACY_ID_PREFIX = "legacy-rule:"


def parse(headers: Headers, payload: dict[str, Any]) -> list[Alert]:
    if is_legacy(payload):
        return [_legacy_alert(payload)]
    return alert_elements(Source.GRAFANA, payload, title_of=unified_title, group_fields=UNIFIED_GROUP_FIELDS)


def is_legacy(payload: Mapping[str, Any]) -> bool:
    """A legacy body has no `alerts` but a `ruleId` or an `evalMatches` (absent values count as missing)."""
    has_rule = _present(payload.get("ruleId")) or _present(payload.get("evalMatches"))
    return has_rule and not _present(payload.get("alerts"))


def unified_title(labels: Mapping[str, Any]) -> str | None:
    """`alertname`, except the data-source error/no-data instances, which are titled by their rule."""
    alertname = text(labels.get("alertname"))
    if lookup(_DATASOURCE_ALERTS, alertname):
        return first_text(labels.get("rulename"), alertname)
    return alertname


def _legacy_alert(payload: dict[str, Any]) -> Alert:
    external_id = LEGACY_ID_PREFIX + require_external_id(text(payload.get("ruleId")), "ruleId")
    tag_severity = dig(payload, "tags", "severity")
    return Alert.model_validate(
        {
            "title": first_text(payload.get("ruleName"), payload.get("title"))
            or default_title(Source.GRAFANA, external_id),
            "description": describe(
                [
                    ("", payload.get("message")),
                    ("State", payload.get("state")),
                    ("Matches", [_eval_match(match) for match in sequence(payload.get("evalMatches"))]),
                    ("Tags", payload.get("tags")),
                    ("Rule", payload.get("ruleUrl")),
                ]
            ),
            "severity": Severity.CRITICAL if text(tag_severity) is None else shared_severity(tag_severity),
            "status": lookup(_LEGACY_STATUS, payload.get("state")) or AlertStatus.OPEN,
            "source": Source.GRAFANA,
            "externalId": external_id,
            "startedAt": None,
            "endedAt": None,
            "rawPayload": payload,
        }
    )


def _eval_match(match: Any) -> str | None:
    metric, value = text(dig(match, "metric")), text(dig(match, "value"))
    if metric is None or value is None:
        return metric or value
    return f"{metric}={value}"


def _present(value: Any) -> bool:
    """Absent per the general rules: missing, null, or a string blank after trimming."""
    return value is not None and not (isinstance(value, str) and not value.strip())
