"""Lambda entry points, built from the use cases; each `functions/<concern>/app.py` exports one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from incident_core import aws
from incident_core.config import Settings, get_settings
from incident_core.errors import IncidentCoreError
from incident_core.http import error_response, json_response, lower_case_headers, raw_body
from incident_core.models import Source
from incident_core.normalizers.common import format_utc
from incident_core.port.client import PortClient
from incident_core.queue import AlertQueue
from incident_core.secrets import load_port_credentials, load_webhook_secrets
from incident_core.store.alerts import AlertStore
from incident_core.store.projections import ProjectionStore
from incident_core.usecases.ingest import WebhookRequest, ingest_webhook
from incident_core.usecases.process import AlertProcessor, QueuedMessage
from incident_core.usecases.projection import Projector

logger = Logger()
METRICS_NAMESPACE = "IncidentLifecycle"
metrics = Metrics(namespace=METRICS_NAMESPACE)

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def make_ingest_handler(source: Source) -> Handler:
    """POST /webhooks/<source>: 202 once queued, 200 when the request carries no alert."""

    def count(name: str, value: int = 1) -> None:
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=METRICS_NAMESPACE) as metric:
            metric.add_dimension(name="source", value=source.value)

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        settings = get_settings()
        request = WebhookRequest(
            headers=lower_case_headers(event),
            body=raw_body(event),
            request_id=str((event.get("requestContext") or {}).get("requestId") or context.aws_request_id),
        )
        try:
            outcome = ingest_webhook(
                source,
                request,
                secrets=lambda: load_webhook_secrets(settings),
                queue=lambda: AlertQueue(aws.sqs(), settings.required("alert_queue_url")),
                max_body_bytes=settings.max_body_bytes,
                now=datetime.now(UTC),
            )
        except IncidentCoreError as error:
            count("RefusedRequests")
            logger.info("webhook refused", extra={"status": error.http_status, "reason": error.message})
            return error_response(error)
        if not outcome.queued:
            count("DroppedRequests")
            return json_response(200, "the request carries no alert; dropped")
        count("QueuedAlerts", len(outcome.queued))
        logger.info("alerts queued", extra={"count": len(outcome.queued)})
        return json_response(202, f"queued {len(outcome.queued)} alert(s)", alerts=list(outcome.queued))

    return handler


@lru_cache(maxsize=4)
def _port_client(base_url: str, client_id: str, client_secret: str) -> PortClient:
    # Cached across invocations so the access token is reused until it expires.
    return PortClient(base_url, client_id, client_secret)


def build_projector(settings: Settings) -> Projector:
    credentials = load_port_credentials(settings)
    sink = (
        _port_client(settings.port_api_url, credentials.clientId, credentials.clientSecret)
        if credentials.complete
        else None
    )
    table = aws.dynamodb().Table(settings.required("port_entities_table"))
    return Projector(ProjectionStore(aws.dynamodb(), table), sink, lambda: format_utc(datetime.now(UTC)))


def build_alert_processor(settings: Settings) -> AlertProcessor:
    return AlertProcessor(
        alerts=AlertStore(aws.dynamodb().Table(settings.required("alerts_table"))),
        projector=lambda: build_projector(settings),
        settings=settings,
    )


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
    metrics.add_metric(name="FailedMessages", unit=MetricUnit.Count, value=len(outcome.failed_message_ids))
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in outcome.failed_message_ids]}
