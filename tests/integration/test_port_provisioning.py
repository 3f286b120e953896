"""`Custom::PortResources`: the provisioner Lambda, run with its template environment against moto's secrets and
the validating FakePort, answering a local HTTP server that stands in for CloudFormation's pre-signed
ResponseURL."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import httpx
import pytest

from devstack.runtime import LambdaContext
from devstack.stack import REGION
from devstack.template import REPO
from incident_core.port.client import PortClient
from incident_core.retry import RetryPolicy
from incident_core.usecases import provisioning
from tests.fakes.port import REPO_ROOT, TOKEN_ROUTE, FakePort
from tests.integration.conftest import Stack

PORT_RESOURCES = list((REPO / "port").rglob("*.json"))
"""What the provisioner applies: every blueprint, action, page and example entity in port/."""
ACTIONS = len(list((REPO / "port" / "actions").glob("*.json")))

API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/incident-lifecycle-port/5b3a8f10-2c8e-11f0-9c1e"
PHYSICAL_ID = "incident-lifecycle-port-PortResources"
SERVICE = {"identifier": "microservice", "title": "Microservice", "schema": {"properties": {}, "required": []}}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class CloudFormationEndpoint:
    """Records every answer PUT to it, with its Content-Type header (S3 refuses one the URL was not signed for)."""

    url: str
    answers: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str | None] = field(default_factory=list)
    answered: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def cloudformation() -> Iterator[CloudFormationEndpoint]:
    endpoint = CloudFormationEndpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            endpoint.answers.append(json.loads(body))
            endpoint.content_types.append(self.headers.get("Content-Type"))
            self.send_response(200)
            self.end_headers()
            endpoint.answered.set()

        def log_message(self, *_args: Any) -> None:  # keep the test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/cfn-response?X-Amz-Signature=abc"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> FakePort:
    """The user's Port: their own service blueprint, nothing of ours yet."""
    fake = FakePort(blueprints=[SERVICE])
    quick = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, max_total_seconds=1.0)
    monkeypatch.setattr(
        provisioning,
        "_port_client",
        lambda _url, client_id, secret: PortClient(
            "https://api.port.example",
            client_id,
            secret,
            http=httpx.Client(transport=fake.transport()),
            sleep=lambda _: None,
            retry=quick,
        ),
    )
    return fake


def request(kind: str, endpoint: CloudFormationEndpoint, **properties: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:PortProvisionerFunction",
        "ResponseURL": endpoint.url,
        "StackId": STACK_ID,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "PortResources",
        "ResourceType": "Custom::PortResources",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:PortProvisionerFunction",
            "ApiUrl": API_URL,
            "ServiceBlueprint": "microservice",
            "ProvisionerVersion": "arn:aws:lambda:us-east-1:123456789012:function:PortProvisionerFunction:1",
            **properties,
        },
    }
    if kind != "Create":
        event["PhysicalResourceId"] = PHYSICAL_ID
    return event


def provision(stack: Stack, event: dict[str, Any]) -> None:
    result = stack.functions["PortProvisionerFunction"].invoke(event)
    assert result is None  # CloudFormation reads the answer PUT to the ResponseURL, not the return value


def writes(port: FakePort) -> int:
    return sum(1 for r in port.requests if r.method in WRITE_METHODS and r.route != TOKEN_ROUTE)


def test_create_provisions_the_blueprints_actions_and_dashboard(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    event = request("Create", cloudformation)
    provision(stack, event)

    (answer,) = cloudformation.answers
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == PHYSICAL_ID
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        STACK_ID,
        event["RequestId"],
        "PortResources",
    )
    total = len(PORT_RESOURCES)
    assert answer["Reason"] == (
        f"Port is up to date (microservice as service blueprint): {total} created, 0 updated, 0 unchanged."
    )
    assert answer["Data"] == {"Created": str(total), "Updated": "0", "Unchanged": "0"}
    assert cloudformation.content_types == [""]

    assert {"alert", "incident"} <= set(port.blueprints)
    assert port.blueprints["alert"]["relations"]["service"]["target"] == "microservice"
    assert len(port.actions) == ACTIONS
    assert {a["invocationMethod"]["url"].rsplit("/actions/", 1)[0] for a in port.actions.values()} == {API_URL}
    assert "incident_lifecycle_dashboard" in port.pages
    assert port.violations == []


