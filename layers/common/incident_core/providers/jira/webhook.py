"""Jira's admin webhook (`jira:issue_updated`, `comment_created`), signed with HMAC-SHA256 over the raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from incident_core.errors import AuthenticationError
from incident_core.providers.answers import read_payload
from incident_core.providers.base import ProviderEvent
from incident_core.providers.jira.adf import PORT_MARK, adf_text
from incident_core.providers.jira.models import STATUS_OF_CATEGORY, User, WebhookPayload
from incident_core.providers.marks import carries_mark
from incident_core.support.time import format_utc

SIGNATURE_HEADER = "x-hub-signature"
SOMEONE = "someone in Jira"


@dataclass(frozen=True)
class JiraWebhook:
    """Jira signs no timestamp; a replayed body repeats an event whose run id is derived from its content,
    so it changes nothing twice."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        if not secret:
            raise AuthenticationError("no Jira webhook secret is configured")
        presented = headers.get(SIGNATURE_HEADER, "").strip()
        algorithm, _, digest = presented.partition("=")
        if algorithm.lower() != "sha256" or not digest:
            raise AuthenticationError(f"the Jira webhook lacks a sha256 signature in {SIGNATURE_HEADER}")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), digest.lower().encode()):
            raise AuthenticationError("the signature does not match the body")

    def events(self, payload: Any) -> list[ProviderEvent]:
        body = read_payload(WebhookPayload, payload)
        key = body.issue.key if body.issue else None
        if body.issue is None or not key:
            return []
        at = _epoch_millis(body.timestamp)
        if body.webhookEvent == "comment_created":
            note = adf_text(body.comment.body if body.comment else None).strip()
            if not note or note.startswith(PORT_MARK) or carries_mark(note):
                return []
            author = (body.comment.author if body.comment else None) or body.user
            actor = _person(author) or SOMEONE
            return [ProviderEvent(externalId=key, note=note, actor=actor, at=at, actorId=_id(author))]
        if body.webhookEvent != "jira:issue_updated":
            return []
        changed = {item.field for item in (body.changelog.items if body.changelog else [])}
        fields = body.issue.fields
        status = None
        if "status" in changed and fields.status:
            status = STATUS_OF_CATEGORY.get(str(fields.status.category))
        # Emails are usually hidden: the account id goes along, for the adapter to name the person by email.
        holder = fields.assignee if "assignee" in changed else None
        if status is None and holder is None:
            return []
        changed_event = ProviderEvent(
            externalId=key,
            status=status,
            assignee=_person(holder),
            actor=_person(body.user) or SOMEONE,
            at=at,
            actorId=_id(body.user),
            assigneeIds=(holder.accountId,) if holder and holder.accountId else (),
        )
        return [changed_event]


def _person(user: User | None) -> str | None:
    return user.label if user else None


def _id(user: User | None) -> str | None:
    return user.accountId if user else None


def _epoch_millis(value: int | None) -> str | None:
    return format_utc(datetime.fromtimestamp(value / 1000, UTC)) if value is not None else None


WEBHOOK = JiraWebhook()
