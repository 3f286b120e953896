"""Escalation on time through the local stack: the real state machine definition, run by moto's Step Functions
engine with the real task handlers. Every wait is for an outcome (an execution's status, a timeline entry), with
room for a loaded machine; none measures time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from devstack.action import signed_request
from devstack.stack import DEFAULT_PORT_CLIENT_SECRET, REGION
from incident_core.store.projections import Projection, ProjectionStore
from tests.e2e.conftest import PATIENCE, LocalStack, local_stack
from tests.events import webhook_event

pytestmark = pytest.mark.e2e

FAST = {
    "levels": [
        {"targets": [{"type": "user", "id": "first@example.com"}], "delaySeconds": 1},
        {"targets": [{"type": "team", "id": "sre"}], "delaySeconds": 1},
    ],
    "repeat": 1,
}
NOTIFIED_WHEN_NOBODY_ANSWERS = 4  # level 1, level 2, then both again (repeat 1)
PATIENT = {
    "levels": [
        {"targets": [{"type": "user", "id": "first@example.com"}], "delaySeconds": 3600},
        {"targets": [{"type": "team", "id": "sre"}], "delaySeconds": 1},
    ],
}
"""Level 2 comes an hour after level 1: an acknowledge lands between them however slow the machine is."""
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:EscalationStateMachine"


@contextmanager
def _stack_walking(policy: dict[str, Any], log: Path) -> Iterator[LocalStack]:
    """The local stack with `policy` as its default escalation policy."""
    with local_stack(log, DEVSTACK_PARAM_DefaultEscalationPolicy="e2e") as started:
        dynamodb = _aws(started, "dynamodb", resource=True)
        store = ProjectionStore(dynamodb, dynamodb.Table("PortEntitiesTable"))
        entity = {"identifier": "e2e", "title": "E2E", "properties": policy}
        projection = Projection(
            blueprint="escalationPolicy",
            identifier="e2e",
            visibleHash="seed",
            entity=entity,
            projectedAt="2026-11-27T00:00:00.000Z",
            syncedToPort=False,
        )
        store.save([projection])
        yield started


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with _stack_walking(FAST, tmp_path_factory.mktemp("devstack") / "output.log") as started:
        yield started


@pytest.fixture(scope="module")
def patient_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with _stack_walking(PATIENT, tmp_path_factory.mktemp("devstack") / "output.log") as started:
        yield started


def _aws(stack: LocalStack, service: str, *, resource: bool = False) -> Any:
    make = boto3.resource if resource else boto3.client
    return make(  # type: ignore[call-overload]
        service,
        endpoint_url=stack.aws,
        region_name=REGION,
        aws_access_key_id="devstack",
        aws_secret_access_key="devstack",
    )


def _escalation(stack: LocalStack, incident: str) -> list[str]:
    """Statuses of the incident's escalation executions."""
    listed = _aws(stack, "stepfunctions").list_executions(stateMachineArn=STATE_MACHINE)["executions"]
    return [execution["status"] for execution in listed if execution["name"].startswith(incident)]


def _act(stack: LocalStack, step: str, entity: dict[str, Any], **inputs: Any) -> None:
    body = {"runId": f"r_{uuid.uuid4().hex[:12]}", "entity": entity, "inputs": inputs, "user": "ana@example.com"}
    headers, raw = signed_request(DEFAULT_PORT_CLIENT_SECRET, body)
    assert httpx.post(f"{stack.api}/actions/{step}", headers=headers, content=raw, timeout=PATIENCE).status_code == 202


def _open(stack: LocalStack, title: str) -> str:
    before = {i["identifier"] for i in stack.cli("incidents", "list")}
    _act(stack, "trigger", {}, title=title, severity="critical")
    found = stack.wait_until(
        lambda: [i for i in stack.cli("incidents", "list") if i["identifier"] not in before],
        lambda new: len(new) == 1,
        timeout=PATIENCE,
    )
    return str(found[0]["identifier"])


def _timeline(stack: LocalStack, identifier: str) -> list[dict[str, Any]]:
    return list(stack.cli("incidents", "show", identifier)["timeline"])


def _notified(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in timeline if entry["kind"] == "notified"]


def test_nobody_answers_level_one_then_level_two_then_the_repeat(stack: LocalStack) -> None:
    incident = _open(stack, "Nobody is answering")
    stack.wait_until(lambda: _escalation(stack, incident), lambda s: s == ["SUCCEEDED"], timeout=PATIENCE)

    timeline = _timeline(stack, incident)
    pages = [entry["text"] for entry in _notified(timeline)]
    assert len(pages) == NOTIFIED_WHEN_NOBODY_ANSWERS, pages
    assert "level 1 of E2E: first@example.com" in pages[0]
    assert "level 2 of E2E: sre" in pages[1]
    assert "level 1 (repeat 1)" in pages[2]
    assert "level 2 (repeat 1)" in pages[3]
    assert timeline[0]["kind"] == "triggered"


def test_an_acknowledge_between_levels_stops_it_and_nothing_follows(patient_stack: LocalStack) -> None:
    stack = patient_stack
    incident = _open(stack, "Someone is answering")
    stack.wait_until(lambda: _timeline(stack, incident), lambda t: len(_notified(t)) >= 1, timeout=PATIENCE)
    _act(stack, "acknowledge", {"identifier": incident})

    # aborted: no state of the execution runs any more, so nothing can follow
    assert stack.wait_until(lambda: _escalation(stack, incident), lambda s: s == ["ABORTED"], timeout=PATIENCE) == [
        "ABORTED"
    ]
    timeline = _timeline(stack, incident)
    acknowledged_at = next(e["at"] for e in timeline if e["kind"] == "acknowledged")
    pages = _notified(timeline)
    assert len(pages) == 1
    assert pages[0]["at"] <= acknowledged_at


def test_starting_the_same_incidents_escalation_twice_pages_once(stack: LocalStack) -> None:
    headers, body = webhook_event("prometheus", "firing")  # a critical alert: auto-triggers an incident
    for _ in range(3):  # re-sent, as Alertmanager does every group interval
        assert httpx.post(f"{stack.api}/webhooks/prometheus", headers=headers, content=body).status_code == 202
    incidents = stack.wait_until(
        lambda: [i for i in stack.cli("incidents", "list") if i["title"] == "HighErrorRate"],
        lambda found: found,
        timeout=PATIENCE,
    )
    assert len(incidents) == 1
    incident = incidents[0]["identifier"]
    stack.wait_until(lambda: _escalation(stack, incident), lambda s: s == ["SUCCEEDED"], timeout=PATIENCE)
    first_level = [e for e in _timeline(stack, incident) if e.get("runId") == f"escalation:{incident}:0:0"]
    assert len(first_level) == 1
    assert len(_notified(_timeline(stack, incident))) == NOTIFIED_WHEN_NOBODY_ANSWERS
