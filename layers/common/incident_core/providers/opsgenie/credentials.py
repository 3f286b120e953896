"""The `opsgenie` secret."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incident_core.models.alert import Severity

VENDOR = "Opsgenie"
OpsgeniePriority = Literal["P1", "P2", "P3", "P4", "P5"]
DEFAULT_PRIORITIES: dict[Severity, OpsgeniePriority] = {
    Severity.CRITICAL: "P1",
    Severity.HIGH: "P2",
    Severity.WARNING: "P3",
    Severity.INFO: "P5",
}
"""Opsgenie's P1 critical, P2 high, P3 moderate, P4 low, P5 informational."""
API_BASE_URLS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
_HTTP_URL = r"^https?://\S+$"


class Credentials(BaseModel):
    """The `opsgenie` secret.

    `apiKey`: an API integration key (required). `region`: `us` (default) or `eu`. `baseUrl`: another API
    host (a proxy, or Jira Service Management Operations), instead of the region's. `appUrl`: the account's
    web address (`https://<account>.app.opsgenie.com`), for links to alerts. `responderTeams`: team names
    every new alert is routed to. `defaultEscalation`: the escalation (name or id) `escalate` runs when the
    request names none. `priorities`: our severity -> Opsgenie priority (P1-P5; missing severities keep the
    defaults).
    """

    model_config = ConfigDict(frozen=True)

    apiKey: str = Field(min_length=1, repr=False)
    region: Literal["us", "eu"] = "us"
    baseUrl: str | None = Field(default=None, pattern=_HTTP_URL)
    appUrl: str | None = Field(default=None, pattern=_HTTP_URL)
    responderTeams: list[str] = Field(default_factory=list)
    defaultEscalation: str | None = None
    priorities: dict[Severity, OpsgeniePriority] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))

    @field_validator("priorities")
    @classmethod
    def _all_priorities(cls, value: dict[Severity, OpsgeniePriority]) -> dict[Severity, OpsgeniePriority]:
        return {**DEFAULT_PRIORITIES, **value}

    @property
    def api_base_url(self) -> str:
        return (self.baseUrl or API_BASE_URLS[self.region]).rstrip("/")
