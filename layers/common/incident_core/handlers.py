"""Lambda entry points, built from the use cases; each `functions/<concern>/app.py` exports one.

The webhook ingest entry point lives apart (`incident_core.ingest`), so the hot path imports only what
it needs: a smaller cold start where Sentry allows one second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from incident_core import aws
from incident_core.adapters.stepfunctions import StepFunctionsEscalations
from incident_core.config import Settings, get_settings
from incident_core.errors import ConfigurationError, IncidentCoreError, state_machine_task
from incident_core.http import error_response, json_response, lower_case_headers, raw_body
from incident_core.models.action import ActionRun
from incident_core.models.incident import LifecycleStep, ProviderName
from incident_core.models.page import Pager
from incident_core.notifications import Pagers, SnsPager, chat_pagers
from incident_core.observability import METRICS_NAMESPACE, record_metric
from incident_core.port.client import PortClient
from incident_core.port.links import entity_url
from incident_core.providers.lookups import Lookups
from incident_core.providers.registry import ProviderContext, provider_for
from incident_core.queue import DeadLetterQueue
from incident_core.secrets import (
    load_port_credentials,
    load_provider_credentials,
    load_secret,
)
from incident_core.store.alerts import AlertStore
from incident_core.store.incidents import IncidentStore
from incident_core.store.outbox import OutboxStore
from incident_core.store.projections import ProjectionStore
from incident_core.support.time import format_utc
from incident_core.usecases.actions import (
    ActionQueue,
    ActionRunner,
    LedgerOnlyReporter,
    PortRunReporter,
    RunReporter,
    accept_action,
)
from incident_core.usecases.catalog import EntityDirectory, LocalDirectory, PortDirectory
from incident_core.usecases.escalation import (
    EscalationControl,
    EscalationTasks,
    reconcile_escalations,
)
from incident_core.usecases.incident_toolkit import LifecycleContext, StepOutcome
from incident_core.usecases.process import AlertProcessor, QueuedMessage
from incident_core.usecases.projection import Projector
from incident_core.usecases.provider_sync import receive_provider_webhook, reconcile

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

logger = Logger()
VENDOR_LOOKUPS = Lookups()
"""People, teams and vocabularies found at a vendor, kept for the container's life (across steps)."""
metrics = Metrics(namespace=METRICS_NAMESPACE)

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


@lru_cache(maxsize=4)
def _port_client(base_url: str, client_id: str, client_secret: str) -> PortClient:
    # Cached across invocations so the access token is reused until it expires.
    return PortClient(base_url, client_id, client_secret)


def port_client(settings: Settings) -> PortClient | None:
    """The Port client when credentials are configured; None means entities are kept locally."""
    credentials = load_port_credentials(settings)
    if not credentials.complete:
        return None
    return _port_client(settings.port_api_url, credentials.clientId, credentials.clientSecret)


def _table(settings: Settings, name: str) -> Table:
    return aws.dynamodb().Table(settings.required(name))


def _projection_store(settings: Settings) -> ProjectionStore:
    return ProjectionStore(aws.dynamodb(), _table(settings, "port_entities_table"))


def utc_now() -> datetime:
    """The time the projection acts at (the outbox's backoff): one seam, so tests can run it on a simulated clock."""
    return datetime.now(UTC)


def build_projector(settings: Settings) -> Projector:
    return Projector(
        _projection_store(settings),
        port_client(settings),
        lambda: format_utc(utc_now()),
        outbox=OutboxStore(aws.dynamodb(), _table(settings, "port_outbox_table")),
        incident_blueprint=settings.incident_blueprint,
        service_blueprint=settings.service_blueprint,
    )


def incident_link(settings: Settings, identifier: str) -> str:
    return entity_url(settings.port_api_url, settings.incident_blueprint, identifier)


def build_lifecycle(settings: Settings) -> LifecycleContext:
    pager = lambda: SnsPager(aws.sns(), settings.required("escalation_topic_arn"))  # noqa: E731
    link = partial(incident_link, settings)
    providers = ProviderContext(
        pager=pager,
        link=link,
        credentials=lambda name: load_provider_credentials(settings, name),
        secret_name=lambda name: f"the secret {settings.provider_secret(name)}",
        lookups=VENDOR_LOOKUPS,
    )
    escalations: Callable[[], EscalationControl] | None = None
    if settings.escalation_state_machine_arn:
        arn = settings.escalation_state_machine_arn
        escalations = lambda: StepFunctionsEscalations(aws.stepfunctions(), arn)  # noqa: E731
    return LifecycleContext(
        incidents=IncidentStore(_table(settings, "incidents_table")),
        alerts=AlertStore(_table(settings, "alerts_table")),
        provider=lambda name: provider_for(name, providers),
        directory=lambda: _directory(settings),
        pager=pager,
        link=link,
        settings=settings,
        pause=time.sleep,
        escalations=escalations,
    )


