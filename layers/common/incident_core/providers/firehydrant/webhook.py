"""FireHydrant's incident webhooks (Settings -> Webhooks, subscription "Incidents"), signed over the raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from incident_core.errors import AuthenticationError
from incident_core.providers.answers import read_payload
from incident_core.providers.base import ProviderEvent
from incident_core.providers.firehydrant.credentials import VENDOR
from incident_core.providers.firehydrant.models import FireHydrantIncident, WebhookPayload

SIGNATURE_HEADER = "fh-signature"


class FireHydrantWebhook:
    """`fh-signature` = hex HMAC-SHA256(secret, body); no timestamp is signed, so there is no replay window
    (a replayed change is applied once: its run id is stable)."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        if not secret:
            raise AuthenticationError("no FireHydrant webhook secret is configured (webhookSecret); refused")
        signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
        if not signature:
            raise AuthenticationError(f"the request carries no {SIGNATURE_HEADER} header")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise AuthenticationError(f"the {SIGNATURE_HEADER} signature does not match the body")

    def events(self, payload: Any) -> list[ProviderEvent]:
        if not isinstance(payload, Mapping):
            return []
        body = read_payload(WebhookPayload, payload)
        if body.event is None or (body.event.resource_type or "").lower() != "incident":
            return []
        incident = body.data.incident if body.data else None
        if incident is None or not incident.id:
            return []
        commander = incident.commander(None)
        assignee = commander.person if commander else None
        if incident.status is None and assignee is None:
            return []
        return [
            ProviderEvent(
                externalId=incident.id,
                status=incident.status,
                assignee=assignee,
                actor=_milestone_actor(incident),
                at=incident.updated_at_utc(),
            )
        ]


def _milestone_actor(incident: FireHydrantIncident) -> str:
    """Who set the current milestone: their email when they hold a role, else their FireHydrant user id."""
    setter = next(
        (m.updated_by_id for m in incident.milestones if m.type == incident.current_milestone and m.updated_by_id),
        None,
    )
    if setter is None:
        return VENDOR
    for assignment in incident.role_assignments:
        if assignment.user and assignment.user.id == setter and assignment.user.person:
            return assignment.user.person
    return f"FireHydrant user {setter}"


WEBHOOK = FireHydrantWebhook()
