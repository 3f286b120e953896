"""The embedded AWS of the local stack: a moto server holding template.yaml's tables, queues and secrets."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack.stepfunctions import Invocable, LambdaInvokeBridge, provision_state_machines, substitution_resolver
from devstack.template import REPO
from incident_core.port.resources import load_entities
from incident_core.store.projections import Projection, ProjectionStore

REGION = "us-east-1"
ACCOUNT_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "devstack", "AWS_SECRET_ACCESS_KEY": "devstack"}
DEFAULT_WEBHOOK_SECRETS_FILE = REPO / "events" / "webhook-secrets.example.json"
DEFAULT_PORT_CLIENT_SECRET = "devstack-port-client-secret"  # noqa: S105 - the documented local default
"""Signs local action runs (`python -m devstack.action`) when PORT_CLIENT_SECRET is not set."""
CATALOG_FILE = Path(__file__).resolve().parent / "catalog.json"
PEOPLE_FILE = Path(__file__).resolve().parent / "people.json"
PORT_DIR = REPO / "port"


@dataclass
class LocalResources:
    """Physical names of the template's resources in the local stack, for resolving `Ref`/`GetAtt`."""

    references: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    """Logical id -> ARN of each state machine (moto's engine runs their executions, see devstack/stepfunctions.py)."""