def _directory(settings: Settings) -> EntityDirectory:
    client = port_client(settings)
    return LocalDirectory(_projection_store(settings)) if client is None else PortDirectory(client)


def build_alert_processor(settings: Settings) -> AlertProcessor:
    return AlertProcessor(
        alerts=AlertStore(_table(settings, "alerts_table")),
        projector=lambda: build_projector(settings),
        lifecycle=lambda: build_lifecycle(settings),
        settings=settings,
        dead_letters=lambda: DeadLetterQueue(aws.sqs(), settings.required("alert_dlq_url")),
    )


def build_reporter(settings: Settings) -> RunReporter:
    ledger = IncidentStore(_table(settings, "incidents_table"))
    client = port_client(settings)
    return LedgerOnlyReporter(ledger) if client is None else PortRunReporter(ledger, client)


def make_action_handler(step: LifecycleStep) -> Handler:
    """POST /actions/<step>: verify Port's signature, validate, queue; 202 once queued."""

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        settings = get_settings()
        try:
            accepted = accept_action(
                step,
                lower_case_headers(event),
                raw_body(event),
                client_secret=load_port_credentials(settings).clientSecret,
                now=datetime.now(UTC),
                ledger=lambda: IncidentStore(_table(settings, "incidents_table")),
                queue=lambda: ActionQueue(aws.sqs(), settings.required("action_queue_url")),
                reporter=lambda: build_reporter(settings),
                max_body_bytes=settings.max_body_bytes,
            )
        except IncidentCoreError as error:
            logger.info(
                "action refused", extra={"step": step.value, "status": error.http_status, "reason": error.message}
            )
            return error_response(error)
        logger.info("action accepted", extra={"step": step.value, "runId": accepted.run_id})
        return json_response(accepted.status_code, accepted.message, runId=accepted.run_id)

    return handler


def _record_lifecycle_metrics(outcome: StepOutcome, step: LifecycleStep) -> None:
    """MTTA when acknowledged, MTTR when resolved, per service and severity."""
    incident = outcome.incident
    measured = {
        LifecycleStep.ACKNOWLEDGE: ("MTTA", incident.mtta_seconds),
        LifecycleStep.RESOLVE: ("MTTR", incident.mttr_seconds),
    }
    name, seconds = measured.get(step, ("", None))
    if seconds is None:
        return
    for service in incident.services or ("none",):
        record_metric(name, seconds, MetricUnit.Seconds, service=service, severity=incident.severity.value)


@logger.inject_lambda_context(clear_state=True)
def action_worker_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch of queued action runs; a failed run fails the later runs of its incident too (order)."""
    settings = get_settings()
    ledger = IncidentStore(_table(settings, "incidents_table"))
    runner = ActionRunner(
        ledger=ledger,
        lifecycle=lambda: build_lifecycle(settings),
        projector=lambda: build_projector(settings),
        reporter=lambda: build_reporter(settings),
        link=lambda incident: incident_link(settings, incident.identifier),
        max_attempts=settings.action_max_attempts,
        outbox=OutboxStore(aws.dynamodb(), _table(settings, "port_outbox_table")),
        record_metrics=_record_lifecycle_metrics,
    )
    failed: list[str] = []
    failed_groups: set[str] = set()
    for record in event.get("Records", []):
        group = str(record.get("attributes", {}).get("MessageGroupId", record["messageId"]))
        if group in failed_groups:
            failed.append(record["messageId"])
            continue
        try:
            run = ActionRun.model_validate_json(record["body"])
            runner.execute(run, attempt=int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)))
        except Exception:  # the queue retries it; the last attempt reports FAILURE from inside `execute`
            logger.exception("action run failed; it will be retried", extra={"messageId": record["messageId"]})
            failed_groups.add(group)
            failed.append(record["messageId"])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def alert_processor_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch: store, correlate and project; failed messages are reported for retry."""
    messages = [
        QueuedMessage(
            message_id=record["messageId"],
            group_id=str(record.get("attributes", {}).get("MessageGroupId", record["messageId"])),
            body=record["body"],
        )
        for record in event.get("Records", [])
    ]
    outcome = build_alert_processor(get_settings()).process(messages)
    metrics.add_metric(name="StoredNotifications", unit=MetricUnit.Count, value=outcome.stored)
    metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=outcome.duplicates)
    metrics.add_metric(name="PortWrites", unit=MetricUnit.Count, value=outcome.projected)
    metrics.add_metric(name="PortEntitiesDeferred", unit=MetricUnit.Count, value=outcome.port_deferred)
    metrics.add_metric(name="PortEntitiesRefused", unit=MetricUnit.Count, value=outcome.port_refused)
    metrics.add_metric(name="DeadLetteredMessages", unit=MetricUnit.Count, value=outcome.dead_lettered)
    metrics.add_metric(name="FailedMessages", unit=MetricUnit.Count, value=len(outcome.failed_message_ids))
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in outcome.failed_message_ids]}


