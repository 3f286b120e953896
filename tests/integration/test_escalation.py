"""The escalation state machine's tasks against the real stores (moto in process): who is paged, once, when."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from incident_core import aws
from incident_core.adapters.stepfunctions import StepFunctionsEscalations
from incident_core.errors import ConfigurationError
from incident_core.models.alert import Severity
from incident_core.models.escalation import FALLBACK_LEVEL, parse_policy
from incident_core.models.incident import Incident, IncidentStatus, TimelineKind
from incident_core.notifications import Pagers, SnsPager
from incident_core.store.incidents import IncidentStore
from incident_core.store.projections import ProjectionStore
from incident_core.usecases.catalog import LocalDirectory
from incident_core.usecases.escalation import (
    POLICY_BLUEPRINT,
    ROTATION_BLUEPRINT,
    EscalationTasks,
    reconcile_escalations,
)
from tests.integration.conftest import PagesTopic, create_table, seed_entities

REGION = "us-east-1"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # a Friday, 11:00 in Berlin
POLICY = {
    "levels": [
        {"targets": [{"type": "schedule", "id": "payments-primary"}], "delaySeconds": 300},
        {"targets": [{"type": "team", "id": "sre"}, {"type": "user", "id": "lead@example.com"}], "delaySeconds": 600},
    ],
    "repeat": 1,
    "fallback": [{"type": "leadership", "id": "cto@example.com"}],
}
ROTATION = {
    "members": ["ann@example.com", "bob@example.com"],
    "handoff": "09:00",
    "rotationDays": 7,
    "start": "2026-11-23",
    "timeZone": "Europe/Berlin",
}


@dataclass
class Escalations:
    tasks: EscalationTasks
    incidents: IncidentStore
    topic: PagesTopic

    def incident(self, status: IncidentStatus = IncidentStatus.TRIGGERED) -> Incident:
        incident = Incident(
            identifier="inc-20261127-100000-abc123",
            title="Payments are failing",
            severity=Severity.CRITICAL,
            status=status,
            createdAt="2026-11-27T10:00:00.000Z",
            services=("payments",),
            escalationPolicy="payments",
        )
        self.incidents.change(incident.identifier, lambda current: incident if current is None else None)
        return incident

    def pages(self) -> list[dict[str, Any]]:
        return self.topic.received()

    def state(self, **changes: Any) -> dict[str, Any]:
        return {"incidentId": "inc-20261127-100000-abc123", "policyId": "payments", **changes}


@pytest.fixture
def escalations(aws_env: None) -> Escalations:
    tables = {name: create_table(name) for name in ("IncidentsTable", "PortEntitiesTable")}
    store = ProjectionStore(aws.dynamodb(), tables["PortEntitiesTable"])
    seed_entities(
        store,
        [
            (POLICY_BLUEPRINT, {"identifier": "payments", "title": "Payments", "properties": POLICY}),
            (ROTATION_BLUEPRINT, {"identifier": "payments-primary", "properties": ROTATION}),
        ],
    )
    topic = PagesTopic.create()
    incidents = IncidentStore(tables["IncidentsTable"])
    tasks = EscalationTasks(
        incidents=incidents,
        directory=lambda: LocalDirectory(store),
        pager=lambda: Pagers([SnsPager(topic.sns, topic.arn)]),
        link=lambda identifier: f"https://app.port.io/incidentEntity?identifier={identifier}",
        clock=lambda: NOW,
    )
    return Escalations(tasks, incidents, topic)


def test_the_first_level_pages_whoever_is_on_call_and_says_how_long_to_wait(escalations: Escalations) -> None:
    escalations.incident()
    state = escalations.tasks.notify(escalations.state())

    assert state["stop"] is False
    assert state["waitSeconds"] == 300
    (page,) = escalations.pages()
    assert "level 1" in page["Subject"]
    assert "ann@example.com" in page["Message"]  # ann's week in the Berlin rotation
    assert "https://app.port.io/incidentEntity?identifier=inc-20261127-100000-abc123" in page["Message"]
    incident = escalations.incidents.get("inc-20261127-100000-abc123")
    assert incident is not None
    assert incident.timeline[-1].kind is TimelineKind.NOTIFIED
    assert incident.escalationLevel == 1


def test_a_retried_notify_pages_once(escalations: Escalations) -> None:
    escalations.incident()
    escalations.tasks.notify(escalations.state())
    escalations.tasks.notify(escalations.state())
    assert len(escalations.pages()) == 1


def test_a_retried_notify_pages_nobody_and_waits_what_is_left_of_the_delay(escalations: Escalations) -> None:
    escalations.incident()
    escalations.tasks.notify(escalations.state())
    later = replace(escalations.tasks, clock=lambda: NOW + timedelta(seconds=100))

    state = later.notify(escalations.state())  # a retry, or a new execution resuming here

    assert state["waitSeconds"] == 200  # level 1's delay is 300 s; the page went out 100 s ago
    assert len(escalations.pages()) == 1
    much_later = replace(escalations.tasks, clock=lambda: NOW + timedelta(hours=1))
    assert much_later.notify(escalations.state())["waitSeconds"] == 0


@pytest.mark.parametrize("status", [IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED])
def test_nothing_is_paged_once_acknowledged_or_resolved(escalations: Escalations, status: IncidentStatus) -> None:
    escalations.incident(status)
    notified = escalations.tasks.notify(escalations.state(level=1))
    checked = escalations.tasks.check(escalations.state(level=1))

    assert notified["stop"] is True
    assert checked["stop"] is True
    assert escalations.pages() == []


def test_check_walks_levels_then_repeats_then_the_fallback_then_stops(escalations: Escalations) -> None:
    escalations.incident()
    walked = []
    state = escalations.state()
    while not state.get("stop"):
        walked.append((state.get("level", 0), state.get("round", 0)))
        state = escalations.tasks.check(state)

    assert walked == [(0, 0), (1, 0), (0, 1), (1, 1), (FALLBACK_LEVEL, 1)]
    assert state["reason"] == "the policy is exhausted"


def test_the_fallback_pages_leadership(escalations: Escalations) -> None:
    escalations.incident()
    escalations.tasks.notify(escalations.state(level=FALLBACK_LEVEL, round=1))
    (page,) = escalations.pages()
    assert "the fallback" in page["Subject"]
    assert "cto@example.com" in page["Message"]


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"levels": []}, "levels"),
        ({"levels": [{"targets": [], "delaySeconds": 60}]}, "levels.0.targets"),
        ({"levels": [{"targets": [{"type": "pager", "id": "x"}], "delaySeconds": 60}]}, "levels.0.targets.0.type"),
        ({"levels": [{"targets": [{"type": "user", "id": "a@b.c"}], "delaySeconds": -1}]}, "levels.0.delaySeconds"),
        ({"levels": [{"targets": [{"type": "user", "id": "a@b.c"}], "delaySeconds": 1}], "repeat": 99}, "repeat"),
    ],
)
def test_invalid_policies_are_refused_naming_the_field(policy: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_policy({"identifier": "p", **policy}, source="p")
    assert f": {field}:" in refused.value.message


def test_starting_the_same_incidents_escalation_twice_starts_one_execution(escalations: Escalations) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    arn = sfn.create_state_machine(
        name="escalation", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    control = StepFunctionsEscalations(sfn, arn)
    incident = escalations.incident()

    control.start(incident, "payments")
    control.start(incident, "payments")  # a retried trigger, or the processor and a Port run racing
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
    control.stop(incident, "acknowledged")
    control.stop(incident, "acknowledged again")  # stopping a stopped escalation is fine


class RecordingControl:
    """An EscalationControl that records what reconcile asks of it."""

    def __init__(self, running: set[str]) -> None:
        self._running = running
        self.started: list[str] = []
        self.stopped: list[str] = []

    def start(self, incident: Incident, policy_id: str) -> bool:
        self.started.append(incident.identifier)
        return True

    def stop(self, incident: Incident, reason: str) -> None:
        self.stopped.append(incident.identifier)

    def running(self) -> set[str]:
        return self._running


def test_reconcile_stops_escalations_of_acknowledged_incidents_and_starts_lost_ones() -> None:
    def incident(identifier: str, status: IncidentStatus, policy: str | None = "payments") -> Incident:
        return Incident(
            identifier=identifier,
            title=identifier,
            status=status,
            createdAt="2026-11-27T10:00:00.000Z",
            escalationPolicy=policy,
        )

    incidents = [
        incident("inc-acked-still-paging", IncidentStatus.ACKNOWLEDGED),
        incident("inc-resolved-still-paging", IncidentStatus.RESOLVED),
        incident("inc-paging", IncidentStatus.TRIGGERED),
        incident("inc-lost-start", IncidentStatus.TRIGGERED),
        incident("inc-no-policy", IncidentStatus.TRIGGERED, policy=None),
    ]
    control = RecordingControl({"inc-acked-still-paging", "inc-resolved-still-paging", "inc-paging"})

    done = reconcile_escalations(control, incidents)

    assert sorted(control.stopped) == ["inc-acked-still-paging", "inc-resolved-still-paging"]
    assert control.started == ["inc-lost-start"]
    assert done == {"stopped": sorted(control.stopped), "started": ["inc-lost-start"]}
