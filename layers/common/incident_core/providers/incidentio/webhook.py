"""incident.io webhooks, delivered through Svix (Standard Webhooks), and the incident changes they report."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incident_core.auth.keys import usable_secret
from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import read_payload
from incident_core.providers.base import ProviderEvent
from incident_core.providers.incidentio.models import (
    STATUS_OF_CATEGORY,
    IncidentIoIncident,
    StatusUpdatedPayload,
    UpdatedPayload,
    status_of_change,
)

WEBHOOK_TOLERANCE_SECONDS = 300
WEBHOOK_ACTOR = "incident.io"
"""incident.io's incident webhooks do not say who made the change; events name the tool itself."""
WEBHOOK_HEADER_PREFIXES = ("webhook-", "svix-")
"""incident.io documents the Standard Webhooks names; Svix's own names carry the same values."""
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of Svix signing secrets, not a secret
STATUS_UPDATED_EVENT = "public_incident.incident_status_updated_v2"
UPDATED_EVENT = "public_incident.incident_updated_v2"


@dataclass(frozen=True)
class IncidentIoWebhook:
    tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        if not secret:
            raise AuthenticationError("no incident.io webhook secret is configured")
        key = _signing_key(secret)
        message_id, timestamp, presented = (_svix_header(headers, name) for name in ("id", "timestamp", "signature"))
        if not (message_id and timestamp and presented):
            raise AuthenticationError("the request is not signed by incident.io (webhook-id/-timestamp/-signature)")
        try:
            signed_at = int(timestamp)
        except ValueError as exc:
            raise AuthenticationError("the incident.io webhook-timestamp is not a number") from exc
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        # Several space-separated signatures arrive while a secret is being rotated; any v1 match counts.
        candidates = [sig for version, _, sig in (part.partition(",") for part in presented.split()) if version == "v1"]
        if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates):
            raise AuthenticationError("the incident.io signature does not match the body")
        if abs(now.timestamp() - signed_at) > self.tolerance_seconds:
            raise AuthenticationError(
                f"the incident.io webhook-timestamp is outside {self.tolerance_seconds} s (replay refused)"
            )

    def events(self, payload: Any) -> list[ProviderEvent]:
        event_type = payload.get("event_type") if isinstance(payload, Mapping) else None
        if event_type == STATUS_UPDATED_EVENT:
            change = read_payload(StatusUpdatedPayload, payload).event
            previous = change.previous_status.category if change.previous_status else None
            status = status_of_change(previous, change.new_status.category)
            return [_event(change.incident, status, note=change.message or None)]
        if event_type == UPDATED_EVENT:
            incident = read_payload(UpdatedPayload, payload).incident
            if incident.incident_status is None:
                raise MalformedRequest("incident_status", "missing from the incident.io event or not an object")
            # No previous status here: Active alone is no acknowledgement (the status event reports that).
            return [_event(incident, STATUS_OF_CATEGORY.get(str(incident.incident_status.category)), note=None)]
        return []


def _event(incident: IncidentIoIncident, status: IncidentStatus | None, note: str | None) -> ProviderEvent:
    if not incident.id:
        raise MalformedRequest("incident.id", "missing from the incident.io event")
    return ProviderEvent(
        externalId=incident.id,
        status=status,
        assignee=incident.lead,
        note=note,
        actor=WEBHOOK_ACTOR,
        at=incident.updated_at,
    )


def _svix_header(headers: Mapping[str, str], name: str) -> str:
    for prefix in WEBHOOK_HEADER_PREFIXES:
        value = headers.get(prefix + name, "").strip()
        if value:
            return value
    return ""


def _signing_key(secret: str) -> bytes:
    encoded = usable_secret(secret, "incident.io webhook", prefix=SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError("the incident.io webhook secret is not a whsec_ signing secret") from exc


WEBHOOK = IncidentIoWebhook()
