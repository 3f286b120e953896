"""The webhook ingest path: size check, authenticate, normalize, queue. Nothing slow happens here.

Sentry gives a receiver one second, so the work stops at the queue; storage and Port come later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from incident_core.auth.webhooks import WebhookSecrets
from incident_core.errors import PayloadTooLarge
from incident_core.models import Source
from incident_core.models.notification import AlertNotification
from incident_core.normalizers import normalize
from incident_core.queue import AlertQueue
from incident_core.support.time import format_utc


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
    secrets: Callable[[], WebhookSecrets],
    queue: Callable[[], AlertQueue],
    max_body_bytes: int,
    now: datetime,
) -> IngestOutcome:
    """Raise a typed error (401/400/413/503) with nothing queued, or queue every alert of the request."""
    if len(request.body) > max_body_bytes:
        raise PayloadTooLarge(f"the body is {len(request.body)} bytes; the limit is {max_body_bytes}")
    alerts = normalize(source, request.headers, request.body, secrets(), now=now)
    if not alerts:
        return IngestOutcome(queued=())
    received_at = format_utc(now)
    queue().send(
        [
            AlertNotification(alert=alert, notificationId=f"{request.request_id}:{index}", receivedAt=received_at)
            for index, alert in enumerate(alerts)
        ]
    )
    return IngestOutcome(queued=tuple(alert.identifier for alert in alerts))
