"""devstack/stepfunctions.py: the template's definitions as CloudFormation reads them, and Lambda's Invoke
answered by the local functions (moto's own engine runs the executions; tests/integration covers that)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from devstack.stepfunctions import (
    DefinitionError,
    LambdaInvokeBridge,
    load_definition,
    local_function_arn,
    state_machine_definitions,
    substitution_resolver,
)
from devstack.template import load_template

FN = local_function_arn("Work")


def test_load_definition_substitutes_tokens(tmp_path: Path) -> None:
    path = tmp_path / "m.asl.json"
    task = {"Type": "Task", "Resource": "${Fn}", "End": True}
    path.write_text(json.dumps({"StartAt": "T", "States": {"T": task}}), encoding="utf-8")
    assert load_definition(path, {"Fn": FN})["States"]["T"]["Resource"] == FN
    with pytest.raises(DefinitionError, match="no DefinitionSubstitutions for Fn"):
        load_definition(path, {"Other": FN})
    yaml_path = tmp_path / "m.asl.yaml"
    yaml_path.write_text("StartAt: T\nStates:\n  T: {Type: Task, Resource: '${Fn}', End: true}\n", encoding="utf-8")
    assert load_definition(yaml_path, {"Fn": FN})["States"]["T"]["Resource"] == FN


def test_the_templates_state_machines_load_with_local_function_arns() -> None:
    template = load_template()
    definitions = state_machine_definitions(template, substitution_resolver(template, {}, {}))
    assert "EscalationStateMachine" in definitions
    resources = {
        state["Resource"]
        for definition in definitions.values()
        for state in definition["States"].values()
        if state["Type"] == "Task"
    }
    assert resources == {local_function_arn("EscalationNotifyFunction"), local_function_arn("EscalationCheckFunction")}


class Raises(Exception):
    pass


class Work:
    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("fail"):
            raise Raises("as asked")
        return {"seen": event}


def _invoke(bridge: LambdaInvokeBridge, function: str, event: dict[str, Any]) -> tuple[str, dict[str, str], Any]:
    body = json.dumps(event).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/2015-03-31/functions/{function}/invocations",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered.update(status=status, headers=dict(headers))

    payload = b"".join(bridge(environ, start_response))
    return answered["status"], answered["headers"], json.loads(payload)


def test_lambda_invoke_runs_the_local_function_by_arn_or_name() -> None:
    bridge = LambdaInvokeBridge(lambda environ, start_response: [])
    bridge.functions = {"Work": Work()}

    for function in (FN, FN.replace(":", "%3A"), "Work"):
        status, headers, payload = _invoke(bridge, function, {"a": 1})
        assert (status, payload) == ("200 OK", {"seen": {"a": 1}})
        assert "X-Amz-Function-Error" not in headers


def test_an_exception_is_answered_as_lambda_answers_an_unhandled_error() -> None:
    bridge = LambdaInvokeBridge(lambda environ, start_response: [])
    bridge.functions = {"Work": Work()}

    status, headers, payload = _invoke(bridge, FN, {"fail": True})
    assert status == "200 OK"
    assert headers["X-Amz-Function-Error"] == "Unhandled"
    assert payload == {"errorType": "Raises", "errorMessage": "as asked"}


def test_an_unknown_function_is_not_found() -> None:
    bridge = LambdaInvokeBridge(lambda environ, start_response: [])
    status, headers, _ = _invoke(bridge, local_function_arn("Missing"), {})
    assert status == "404 Not Found"
    assert headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"


def test_every_other_request_goes_to_moto() -> None:
    seen: list[str] = []

    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["PATH_INFO"])
        return [b"moto"]

    bridge = LambdaInvokeBridge(moto)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "wsgi.input": io.BytesIO(b"")}
    assert list(bridge(environ, lambda status, headers: None)) == [b"moto"]
    assert seen == ["/"]
