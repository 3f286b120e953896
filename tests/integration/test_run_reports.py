"""Action runs are reported to Port once: a redelivered run repeats its answer only while Port has not recorded
it, a refusal because the run is finished counts as recorded, and a report Port cannot take waits in the
outbox instead of holding up the runs behind it. Through the real handlers, Port played by the strict fake."""

from __future__ import annotations

import uuid
from typing import Any

from incident_core import aws
from incident_core.store.incidents import IncidentStore
from incident_core.store.scan import scan_items
from tests.integration.conftest import Stack

PATCH_RUN = "PATCH /v1/actions/runs/{run_id}"


def _trigger(stack: Stack, title: str) -> dict[str, Any]:
    run_id = f"r_{uuid.uuid4().hex[:12]}"
    stack.port.add_run(run_id, action="trigger")
    body = {"runId": run_id, "action": "trigger", "entity": {}, "inputs": {"title": title}, "user": "ana@example.com"}
    assert stack.act("trigger", body).status == 202
    return body


def _acknowledge(stack: Stack, incident: str) -> dict[str, Any]:
    run_id = f"r_{uuid.uuid4().hex[:12]}"
    stack.port.add_run(run_id, action="acknowledge")
    entity = {"identifier": incident, "blueprint": "incident"}
    body = {"runId": run_id, "action": "acknowledge", "entity": entity, "inputs": {}, "user": "ana@example.com"}
    assert stack.act("acknowledge", body).status == 202
    return body


def _patches(stack: Stack, run_id: str) -> int:
    return sum(1 for r in stack.port.requests if r.route == PATCH_RUN and r.path.endswith(f"/{run_id}"))


def _ledger(stack: Stack) -> IncidentStore:
    return IncidentStore(aws.dynamodb().Table(stack.resources.references["IncidentsTable"]))


def test_a_run_redelivered_after_port_recorded_it_is_not_patched_again(stack: Stack) -> None:
    body = _trigger(stack, "Checkout is down")
    url = stack.resources.references["ActionQueue"]
    messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    assert stack.run_actions(messages) == []
    run_id = body["runId"]
    assert stack.port.runs[run_id]["status"] == "SUCCESS"

    assert stack.run_actions(messages) == []  # SQS delivers the message again
    again = stack.act("trigger", body)  # Port (or a proxy) delivers the request again

    assert again.status == 200
    assert _patches(stack, run_id) == 1
    assert stack.port.violations == []
    recorded = _ledger(stack).run(run_id)
    assert recorded is not None
    assert recorded.reported is True


def test_a_run_port_says_is_finished_counts_as_reported(clocked_stack: Stack) -> None:
    stack, clock = clocked_stack, clocked_stack.clock
    assert clock is not None
    body = _trigger(stack, "Checkout is down")
    run_id = body["runId"]
    # Port took the answer, but it was lost on the way back: Port refuses the next status with a 4xx.
    stack.port.fail_next(1, status=503, route=PATCH_RUN)
    stack.port.fail_next(1, status=503, route=PATCH_RUN)
    assert stack.run_actions() == []
    stack.port.runs[run_id]["status"] = "SUCCESS"

    assert stack.act("trigger", body).status == 200  # the redelivery repeats the answer: Port refuses it
    recorded = _ledger(stack).run(run_id)
    assert recorded is not None
    assert recorded.reported is True
    assert stack.act("trigger", body).status == 200  # reported now: not sent again
    clock.advance(60)
    assert stack.drain_outbox()["runsReported"] == 0  # the answer kept in the outbox is not sent either
    outbox = aws.dynamodb().Table(stack.resources.references["PortOutboxTable"])
    assert [item["pk"] for item in scan_items(outbox) if str(item["pk"]).startswith("RUN#")] == []
    assert _patches(stack, run_id) == 3  # two lost to the outage, one refused as finished
    assert stack.port.violations == []


def test_a_report_port_cannot_take_waits_and_never_holds_up_the_runs_behind_it(clocked_stack: Stack) -> None:
    stack, clock = clocked_stack, clocked_stack.clock
    assert clock is not None
    first = _trigger(stack, "Checkout is down")
    assert stack.run_actions() == []
    incident = _ledger(stack).run(first["runId"])
    assert incident is not None
    assert incident.incidentId is not None

    stack.port.fail_next(10, status=503, route=PATCH_RUN)
    acknowledge = _acknowledge(stack, incident.incidentId)
    note_id = f"r_{uuid.uuid4().hex[:12]}"
    stack.port.add_run(note_id, action="add-note")
    note = {
        "runId": note_id,
        "action": "add-note",
        "entity": {"identifier": incident.incidentId, "blueprint": "incident"},
        "inputs": {"note": "Rolled back to v41"},
        "user": "ana@example.com",
    }
    assert stack.act("add-note", note).status == 202

    assert stack.run_actions() == []  # both runs of the incident done in one batch, none failed
    assert stack.port.runs[acknowledge["runId"]]["status"] == "IN_PROGRESS"  # its report waits
    assert _ledger(stack).get(incident.incidentId).status.value == "acknowledged"  # type: ignore[union-attr]

    stack.port.recover()
    clock.advance(60)
    assert stack.drain_outbox()["runsReported"] == 2
    assert stack.port.runs[acknowledge["runId"]]["status"] == "SUCCESS"
    assert stack.port.runs[note_id]["status"] == "SUCCESS"
    assert stack.drain_outbox()["runsReported"] == 0
    assert stack.port.violations == []
