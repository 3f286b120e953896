"""The deployed stack in one process: moto's in-process AWS provisioned from template.yaml, the real
handlers run with their own template environments, and a validating fake of Port behind the client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from devstack.action import signed_request
from devstack.gateway import http_api_event
from devstack.poller import sqs_event
from devstack.runtime import LocalFunction, local_functions
from devstack.stack import DEFAULT_WEBHOOK_SECRETS_FILE, REGION, LocalResources, Provisioner
from devstack.template import REPO, functions, load_template
from incident_core import aws, handlers
from incident_core.models import Source
from incident_core.port.client import PortClient
from incident_core.retry import RetryPolicy
from incident_core.store.projections import Projection, ProjectionStore
from tests.fakes import FakeClock
from tests.fakes.port import FakePort

PORT_URL = "https://api.port.example"


def port_blueprints() -> list[dict[str, Any]]:
    service = {"identifier": "service", "title": "Service", "schema": {"properties": {}, "required": []}}
    ours = [json.loads(p.read_text()) for p in sorted((REPO / "port" / "blueprints").glob("*.json"))]
    return [service, *ours]


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class Stack:
    functions: dict[str, LocalFunction]
    resources: LocalResources
    port: FakePort
    sqs: Any
    clock: FakeClock | None = None
    """The simulated time of Port and of the projection, when the stack was built with one."""

    def post(self, source: Source | str, headers: dict[str, str], body: bytes) -> Answer:
        function = self.functions[f"Ingest{Source(source).value.capitalize()}Function"]
        answer = function.invoke(http_api_event("POST", f"/webhooks/{Source(source).value}", headers, body))
        return Answer(answer["statusCode"], json.loads(answer["body"]))

    @property
    def queue_url(self) -> str:
        return self.resources.references["AlertQueue"]

    @property
    def dead_letter_url(self) -> str:
        return self.resources.references["AlertDeadLetterQueue"]

    def queued(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def process_once(self) -> dict[str, Any]:
        """One poll of Lambda's event source mapping; successes are deleted, failures stay queued."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return {"received": 0, "failed": 0}
        arn = self.resources.attributes[("AlertQueue", "Arn")]
        result = self.functions["AlertProcessorFunction"].invoke(sqs_event(arn, messages))
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return {"received": len(messages), "failed": len(failed)}

    def drain(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            if self.process_once()["received"] == 0:
                return

    def act(self, step: str, body: dict[str, Any]) -> Answer:
        """POST /actions/<step>, signed as Port signs it."""
        headers, raw = signed_request(self.port.client_secret, body)
        function = self.functions["Action" + "".join(part.capitalize() for part in step.split("-")) + "Function"]
        answer = function.invoke(http_api_event("POST", f"/actions/{step}", headers, raw))
        return Answer(answer["statusCode"], json.loads(answer["body"]))

    def run_actions(self, messages: list[dict[str, Any]] | None = None) -> list[str]:
        """One poll of the action queue by the worker (or these messages, again); returns the failed ids."""
        url = self.resources.references["ActionQueue"]
        if messages is None:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
        if not messages:
            return []
        event = sqs_event(self.resources.attributes[("ActionQueue", "Arn")], messages)
        failed = [
            f["itemIdentifier"] for f in self.functions["ActionWorkerFunction"].invoke(event)["batchItemFailures"]
        ]
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return failed

    def drain_outbox(self) -> dict[str, Any]:
        """One run of the Port outbox schedule."""
        return self.functions["PortOutboxFunction"].invoke({})

    def port_alerts(self) -> dict[str, dict[str, Any]]:
        return self.port.entities.get("alert", {})

    def bulk_writes(self, blueprint: str = "alert") -> int:
        """Bulk upsert requests Port received for `blueprint` (failed ones included)."""
        path = f"/v1/blueprints/{blueprint}/entities/bulk"
        return sum(1 for r in self.port.requests if r.method == "POST" and r.path == path)


def build_stack(
    monkeypatch: pytest.MonkeyPatch,
    *,
    secrets_file: Path = DEFAULT_WEBHOOK_SECRETS_FILE,
    clock: FakeClock | None = None,
) -> Stack:
    """The stack; with `clock`, Port and the projection (the outbox's backoff) run on that simulated time."""
    template = load_template()
    resources = Provisioner(lambda service: boto3.client(service, region_name=REGION)).provision(
        template,
        webhook_secrets_file=secrets_file,
        port_credentials={"clientId": "fake-client-id", "clientSecret": "fake-client-secret"},
        visibility_timeout=0,  # a failed message is visible again at once: retries without waiting
    )
    port = FakePort(blueprints=port_blueprints(), clock=clock or time.time)
    port.add_entity("service", {"identifier": "checkout", "title": "Checkout"})
    port.add_entity("service", {"identifier": "payments", "title": "Payments"})
    quick = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, max_total_seconds=1.0)
    # One client for the stack's life, as a warm Lambda container keeps one (and so its access token).
    client = PortClient(
        PORT_URL,
        port.client_id,
        port.client_secret,
        http=httpx.Client(transport=port.transport()),
        clock=clock or time.time,
        sleep=lambda _: None,
        retry=quick,
    )
    monkeypatch.setattr(handlers, "_port_client", lambda url, client_id, secret: client)
    if clock is not None:
        monkeypatch.setattr(handlers, "utc_now", lambda: datetime.fromtimestamp(clock(), UTC))
    base = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_DEV": "false"}
    built = local_functions(functions(template), resources, base)
    return Stack(built, resources, port, boto3.client("sqs", region_name=REGION), clock)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset_clients()
        parameters.clear_caches()
        yield
    aws.reset_clients()
    parameters.clear_caches()


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Stack:
    return build_stack(monkeypatch)


