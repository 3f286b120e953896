"""The webhook ingest path: size check, authenticate, normalize, queue. Nothing slow happens here.

Sentry gives a receiver one second and API Gateway 29 s, so the work stops at the queue (storage and Port
come later), and a large notification is queued in parallel batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incident_core.auth.webhooks import WebhookSecrets
from incident_core.bounds import SQS_MESSAGE_LIMIT_BYTES, check_body_size, queued_size
from incident_core.models import Source
from incident_core.models.notification import AlertNotification
from incident_core.normalizers import normalize
from incident_core.queue import SEND_BATCH_LIMIT, AlertQueue
from incident_core.support.time import format_utc

SEND_THREADS = 8
"""Batches sent at once: 1,000 alerts are 100 batches, about a second against SQS."""


@dataclass(frozen=True)
class WebhookRequest:
    headers: Mapping[str, str]
    body: bytes
    request_id: str


@dataclass(frozen=True)
class IngestOutcome:
    queued: tuple[str, ...]
    """Port identifiers of the queued alerts; empty when the request carried no alert."""


def ingest_webhook(
    source: Source,
    request: WebhookRequest,
    *,
    secrets: Callable[[], WebhookSecrets | Mapping[str, Any]],
    queue: Callable[[], AlertQueue],
    max_body_bytes: int,
    now: datetime,
) -> IngestOutcome:
    """Raise a typed error (401/400/413/503) with nothing queued, or queue every alert of the request."""
    check_body_size(request.body, max_body_bytes)
    alerts = normalize(source, request.headers, request.body, secrets(), now=now)
    if not alerts:
        return IngestOutcome(queued=())
    received_at = format_utc(now)
    notifications = [
        AlertNotification(alert=alert, notificationId=f"{request.request_id}:{index}", receivedAt=received_at)
        for index, alert in enumerate(alerts)
    ]
    batches = list(_batches(notifications))
    alert_queue = queue()
    if len(batches) == 1:
        alert_queue.send(batches[0])
    else:
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(batches))) as pool:
            for sent in [pool.submit(alert_queue.send, batch) for batch in batches]:
                sent.result()  # the first failure is raised: the sender retries, deduplication ids hold
    return IngestOutcome(queued=tuple(alert.identifier for alert in alerts))


def _batches(notifications: Sequence[AlertNotification]) -> Iterator[list[AlertNotification]]:
    """SendMessageBatch groups: at most SEND_BATCH_LIMIT messages and SQS's size limit in total, each
    message measured as SQS counts it (after JSON escaping). One message always fits: the normalizers
    bound every field of an alert (tests/unit/test_bounds.py works out the largest)."""
    batch: list[AlertNotification] = []
    total = 0
    for notification in notifications:
        size = queued_size(notification.model_dump_json())
        if batch and (len(batch) == SEND_BATCH_LIMIT or total + size > SQS_MESSAGE_LIMIT_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(notification)
        total += size
    if batch:
        yield batch
