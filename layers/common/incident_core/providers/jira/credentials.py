"""The `jira` secret, and the headers every request carries."""

from __future__ import annotations

import base64
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from incident_core.models.alert import Severity

VENDOR = "Jira"
API = "/rest/api/3"
CLOUD_HOST_SUFFIX = ".atlassian.net"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

DEFAULT_PRIORITIES: dict[Severity, str] = {
    Severity.CRITICAL: "Highest",
    Severity.HIGH: "High",
    Severity.WARNING: "Medium",
    Severity.INFO: "Low",
}
"""Our severity → the priority name Jira's default priority scheme uses."""

SEVERITY_RANK = (Severity.INFO, Severity.WARNING, Severity.HIGH, Severity.CRITICAL)
"""Lowest first: the order of the priority ladder that escalation climbs."""

_SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


class Credentials(BaseModel):
    """The Jira secret (one JSON object).

    `siteUrl`: `https://<site>.atlassian.net`, the bare site name, or the URL of a custom domain or proxy;
    `email` + `apiToken`: the Atlassian account the adapter acts as (Basic auth); `projectKey`: where issues
    are opened; `issueType`: "Incident" (Jira Service Management) or, say, "Bug" (Jira Software);
    `acknowledgeTransition` / `resolveTransition`: transition (or target status) names of the project's
    workflow; `resolutionName`: set when the resolve transition's screen asks for a resolution;
    `priorities`: our severity → Jira priority name (missing severities keep the defaults);
    `serviceField`: where services go, `labels` or `components` (components must exist in the project);
    `webhookSecret`: the secret of the admin webhook that reports changes made in Jira.
    """

    model_config = ConfigDict(frozen=True)

    siteUrl: str = Field(min_length=1)
    email: str = Field(min_length=3)
    apiToken: SecretStr
    projectKey: str = Field(min_length=1)
    issueType: str = "Incident"
    acknowledgeTransition: str = "In Progress"
    resolveTransition: str = "Done"
    resolutionName: str = "Done"
    priorities: dict[Severity, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    serviceField: Literal["labels", "components"] = "labels"
    webhookSecret: SecretStr | None = None

    @field_validator("siteUrl")
    @classmethod
    def _site_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if _SITE_NAME.fullmatch(value):
            return f"https://{value}{CLOUD_HOST_SUFFIX}"
        parts = urlsplit(value)
        # Basic auth sends the API token with every request: only TLS may carry it off this machine.
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
        ):
            raise ValueError("must be an https:// URL (or the bare site name of <site>.atlassian.net)")
        return value

    @field_validator("priorities")
    @classmethod
    def _all_priorities(cls, value: dict[Severity, str]) -> dict[Severity, str]:
        return {**DEFAULT_PRIORITIES, **value}

    @property
    def priority_ladder(self) -> list[str]:
        """Distinct priority names, lowest first."""
        return list(dict.fromkeys(self.priorities[severity] for severity in SEVERITY_RANK))


def request_headers(credentials: Credentials) -> dict[str, str]:
    pair = f"{credentials.email}:{credentials.apiToken.get_secret_value()}".encode()
    return {
        "Authorization": f"Basic {base64.b64encode(pair).decode()}",
        "Accept": "application/json",
    }