def test_an_update_with_nothing_new_writes_nothing(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    provision(stack, request("Create", cloudformation))
    written = writes(port)

    provision(stack, request("Update", cloudformation))
    assert [a["Status"] for a in cloudformation.answers] == ["SUCCESS", "SUCCESS"]
    update = cloudformation.answers[1]
    assert update["PhysicalResourceId"] == PHYSICAL_ID  # the same resource: no replacement, no Delete
    assert update["Data"] == {"Created": "0", "Updated": "0", "Unchanged": str(len(PORT_RESOURCES))}
    assert writes(port) == written
    assert port.violations == []


def test_an_update_to_a_new_api_url_rewrites_the_actions(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    provision(stack, request("Create", cloudformation))
    moved = "https://def456.execute-api.us-east-1.amazonaws.com"
    provision(stack, request("Update", cloudformation, ApiUrl=moved))
    unchanged = len(PORT_RESOURCES) - ACTIONS  # only the actions carry the API URL
    assert cloudformation.answers[1]["Data"] == {"Created": "0", "Updated": str(ACTIONS), "Unchanged": str(unchanged)}
    assert port.actions["incident_resolve"]["invocationMethod"]["url"] == f"{moved}/actions/resolve"


def test_delete_answers_success_without_touching_port(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    provision(stack, request("Delete", cloudformation))
    (answer,) = cloudformation.answers
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == PHYSICAL_ID
    assert "kept" in answer["Reason"]
    assert port.requests == []


def test_port_failing_answers_failed_with_the_reason(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    port.fail_next(100, status=503, message="Port is down for maintenance")
    provision(stack, request("Create", cloudformation))
    (answer,) = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("PortApiError: Port API unavailable (503)")
    assert "Port is down for maintenance" in answer["Reason"]
    assert "(details in the log group /aws/lambda/PortProvisionerFunction)" in answer["Reason"]
    assert port.blueprints.keys() == {"microservice"}


def test_a_service_blueprint_port_lacks_fails_before_any_write(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    provision(stack, request("Create", cloudformation, ServiceBlueprint="service"))
    (answer,) = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith(
        "MissingDependencyError: Port has no blueprint these resources need: "
        "port/actions/associate-services.json refers to blueprint 'service'; "
    )
    assert writes(port) == 0


PATTERN_INCIDENT = {
    "identifier": "incident",
    "title": "Incident",
    "schema": {"properties": {"status": {"type": "string", "enum": ["active", "resolved", "closed"]}}},
}
"""An `incident` blueprint the organization already has (Port's incident pattern), with other statuses."""


def test_a_blueprint_the_user_already_has_is_not_overwritten_and_the_reason_names_the_parameter(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    port.add_blueprint(PATTERN_INCIDENT)
    provision(stack, request("Create", cloudformation))
    (refused,) = cloudformation.answers
    assert refused["Status"] == "FAILED"
    assert refused["Reason"].startswith("BreakingChangeError: Refused: Port already has blueprint(s) 'incident'")
    assert "property status would lose the enum values ['active', 'closed']" in refused["Reason"]
    assert "IncidentBlueprint parameter" in refused["Reason"]
    assert writes(port) == 0

    provision(stack, request("Create", cloudformation, IncidentBlueprint="lifecycleIncident"))
    assert cloudformation.answers[-1]["Status"] == "SUCCESS"
    assert port.blueprints["incident"]["schema"] == PATTERN_INCIDENT["schema"]
    assert port.blueprints["alert"]["relations"]["incident"]["target"] == "lifecycleIncident"


def test_without_credentials_the_resource_succeeds_and_says_provisioning_was_skipped(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.put_secret_value(
        SecretId=stack.resources.references["PortCredentials"],
        SecretString='{"clientId": "", "clientSecret": ""}',
    )
    provision(stack, request("Create", cloudformation))
    (answer,) = cloudformation.answers
    assert answer["Status"] == "SUCCESS"
    assert answer["Reason"].startswith("Port provisioning skipped")
    assert "port apply --api-url" in answer["Reason"]
    assert answer["Data"] == {"Skipped": "true"}
    assert port.requests == []


def test_a_resource_without_its_api_url_fails(
    stack: Stack, port: FakePort, cloudformation: CloudFormationEndpoint
) -> None:
    provision(stack, request("Create", cloudformation, ApiUrl=""))
    (answer,) = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert "is not the base URL of the stack's API" in answer["Reason"]
    assert port.requests == []


def test_a_malformed_request_is_still_answered(stack: Stack, cloudformation: CloudFormationEndpoint) -> None:
    event = request("Create", cloudformation)
    del event["RequestType"]
    provision(stack, event)
    (answer,) = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("Malformed custom resource request")


def test_the_watchdog_answers_failed_before_the_lambda_times_out(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, cloudformation: CloudFormationEndpoint
) -> None:
    """Port hangs until CloudFormation has its answer; the late success is then not sent."""
    fake = FakePort(blueprints=[SERVICE])

    def after_the_answer(http_request: httpx.Request) -> httpx.Response:
        assert cloudformation.answered.wait(timeout=10), "the watchdog did not answer"
        return fake.handle(http_request)

    monkeypatch.setattr(
        provisioning,
        "_port_client",
        lambda _url, client_id, secret: PortClient(
            "https://api.port.example",
            client_id,
            secret,
            http=httpx.Client(transport=httpx.MockTransport(after_the_answer)),
        ),
    )

    class AlmostOutOfTime(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 1_500  # the watchdog fires 0.2 s from now

    for name, value in stack.functions["PortProvisionerFunction"].environment.items():
        monkeypatch.setenv(name, value)
    handler = provisioning.make_port_provisioner_handler(REPO_ROOT / "port", deadline_margin_seconds=1.3)
    handler(request("Create", cloudformation), AlmostOutOfTime("PortProvisionerFunction", str(uuid.uuid4())))

    (answer,) = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert "did not finish before the Lambda's timeout" in answer["Reason"]
    assert "incident_lifecycle_dashboard" in fake.pages  # the work went on, but its answer came too late


def test_the_provisioner_artifact_carries_the_port_folder() -> None:
    # `sam build` copies what the link points at into .aws-sam/build/PortProvisionerFunction/port/.
    link = REPO_ROOT / "functions" / "port_provisioner" / "port"
    assert link.is_symlink()
    assert link.resolve() == (REPO_ROOT / "port").resolve()
