"""Datadog webhook rules of ../shared/spec/alert-normalization.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_core.errors import MalformedRequest
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers import normalize
from tests.events import example_secrets, webhook_event, webhook_event_names


def _body(**fields: Any) -> bytes:
    """A recommended-template body; a None value removes the key."""
    payload: dict[str, Any] = {
        "id": "7374383291638413458",
        "title": "[P2] [Triggered on {host:web-1}] High CPU on web-1",
        "body": "CPU above 90%",
        "event_type": "metric_alert_monitor",
        "date": "1795767243123",
        "last_updated": "1795767243123",
        "alert_id": "1234",
        "alert_transition": "Triggered",
        "alert_type": "error",
        "alert_priority": "P2",
        "alert_scope": "host:web-1",
    }
    payload.update(fields)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


def _one(**fields: Any) -> Alert:
    (alert,) = normalize(Source.DATADOG, {}, _body(**fields), None)
    return alert


@pytest.mark.parametrize("name", webhook_event_names("datadog"))
def test_sample_events_authenticate_with_the_example_token(name: str) -> None:
    headers, body = webhook_event("datadog", name)
    (alert,) = normalize(Source.DATADOG, headers, body, example_secrets())
    assert alert.source is Source.DATADOG


def test_triggered_and_recovered_samples_share_the_dedup_key() -> None:
    triggered, recovered = (
        normalize(Source.DATADOG, *webhook_event("datadog", name), None)[0] for name in ("triggered", "recovered")
    )
    assert triggered.externalId == recovered.externalId == "148902731:availability-zone:us-east-1a,service:checkout"
    assert (triggered.status, recovered.status) == (AlertStatus.OPEN, AlertStatus.RESOLVED)
    assert triggered.title == recovered.title == "Checkout p99 latency above 2s"
    assert triggered.severity is Severity.CRITICAL
    assert (triggered.startedAt, triggered.endedAt) == ("2026-11-27T08:14:03.123Z", None)
    assert (recovered.startedAt, recovered.endedAt) == (None, "2026-11-27T08:39:03.500Z")
    assert "Checkout p99 latency is 2.84s" in triggered.description
    assert "Scope: service:checkout, availability-zone:us-east-1a" in triggered.description
    assert triggered.rawPayload["alert_id"] == "148902731"


def test_default_payload_is_accepted_without_dedup() -> None:
    (alert,) = normalize(Source.DATADOG, *webhook_event("datadog", "default-payload"), None)
    assert alert.externalId == "event:7374421150927361024"
    assert alert.title == "Disk almost full on db-primary-1"
    assert alert.status is AlertStatus.OPEN
    assert alert.severity is Severity.WARNING
    assert alert.startedAt == "2026-11-27T09:02:41.250Z"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("[P1] [Triggered on {host:a,env:prod}] Disk full", "Disk full"),
        ("  [Warn]Disk full", "Disk full"),
        ("Disk full [P1]", "Disk full [P1]"),
        ("[P1] [Triggered]", "[P1] [Triggered]"),
        ("[] Disk [x] full", "Disk [x] full"),
    ],
)
def test_title_loses_its_leading_bracket_groups_unless_nothing_is_left(title: str, expected: str) -> None:
    assert _one(title=title).title == expected


@pytest.mark.parametrize("title", [None, "", "   "])
def test_missing_title_falls_back_to_the_default_title(title: str | None) -> None:
    assert _one(title=title).title == "Datadog alert 1234:host:web-1"


@pytest.mark.parametrize(
    ("transition", "status"),
    [
        ("Recovered", AlertStatus.RESOLVED),
        ("  recovered ", AlertStatus.RESOLVED),
        ("RECOVERED", AlertStatus.RESOLVED),
        ("Triggered", AlertStatus.OPEN),
        ("Re-Triggered", AlertStatus.OPEN),
        ("Warn", AlertStatus.OPEN),
        ("Re-Warn", AlertStatus.OPEN),
        ("No Data", AlertStatus.OPEN),
        ("Re-No Data", AlertStatus.OPEN),
        ("Renotify", AlertStatus.OPEN),
        ("Something new", AlertStatus.OPEN),
    ],
)
def test_status_comes_from_the_transition(transition: str, status: AlertStatus) -> None:
    # The title says the opposite, to prove the transition wins when present.
    title = "[Triggered on {host:a}] x" if status is AlertStatus.RESOLVED else "[Recovered on {host:a}] x"
    assert _one(alert_transition=transition, title=title).status is status


@pytest.mark.parametrize(
    ("transition", "title", "status"),
    [
        (None, "[Recovered on {host:a}] Disk full", AlertStatus.RESOLVED),
        ("", "[P1] [Recovered] Disk full", AlertStatus.RESOLVED),
        ("  ", "[P1] [ recovered on {host:a}] Disk full", AlertStatus.RESOLVED),
        (None, "[Triggered on {host:a}] Disk full", AlertStatus.OPEN),
        (None, "Disk full [Recovered]", AlertStatus.OPEN),
        (None, "[P1] Recovered disk", AlertStatus.OPEN),
        (None, "[Not Recovered] Disk full", AlertStatus.OPEN),
        (None, None, AlertStatus.OPEN),
    ],
)
def test_without_transition_status_comes_from_leading_title_groups(
    transition: str | None, title: str | None, status: AlertStatus
) -> None:
    assert _one(alert_transition=transition, title=title).status is status


@pytest.mark.parametrize(
    ("priority", "alert_type", "severity"),
    [
        ("P1", "info", Severity.CRITICAL),
        ("p2", "error", Severity.HIGH),
        (" P3 ", "error", Severity.WARNING),
        ("P4", "error", Severity.INFO),
        ("P5", "error", Severity.INFO),
        ("", "error", Severity.CRITICAL),
        (None, "warning", Severity.WARNING),
        ("  ", "info", Severity.INFO),
        (None, "SUCCESS", Severity.INFO),
        ("P0", "error", Severity.CRITICAL),
        ("P0", "success", Severity.INFO),
        ("P0", "bogus", Severity.WARNING),
        (None, None, Severity.WARNING),
        ("", "", Severity.WARNING),
    ],
)
def test_severity_from_priority_then_alert_type_then_warning(
    priority: str | None, alert_type: str | None, severity: Severity
) -> None:
    assert _one(alert_priority=priority, alert_type=alert_type).severity is severity


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        ("role:web, availability-zone:us-east-1a", "1234:availability-zone:us-east-1a,role:web"),
        (" b:2 ,, a:1 , ", "1234:a:1,b:2"),
        ("host:web-1", "1234:host:web-1"),
        ("", "1234:*"),
        (" , ,", "1234:*"),
        (None, "1234:*"),
    ],
)
def test_external_id_is_alert_id_and_the_normalized_scope(scope: str | None, key: str) -> None:
    assert _one(alert_scope=scope).externalId == key


def test_external_id_is_a_string_when_numbers_arrive() -> None:
    (alert,) = normalize(Source.DATADOG, {}, b'{"alert_id": 1234, "alert_scope": "", "date": 1795767243123}', None)
    assert alert.externalId == "1234:*"
    assert alert.startedAt == "2026-11-27T08:14:03.123Z"


@pytest.mark.parametrize("alert_id", [None, "", "   "])
def test_without_alert_id_the_event_id_is_used(alert_id: str | None) -> None:
    assert _one(alert_id=alert_id).externalId == "event:7374383291638413458"


@pytest.mark.parametrize(
    ("status_fields", "started", "ended"),
    [
        ({"alert_transition": "Triggered"}, "2026-11-27T08:14:03.123Z", None),
        ({"alert_transition": "Recovered"}, None, "2026-11-27T08:14:03.123Z"),
        ({"alert_transition": None, "title": "[Recovered on {h:a}] x"}, None, "2026-11-27T08:14:03.123Z"),
    ],
)
def test_date_is_the_start_when_open_and_the_end_when_resolved(
    status_fields: dict[str, Any], started: str | None, ended: str | None
) -> None:
    alert = _one(**status_fields)
    assert (alert.startedAt, alert.endedAt) == (started, ended)


@pytest.mark.parametrize(
    ("date", "started"), [(None, None), ("", None), ("1795767243999.9", "2026-11-27T08:14:03.999Z")]
)
def test_absent_date_gives_no_time_and_fractions_truncate(date: str | None, started: str | None) -> None:
    alert = _one(date=date)
    assert (alert.startedAt, alert.endedAt) == (started, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(alert_id=None, id=None), "alert_id"),
        (_body(alert_id=" ", id=""), "alert_id"),
        (_body(date="yesterday"), "date"),
        (b"{", "body"),
        (b"[]", "body"),
    ],
)
def test_malformed_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.DATADOG, {}, body, None)
    assert refused.value.field == field