def make_provider_webhook_handler(provider: ProviderName) -> Handler:
    """POST /providers/<name>/webhook: a change made in the vendor's app, signed by the vendor."""

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        settings = get_settings()
        try:
            changed = receive_provider_webhook(
                provider,
                lower_case_headers(event),
                raw_body(event),
                secret=lambda: _webhook_secret(settings, provider),
                lifecycle=lambda: build_lifecycle(settings),
                now=datetime.now(UTC),
                max_body_bytes=settings.max_body_bytes,
            )
            build_projector(settings).project_incidents(changed)
        except IncidentCoreError as error:
            logger.info("provider webhook refused", extra={"provider": provider.value, "reason": error.message})
            return error_response(error)
        return json_response(200, f"applied {len(changed)} incident change(s)")

    return handler


def _webhook_secret(settings: Settings, provider: ProviderName) -> str:
    try:
        return str(load_provider_credentials(settings, provider).get("webhookSecret") or "")
    except ConfigurationError:
        return ""  # not set up: every webhook is refused (fail closed)


@logger.inject_lambda_context(clear_state=True)
def reconcile_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge schedule, the backstop for lost messages: open SaaS incidents follow their provider, and
    running escalations follow their incidents."""
    settings = get_settings()
    lifecycle = build_lifecycle(settings)
    incidents = list(lifecycle.incidents.scan())
    changed = reconcile(lifecycle, [i for i in incidents if i.is_open])
    build_projector(settings).project_incidents(changed)
    escalations: dict[str, list[str]] = {}
    if lifecycle.escalations is not None:
        # Resolved incidents too: an escalation still running for one is stopped.
        with_policy = [i for i in incidents if i.escalationPolicy]
        escalations = reconcile_escalations(lifecycle.escalations(), with_policy)
    logger.info("reconciled", extra={"changed": len(changed), **escalations})
    return {"changed": [incident.identifier for incident in changed], **escalations}


def _pager(settings: Settings) -> Pagers:
    channels: list[Pager] = [SnsPager(aws.sns(), settings.required("escalation_topic_arn"))]
    if settings.notification_channels_secret:
        channels += chat_pagers(load_secret(settings, settings.notification_channels_secret))
    return Pagers(channels)


def _escalation_tasks(settings: Settings) -> EscalationTasks:
    return EscalationTasks(
        incidents=IncidentStore(_table(settings, "incidents_table")),
        directory=lambda: _directory(settings),
        pager=lambda: _pager(settings),
        link=lambda identifier: incident_link(settings, identifier),
        clock=lambda: datetime.now(UTC),
    )


@logger.inject_lambda_context(clear_state=True)
@state_machine_task
def escalation_notify_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """State machine task: page the current level unless the incident was acknowledged or resolved."""
    settings = get_settings()
    state = _escalation_tasks(settings).notify(event)
    build_projector(settings).project_incidents(
        [i for i in [IncidentStore(_table(settings, "incidents_table")).get(state["incidentId"])] if i]
    )
    return state


@logger.inject_lambda_context(clear_state=True)
@state_machine_task
def escalation_check_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """State machine task after the wait: stop, or move to the next level, round or the fallback."""
    return _escalation_tasks(get_settings()).check(event)
