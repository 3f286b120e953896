"""The command line: normalize a request offline, look at stored alerts and Port entities, redrive the DLQ,
and plan/apply the Port resources in port/.

Exit status: 0 done, 2 usage or setup problem, 3 credentials refused (the API's 401), 4 malformed body
(the API's 400). Every refusal is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from incident_core import aws
from incident_core.config import get_settings
from incident_core.errors import AuthenticationError, IncidentCoreError, MalformedRequest, UsageError
from incident_core.models import Source
from incident_core.models.outbox import OutboxState, PendingEntity
from incident_core.normalizers import normalize
from incident_core.port.client import PortClient

EXIT_OK, EXIT_USAGE, EXIT_UNAUTHENTICATED, EXIT_MALFORMED = 0, 2, 3, 4
LOCAL_ENDPOINT = "http://127.0.0.1:5000"
LOCAL_ENDPOINT_VARIABLE = "DEVSTACK_AWS_URL"  # where `make run` put the embedded AWS, if not on :5000
LOCAL_NAMES = {
    "alerts_table": "AlertsTable",
    "incidents_table": "IncidentsTable",
    "port_entities_table": "PortEntitiesTable",
    "port_outbox_table": "PortOutboxTable",
    "alert_queue": "AlertQueue.fifo",
    "alert_dlq": "AlertDeadLetterQueue.fifo",
}
STACK_OUTPUTS = {
    "alerts_table": "AlertsTableName",
    "incidents_table": "IncidentsTableName",
    "port_entities_table": "PortEntitiesTableName",
    "port_outbox_table": "PortOutboxTableName",
    "alert_queue": "AlertQueueUrl",
    "alert_dlq": "AlertDeadLetterQueueUrl",
}
ENVIRONMENT_NAMES = {
    "alerts_table": "ALERTS_TABLE",
    "incidents_table": "INCIDENTS_TABLE",
    "port_entities_table": "PORT_ENTITIES_TABLE",
    "port_outbox_table": "PORT_OUTBOX_TABLE",
    "alert_queue": "ALERT_QUEUE_URL",
    "alert_dlq": "ALERT_DLQ_URL",
}


def _fail(message: str, code: int) -> int:
    print(" ".join(message.split()), file=sys.stderr)
    return code


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read the {what} file {path}: {exc}") from exc


def cmd_normalize(args: argparse.Namespace) -> int:
    try:
        body = Path(args.body_file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.body_file}: {exc.strerror}") from exc
    headers = _read_json(args.headers, "headers") if args.headers else {}
    secrets = _read_json(args.secrets, "secrets") if args.secrets else None
    try:
        alerts = normalize(args.source, headers, body, secrets)
    except AuthenticationError as exc:
        return _fail(f"credentials refused: {exc.message}", EXIT_UNAUTHENTICATED)
    except MalformedRequest as exc:
        return _fail(f"malformed body: {exc.message}", EXIT_MALFORMED)
    print(json.dumps([alert.seed_fields() for alert in alerts], indent=2, ensure_ascii=False))
    return EXIT_OK


class Targets:
    """Where the stack's resources are: the local stack, a deployed stack's outputs, or the environment."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.local = bool(getattr(args, "local", False))
        self.stack = getattr(args, "stack", None)
        if self.local:
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "devstack")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "devstack")
            os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
            os.environ["AWS_ENDPOINT_URL"] = os.environ.get(LOCAL_ENDPOINT_VARIABLE, LOCAL_ENDPOINT)
        self._outputs: dict[str, str] | None = None

    def name(self, key: str) -> str:
        if self.local:
            local = LOCAL_NAMES[key]
            return aws.sqs().get_queue_url(QueueName=local)["QueueUrl"] if local.endswith(".fifo") else local
        if self.stack:
            value = self._stack_outputs().get(STACK_OUTPUTS[key])
            if value:
                return value
        value = os.environ.get(ENVIRONMENT_NAMES[key])
        if not value:
            raise UsageError(f"say where the stack is: --local, --stack NAME, or set {ENVIRONMENT_NAMES[key]}")
        return value

    def _stack_outputs(self) -> dict[str, str]:
        if self._outputs is None:
            import boto3  # only this command needs CloudFormation

            stacks = boto3.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
            self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        return self._outputs


