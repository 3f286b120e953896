"""Alertmanager webhook rules of ../shared/spec/alert-normalization.md."""

from __future__ import annotations

import json

import pytest

from incident_core.errors import MalformedRequest
from incident_core.models import AlertStatus, Severity, Source
from incident_core.normalizers import normalize
from tests.events import webhook_event


def _one_alert(**alert_fields: object) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "severity": "critical"},
        "annotations": {},
        "startsAt": "2026-03-14T09:26:53.589793238Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "0123456789abcdef",
    }
    alert.update(alert_fields)
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


def test_batch_gives_one_alert_per_entry_in_order() -> None:
    headers, body = webhook_event("prometheus", "firing")
    alerts = normalize(Source.PROMETHEUS, headers, body, None)
    assert [a.externalId for a in alerts] == ["3f1c9a7e5b2d4c60", "a81e22c07d9e1b34"]
    assert [a.title for a in alerts] == ["HighErrorRate", "PodCrashLooping"]
    assert [a.severity for a in alerts] == [Severity.CRITICAL, Severity.WARNING]


def test_firing_alert_times_are_utc_milliseconds_and_zero_end_is_null() -> None:
    headers, body = webhook_event("prometheus", "firing")
    first, second = normalize(Source.PROMETHEUS, headers, body, None)
    assert first.startedAt == "2026-11-27T08:14:03.123Z"
    assert first.endedAt is None
    assert second.startedAt == "2026-11-27T08:10:11.000Z"  # +05:30 converted to UTC


def test_resolved_alert_keeps_the_key_and_carries_its_end() -> None:
    headers, body = webhook_event("prometheus", "resolved")
    (alert,) = normalize(Source.PROMETHEUS, headers, body, None)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.externalId == "3f1c9a7e5b2d4c60"
    assert alert.endedAt == "2026-11-27T08:39:03.500Z"


def test_per_alert_status_wins_over_the_group_status() -> None:
    body = _one_alert(status="resolved", endsAt="2026-03-14T10:00:00Z")
    (alert,) = normalize(Source.PROMETHEUS, {}, body, None)
    assert alert.status is AlertStatus.RESOLVED


def test_end_of_a_firing_alert_is_null_even_when_set() -> None:
    (alert,) = normalize(Source.PROMETHEUS, {}, _one_alert(endsAt="2026-03-14T10:00:00Z"), None)
    assert alert.endedAt is None


def test_missing_alertname_falls_back_to_the_default_title() -> None:
    (alert,) = normalize(Source.PROMETHEUS, {}, _one_alert(labels={"severity": "page"}), None)
    assert alert.title == "Prometheus alert 0123456789abcdef"
    assert alert.severity is Severity.WARNING


def test_raw_payload_holds_the_alert_and_the_group_fields() -> None:
    headers, body = webhook_event("prometheus", "firing")
    first, _ = normalize(Source.PROMETHEUS, headers, body, None)
    assert first.rawPayload["alert"]["fingerprint"] == "3f1c9a7e5b2d4c60"
    assert first.rawPayload["groupKey"].startswith("{}/")
    assert "alerts" not in first.rawPayload


def test_empty_alert_list_carries_no_alert() -> None:
    assert normalize(Source.PROMETHEUS, {}, b'{"version": "4", "alerts": []}', None) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"version": "4"}', "alerts"),
        (_one_alert(fingerprint="  "), "alerts[0].fingerprint"),
        (_one_alert(startsAt="yesterday"), "alerts[0].startsAt"),
        (b'{"alerts": [', "body"),
        (b'["not", "an", "object"]', "body"),
    ],
)
def test_malformed_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.PROMETHEUS, {}, body, None)
    assert refused.value.field == field
