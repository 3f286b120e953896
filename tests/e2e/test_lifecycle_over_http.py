"""The whole incident lifecycle through the local stack over HTTP, with Port played by a validating fake
served on loopback: alerts in, an incident opened, every Port action signed like Port signs it, and every
run reported back to Port."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.action import signed_request
from tests.e2e.conftest import PATIENCE, LocalStack, local_stack
from tests.events import webhook_event
from tests.fakes.port import FakePort
from tests.fakes.port_server import FakePortServer
from tests.integration.conftest import port_blueprints

pytestmark = pytest.mark.e2e

CATALOG = {
    "web": ["checkout"],
    "checkout": ["payments", "inventory"],
    "payments": ["ledger"],
    "inventory": [],
    "ledger": [],
}


@pytest.fixture(scope="module")
def port() -> FakePort:
    fake = FakePort(blueprints=port_blueprints())
    for name, calls in CATALOG.items():
        fake.add_entity("service", {"identifier": name, "title": name.title(), "relations": {"dependencies": calls}})
    for person, skills, owns in (("rita", ["Redis", "Caching"], ["web"]), ("max", ["MongoDB sharding"], ["ledger"])):
        properties = {"email": f"{person}@example.com", "skills": skills, "ownedServices": owns, "available": True}
        fake.add_entity("responder", {"identifier": person, "title": person.title(), "properties": properties})
    return fake


@pytest.fixture(scope="module")
def stack(port: FakePort, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log = tmp_path_factory.mktemp("devstack") / "output.log"
    with (
        FakePortServer(port) as server,
        local_stack(
            log, PORT_API_URL=server.url, PORT_CLIENT_ID=port.client_id, PORT_CLIENT_SECRET=port.client_secret
        ) as started,
    ):
        yield started


def _run(port: FakePort, stack: LocalStack, step: str, entity: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    """Port creates a run, posts it signed, and the stack reports it back: returns the finished run."""
    run_id = f"r_{uuid.uuid4().hex[:16]}"
    port.add_run(run_id, action=step)
    body = {"runId": run_id, "action": step, "entity": entity, "inputs": inputs, "user": "ana@example.com"}
    headers, raw = signed_request(port.client_secret, body)
    answer = httpx.post(f"{stack.api}/actions/{step}", headers=headers, content=raw, timeout=PATIENCE)
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + PATIENCE
    while port.runs[run_id]["status"] == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.2)
    return {**port.runs[run_id], "logs": [log["message"] for log in port.run_logs[run_id]]}


def _incidents(stack: LocalStack) -> list[dict[str, Any]]:
    return list(stack.cli("incidents", "list"))


def test_a_signed_lifecycle_from_alert_to_postmortem_is_reported_to_port(port: FakePort, stack: LocalStack) -> None:
    headers, body = webhook_event("prometheus", "firing")  # a critical checkout alert: opens an incident
    assert httpx.post(f"{stack.api}/webhooks/prometheus", headers=headers, content=body).status_code == 202
    incidents = stack.wait_until(lambda: _incidents(stack), lambda found: len(found) == 1)
    assert len(incidents) == 1
    incident = {"identifier": incidents[0]["identifier"], "blueprint": "incident"}

    steps = [
        ("acknowledge", {}),
        ("reassign", {"assignee": "sre-team"}),
        ("associate-services", {"services": [{"identifier": "payments", "blueprint": "service"}]}),
        ("escalate", {}),
        ("add-note", {"note": "Rolled back checkout to v41"}),
        ("resolve", {"resolution": "Bad deploy rolled back", "resolveAlerts": True}),
    ]
    for step, inputs in steps:
        run = _run(port, stack, step, incident, **inputs)
        assert run["status"] == "SUCCESS", (step, run)
        assert run["summary"]
        assert run["link"].endswith(f"identifier={incident['identifier']}")
        assert run["logs"], step

    shown = stack.cli("incidents", "show", incident["identifier"])
    assert shown["status"] == "resolved"
    assert [entry["kind"] for entry in shown["timeline"]] == [
        "triggered",
        "acknowledged",
        "reassigned",
        "services_associated",
        "escalated",
        "note",
        "resolved",
    ]
    assert "Bad deploy rolled back" in shown["postmortem"]
    assert set(shown["impactedServices"]) == {"web", "inventory", "ledger"}

    in_port = port.entities["incident"][incident["identifier"]]["properties"]
    assert in_port["status"] == "resolved"
    assert "Rolled back checkout to v41" in in_port["timeline"]
    assert in_port["postmortem_content"].startswith("#")
    alert = port.entities["alert"]["prometheus-3f1c9a7e5b2d4c60"]
    assert alert["relations"]["incident"] == incident["identifier"]
    assert alert["properties"]["status"] == "resolved"
    assert port.violations == []


def test_a_second_trigger_for_the_same_alert_attaches(port: FakePort, stack: LocalStack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    payload = json.loads(body)
    payload["alerts"][0]["fingerprint"] = "00000000feedbeef"
    payload["alerts"][0]["labels"]["severity"] = "warning"  # no auto-trigger: Port's user decides
    assert (
        httpx.post(f"{stack.api}/webhooks/prometheus", headers=headers, content=json.dumps(payload)).status_code == 202
    )
    stack.wait_until(lambda: port.entities["alert"], lambda found: "prometheus-00000000feedbeef" in found)
    alert = {**port.entities["alert"]["prometheus-00000000feedbeef"], "blueprint": "alert"}

    first = _run(port, stack, "trigger", alert, title="Checkout errors")
    second = _run(port, stack, "trigger", alert)

    assert first["status"] == "SUCCESS"
    assert "Opened incident" in first["summary"]
    assert second["status"] == "SUCCESS"
    assert "already open" in second["summary"]
    assert second["link"] == first["link"]


@pytest.mark.parametrize("tamper", ["unsigned", "tampered", "stale", "wrong-secret"])
def test_an_unsigned_tampered_or_stale_request_changes_nothing(port: FakePort, stack: LocalStack, tamper: str) -> None:
    before = _incidents(stack)
    body = {"runId": "r_forged", "action": "trigger", "entity": {}, "inputs": {"title": "Forged"}, "user": "x@y.z"}
    headers, raw = signed_request("not-the-secret" if tamper == "wrong-secret" else port.client_secret, body)
    if tamper == "unsigned":
        headers = {"content-type": "application/json"}
    elif tamper == "tampered":
        raw = raw.replace(b"Forged", b"Forget")
    elif tamper == "stale":
        stale = str(int(time.time()) - 301)
        headers, raw = signed_request(port.client_secret, body)
        from incident_core.auth.port_signature import port_signature

        headers.update({"x-port-timestamp": stale, "x-port-signature": port_signature(port.client_secret, stale, raw)})

    answer = httpx.post(f"{stack.api}/actions/trigger", headers=headers, content=raw, timeout=PATIENCE)

    assert answer.status_code == 401
    assert set(answer.json()) == {"message"}
    time.sleep(1)  # anything wrongly queued would have been worked by now
    assert _incidents(stack) == before
    assert "r_forged" not in port.runs


def test_a_refused_step_is_a_failure_with_the_reason(port: FakePort, stack: LocalStack) -> None:
    opened = _run(port, stack, "trigger", {}, title="Resolved before anyone looked", severity="warning")
    resolved = {"identifier": opened["link"].rsplit("identifier=", 1)[1], "blueprint": "incident"}
    assert _run(port, stack, "resolve", resolved, resolution="Flapped")["status"] == "SUCCESS"
    run = _run(port, stack, "acknowledge", resolved)
    assert run["status"] == "FAILURE"
    assert "cannot be acknowledged" in run["summary"]


def test_invalid_inputs_are_400_naming_the_field_and_fail_the_run(port: FakePort, stack: LocalStack) -> None:
    port.add_run("r_bad_inputs", action="resolve")
    body = {"runId": "r_bad_inputs", "entity": {"identifier": "inc-any"}, "inputs": {"resolution": " "}}
    headers, raw = signed_request(port.client_secret, body)

    answer = httpx.post(f"{stack.api}/actions/resolve", headers=headers, content=raw, timeout=PATIENCE)

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("inputs.resolution")
    assert port.runs["r_bad_inputs"]["status"] == "FAILURE"


def test_the_skill_exchange_finds_the_redis_expert(port: FakePort, stack: LocalStack) -> None:
    run = _run(port, stack, "find-expert", {}, skill="redis")

    assert run["status"] == "SUCCESS", run["summary"]
    assert "rita@example.com" in run["summary"]
    assert "max@example.com" not in run["summary"]
    assert any("declares" in line for line in run["logs"])
