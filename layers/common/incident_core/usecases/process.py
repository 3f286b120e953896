"""The alert processor: store each queued notification, then project what changed into Port.

Within a batch, a failure fails the later messages of the same FIFO group too, so one alert's
notifications are never applied out of order; other groups go on. Port being down fails the messages
whose alerts could not be projected: SQS retries them, then parks them in the DLQ for `dlq redrive`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict

from incident_core.config import Settings
from incident_core.errors import IncidentCoreError
from incident_core.models.alert_record import AlertRecord, apply_notification
from incident_core.models.incident import Incident
from incident_core.models.notification import AlertNotification
from incident_core.store.alerts import AlertStore
from incident_core.usecases.correlation import correlate_alert
from incident_core.usecases.incident_toolkit import LifecycleContext
from incident_core.usecases.projection import Projector
from incident_core.usecases.services import service_of

logger = Logger(child=True)


class QueuedMessage(BaseModel):
    """The parts of an SQS record the processor needs."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    group_id: str
    body: str


@dataclass
class BatchOutcome:
    failed_message_ids: list[str] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    projected: int = 0


@dataclass
class AlertProcessor:
    alerts: AlertStore
    projector: Callable[[], Projector]
    lifecycle: Callable[[], LifecycleContext]
    settings: Settings

    def process(self, messages: Sequence[QueuedMessage]) -> BatchOutcome:
        outcome = BatchOutcome()
        failed_groups: set[str] = set()
        records: dict[str, tuple[AlertRecord, list[str]]] = {}
        incidents: dict[str, Incident] = {}
        for message in messages:
            if message.group_id in failed_groups:
                outcome.failed_message_ids.append(message.message_id)
                continue
            try:
                record, written = self._store(message)
                correlated = correlate_alert(self.lifecycle(), record)
                if correlated is not None:
                    incidents[correlated.incident.identifier] = correlated.incident
                    record = next((a for a in correlated.changed_alerts if a.dedup_key == record.dedup_key), record)
            except Exception:  # one bad message must not sink the batch: it is retried, then parked
                logger.exception("alert not stored; it will be retried", extra={"messageId": message.message_id})
                failed_groups.add(message.group_id)
                outcome.failed_message_ids.append(message.message_id)
                continue
            outcome.stored += written
            outcome.duplicates += not written
            previous_ids = records.get(record.dedup_key, (record, []))[1]
            records[record.dedup_key] = (record, [*previous_ids, message.message_id])

        if records:
            try:
                # An alert may point at an incident that an earlier, failed attempt never projected.
                for record, _ in records.values():
                    if record.incidentId and record.incidentId not in incidents:
                        linked = self.lifecycle().incidents.get(record.incidentId)
                        if linked is not None:
                            incidents[linked.identifier] = linked
                projector = self.projector()
                # Incidents first: an alert's relation to its incident needs the incident in Port.
                outcome.projected = projector.project_incidents(list(incidents.values()))
                outcome.projected += projector.project_alerts([r for r, _ in records.values()])
            except IncidentCoreError as exc:
                logger.warning("projection to Port failed; the batch will be retried", extra={"reason": exc.message})
                outcome.failed_message_ids.extend(mid for _, ids in records.values() for mid in ids)
            except Exception:
                logger.exception("projection failed; the batch will be retried")
                outcome.failed_message_ids.extend(mid for _, ids in records.values() for mid in ids)
        return outcome

    def _store(self, message: QueuedMessage) -> tuple[AlertRecord, bool]:
        notification = AlertNotification.model_validate_json(message.body)
        service = service_of(notification.alert, self.settings.service_mapping[notification.alert.source])
        record, written = self.alerts.change(
            notification.alert.dedup_key,
            lambda current: apply_notification(
                current,
                notification,
                service=service,
                flap_threshold=self.settings.flap_threshold,
                flap_window_seconds=self.settings.flap_window_seconds,
            ),
        )
        assert record is not None  # a first notification always creates the record
        return record, written
