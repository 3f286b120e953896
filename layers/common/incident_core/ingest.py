"""The webhook ingest entry point: POST /webhooks/<source>. Only what the hot path needs is imported here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from incident_core import aws
from incident_core.config import get_settings
from incident_core.errors import IncidentCoreError
from incident_core.http import error_response, json_response, lower_case_headers, raw_body
from incident_core.models import Source
from incident_core.observability import record_metric
from incident_core.queue import AlertQueue
from incident_core.secrets import load_webhook_secrets
from incident_core.usecases.ingest import WebhookRequest, ingest_webhook

logger = Logger()

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def make_ingest_handler(source: Source) -> Handler:
    """POST /webhooks/<source>: 202 once queued, 200 when the request carries no alert."""

    def count(name: str, value: int = 1) -> None:
        record_metric(name, value, source=source.value)

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
