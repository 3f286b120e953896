"""Lambda entry points of the housekeeping schedules (EventBridge Scheduler): stale alerts, heartbeats, and
the Port outbox.

They sit beside `handlers.py` and reuse its wiring; the logic is in `usecases/housekeeping.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from incident_core import aws
from incident_core.config import Settings, get_settings
from incident_core.handlers import build_projector, build_reporter, logger, metrics
from incident_core.models.outbox import OutboxState
from incident_core.queue import AlertQueue
from incident_core.store.alerts import AlertStore
from incident_core.store.incidents import IncidentStore
from incident_core.usecases.actions import RunAnswers
from incident_core.usecases.housekeeping import check_heartbeats, expire_stale_alerts


def _alerts(settings: Settings) -> AlertStore:
    return AlertStore(aws.dynamodb().Table(settings.required("alerts_table")))


def scheduled_time(event: dict[str, Any]) -> datetime | None:
    """The schedule's time from the event (template: `Input` carries `<aws.scheduler.scheduled-time>`).

    It is the same on every retry of one run; None when the function is invoked by hand without it.
    """
    value = event.get("scheduledTime")
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC) if value else None
    except ValueError:
        return None


@logger.inject_lambda_context(clear_state=True)
def expire_alerts_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Every 15 minutes: resolve alerts without a notification for ALERT_STALE_AFTER_MINUTES, as stale."""
    settings = get_settings()
    outcome = expire_stale_alerts(
        _alerts(settings),
        lambda: build_projector(settings),
        stale_after=timedelta(minutes=settings.alert_stale_after_minutes),
        now=datetime.now(UTC),
    )
    expired = [record.identifier for record in outcome.expired]
    logger.info("resolved stale alerts", extra={"expired": expired, "projected": outcome.projected})
    return {"expired": expired, "projected": outcome.projected}


@logger.inject_lambda_context(clear_state=True)
def heartbeats_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Every minute: raise the alert of each missing heartbeat (HEARTBEATS), resolve it once seen again."""
    settings = get_settings()
    outcome = check_heartbeats(
        _alerts(settings),
        AlertQueue(aws.sqs(), settings.required("alert_queue_url")),
        settings.heartbeats,
        service_mapping=settings.service_mapping,
        now=datetime.now(UTC),
        run_at=scheduled_time(event),
    )
    if outcome.missing or outcome.recovered:
        logger.info("heartbeats", extra={"missing": outcome.missing, "recovered": outcome.recovered})
    return {"missing": outcome.missing, "recovered": outcome.recovered}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def port_outbox_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Every minute: send Port what it could not take before (pending entities, then run answers), with backoff.

    A drain that overlaps the next one sends the same versions twice, which Port's merge upsert absorbs.
    """
    settings = get_settings()
    projector = build_projector(settings)
    drained = projector.drain()
    ledger = IncidentStore(aws.dynamodb().Table(settings.required("incidents_table")))
    answers = RunAnswers(ledger, lambda: build_reporter(settings), projector.outbox, projector.clock)
    reported = answers.drain()
    waiting = projector.outbox.count()
    metrics.add_metric(name="PortOutboxWritten", unit=MetricUnit.Count, value=drained.written)
    metrics.add_metric(name="PortRunsReported", unit=MetricUnit.Count, value=reported)
    metrics.add_metric(name="PortEntitiesDeferred", unit=MetricUnit.Count, value=drained.deferred)
    metrics.add_metric(name="PortEntitiesRefused", unit=MetricUnit.Count, value=drained.refused)
    metrics.add_metric(name="PortOutboxPending", unit=MetricUnit.Count, value=waiting[OutboxState.PENDING])
    metrics.add_metric(name="PortOutboxParked", unit=MetricUnit.Count, value=waiting[OutboxState.PARKED])
    summary = {
        "written": drained.written,
        "deferred": drained.deferred,
        "refused": drained.refused,
        "runsReported": reported,
    }
    logger.info("drained the Port outbox", extra={**summary, "pending": waiting[OutboxState.PENDING]})
    return {**summary, "pending": waiting[OutboxState.PENDING], "parked": waiting[OutboxState.PARKED]}