def aws_environment(endpoint: str) -> dict[str, str]:
    return {
        **ACCOUNT_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


class EmbeddedAws:
    """moto's server on one port, running state machines with moto's own engine; Lambda's Invoke is answered by
    the local functions once `serve_functions` has them."""

    def __init__(self, host: str, port: int) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call drowns the output
        self.endpoint = f"http://{host}:{port}"
        self._lambda = LambdaInvokeBridge(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, self._lambda, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)

    def start(self) -> None:
        os.environ["MOTO_PORT"] = self.endpoint.rsplit(":", 1)[-1]  # where moto's engine sends a task's Invoke
        self._thread.start()
        # moto's documented switch for server mode: run executions instead of only recording them
        httpx.post(
            f"{self.endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        ).raise_for_status()

    def serve_functions(self, functions: Mapping[str, Invocable]) -> None:
        self._lambda.functions = functions

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def client(self, service: str) -> Any:
        return self._session().client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def resource(self, service: str) -> Any:
        return self._session().resource(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    @staticmethod
    def _session() -> boto3.session.Session:
        return boto3.session.Session(
            region_name=REGION,
            aws_access_key_id=ACCOUNT_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ACCOUNT_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


class Provisioner:
    """Creates template.yaml's stateful resources through any boto3 client factory (a moto server, or
    moto's in-process mock in tests)."""

    def __init__(self, client: Callable[[str], Any]) -> None:
        self.client = client

    def provision(
        self,
        template: dict[str, Any],
        *,
        webhook_secrets_file: Path,
        port_credentials: dict[str, str],
        visibility_timeout: int | None,
        provider_credentials: dict[str, Any] | None = None,
    ) -> LocalResources:
        """Create every table, queue and secret of the template; parameters take their defaults."""
        local = LocalResources(references={"AWS::Region": REGION, "AWS::AccountId": "123456789012"})
        for name, parameter in template.get("Parameters", {}).items():
            local.references[name] = str(os.environ.get(f"DEVSTACK_PARAM_{name}", parameter.get("Default", "")))
        resources = template["Resources"]
        # Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
        ordered = sorted(resources.items(), key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
        for logical_id, resource in ordered:
            props = resource.get("Properties", {})
            kind = resource["Type"]
            if kind == "AWS::DynamoDB::Table":
                self._table(logical_id, props, local)
            elif kind == "AWS::SQS::Queue":
                self._queue(logical_id, props, local, visibility_timeout)
            elif kind == "AWS::SecretsManager::Secret":
                secret = self._secret_value(
                    logical_id, props, webhook_secrets_file, port_credentials, provider_credentials or {}
                )
                arn = self.client("secretsmanager").create_secret(Name=logical_id, SecretString=secret)["ARN"]
                local.references[logical_id] = arn
            elif kind == "AWS::SNS::Topic":
                arn = self.client("sns").create_topic(Name=logical_id)["TopicArn"]
                local.references[logical_id] = arn
                local.attributes[(logical_id, "TopicArn")] = arn
                local.attributes[(logical_id, "TopicName")] = logical_id
        resolve = substitution_resolver(template, local.references, local.attributes)
        local.state_machines = provision_state_machines(template, self.client("stepfunctions"), resolve)
        for logical_id, arn in local.state_machines.items():
            local.references[logical_id] = arn
            local.attributes[(logical_id, "Arn")] = arn
            local.attributes[(logical_id, "Name")] = arn.rsplit(":", 1)[-1]
        return local

    def _table(self, logical_id: str, props: dict[str, Any], local: LocalResources) -> None:
        request: dict[str, Any] = {
            "TableName": logical_id,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        self.client("dynamodb").create_table(**request)
        local.references[logical_id] = logical_id
        local.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:123456789012:table/{logical_id}"

    def _queue(
        self, logical_id: str, props: dict[str, Any], local: LocalResources, visibility_timeout: int | None
    ) -> None:
        fifo = bool(props.get("FifoQueue"))
        name = f"{logical_id}.fifo" if fifo else logical_id
        attributes = {"FifoQueue": "true"} if fifo else {}
        if props.get("ContentBasedDeduplication") is not None:
            attributes["ContentBasedDeduplication"] = str(props["ContentBasedDeduplication"]).lower()
        timeout = visibility_timeout if visibility_timeout is not None else props.get("VisibilityTimeout")
        if timeout is not None:
            attributes["VisibilityTimeout"] = str(timeout)
        redrive = props.get("RedrivePolicy")
        if redrive:
            dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            max_receive = redrive["maxReceiveCount"]
            if isinstance(max_receive, dict):
                max_receive = local.references[max_receive["Ref"]]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": local.attributes[(dlq_id, "Arn")],
                    "maxReceiveCount": int(max_receive),
                }
            )
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        local.references[logical_id] = url
        local.attributes[(logical_id, "QueueUrl")] = url
        local.attributes[(logical_id, "QueueName")] = name
        local.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:123456789012:{name}"

    @staticmethod
    def _secret_value(
        logical_id: str,
        props: dict[str, Any],
        webhook_secrets_file: Path,
        port_credentials: dict[str, str],
        provider_credentials: dict[str, Any],
    ) -> str:
        if logical_id == "WebhookSecrets":
            return webhook_secrets_file.read_text(encoding="utf-8")
        if logical_id == "PortCredentials":
            return json.dumps(port_credentials)
        provider = logical_id.removesuffix("Credentials").lower()  # PagerDutyCredentials -> pagerduty
        if provider in provider_credentials:
            return json.dumps(provider_credentials[provider])
        return str(props.get("SecretString", "{}"))


def seed_local_catalog(aws: EmbeddedAws, resources: LocalResources, catalog_file: Path = CATALOG_FILE) -> int:
    """Without Port, the service catalog (and its dependencies) comes from devstack/catalog.json."""
    catalog = json.loads(catalog_file.read_text(encoding="utf-8"))
    services = [
        {
            "identifier": service["identifier"],
            "title": service["title"],
            "properties": {},
            "relations": {catalog["dependencyRelation"]: service["dependencies"]},
        }
        for service in catalog["services"]
    ]
    _save_local_entities(aws, resources, [(catalog["blueprint"], service) for service in services])
    return len(services)


def seed_local_entities(aws: EmbeddedAws, resources: LocalResources, port_dir: Path = PORT_DIR) -> int:
    """Without Port, the bundle's example entities (port/entities/: the default escalation policy and the
    on-call rotation it pages) are read from the local store, so native incidents escalate locally too."""
    entities = []
    for entity in load_entities(port_dir):
        assert entity.blueprint is not None  # every entity is loaded from its blueprint's folder
        entities.append((entity.blueprint, entity.body))
    _save_local_entities(aws, resources, entities)
    return len(entities)


def seed_local_people(aws: EmbeddedAws, resources: LocalResources, people_file: Path = PEOPLE_FILE) -> int:
    """The skill exchange's responders for the local stack: example people who own the catalog's services."""
    people = json.loads(people_file.read_text(encoding="utf-8"))
    _save_local_entities(aws, resources, [("responder", person) for person in people])
    return len(people)


def _save_local_entities(
    aws: EmbeddedAws, resources: LocalResources, entities: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """Keep (blueprint, entity) pairs where the local `LocalDirectory` reads them, as entities Port never saw."""
    dynamodb = aws.resource("dynamodb")
    store = ProjectionStore(dynamodb, dynamodb.Table(resources.references["PortEntitiesTable"]))
    store.save(
        Projection(
            blueprint=blueprint,
            identifier=entity["identifier"],
            visibleHash="seed",
            entity={"properties": {}, "relations": {}, **entity},
            projectedAt="1970-01-01T00:00:00.000Z",
            syncedToPort=False,
        )
        for blueprint, entity in entities
    )
