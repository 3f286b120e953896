"""PagerDuty v3 webhooks: `X-PagerDuty-Signature` over the raw body, and the incident changes they report."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from incident_core.bounds import parse_json
from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel
from incident_core.providers.base import ProviderEvent
from incident_core.providers.marks import carries_mark
from incident_core.providers.pagerduty.credentials import VENDOR
from incident_core.providers.pagerduty.models import (
    ASSIGNMENT_WEBHOOK_EVENTS,
    NOTE_WEBHOOK_EVENT,
    STATUS_OF_PAGERDUTY,
    STATUS_OF_WEBHOOK_EVENT,
    WebhookPayload,
)

SIGNATURE_HEADER = "x-pagerduty-signature"
SIGNATURE_VERSION = "v1="
REPLAY_WINDOW = timedelta(hours=1)
"""PagerDuty retries a delivery for about 20 minutes; an older signed event is a replay."""
CLOCK_SKEW = timedelta(minutes=5)


def webhook_signature(secret: str, body: bytes) -> str:
    return SIGNATURE_VERSION + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _SignedTime(VendorModel):
    occurred_at: str


class _SignedEvent(VendorModel):
    event: _SignedTime


def _occurred_at(body: bytes) -> datetime | None:
    try:
        occurred = _SignedEvent.model_validate(parse_json(body)).event.occurred_at
        moment = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
    except (MalformedRequest, ValidationError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # PagerDuty's times are UTC


class PagerDutyWebhook:
    """Verifies `X-PagerDuty-Signature` and reads incident changes from v3 webhook events."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        if not secret:
            raise AuthenticationError("no PagerDuty webhook secret is configured")
        presented = [part.strip() for part in headers.get(SIGNATURE_HEADER, "").split(",")]
        candidates = [part.lower() for part in presented if part.startswith(SIGNATURE_VERSION)]
        if not candidates:
            raise AuthenticationError("the request carries no PagerDuty v1 signature")
        expected = webhook_signature(secret, body).encode()
        # Any one match counts: during a secret rotation PagerDuty signs with the old and the new secret.
        if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates):
            raise AuthenticationError("the PagerDuty signature does not match the body")
        occurred = _occurred_at(body)
        if occurred is not None and not now - REPLAY_WINDOW <= occurred <= now + CLOCK_SKEW:
            raise AuthenticationError(
                f"the PagerDuty event occurred at {occurred.isoformat()}, "
                f"outside {REPLAY_WINDOW} of now (replay refused)"
            )

    def events(self, payload: Any) -> list[ProviderEvent]:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("event"), Mapping):
            raise MalformedRequest("event", "a PagerDuty v3 webhook carries one event object")
        try:
            event = WebhookPayload.model_validate(payload).event
        except ValidationError as exc:
            raise MalformedRequest("event", f"not a PagerDuty v3 event: {exc.errors()[0]['msg']}") from exc
        event_type = event.event_type
        tracked = event_type in STATUS_OF_WEBHOOK_EVENT or event_type in ASSIGNMENT_WEBHOOK_EVENTS
        if not tracked and event_type != NOTE_WEBHOOK_EVENT:
            return []
        data = event.data
        if data is None:
            raise MalformedRequest("event.data", f"a PagerDuty {event_type} event carries its data object")
        # No agent means PagerDuty itself acted (an auto-resolve timeout, an escalation rule).
        actor = (event.agent.label if event.agent else None) or VENDOR
        actor_id = event.agent.id if event.agent else None
        if event_type == NOTE_WEBHOOK_EVENT:
            if data.incident is None or data.content is None:
                raise MalformedRequest("event.data", "an incident.annotated event names its incident and note")
            if carries_mark(data.content):  # a note this bundle wrote, coming back
                return []
            note = ProviderEvent(
                externalId=data.incident.id, note=data.content, actor=actor, at=event.occurred_at, actorId=actor_id
            )
            return [note]
        if data.id is None:
            raise MalformedRequest("event.data.id", f"a PagerDuty {event_type} event names its incident")
        status: IncidentStatus | None = STATUS_OF_WEBHOOK_EVENT.get(event_type) or STATUS_OF_PAGERDUTY.get(
            str(data.status)
        )
        assignee: str | None = None
        holders: tuple[str, ...] = ()
        if event_type in ASSIGNMENT_WEBHOOK_EVENTS:
            assignee = ", ".join(label for person in data.assignees if (label := person.label)) or None
            holders = tuple(person.id for person in data.assignees if person.id)
        changed = ProviderEvent(
            externalId=data.id,
            status=status,
            assignee=assignee,
            actor=actor,
            at=event.occurred_at,
            actorId=actor_id,
            assigneeIds=holders,
        )
        return [changed]


WEBHOOK = PagerDutyWebhook()
