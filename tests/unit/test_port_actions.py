"""Port's action protocol: the signature over the raw body, both run payload shapes, and step inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_core.auth.port_signature import port_signature, verify_port_signature
from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models.action import (
    AssociateServicesInputs,
    EscalateInputs,
    ReassignInputs,
    ResolveInputs,
    TriggerInputs,
    parse_action_run,
)
from incident_core.models.alert import Severity
from incident_core.models.incident import LifecycleStep, ProviderName
from incident_core.usecases.steps import STEPS

SECRET = "port-client-secret"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BODY = b'{"runId": "r_1", "action": "acknowledge_incident", "entity": {"identifier": "inc-1"}, "inputs": {}}'


def _signed(body: bytes = BODY, at: datetime = NOW, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {"x-port-timestamp": timestamp, "x-port-signature": port_signature(secret, timestamp, body)}


def test_a_fresh_signature_over_the_exact_body_verifies() -> None:
    verify_port_signature(_signed(), BODY, SECRET, now=NOW)


def test_the_signature_is_ports_documented_format() -> None:
    # base64(HMAC-SHA256(secret, "<timestamp>.<body>")) with the v1 prefix, as Port's docs compute it.
    import base64
    import hashlib
    import hmac

    digest = hmac.new(SECRET.encode(), b"1795770000." + BODY, hashlib.sha256).digest()
    assert port_signature(SECRET, "1795770000", BODY) == "v1," + base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (_signed(), BODY.replace(b"inc-1", b"inc-2"), "does not match"),
        (_signed(secret="another"), BODY, "does not match"),
        (_signed(at=datetime(2026, 11, 27, 8, 54, 59, tzinfo=UTC)), BODY, "replay"),
        (_signed(at=datetime(2026, 11, 27, 9, 5, 1, tzinfo=UTC)), BODY, "replay"),
        ({"x-port-timestamp": str(int(NOW.timestamp()))}, BODY, "not signed"),
        ({}, BODY, "not signed"),
        ({**_signed(), "x-port-timestamp": "yesterday"}, BODY, "not a number"),
    ],
)
def test_tampered_stale_or_unsigned_requests_are_refused(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(AuthenticationError) as refused:
        verify_port_signature(headers, body, SECRET, now=NOW)
    assert reason in refused.value.message


def test_without_a_configured_secret_everything_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        verify_port_signature(_signed(secret=""), BODY, "", now=NOW)


def test_the_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from incident_core.auth import port_signature as module

    calls: list[tuple[bytes, bytes]] = []
    monkeypatch.setattr(module.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or a == b)
    verify_port_signature(_signed(), BODY, SECRET, now=NOW)
    assert calls


def test_our_body_template_is_parsed() -> None:
    run = parse_action_run(LifecycleStep.ACKNOWLEDGE, {**json.loads(BODY), "user": "ana@example.com"})
    assert (run.runId, run.entity_identifier, run.user, run.inputs) == ("r_1", "inc-1", "ana@example.com", {})


def test_ports_legacy_run_payload_is_parsed() -> None:
    legacy = {
        "action": "resolve_incident",
        "resourceType": "run",
        "status": "TRIGGERED",
        "trigger": {"by": {"user": {"email": "bob@example.com"}}, "origin": "UI"},
        "context": {"entity": "inc-7", "blueprint": "incident", "runId": "r_legacy"},
        "payload": {
            "entity": {"identifier": "inc-7", "blueprint": "incident", "properties": {}},
            "properties": {"resolution": "Rolled back"},
        },
    }
    run = parse_action_run(LifecycleStep.RESOLVE, legacy)
    assert (run.runId, run.entity_identifier, run.user) == ("r_legacy", "inc-7", "bob@example.com")
    assert STEPS[run.step].inputs_of(run) == ResolveInputs(resolution="Rolled back", resolveAlerts=True)


def test_an_empty_entity_means_no_entity() -> None:
    run = parse_action_run(LifecycleStep.TRIGGER, {"runId": "r_2", "entity": {}, "inputs": {"title": "x"}})
    assert run.entity is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"entity": {}}, "runId"),
        ({"runId": ""}, "runId"),
        ({"context": {"entity": None}, "payload": {}}, "context.runId"),
        ([], "body"),
    ],
)
def test_a_run_without_an_id_names_the_field(payload: Any, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse_action_run(LifecycleStep.ACKNOWLEDGE, payload)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("step", "inputs", "expected"),
    [
        (
            LifecycleStep.TRIGGER,
            {"title": " Checkout down ", "severity": "critical", "services": [{"identifier": "checkout"}, "cart"]},
            TriggerInputs(title="Checkout down", severity=Severity.CRITICAL, services=["checkout", "cart"]),
        ),
        (LifecycleStep.TRIGGER, {"provider": "native", "title": ""}, TriggerInputs(provider=ProviderName.NATIVE)),
        (
            LifecycleStep.REASSIGN,
            {"assignee": {"email": "bob@example.com"}},
            ReassignInputs(assignee="bob@example.com"),
        ),
        (LifecycleStep.ASSOCIATE_SERVICES, {"services": "checkout"}, AssociateServicesInputs(services=["checkout"])),
        (LifecycleStep.ESCALATE, {}, EscalateInputs()),
        (
            LifecycleStep.ESCALATE,
            {"level": 3, "user": "eve@example.com"},
            EscalateInputs(level=3, user="eve@example.com"),
        ),
    ],
)
def test_inputs_are_read_as_the_step_expects(step: LifecycleStep, inputs: dict[str, Any], expected: Any) -> None:
    assert STEPS[step].inputs_of(parse_action_run(step, {"runId": "r", "inputs": inputs})) == expected


@pytest.mark.parametrize(
    ("step", "inputs", "field"),
    [
        (LifecycleStep.RESOLVE, {}, "inputs.resolution"),
        (LifecycleStep.RESOLVE, {"resolution": "   "}, "inputs.resolution"),
        (LifecycleStep.REASSIGN, {"assignee": ""}, "inputs.assignee"),
        (LifecycleStep.ASSOCIATE_SERVICES, {"services": []}, "inputs.services"),
        (LifecycleStep.ESCALATE, {"level": 0}, "inputs.level"),
        (LifecycleStep.ADD_NOTE, {"note": None}, "inputs.note"),
        (LifecycleStep.TRIGGER, {"severity": "apocalyptic"}, "inputs.severity"),
        (LifecycleStep.TRIGGER, {"provider": "carrier-pigeon"}, "inputs.provider"),
    ],
)
def test_invalid_inputs_name_the_field(step: LifecycleStep, inputs: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        STEPS[step].inputs_of(parse_action_run(step, {"runId": "r", "inputs": inputs}))
    assert refused.value.field == field