def cmd_alerts(args: argparse.Namespace) -> int:
    from incident_core.store.alerts import AlertStore
    from incident_core.store.outbox import OutboxStore
    from incident_core.usecases.projection import ALERT_BLUEPRINT

    targets = Targets(args)
    store = AlertStore(aws.dynamodb().Table(targets.name("alerts_table")))
    if args.action == "show":
        record = store.get(args.key) or next((r for r in store.scan() if r.identifier == args.key), None)
        if record is None:
            raise UsageError(f"no alert {args.key}")
        outbox = OutboxStore(aws.dynamodb(), aws.dynamodb().Table(targets.name("port_outbox_table")))
        waiting = outbox.entity(ALERT_BLUEPRINT, record.identifier)
        if args.json:
            shown = record.model_dump(mode="json")
            shown["port"] = None if waiting is None else waiting.model_dump(mode="json", exclude={"entity"})
            print(json.dumps(shown, indent=2, ensure_ascii=False))
        else:
            print(_alert_details(record.model_dump(mode="json")))
            print(_port_state(waiting))
        return EXIT_OK
    records = sorted(store.scan(), key=lambda r: r.lastSeenAt, reverse=True)
    if args.json:
        print(json.dumps([r.model_dump(mode="json", exclude={"rawPayload"}) for r in records], indent=2))
        return EXIT_OK
    print(f"{'STATUS':<13}{'SEVERITY':<10}{'COUNT':>6}  {'LAST SEEN':<25}{'SERVICE':<16}IDENTIFIER / TITLE")
    for r in records:
        flag = " (flapping)" if r.flapping else ""
        print(
            f"{r.status.value:<13}{r.severity.value:<10}{r.notificationCount:>6}  {r.lastSeenAt:<25}"
            f"{(r.service or '-'):<16}{r.identifier}  {r.title}{flag}"
        )
    return EXIT_OK


def cmd_incidents(args: argparse.Namespace) -> int:
    from incident_core.store.incidents import IncidentStore
    from incident_core.usecases.postmortem import render_timeline

    table_name = Targets(args).name("incidents_table")
    store = IncidentStore(aws.dynamodb().Table(table_name))
    if args.action == "show":
        incident = store.get(args.identifier)
        if incident is None:
            raise UsageError(f"no incident {args.identifier}")
        if args.json:
            print(incident.model_dump_json(indent=2))
            return EXIT_OK
        fields = incident.model_dump(mode="json", exclude={"timeline", "postmortem", "providerData", "version"})
        print("\n".join(f"{key}: {value}" for key, value in fields.items()))
        print(f"\nTimeline\n\n{render_timeline(incident)}")
        if incident.postmortem:
            print(f"\nPostmortem\n\n{incident.postmortem}")
        return EXIT_OK
    incidents = sorted(store.scan(), key=lambda i: i.createdAt, reverse=True)
    if args.json:
        print(json.dumps([i.model_dump(mode="json", exclude={"timeline", "postmortem"}) for i in incidents], indent=2))
        return EXIT_OK
    print(f"{'STATUS':<14}{'SEVERITY':<10}{'CREATED':<26}{'ASSIGNEE':<24}IDENTIFIER / TITLE")
    for i in incidents:
        assignee = i.assignee or "-"
        print(f"{i.status.value:<14}{i.severity.value:<10}{i.createdAt:<26}{assignee:<24}{i.identifier}  {i.title}")
    return EXIT_OK


def _alert_details(record: dict[str, Any]) -> str:
    lines = [f"{key}: {value}" for key, value in record.items() if key not in ("rawPayload", "statusHistory")]
    lines.append("statusHistory:")
    lines += [f"  {change['at']}  {change['status']}" for change in record["statusHistory"]]
    return "\n".join(lines)


def _port_state(waiting: PendingEntity | None) -> str:
    if waiting is None:
        return "port: nothing waiting (in Port, or kept locally without Port credentials)"
    if waiting.state is OutboxState.PARKED:
        return f"port: refused, parked since {waiting.since}: {waiting.reason}"
    return (
        f"port: waiting since {waiting.since} ({waiting.attempts} attempt(s), next at {waiting.nextAttemptAt}): "
        f"{waiting.reason}"
    )


def cmd_port_entities(args: argparse.Namespace) -> int:
    from incident_core.store.projections import ProjectionStore

    table_name = Targets(args).name("port_entities_table")
    table = aws.dynamodb().Table(table_name)
    projections = sorted(ProjectionStore(aws.dynamodb(), table).entities(args.blueprint), key=lambda p: p.key)
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for p in projections], indent=2, ensure_ascii=False))
        return EXIT_OK
    for p in projections:
        where = "Port" if p.syncedToPort else "local"
        print(f"{p.blueprint:<10}{where:<7}{p.projectedAt:<26}{p.identifier}  {p.entity.get('title', '')}")
    return EXIT_OK


def _port_client_from_environment() -> PortClient:
    settings = get_settings()
    if not (settings.port_client_id and settings.port_client_secret):
        raise UsageError("set PORT_CLIENT_ID and PORT_CLIENT_SECRET (and PORT_API_URL for the US region)")
    return PortClient(settings.port_api_url, settings.port_client_id, settings.port_client_secret)


