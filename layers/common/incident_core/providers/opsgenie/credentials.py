"""The `opsgenie` secret."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VENDOR = "Opsgenie"
API_BASE_URLS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
_HTTP_URL = r"^https?://\S+$"


class Credentials(BaseModel):
    """The `opsgenie` secret.

    `apiKey`: an API integration key (required). `region`: `us` (default) or `eu`. `baseUrl`: another API
    host (a proxy, or Jira Service Management Operations), instead of the region's. `appUrl`: the account's
    web address (`https://<account>.app.opsgenie.com`), for links to alerts. `responderTeams`: team names
    every new alert is routed to. `defaultEscalation`: the escalation (name or id) `escalate` runs when the
    request names none.
    """

    model_config = ConfigDict(frozen=True)

    apiKey: str = Field(min_length=1, repr=False)
    region: Literal["us", "eu"] = "us"
    baseUrl: str | None = Field(default=None, pattern=_HTTP_URL)
    appUrl: str | None = Field(default=None, pattern=_HTTP_URL)
    responderTeams: list[str] = Field(default_factory=list)
    defaultEscalation: str | None = None

    @property
    def api_base_url(self) -> str:
        return (self.baseUrl or API_BASE_URLS[self.region]).rstrip("/")
