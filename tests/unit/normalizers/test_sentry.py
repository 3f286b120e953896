"""Sentry integration-platform webhook rules of ../shared/spec/alert-normalization.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers import normalize
from tests.events import example_secrets, webhook_event, webhook_event_names

HOOK_TIME = "1795768743"


def _issue_body(action: str = "created", **issue_fields: Any) -> bytes:
    issue: dict[str, Any] = {
        "id": "4501972614",
        "title": "ValueError: bad coupon",
        "level": "error",
        "status": "unresolved",
        "firstSeen": "2026-11-27T08:14:03.123456Z",
    }
    issue.update(issue_fields)
    issue = {k: v for k, v in issue.items() if v is not ...}
    return json.dumps({"action": action, "data": {"issue": issue}}).encode()


def _event_body(**event_fields: Any) -> bytes:
    event: dict[str, Any] = {
        "event_id": "9f1a0c3be2d84f7a8d1c5e6b7a2f3c40",
        "title": "ValueError: bad coupon",
        "level": "error",
        "datetime": "2026-11-27T08:14:03.123456+00:00",
        "timestamp": 1795767243.123456,
        "issue_url": "https://sentry.io/api/0/issues/1111/",
        "web_url": "https://example-shop.sentry.io/issues/2222/events/9f1a0c3be2d84f7a8d1c5e6b7a2f3c40/",
        "issue_id": "4501972614",
    }
    event.update(event_fields)
    event = {k: v for k, v in event.items() if v is not ...}
    return json.dumps({"action": "triggered", "data": {"event": event, "triggered_rule": "Fatal errors"}}).encode()


def _normalize(resource: str, body: bytes, timestamp: str | None = HOOK_TIME) -> list[Alert]:
    headers = {"Sentry-Hook-Resource": resource}
    if timestamp is not None:
        headers["Sentry-Hook-Timestamp"] = timestamp
    return normalize(Source.SENTRY, headers, body, None)


def _issue(action: str = "created", **issue_fields: Any) -> Alert:
    (alert,) = _normalize("issue", _issue_body(action, **issue_fields))
    return alert


def _event(**event_fields: Any) -> Alert:
    (alert,) = _normalize("event_alert", _event_body(**event_fields))
    return alert


@pytest.mark.parametrize("name", webhook_event_names("sentry"))
def test_sample_events_are_signed_with_the_example_secret(name: str) -> None:
    headers, body = webhook_event("sentry", name)
    alerts = normalize(Source.SENTRY, headers, body, example_secrets())
    assert len(alerts) == (0 if name.startswith("installation") else 1)
    with pytest.raises(AuthenticationError):
        normalize(Source.SENTRY, headers, body + b" ", example_secrets())


def test_issue_samples_share_the_dedup_key_and_the_resolve_time_is_the_hook_timestamp() -> None:
    created, resolved = (
        normalize(Source.SENTRY, *webhook_event("sentry", name), None)[0]
        for name in ("issue-created", "issue-resolved")
    )
    assert created.externalId == resolved.externalId == "4501972614"
    assert (created.status, resolved.status) == (AlertStatus.OPEN, AlertStatus.RESOLVED)
    assert created.startedAt == resolved.startedAt == "2026-11-27T08:14:03.123Z"
    assert (created.endedAt, resolved.endedAt) == (None, "2026-11-27T08:39:03.000Z")
    assert created.severity is Severity.HIGH
    assert created.title == "ValueError: invalid literal for int() with base 10: 'abc'"
    assert "CHECKOUT-API-3F" in created.description
    assert "https://example-shop.sentry.io/issues/4501972614/" in created.description
    assert resolved.rawPayload["action"] == "resolved"


def test_event_alert_sample_is_keyed_by_the_issue_not_the_event() -> None:
    (alert,) = normalize(Source.SENTRY, *webhook_event("sentry", "event-alert-triggered"), None)
    assert alert.externalId == "4501972614"
    assert alert.status is AlertStatus.OPEN
    assert alert.severity is Severity.CRITICAL
    assert (alert.startedAt, alert.endedAt) == ("2026-11-27T08:14:03.123Z", None)
    assert "Rule: Checkout fatal errors" in alert.description
    assert "environment=production" in alert.description


def test_installation_resource_is_not_an_alert() -> None:
    assert normalize(Source.SENTRY, *webhook_event("sentry", "installation-created"), None) == []


@pytest.mark.parametrize("resource", ["installation", "comment", "error", "metric_alert", "seer", "unknown"])
def test_other_resources_are_dropped(resource: str) -> None:
    assert _normalize(resource, _issue_body()) == []


@pytest.mark.parametrize("resource", [" Issue ", "ISSUE"])
def test_resource_matches_case_insensitively(resource: str) -> None:
    (alert,) = _normalize(resource, _issue_body())
    assert alert.externalId == "4501972614"


@pytest.mark.parametrize("headers", [{}, {"Sentry-Hook-Resource": ""}, {"Sentry-Hook-Resource": "  "}])
def test_resource_header_is_required(headers: dict[str, str]) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.SENTRY, headers, _issue_body(), None)
    assert refused.value.field == "Sentry-Hook-Resource"


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        ("fatal", Severity.CRITICAL),
        ("error", Severity.HIGH),
        ("warning", Severity.WARNING),
        ("info", Severity.INFO),
        ("debug", Severity.INFO),
        (" FATAL ", Severity.CRITICAL),
        ("sample", Severity.WARNING),
        ("", Severity.WARNING),
        (None, Severity.WARNING),
    ],
)
def test_level_table_for_issues_and_event_alerts(level: str | None, severity: Severity) -> None:
    assert _issue(level=level).severity is severity
    assert _event(level=level).severity is severity


@pytest.mark.parametrize(
    ("action", "issue_status", "status"),
    [
        ("resolved", "unresolved", AlertStatus.RESOLVED),
        ("created", "resolved", AlertStatus.RESOLVED),
        ("assigned", "resolved", AlertStatus.RESOLVED),
        ("resolved", "ignored", AlertStatus.RESOLVED),
        ("ignored", "ignored", AlertStatus.ACKNOWLEDGED),
        ("archived", "unresolved", AlertStatus.ACKNOWLEDGED),
        ("assigned", "unresolved", AlertStatus.ACKNOWLEDGED),
        (" Assigned ", None, AlertStatus.ACKNOWLEDGED),
        ("created", "ignored", AlertStatus.ACKNOWLEDGED),
        ("created", "unresolved", AlertStatus.OPEN),
        ("unresolved", "unresolved", AlertStatus.OPEN),
        ("", None, AlertStatus.OPEN),
    ],
)
def test_issue_status_rules(action: str, issue_status: str | None, status: AlertStatus) -> None:
    assert _issue(action, status=issue_status).status is status


@pytest.mark.parametrize(
    ("action", "timestamp", "ended"),
    [
        ("resolved", HOOK_TIME, "2026-11-27T08:39:03.000Z"),
        ("resolved", "1775645211.9999996", "2026-04-08T10:46:51.999Z"),
        ("resolved", None, None),
        ("created", HOOK_TIME, None),
        ("ignored", HOOK_TIME, None),
    ],
)
def test_issue_end_is_the_hook_timestamp_only_when_resolved(
    action: str, timestamp: str | None, ended: str | None
) -> None:
    (alert,) = _normalize("issue", _issue_body(action), timestamp)
    assert alert.endedAt == ended


@pytest.mark.parametrize(
    ("first_seen", "started"),
    [
        ("2026-11-27T08:14:03.123456Z", "2026-11-27T08:14:03.123Z"),
        ("2026-11-27T13:44:03.9999+05:30", "2026-11-27T08:14:03.999Z"),
        ("2026-11-27T08:14:03", "2026-11-27T08:14:03.000Z"),
        (None, None),
    ],
)
def test_issue_start_is_first_seen(first_seen: str | None, started: str | None) -> None:
    assert _issue(firstSeen=first_seen).startedAt == started


def test_issue_id_is_a_string_and_a_missing_title_falls_back() -> None:
    alert = _issue(id=4501972614, title=None)
    assert alert.externalId == "4501972614"
    assert alert.title == "Sentry alert 4501972614"


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({}, "4501972614"),
        ({"issue_id": 4501972614}, "4501972614"),
        ({"issue_id": None}, "1111"),
        ({"issue_id": " "}, "1111"),
        ({"issue_id": ...}, "1111"),
        ({"issue_id": ..., "issue_url": None}, "2222"),
        ({"issue_id": ..., "issue_url": "https://sentry.io/api/0/projects/x/"}, "2222"),
        ({"issue_id": ..., "issue_url": "", "web_url": "https://x.sentry.io/issues/3333/"}, "3333"),
    ],
)
def test_event_alert_key_is_the_issue_id_then_parsed_from_urls(fields: dict[str, Any], key: str) -> None:
    assert _event(**fields).externalId == key


@pytest.mark.parametrize(
    ("fields", "started"),
    [
        ({}, "2026-11-27T08:14:03.123Z"),
        ({"datetime": "2026-11-27T08:14:05Z"}, "2026-11-27T08:14:05.000Z"),
        ({"datetime": None}, "2026-11-27T08:14:03.123Z"),
        ({"datetime": "", "timestamp": 1775645211.9999996}, "2026-04-08T10:46:51.999Z"),
        ({"datetime": ..., "timestamp": "1775645211"}, "2026-04-08T10:46:51.000Z"),
        ({"datetime": ..., "timestamp": ...}, None),
    ],
)
def test_event_alert_start_is_datetime_then_timestamp_seconds(fields: dict[str, Any], started: str | None) -> None:
    alert = _event(**fields)
    assert (alert.startedAt, alert.endedAt) == (started, None)


def test_event_alert_is_always_open_with_its_title() -> None:
    alert = _event()
    assert alert.status is AlertStatus.OPEN
    assert alert.title == "ValueError: bad coupon"
    assert _event(title="").title == "Sentry alert 4501972614"


@pytest.mark.parametrize(
    ("resource", "body", "field"),
    [
        ("issue", _issue_body(id=None), "data.issue.id"),
        ("issue", b'{"action": "created", "data": {}}', "data.issue.id"),
        ("issue", _issue_body(firstSeen="last week"), "data.issue.firstSeen"),
        ("event_alert", _event_body(issue_id=..., issue_url=..., web_url=...), "data.event.issue_id"),
        (
            "event_alert",
            _event_body(issue_id="", issue_url="", web_url="https://x.sentry.io/events/1/"),
            "data.event.issue_id",
        ),
        ("event_alert", _event_body(datetime="nope"), "data.event.datetime"),
        ("event_alert", _event_body(datetime=..., timestamp="nope"), "data.event.timestamp"),
        ("issue", b"{]", "body"),
    ],
)
def test_malformed_bodies_name_the_field(resource: str, body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        _normalize(resource, body)
    assert refused.value.field == field


def test_bad_hook_timestamp_on_a_resolve_names_the_header() -> None:
    with pytest.raises(MalformedRequest) as refused:
        _normalize("issue", _issue_body("resolved"), "yesterday")
    assert refused.value.field == "Sentry-Hook-Timestamp"
