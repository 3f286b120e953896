"""The blueprint check before sending (`port/schema.py`) agrees with the strict fake Port, an independent JSON
Schema validator, on what Port accepts: so what the bundle sends is what Port takes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_core.port.schema import BLUEPRINTS_DIR, BlueprintSchema, bundle_blueprint
from tests.fakes.port import REPO_ROOT, entity_problems

ALERT = json.loads((REPO_ROOT / "port" / "blueprints" / "alert.json").read_text())
INCIDENT = json.loads((REPO_ROOT / "port" / "blueprints" / "incident.json").read_text())
VALID_ALERT: dict[str, Any] = {
    "identifier": "grafana-legacy-rule:42",
    "title": "Checkout CPU alert",
    "properties": {
        "title": "Checkout CPU alert",
        "description": "",
        "severity": "warning",
        "status": "open",
        "source": "grafana",
        "externalId": "legacy-rule:42",
        "startedAt": "2026-11-27T08:14:03.157+01:00",
        "endedAt": None,
        "rawPayload": {},
    },
    "relations": {"service": "checkout", "incident": None},
}
VALID_INCIDENT: dict[str, Any] = {
    "identifier": "inc-20261127-081500-a1b2c3",
    "title": "Checkout is failing",
    "properties": {
        "title": "Checkout is failing",
        "status": "acknowledged",
        "provider": "pagerduty",
        "severity": "critical",
        "url": "https://example.pagerduty.com/incidents/Q1",
        "escalationLevel": 2,
        "mttaSeconds": 12.5,
        "alerted_at": "2026-11-27T08:15:00Z",
    },
    "relations": {"services": ["checkout"], "impactedServices": []},
}


def _with(entity: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {**entity, "properties": {**entity["properties"], **properties}}


CASES = [
    (ALERT, VALID_ALERT),
    (ALERT, _with(VALID_ALERT, startedAt=None)),
    (ALERT, {**VALID_ALERT, "properties": {k: v for k, v in VALID_ALERT["properties"].items() if k != "source"}}),
    (ALERT, _with(VALID_ALERT, startedAt="2026-11-27 08:14")),
    (ALERT, _with(VALID_ALERT, startedAt="2026-11-27T08:14:03")),
    (ALERT, _with(VALID_ALERT, startedAt="2026-13-40T08:14:03Z")),
    (ALERT, _with(VALID_ALERT, severity=None, status="open")),
    (ALERT, _with(VALID_ALERT, rawPayload=["not", "an", "object"])),
    (ALERT, _with(VALID_ALERT, title=42)),
    (ALERT, _with(VALID_ALERT, labels={"team": "blue"})),
    (ALERT, {**VALID_ALERT, "relations": {"service": ["checkout", "payments"]}}),
    (ALERT, {**VALID_ALERT, "relations": {"owner": "someone"}}),
    (INCIDENT, VALID_INCIDENT),
    (INCIDENT, _with(VALID_INCIDENT, status="active")),
    (INCIDENT, _with(VALID_INCIDENT, provider=None)),
    (INCIDENT, _with(VALID_INCIDENT, url="ftp://files.example.com/x")),
    (INCIDENT, _with(VALID_INCIDENT, url="not a url")),
    (INCIDENT, _with(VALID_INCIDENT, escalationLevel="2")),
    (INCIDENT, _with(VALID_INCIDENT, escalationLevel=True)),
    (INCIDENT, _with(VALID_INCIDENT, urgency="medium")),
    (INCIDENT, {**VALID_INCIDENT, "relations": {"services": "checkout"}}),
]


@pytest.mark.parametrize(("blueprint", "entity"), CASES)
def test_the_check_before_sending_agrees_with_the_strict_fake(
    blueprint: dict[str, Any], entity: dict[str, Any]
) -> None:
    ours = BlueprintSchema.of(blueprint).problems(entity)
    fakes = entity_problems(blueprint, {"relations": {}, **entity})
    assert bool(ours) == bool(fakes), (ours, fakes)


def test_a_problem_names_the_property_and_why() -> None:
    problems = BlueprintSchema.of(INCIDENT).problems(_with(VALID_INCIDENT, status="active", provider=None))
    assert problems == [
        "provider: required, but null",
        "status: 'active' is not one of ['triggered', 'acknowledged', 'resolved']",
    ]


def test_the_bundles_blueprints_ship_with_the_code() -> None:
    assert {path.name for path in BLUEPRINTS_DIR.glob("*.json")} == {
        path.name for path in (REPO_ROOT / "port" / "blueprints").glob("*.json")
    }
    assert bundle_blueprint("alert").required == frozenset(ALERT["schema"]["required"])
    assert bundle_blueprint("incident").relations.keys() == {"services", "impactedServices"}
