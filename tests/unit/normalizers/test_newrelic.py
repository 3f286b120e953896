"""New Relic workflow webhook rules of ../shared/spec/alert-normalization.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_core.errors import MalformedRequest
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers import normalize
from tests.events import example_secrets, webhook_event, webhook_event_names

ISSUE_ID = "5c1f3b2e-8a4d-4f1e-9b7c-2d6e0a9f4c31"


def _body(**fields: Any) -> bytes:
    """A default-template body plus the extra variables; the sentinel `...` removes a key."""
    payload: dict[str, Any] = {
        "id": ISSUE_ID,
        "title": "Error rate high",
        "priority": "HIGH",
        "state": "ACTIVATED",
        "trigger": "STATE_CHANGE",
        "createdAt": 1795767243123,
        "updatedAt": 1795768743731,
        "alertConditionNames": ["Checkout error rate"],
        "acknowledgedBy": None,
        "acknowledgedAt": None,
        "closedAt": None,
    }
    payload.update(fields)
    return json.dumps({k: v for k, v in payload.items() if v is not ...}).encode()


def _one(**fields: Any) -> Alert:
    (alert,) = normalize(Source.NEWRELIC, {}, _body(**fields), None)
    return alert


@pytest.mark.parametrize("name", webhook_event_names("newrelic"))
def test_sample_events_authenticate_with_the_example_token(name: str) -> None:
    headers, body = webhook_event("newrelic", name)
    (alert,) = normalize(Source.NEWRELIC, headers, body, example_secrets())
    assert alert.externalId == ISSUE_ID


def test_sample_lifecycle_open_acknowledged_resolved() -> None:
    activated, acknowledged, closed = (
        normalize(Source.NEWRELIC, *webhook_event("newrelic", name), None)[0]
        for name in ("activated", "acknowledged", "closed")
    )
    assert [a.status for a in (activated, acknowledged, closed)] == [
        AlertStatus.OPEN,
        AlertStatus.ACKNOWLEDGED,
        AlertStatus.RESOLVED,
    ]
    assert {a.startedAt for a in (activated, acknowledged, closed)} == {"2026-11-27T08:14:03.123Z"}
    assert (activated.endedAt, acknowledged.endedAt) == (None, None)
    assert closed.endedAt == "2026-11-27T08:39:03.500Z"  # closedAt, not updatedAt
    assert activated.title == "checkout-api: Error percentage > 5% for at least 5 minutes"
    assert activated.severity is Severity.CRITICAL
    assert "Impacted entities: checkout-api" in activated.description
    assert "Acknowledged by: Dana Oncall" in acknowledged.description
    assert closed.rawPayload["state"] == "CLOSED"


@pytest.mark.parametrize(
    ("fields", "title"),
    [
        ({}, "Error rate high"),
        ({"title": None}, "Checkout error rate"),
        ({"title": "  "}, "Checkout error rate"),
        ({"title": ...}, "Checkout error rate"),
        ({"title": None, "alertConditionNames": []}, f"New Relic issue {ISSUE_ID}"),
        ({"title": None, "alertConditionNames": [""]}, f"New Relic issue {ISSUE_ID}"),
        ({"title": None, "alertConditionNames": None}, f"New Relic issue {ISSUE_ID}"),
        ({"title": "", "alertConditionNames": ...}, f"New Relic issue {ISSUE_ID}"),
    ],
)
def test_title_falls_back_to_the_condition_then_the_issue_id(fields: dict[str, Any], title: str) -> None:
    assert _one(**fields).title == title


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("HIGH", Severity.HIGH),
        ("MEDIUM", Severity.WARNING),
        ("LOW", Severity.INFO),
        (" low ", Severity.INFO),
        ("critical", Severity.CRITICAL),
        ("URGENT", Severity.WARNING),
        ("", Severity.WARNING),
        (None, Severity.WARNING),
    ],
)
def test_severity_from_priority(priority: str | None, severity: Severity) -> None:
    assert _one(priority=priority).severity is severity


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"state": "CLOSED"}, AlertStatus.RESOLVED),
        ({"state": "deactivated"}, AlertStatus.RESOLVED),
        ({"state": " Closed ", "acknowledgedBy": "dana"}, AlertStatus.RESOLVED),
        ({"state": "ACTIVATED", "acknowledgedBy": "dana"}, AlertStatus.ACKNOWLEDGED),
        ({"state": "ACTIVATED", "acknowledgedAt": 1795767903000}, AlertStatus.ACKNOWLEDGED),
        (
            {"state": "CREATED", "acknowledgedBy": {"name": "Dana", "email": "d@example.com"}},
            AlertStatus.ACKNOWLEDGED,
        ),
        ({"state": "ACTIVATED", "acknowledgedBy": "  ", "acknowledgedAt": ""}, AlertStatus.OPEN),
        ({"state": "ACTIVATED", "trigger": "USER_ACTION"}, AlertStatus.OPEN),
        ({"state": "ACTIVATED", "acknowledgedBy": ..., "acknowledgedAt": ...}, AlertStatus.OPEN),
        ({"state": "CREATED"}, AlertStatus.OPEN),
        ({"state": None}, AlertStatus.OPEN),
    ],
)
def test_status_from_state_then_acknowledgement(fields: dict[str, Any], status: AlertStatus) -> None:
    assert _one(**fields).status is status


@pytest.mark.parametrize(
    ("fields", "ended"),
    [
        ({"state": "CLOSED", "closedAt": 1795768743500}, "2026-11-27T08:39:03.500Z"),
        ({"state": "CLOSED", "closedAt": "1795768743500"}, "2026-11-27T08:39:03.500Z"),
        ({"state": "CLOSED"}, "2026-11-27T08:39:03.731Z"),
        ({"state": "DEACTIVATED", "closedAt": "", "updatedAt": "1795768743731"}, "2026-11-27T08:39:03.731Z"),
        ({"state": "CLOSED", "closedAt": None, "updatedAt": None}, None),
        ({"state": "ACTIVATED", "closedAt": 1795768743500}, None),
        ({"state": "ACTIVATED", "acknowledgedBy": "dana", "closedAt": 1795768743500}, None),
    ],
)
def test_end_is_closed_at_then_updated_at_only_when_resolved(fields: dict[str, Any], ended: str | None) -> None:
    assert _one(**fields).endedAt == ended


@pytest.mark.parametrize(
    ("created", "started"),
    [
        (1795767243123, "2026-11-27T08:14:03.123Z"),
        ("1795767243123", "2026-11-27T08:14:03.123Z"),
        (1795767243123.9, "2026-11-27T08:14:03.123Z"),
        (None, None),
    ],
)
def test_start_is_created_at_in_epoch_millis(created: Any, started: str | None) -> None:
    assert _one(createdAt=created).startedAt == started


def test_numeric_id_is_written_as_a_string() -> None:
    assert _one(id=42).externalId == "42"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(id=None), "id"),
        (_body(id=...), "id"),
        (_body(id="  "), "id"),
        (_body(createdAt="soon"), "createdAt"),
        (_body(state="CLOSED", closedAt="later"), "closedAt"),
        (b"not json", "body"),
    ],
)
def test_malformed_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.NEWRELIC, {}, body, None)
    assert refused.value.field == field
