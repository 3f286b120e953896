"""Escalation on time through the local stack: the real state machine definition, run by the local
Step Functions runner with the real task handlers, on a two-level policy with 1-second delays."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from devstack.action import signed_request
from devstack.stack import DEFAULT_PORT_CLIENT_SECRET, REGION
from incident_core.store.projections import Projection, ProjectionStore
from tests.e2e.conftest import LocalStack, local_stack
from tests.events import webhook_event

pytestmark = pytest.mark.e2e

POLICY = {
    "levels": [
        {"targets": [{"type": "user", "id": "first@example.com"}], "delaySeconds": 1},
        {"targets": [{"type": "team", "id": "sre"}], "delaySeconds": 1},
    ],
    "repeat": 1,
}
NOTIFIED_WHEN_NOBODY_ANSWERS = 4  # level 1, level 2, then both again (repeat 1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log = tmp_path_factory.mktemp("devstack") / "output.log"
    with local_stack(log, DEVSTACK_PARAM_DefaultEscalationPolicy="e2e-fast") as started:
        dynamodb = boto3.resource(
            "dynamodb",
            endpoint_url=started.aws,
            region_name=REGION,
            aws_access_key_id="devstack",
            aws_secret_access_key="devstack",
        )
        store = ProjectionStore(dynamodb, dynamodb.Table("PortEntitiesTable"))
        store.save(
            [
                Projection(
                    blueprint="escalationPolicy",
                    identifier="e2e-fast",
                    visibleHash="seed",
                    entity={"identifier": "e2e-fast", "title": "Fast", "properties": POLICY},
                    projectedAt="2026-11-27T00:00:00.000Z",
                    syncedToPort=False,
                )
            ]
        )
        yield started


def _act(stack: LocalStack, step: str, entity: dict[str, Any], **inputs: Any) -> None:
    body = {"runId": f"r_{uuid.uuid4().hex[:12]}", "entity": entity, "inputs": inputs, "user": "ana@example.com"}
    headers, raw = signed_request(DEFAULT_PORT_CLIENT_SECRET, body)
    assert httpx.post(f"{stack.api}/actions/{step}", headers=headers, content=raw, timeout=10).status_code == 202


def _open(stack: LocalStack, title: str) -> str:
    before = {i["identifier"] for i in stack.cli("incidents", "list")}
    _act(stack, "trigger", {}, title=title, severity="critical")
    found = stack.wait_until(
        lambda: [i for i in stack.cli("incidents", "list") if i["identifier"] not in before], lambda new: len(new) == 1
    )
    return str(found[0]["identifier"])


def _timeline(stack: LocalStack, identifier: str) -> list[dict[str, Any]]:
    return list(stack.cli("incidents", "show", identifier)["timeline"])


def _notified(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in timeline if entry["kind"] == "notified"]


def test_nobody_answers_level_one_then_level_two_then_the_repeat(stack: LocalStack) -> None:
    incident = _open(stack, "Nobody is answering")
    timeline = stack.wait_until(
        lambda: _timeline(stack, incident), lambda t: len(_notified(t)) >= NOTIFIED_WHEN_NOBODY_ANSWERS, timeout=40
    )
    time.sleep(3)  # long enough for another level, if the escalation did not stop

    pages = [entry["text"] for entry in _notified(_timeline(stack, incident))]
    assert len(pages) == NOTIFIED_WHEN_NOBODY_ANSWERS, pages
    assert "level 1 of Fast: first@example.com" in pages[0]
    assert "level 2 of Fast: sre" in pages[1]
    assert "level 1 (repeat 1)" in pages[2]
    assert "level 2 (repeat 1)" in pages[3]
    assert timeline[0]["kind"] == "triggered"


def test_an_acknowledge_between_levels_stops_it_and_nothing_follows(stack: LocalStack) -> None:
    incident = _open(stack, "Someone is answering")
    stack.wait_until(lambda: _timeline(stack, incident), lambda t: len(_notified(t)) >= 1, timeout=30)
    _act(stack, "acknowledge", {"identifier": incident})
    stack.wait_until(
        lambda: _timeline(stack, incident), lambda t: any(e["kind"] == "acknowledged" for e in t), timeout=30
    )
    time.sleep(4)  # two delays: a level would have been paged by now if the escalation went on

    timeline = _timeline(stack, incident)
    acknowledged_at = next(e["at"] for e in timeline if e["kind"] == "acknowledged")
    pages = _notified(timeline)
    assert 1 <= len(pages) < NOTIFIED_WHEN_NOBODY_ANSWERS
    assert all(page["at"] <= acknowledged_at for page in pages), pages


def test_starting_the_same_incidents_escalation_twice_pages_once(stack: LocalStack) -> None:
    headers, body = webhook_event("prometheus", "firing")  # a critical alert: auto-triggers an incident
    for _ in range(3):  # re-sent, as Alertmanager does every group interval
        assert httpx.post(f"{stack.api}/webhooks/prometheus", headers=headers, content=body).status_code == 202
    incidents = stack.wait_until(
        lambda: [i for i in stack.cli("incidents", "list") if i["title"] == "HighErrorRate"], lambda found: found
    )
    assert len(incidents) == 1
    incident = incidents[0]["identifier"]
    timeline = stack.wait_until(
        lambda: _timeline(stack, incident), lambda t: len(_notified(t)) >= NOTIFIED_WHEN_NOBODY_ANSWERS, timeout=40
    )
    first_level = [e for e in timeline if e.get("runId") == f"escalation:{incident}:0:0"]
    assert len(first_level) == 1
