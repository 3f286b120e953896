"""The `pagerduty` secret, and the headers every REST request carries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incident_core.models.alert import Severity
from incident_core.providers.context import is_email

VENDOR = "PagerDuty"
REST_BASE_URLS = {"us": "https://api.pagerduty.com", "eu": "https://api.eu.pagerduty.com"}
ACCEPT_V2 = "application/vnd.pagerduty+json;version=2"


class Credentials(BaseModel):
    """The `pagerduty` secret.

    - `apiKey`: a REST API key with write access (account key, or a user key acting as that user);
    - `fromEmail`: a PagerDuty user's email, the `From` of writes whose actor is no email (automation);
    - `serviceId`: the PagerDuty service incidents are opened on;
    - `region`: `us` (default) or `eu`; `baseUrl` overrides it (a proxy, or a test double);
    - `priorityIds`: optional, our severity -> the account's priority id (priorities are per account);
    - `webhookSecret`: the v3 webhook subscription's signing secret (inbound changes are refused without it).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    apiKey: str = Field(min_length=1)
    fromEmail: str
    serviceId: str = Field(min_length=1)
    region: Literal["us", "eu"] = "us"
    baseUrl: str | None = None
    priorityIds: dict[Severity, str] = Field(default_factory=dict)
    webhookSecret: str | None = None

    @field_validator("fromEmail")
    @classmethod
    def _an_email(cls, value: str) -> str:
        if not is_email(value):
            raise ValueError("must be the email of a PagerDuty user")
        return value

    @field_validator("baseUrl")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @property
    def rest_base_url(self) -> str:
        return self.baseUrl or REST_BASE_URLS[self.region]


def rest_headers(credentials: Credentials) -> dict[str, str]:
    return {
        "Authorization": f"Token token={credentials.apiKey}",
        "Accept": ACCEPT_V2,
        "Content-Type": "application/json",
    }
