"""The whole lifecycle on PagerDuty through the local stack: PagerDuty is prism serving PagerDuty's own
OpenAPI description (every request validated), Port is the validating fake; then PagerDuty's signed
webhook brings a change made in PagerDuty back, and a forged one changes nothing."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.action import signed_request
from tests.contract.prism import PrismServer, patched_spec
from tests.e2e.conftest import PATIENCE, LocalStack, local_stack
from tests.fakes.port import FakePort
from tests.fakes.port_server import FakePortServer
from tests.integration.conftest import port_blueprints
from tests.unit.test_pagerduty_provider import RESOLVED

pytestmark = pytest.mark.e2e

SPEC = "pagerduty-rest-v2.vnd-accept.openapi3.json"


def _string_incident_details(spec: dict[str, Any]) -> None:
    """PagerDuty creates incidents with a string `body.details` only (its docs, and the spec's own example),
    but the description types it as an object (see tests/contract/test_pagerduty_contract.py)."""
    spec["components"]["schemas"]["IncidentBody"]["properties"]["details"] = {"type": "string"}


WEBHOOK_SECRET = "pd-webhook-secret"
PAGERDUTY_USER = "125.greenholt.earline@graham.name"  # a user of the spec's own example answers


@pytest.fixture(scope="module")
def port() -> FakePort:
    fake = FakePort(blueprints=port_blueprints())
    for name in ("checkout", "payments"):
        fake.add_entity("service", {"identifier": name, "title": name.title(), "relations": {"dependencies": []}})
    return fake


@pytest.fixture(scope="module")
def stack(port: FakePort, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("pagerduty")
    pagerduty = PrismServer(patched_spec(SPEC, _string_incident_details, folder), folder)
    credentials: Path = folder / "providers.json"
    credentials.write_text(
        json.dumps(
            {
                "pagerduty": {
                    "apiKey": "u+example",
                    "fromEmail": "ops@example.com",
                    "serviceId": "PF9KMXH",
                    "baseUrl": pagerduty.url,
                    "webhookSecret": WEBHOOK_SECRET,
                }
            }
        )
    )
    try:
        with (
            FakePortServer(port) as server,
            local_stack(
                folder / "devstack.log",
                PORT_API_URL=server.url,
                PORT_CLIENT_ID=port.client_id,
                PORT_CLIENT_SECRET=port.client_secret,
                PROVIDER_CREDENTIALS_FILE=str(credentials),
            ) as started,
        ):
            yield started
    finally:
        pagerduty.stop()


def _run(port: FakePort, stack: LocalStack, step: str, entity: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    run_id = f"r_{uuid.uuid4().hex[:16]}"
    port.add_run(run_id, action=step)
    body = {"runId": run_id, "action": step, "entity": entity, "inputs": inputs, "user": "ana@example.com"}
    headers, raw = signed_request(port.client_secret, body)
    assert httpx.post(f"{stack.api}/actions/{step}", headers=headers, content=raw, timeout=PATIENCE).status_code == 202
    deadline = time.monotonic() + PATIENCE
    while port.runs[run_id]["status"] == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.2)
    return port.runs[run_id]


def _trigger(port: FakePort, stack: LocalStack, title: str) -> str:
    run = _run(
        port, stack, "trigger", {}, title=title, severity="critical", services=["checkout"], provider="pagerduty"
    )
    assert run["status"] == "SUCCESS", run.get("summary")
    return str(run["link"]).rsplit("identifier=", 1)[1]


def test_every_step_runs_on_pagerduty_and_is_reported_to_port(port: FakePort, stack: LocalStack) -> None:
    incident = {"identifier": _trigger(port, stack, "Checkout is down"), "blueprint": "incident"}
    steps = [
        ("acknowledge", {}),
        ("reassign", {"assignee": PAGERDUTY_USER}),
        ("associate-services", {"services": ["payments"]}),
        ("escalate", {}),
        ("add-note", {"note": "Rolled back checkout"}),
        ("resolve", {"resolution": "Bad deploy rolled back"}),
    ]
    for step, inputs in steps:
        run = _run(port, stack, step, incident, **inputs)
        assert run["status"] == "SUCCESS", (step, run)

    shown = stack.cli("incidents", "show", incident["identifier"])
    assert shown["provider"] == "pagerduty"
    assert shown["externalId"]  # PagerDuty's incident id, from its answer
    assert shown["status"] == "resolved"
    assert port.entities["incident"][incident["identifier"]]["properties"]["provider"] == "pagerduty"


def _pagerduty_webhook(external_id: str) -> bytes:
    payload = copy.deepcopy(RESOLVED)
    payload["event"]["occurred_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload["event"]["data"]["id"] = external_id
    return json.dumps(payload).encode()


def test_a_genuine_pagerduty_webhook_resolves_the_incident_and_a_forged_one_changes_nothing(
    port: FakePort, stack: LocalStack
) -> None:
    identifier = _trigger(port, stack, "Payments are slow")
    external_id = stack.cli("incidents", "show", identifier)["externalId"]
    body = _pagerduty_webhook(external_id)
    url = f"{stack.api}/providers/pagerduty/webhook"

    forged = httpx.post(url, headers={"x-pagerduty-signature": "v1=" + "0" * 64}, content=body, timeout=PATIENCE)
    unsigned = httpx.post(url, content=body, timeout=PATIENCE)

    assert forged.status_code == 401
    assert unsigned.status_code == 401
    assert stack.cli("incidents", "show", identifier)["status"] == "triggered"

    signature = "v1=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    genuine = httpx.post(url, headers={"x-pagerduty-signature": signature}, content=body, timeout=PATIENCE)

    assert genuine.status_code == 200, genuine.text
    shown = stack.cli("incidents", "show", identifier)
    assert shown["status"] == "resolved"
    assert shown["timeline"][-1]["actor"].endswith("(pagerduty)")
    assert port.entities["incident"][identifier]["properties"]["status"] == "resolved"