def cmd_port_resources(args: argparse.Namespace) -> int:
    from incident_core.port.resources import apply_plan, load_resources, plan_resources

    resources = load_resources(
        Path(args.port_dir),
        service_blueprint=args.service_blueprint,
        incident_blueprint=args.incident_blueprint,
        api_url=args.api_url,
    )
    with _port_client_from_environment() as client:
        plan = plan_resources(client, resources)
        print(plan.summary())
        if args.action == "plan" and plan.breaking:
            return EXIT_USAGE  # the plan cannot be applied as it is: said in its last line
        if args.action == "apply":
            applied = apply_plan(client, plan)
            print(f"applied {len(applied)} change(s)")
    return EXIT_OK


def cmd_dlq(args: argparse.Namespace) -> int:
    from incident_core.queue import redrive

    targets = Targets(args)
    moved = redrive(aws.sqs(), targets.name("alert_dlq"), targets.name("alert_queue"), limit=args.max)
    print(f"moved {moved} message(s) from the dead-letter queue back to the alert queue")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m incident_core", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    normalize_cmd = commands.add_parser("normalize", help="print the normalized alerts of one request")
    normalize_cmd.add_argument("source", choices=[s.value for s in Source])
    normalize_cmd.add_argument("body_file")
    normalize_cmd.add_argument("--headers", help="JSON object of request headers")
    normalize_cmd.add_argument("--secrets", help="JSON webhook secrets; given, credentials are verified")
    normalize_cmd.set_defaults(run=cmd_normalize)

    def with_target(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--local", action="store_true", help="the local stack of `make run`")
        sub.add_argument("--stack", help="a deployed stack's name (reads its outputs)")
        return sub

    alerts = commands.add_parser("alerts", help="stored alerts")
    alert_actions = alerts.add_subparsers(dest="action", required=True)
    with_target(alert_actions.add_parser("list")).add_argument("--json", action="store_true")
    show = with_target(alert_actions.add_parser("show"))
    show.add_argument("key", help="the dedup key or Port identifier, e.g. prometheus-3f1c9a7e5b2d4c60")
    show.add_argument("--json", action="store_true")
    alerts.set_defaults(run=cmd_alerts)

    incidents = commands.add_parser("incidents", help="incidents, with their timeline and postmortem")
    incident_actions = incidents.add_subparsers(dest="action", required=True)
    with_target(incident_actions.add_parser("list")).add_argument("--json", action="store_true")
    incident_show = with_target(incident_actions.add_parser("show"))
    incident_show.add_argument("identifier")
    incident_show.add_argument("--json", action="store_true")
    incidents.set_defaults(run=cmd_incidents)

    port = commands.add_parser("port", help="Port resources and entities")
    port_actions = port.add_subparsers(dest="action", required=True)
    entities = with_target(port_actions.add_parser("entities", help="what was projected into Port"))
    entities.add_argument("--blueprint")
    entities.add_argument("--json", action="store_true")
    entities.set_defaults(run=cmd_port_entities)
    for name, text in (("plan", "show how port/ differs from Port"), ("apply", "create and update port/ in Port")):
        resources_cmd = port_actions.add_parser(name, help=text)
        resources_cmd.add_argument("--port-dir", default="port", help="the folder of Port resources as code")
        resources_cmd.add_argument(
            "--service-blueprint",
            default=os.environ.get("SERVICE_BLUEPRINT", "service"),
            help="your catalog's service blueprint identifier",
        )
        resources_cmd.add_argument(
            "--incident-blueprint",
            default=os.environ.get("INCIDENT_BLUEPRINT", "incident"),
            help="the identifier of the bundle's incident blueprint (the stack's IncidentBlueprint parameter)",
        )
        resources_cmd.add_argument(
            "--api-url",
            default=os.environ.get("INCIDENT_LIFECYCLE_API_URL"),
            help="the stack's ApiUrl output, which Port's actions call (default: $INCIDENT_LIFECYCLE_API_URL)",
        )
        resources_cmd.set_defaults(run=cmd_port_resources)

    dlq = commands.add_parser("dlq", help="the alert dead-letter queue")
    dlq_actions = dlq.add_subparsers(dest="action", required=True)
    redrive_cmd = with_target(dlq_actions.add_parser("redrive", help="move parked alerts back to the queue"))
    redrive_cmd.add_argument("--max", type=int, help="move at most this many")
    redrive_cmd.set_defaults(run=cmd_dlq)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except IncidentCoreError as exc:
        return _fail(exc.message, EXIT_USAGE)