@pytest.fixture
def clocked_stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The stack with Port and the projection on a simulated clock (starting now): tests move time to let the
    outbox's backoff pass."""
    return build_stack(monkeypatch, clock=FakeClock(time.time()))


# Building blocks of the stores-level tests (lifecycle, escalation, skill exchange), under `aws_env`


def create_table(name: str) -> Any:
    """A table as template.yaml declares them: partition key `pk` (a string), on demand."""
    return aws.dynamodb().create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )


def seed_entities(store: ProjectionStore, entities: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Catalog entities (blueprint, entity) where the local directory reads them, as Port would hold them."""
    store.save(
        Projection(
            blueprint=blueprint,
            identifier=entity["identifier"],
            visibleHash="seed",
            entity=entity,
            projectedAt="2026-11-27T08:00:00.000Z",
            syncedToPort=False,
        )
        for blueprint, entity in entities
    )


@dataclass
class PagesTopic:
    """The escalation SNS topic with a queue subscribed, so a test can read what was paged."""

    arn: str
    queue_url: str
    sns: Any
    sqs: Any

    @classmethod
    def create(cls) -> PagesTopic:
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        arn = sns.create_topic(Name="EscalationTopic")["TopicArn"]
        queue = sqs.create_queue(QueueName="pages")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        return cls(arn, queue, sns, sqs)

    def received(self) -> list[dict[str, Any]]:
        """Every page so far (each read once)."""
        pages = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                pages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return pages


def serialize_dynamodb_requests(client: Any) -> None:
    """DynamoDB applies each request (a conditional put included) atomically; moto's in-process backend
    does not guard against threads, so requests are serialized here to give races real semantics."""
    lock = threading.Lock()

    def acquire(**_: Any) -> None:  # a before-call handler that returns a value would replace the response
        lock.acquire()

    def release(**_: Any) -> None:
        lock.release()

    client.meta.events.register("before-call.dynamodb", acquire)
    client.meta.events.register("after-call.dynamodb", release)
