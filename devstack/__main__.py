"""`make run`: the local stack. Embedded AWS (moto) on :5000, the API on :3000, the queue wired to the processor.

Every route of template.yaml runs its real handler with its own environment from the template.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.gateway import Gateway
from devstack.poller import QueuePoller
from devstack.runtime import LocalFunction, local_functions
from devstack.scheduler import Scheduler
from devstack.stack import (
    DEFAULT_PORT_CLIENT_SECRET,
    DEFAULT_WEBHOOK_SECRETS_FILE,
    EmbeddedAws,
    LocalResources,
    Provisioner,
    aws_environment,
    seed_local_catalog,
    seed_local_entities,
    seed_local_people,
)
from devstack.template import functions, load_template


@dataclass
class LocalStack:
    aws: EmbeddedAws
    gateway: Gateway
    pollers: list[QueuePoller]
    scheduler: Scheduler
    functions: dict[str, LocalFunction]
    resources: LocalResources

    def stop(self) -> None:
        self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        self.gateway.stop()
        self.aws.stop()


def start(
    *,
    host: str = "127.0.0.1",
    api_port: int = 3000,
    aws_port: int = 5000,
    webhook_secrets_file: Path | None = None,
    visibility_timeout: int | None = 5,
    poll: bool = True,
) -> LocalStack:
    template = load_template()
    aws = EmbeddedAws(host, aws_port)
    aws.start()
    environment = aws_environment(aws.endpoint)
    os.environ.update(environment)  # the CLI and the pollers talk to the same embedded AWS
    port_credentials = {
        "clientId": os.environ.get("PORT_CLIENT_ID", ""),
        "clientSecret": os.environ.get("PORT_CLIENT_SECRET", DEFAULT_PORT_CLIENT_SECRET),
    }
    resources = Provisioner(aws.client).provision(
        template,
        webhook_secrets_file=webhook_secrets_file
        or Path(os.environ.get("WEBHOOK_SECRETS_FILE", DEFAULT_WEBHOOK_SECRETS_FILE)),
        port_credentials=port_credentials,
        visibility_timeout=visibility_timeout,
        provider_credentials=_provider_credentials(),
    )
    if os.environ.get("PORT_API_URL"):  # the template's parameter, as `sam deploy` would set it
        resources.references["PortApiUrl"] = os.environ["PORT_API_URL"]
    base = {**environment, "POWERTOOLS_METRICS_DISABLED": "true"}
    if not port_credentials["clientId"]:
        seed_local_catalog(aws, resources)
        seed_local_entities(aws, resources)
        seed_local_people(aws, resources)
    specs = functions(template)
    built = local_functions(specs, resources, base)
    aws.serve_functions(built)
    routes = {route: built[spec.logical_id] for spec in specs for route in spec.routes}
    gateway = Gateway(host, api_port, routes)
    gateway.start()
    sqs = aws.client("sqs")
    pollers = [
        QueuePoller(sqs, resources.references[queue], resources.attributes[(queue, "Arn")], built[spec.logical_id])
        for spec in specs
        for queue in spec.queue_sources
    ]
    if poll:
        for poller in pollers:
            poller.start()
    scheduler = Scheduler.launch(built.values(), start=poll)
    return LocalStack(
        aws=aws,
        scheduler=scheduler,
        gateway=gateway,
        pollers=pollers,
        functions=built,
        resources=resources,
    )


def _provider_credentials() -> dict[str, Any]:
    """PROVIDER_CREDENTIALS_FILE: {"pagerduty": {...}, ...}, the providers' secrets for the local stack."""
    path = os.environ.get("PROVIDER_CREDENTIALS_FILE")
    if not path:
        return {}
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise SystemExit(f"{path} must hold a JSON object keyed by provider name")
    return document


def _banner(stack: LocalStack) -> str:
    api = stack.gateway.url
    routes = "\n".join(f"    {method} {api}{path}" for method, path in sorted(stack.gateway.routes))
    port_mode = (
        "a real Port organization (PORT_CLIENT_ID is set)"
        if os.environ.get("PORT_CLIENT_ID")
        else "kept locally (no PORT_CLIENT_ID): see `python -m incident_core port entities --local`"
    )
    policy = stack.resources.references.get("DefaultEscalationPolicy") or (
        "none (DEVSTACK_PARAM_DefaultEscalationPolicy=default make run walks the example policy)"
    )
    return f"""
Incident Lifecycle for Port: local stack is up.

  API:           {api}
  Embedded AWS:  {stack.aws.endpoint}  (moto; AWS_ENDPOINT_URL={stack.aws.endpoint})
  Port entities: {port_mode}

  Routes:
{routes}

  Send a sample alert (signed with events/webhook-secrets.example.json):
    curl -sS -X POST {api}/webhooks/prometheus \\
      -H 'Authorization: Bearer example-prometheus-token' -H 'Content-Type: application/json' \\
      --data-binary @events/webhooks/prometheus/firing.body.json
    .venv/bin/python -m devstack.send prometheus firing      # any sample: events/webhooks/<source>/<name>

  Look at what arrived (the firing sample's critical alert also opens an incident):
    .venv/bin/python -m incident_core alerts list --local
    .venv/bin/python -m incident_core incidents list --local
    .venv/bin/python -m incident_core port entities --local

  Run Port's actions on an incident, signed as Port signs them:
    .venv/bin/python -m devstack.action acknowledge --entity <incident id>
    .venv/bin/python -m devstack.action resolve --entity <incident id> --input resolution="Rolled back"
    .venv/bin/python -m devstack.action find-expert --input skill=redis

  Escalation policy: {policy}

Ctrl-C stops it.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--aws-port", type=int, default=5000)
    parser.add_argument("--visibility-timeout", type=int, default=5, help="seconds before a failed message is retried")
    args = parser.parse_args(argv)
    stack = start(
        host=args.host,
        api_port=args.api_port,
        aws_port=args.aws_port,
        visibility_timeout=args.visibility_timeout,
    )
    print(_banner(stack), flush=True)
    stopped = threading.Event()

    def _stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stopped.wait()
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
