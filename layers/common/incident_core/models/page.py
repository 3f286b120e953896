"""A page: a message that calls people to an incident, and the one protocol every channel implements.

Every page is composed by `Page.about`, whoever sends it (the native provider's escalate step, the timed
escalation, find-expert adding a responder): the same subject line, the same facts in the same order, and
the same way back to Port. Channels (SNS, Slack, Teams) implement `Pager`; which ones a function uses is
decided where it is wired.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from incident_core.models.alert import Severity
from incident_core.models.incident import Incident

SUBJECT_LIMIT = 100
"""SNS refuses a longer subject; the headline comes before the title, so a cut keeps what happened."""


class Page(BaseModel):
    model_config = ConfigDict(frozen=True)

    incidentId: str
    severity: Severity
    subject: str = Field(min_length=1, max_length=SUBJECT_LIMIT)
    message: str
    recipients: tuple[str, ...] = ()
    """Who is called (emails, teams); empty for whoever subscribed to every page."""

    @classmethod
    def about(
        cls,
        incident: Incident,
        *,
        headline: str,
        opening: str,
        link: str | None,
        recipients: Sequence[str] = (),
    ) -> Page:
        """The page for `incident`: `headline` says what happened in the subject, `opening` in a sentence."""
        lines = [
            opening,
            f"Title: {incident.title}",
            f"Severity: {incident.severity.value}, status: {incident.status.value}",
            f"Services: {', '.join(incident.services) or 'none yet'}",
        ]
        if recipients:
            lines.append(f"Paged: {', '.join(recipients)}")
        if link:
            lines.append(f"Open in Port: {link}")
        subject = f"[{incident.severity.value.upper()}] {headline}: {incident.title}"
        return cls(
            incidentId=incident.identifier,
            severity=incident.severity,
            subject=subject[:SUBJECT_LIMIT],
            message="\n".join(lines),
            recipients=tuple(recipients),
        )


class Pager(Protocol):
    """Sends one page (SNS, a chat webhook, or all configured channels at once)."""

    def page(self, page: Page) -> None: ...
