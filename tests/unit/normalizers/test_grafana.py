"""Grafana rules (unified alerting and legacy dashboard alerts) of ../shared/spec/alert-normalization.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models import AlertStatus, Severity, Source
from incident_core.normalizers import normalize
from tests.events import example_secrets, webhook_event, webhook_event_names


def _unified(*alerts: dict[str, Any], **group: Any) -> bytes:
    payload: dict[str, Any] = {
        "version": "1",
        "status": "firing",
        "state": "alerting",
        "alerts": list(alerts),
    }
    payload.update(group)
    return json.dumps(payload).encode()


def _alert(**fields: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "High memory usage", "severity": "critical"},
        "annotations": {},
        "startsAt": "2026-11-27T08:14:03.157076Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "c6eadffa33fcdf37",
    }
    alert.update(fields)
    return alert


def _legacy(drop: tuple[str, ...] = (), **fields: Any) -> bytes:
    """The legacy body with `fields` set (None is a JSON null) and the `drop` keys removed."""
    payload: dict[str, Any] = {
        "ruleId": 42,
        "ruleName": "Checkout CPU alert",
        "title": "[Alerting] Checkout CPU alert",
        "state": "alerting",
        "evalMatches": [{"value": 97.5, "metric": "checkout-7d9f8", "tags": {}}],
        "tags": {},
    }
    payload.update(fields)
    for key in drop:
        payload.pop(key)
    return json.dumps(payload).encode()


def _one(body: bytes) -> Any:
    (alert,) = normalize(Source.GRAFANA, {}, body, None)
    return alert


# --- samples --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", webhook_event_names("grafana"))
def test_every_sample_authenticates_with_the_example_secrets(name: str) -> None:
    headers, body = webhook_event("grafana", name)
    assert normalize(Source.GRAFANA, headers, body, example_secrets())


def test_samples_cover_signed_and_basic_auth() -> None:
    assert webhook_event_names("grafana") == ["firing", "legacy", "resolved"]
    assert "X-Grafana-Alerting-Signature" in webhook_event("grafana", "firing")[0]
    assert webhook_event("grafana", "legacy")[0]["Authorization"].startswith("Basic ")


def test_a_tampered_signed_sample_is_refused() -> None:
    headers, body = webhook_event("grafana", "firing")
    with pytest.raises(AuthenticationError):
        normalize(Source.GRAFANA, headers, body.replace(b"Critical", b"critical"), example_secrets())


def test_firing_batch_gives_one_alert_per_entry_in_order() -> None:
    headers, body = webhook_event("grafana", "firing")
    alerts = normalize(Source.GRAFANA, headers, body, None)
    assert [a.externalId for a in alerts] == [
        "c6eadffa33fcdf37",
        "0f7b2c4d8e1a9356",
        "9d4e1f0a2b3c5d6e",
        "4b8a1e7c3d2f6a90",
    ]
    assert [a.title for a in alerts] == [
        "High memory usage",
        "Queue backlog",
        "Checkout latency p99",
        "Disk almost full",
    ]
    assert [a.severity for a in alerts] == [
        Severity.CRITICAL,
        Severity.WARNING,
        Severity.WARNING,
        Severity.HIGH,
    ]
    assert {a.source for a in alerts} == {Source.GRAFANA}


def test_per_alert_status_in_a_firing_group() -> None:
    headers, body = webhook_event("grafana", "firing")
    alerts = normalize(Source.GRAFANA, headers, body, None)
    assert [a.status for a in alerts] == [AlertStatus.OPEN] * 3 + [AlertStatus.RESOLVED]
    assert alerts[3].endedAt == "2026-11-27T08:19:00.123Z"


def test_sample_times_are_utc_milliseconds() -> None:
    headers, body = webhook_event("grafana", "firing")
    first, second, third, _ = normalize(Source.GRAFANA, headers, body, None)
    assert first.startedAt == "2026-11-27T08:14:03.157Z"
    assert second.startedAt == "2026-11-27T08:02:30.500Z"  # 10:02:30.5+02:00
    assert third.startedAt == "2026-11-27T08:20:00.000Z"
    assert (first.endedAt, second.endedAt, third.endedAt) == (None, None, None)


def test_resolved_sample_keeps_the_key_and_converts_the_end_to_utc() -> None:
    _, firing = webhook_event("grafana", "firing")
    headers, body = webhook_event("grafana", "resolved")
    (alert,) = normalize(Source.GRAFANA, headers, body, None)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.externalId == normalize(Source.GRAFANA, {}, firing, None)[0].externalId
    assert alert.endedAt == "2026-11-27T08:39:03.999Z"  # 10:39:03.9999999+02:00, truncated


def test_description_is_readable_text_from_annotations() -> None:
    headers, body = webhook_event("grafana", "firing")
    first = normalize(Source.GRAFANA, headers, body, None)[0]
    assert "Memory of checkout above 90% in zone eu-1" in first.description
    assert "https://runbooks.example.com/checkout/high-memory" in first.description
    assert "{" not in first.description


def test_raw_payload_holds_the_alert_and_the_group_fields_only() -> None:
    headers, body = webhook_event("grafana", "firing")
    alerts = normalize(Source.GRAFANA, headers, body, None)
    raw = alerts[1].rawPayload
    assert raw["alert"]["fingerprint"] == "0f7b2c4d8e1a9356"
    assert raw["groupKey"] == '{}/{team="blue"}:{grafana_folder="Shop"}'
    assert raw["commonLabels"] == {"grafana_folder": "Shop", "team": "blue"}
    assert raw["orgId"] == 1
    assert "alerts" not in raw
    assert "message" not in raw  # the group's rendered text covers every alert, not this one


# --- unified alerting rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "alert_status", "expected"),
    [
        ({"status": "firing", "state": "alerting"}, "resolved", AlertStatus.RESOLVED),
        ({"status": "resolved", "state": "ok"}, "firing", AlertStatus.OPEN),
        ({"status": "resolved", "state": "ok"}, " RESOLVED ", AlertStatus.RESOLVED),
        ({"status": "resolved", "state": "ok"}, None, AlertStatus.OPEN),
    ],
)
def test_per_alert_status_wins_over_top_level_status_and_state(
    group: dict[str, str], alert_status: str | None, expected: AlertStatus
) -> None:
    alert = _one(_unified(_alert(status=alert_status, endsAt="2026-11-27T09:00:00Z"), **group))
    assert alert.status is expected
    assert alert.endedAt == ("2026-11-27T09:00:00.000Z" if expected is AlertStatus.RESOLVED else None)


def test_end_of_a_firing_alert_is_null_even_when_set() -> None:
    assert _one(_unified(_alert(endsAt="2026-11-27T09:00:00Z"))).endedAt is None


def test_zero_end_of_a_resolved_alert_is_null() -> None:
    assert _one(_unified(_alert(status="resolved"))).endedAt is None


@pytest.mark.parametrize("alertname", ["DatasourceNoData", "DatasourceError", " datasourceerror "])
def test_datasource_alerts_are_titled_by_their_rule(alertname: str) -> None:
    labels = {"alertname": alertname, "rulename": "Checkout latency p99", "datasource_uid": "prom"}
    assert _one(_unified(_alert(labels=labels))).title == "Checkout latency p99"


@pytest.mark.parametrize("rulename", [None, "", "   "])
def test_datasource_alert_without_rulename_keeps_its_alertname(rulename: str | None) -> None:
    labels = {"alertname": "DatasourceError", "rulename": rulename}
    assert _one(_unified(_alert(labels=labels))).title == "DatasourceError"


def test_rulename_of_an_ordinary_alert_is_ignored() -> None:
    labels = {"alertname": "High memory usage", "rulename": "Another title"}
    assert _one(_unified(_alert(labels=labels))).title == "High memory usage"


def test_datasource_alert_without_severity_is_a_warning() -> None:
    labels = {"alertname": "DatasourceNoData", "rulename": "Checkout latency p99"}
    assert _one(_unified(_alert(labels=labels))).severity is Severity.WARNING


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("Critical", Severity.CRITICAL),
        (" sev-2 ", Severity.HIGH),
        ("P4", Severity.INFO),
        ("page", Severity.WARNING),
    ],
)
def test_severity_is_the_shared_table_on_labels_severity(severity: str, expected: Severity) -> None:
    labels = {"alertname": "High memory usage", "severity": severity}
    assert _one(_unified(_alert(labels=labels))).severity is expected


@pytest.mark.parametrize("labels", [{}, {"alertname": "  "}, {"alertname": None}])
def test_missing_alertname_falls_back_to_the_default_title(labels: dict[str, Any]) -> None:
    assert _one(_unified(_alert(labels=labels))).title == "Grafana alert c6eadffa33fcdf37"


def test_empty_alert_list_carries_no_alert() -> None:
    assert normalize(Source.GRAFANA, {}, _unified(), None) == []


def test_a_body_with_alerts_is_unified_even_with_legacy_keys() -> None:
    alert = _one(_unified(_alert(), ruleId=42, evalMatches=[]))
    assert alert.externalId == "c6eadffa33fcdf37"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"version": "1", "status": "firing"}', "alerts"),
        (b'{"alerts": null, "ruleId": " "}', "alerts"),
        (b'{"alerts": {"status": "firing"}}', "alerts"),
        (b'{"alerts": ["firing"]}', "alerts[0]"),
        (_unified(_alert(), _alert(fingerprint=" ")), "alerts[1].fingerprint"),
        (_unified(_alert(startsAt="27/11/2026 08:14")), "alerts[0].startsAt"),
        (_unified(_alert(status="resolved", endsAt="soon")), "alerts[0].endsAt"),
        (b'{"alerts": [', "body"),
    ],
)
def test_malformed_unified_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.GRAFANA, {}, body, None)
    assert refused.value.field == field


# --- legacy dashboard alerts ----------------------------------------------------------------------------


def test_legacy_sample() -> None:
    headers, body = webhook_event("grafana", "legacy")
    (alert,) = normalize(Source.GRAFANA, headers, body, None)
    assert alert.title == "Checkout CPU alert"
    assert alert.externalId == "legacy-rule:42"
    assert alert.severity is Severity.CRITICAL
    assert alert.status is AlertStatus.OPEN
    assert (alert.startedAt, alert.endedAt) == (None, None)
    assert "CPU of the checkout pods is above 95%." in alert.description
    assert "checkout-7d9f8=97.5" in alert.description
    assert alert.rawPayload["ruleUrl"].startswith("https://grafana.example.com/")
    assert alert.rawPayload["evalMatches"][0]["value"] == 97.5


@pytest.mark.parametrize(
    "body",
    [
        _legacy(drop=("evalMatches",)),  # detected by ruleId alone
        _legacy(evalMatches=None),
        _legacy(evalMatches=[]),
        _legacy(evalMatches=[{"value": i, "metric": f"pod-{i}", "tags": {}} for i in range(5)]),
        _legacy(evalMatches="not a list"),
        _legacy(alerts=None),  # a null `alerts` is absent
        _legacy(alerts="  "),
    ],
)
def test_legacy_gives_one_element_whatever_eval_matches_contains(body: bytes) -> None:
    (alert,) = normalize(Source.GRAFANA, {}, body, None)
    assert alert.externalId == "legacy-rule:42"


@pytest.mark.parametrize("rule_id", [None, "", "  "])
def test_legacy_detected_by_eval_matches_alone_still_requires_rule_id(rule_id: str | None) -> None:
    for body in (_legacy(ruleId=rule_id), _legacy(drop=("ruleId",))):
        with pytest.raises(MalformedRequest) as refused:
            normalize(Source.GRAFANA, {}, body, None)
        assert refused.value.field == "ruleId"


@pytest.mark.parametrize(
    "body", [_legacy(drop=("evalMatches",), ruleId=" "), _legacy(drop=("ruleId",), evalMatches=None)]
)
def test_without_rule_id_and_eval_matches_the_body_is_unified(body: bytes) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.GRAFANA, {}, body, None)
    assert refused.value.field == "alerts"


@pytest.mark.parametrize(
    ("rule_id", "expected"), [(7, "legacy-rule:7"), (" 7 ", "legacy-rule:7"), ("abc", "legacy-rule:abc")]
)
def test_legacy_external_id_is_the_rule_id_as_a_string(rule_id: Any, expected: str) -> None:
    assert _one(_legacy(ruleId=rule_id)).externalId == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("ok", AlertStatus.RESOLVED),
        ("paused", AlertStatus.RESOLVED),
        (" OK ", AlertStatus.RESOLVED),
        ("Paused", AlertStatus.RESOLVED),
        ("alerting", AlertStatus.OPEN),
        ("no_data", AlertStatus.OPEN),
        ("pending", AlertStatus.OPEN),
        ("something-new", AlertStatus.OPEN),
        ("", AlertStatus.OPEN),
        (None, AlertStatus.OPEN),
    ],
)
def test_legacy_status_map(state: str | None, expected: AlertStatus) -> None:
    assert _one(_legacy(state=state)).status is expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"severity": "warning"}, Severity.WARNING),
        ({"severity": " P2 "}, Severity.HIGH),
        ({"severity": "info"}, Severity.INFO),
        ({"severity": "page"}, Severity.WARNING),  # set but unknown: the shared table says warning
        ({"severity": "  "}, Severity.CRITICAL),  # blank is absent
        ({"severity": None}, Severity.CRITICAL),
        ({"team": "blue"}, Severity.CRITICAL),
        (None, Severity.CRITICAL),
        ("severity=warning", Severity.CRITICAL),
    ],
)
def test_legacy_severity_from_tags_else_critical(tags: dict[str, Any] | None, expected: Severity) -> None:
    assert _one(_legacy(tags=tags)).severity is expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "Checkout CPU alert"),
        ({"ruleName": " "}, "[Alerting] Checkout CPU alert"),
        ({"ruleName": None}, "[Alerting] Checkout CPU alert"),
        ({"ruleName": None, "title": ""}, "Grafana alert legacy-rule:42"),
    ],
)
def test_legacy_title_is_rule_name_then_title(changes: dict[str, Any], expected: str) -> None:
    assert _one(_legacy(**changes)).title == expected


def test_legacy_times_are_null_whatever_the_state() -> None:
    alert = _one(_legacy(state="ok"))
    assert alert.status is AlertStatus.RESOLVED
    assert (alert.startedAt, alert.endedAt) == (None, None)
