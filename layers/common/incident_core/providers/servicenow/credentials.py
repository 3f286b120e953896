"""The `servicenow` secret: the instance, and how the adapter signs in."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from incident_core.models.alert import Severity

VENDOR = "ServiceNow"
SYS_ID_PATTERN = r"^[0-9a-f]{32}$"
Level = Annotated[int, Field(ge=1, le=3)]
"""ServiceNow's urgency and impact: 1 high, 2 medium, 3 low."""

DEFAULT_URGENCY_IMPACT: dict[Severity, tuple[Level, Level]] = {
    Severity.CRITICAL: (1, 1),  # priority 1 - Critical
    Severity.HIGH: (1, 2),  # priority 2 - High
    Severity.WARNING: (2, 2),  # priority 3 - Moderate
    Severity.INFO: (3, 3),  # priority 5 - Planning
}
"""Our severity as ServiceNow's urgency and impact; the instance derives priority from them."""


class Credentials(BaseModel):
    """The ServiceNow secret: the instance, how to sign in, and the instance's own vocabulary.

    Sign-in: `clientId` + `clientSecret` (OAuth client credentials grant, Washington DC and later), the same
    with `username` + `password` (OAuth password grant), or `username` + `password` alone (Basic). OAuth
    access tokens expire (30 minutes by default) and are fetched again before they do.
    """

    model_config = ConfigDict(frozen=True)

    instanceUrl: str = Field(min_length=1)
    """`https://acme.service-now.com`, a custom or self-hosted base URL, or just the instance name `acme`."""
    username: str | None = Field(default=None, min_length=1)
    password: str | None = Field(default=None, min_length=1, repr=False)
    clientId: str | None = Field(default=None, min_length=1)
    """The OAuth application registry entry's client id (System OAuth > Application Registry)."""
    clientSecret: str | None = Field(default=None, min_length=1, repr=False)
    oauthToken: str | None = Field(default=None, repr=False)
    """No longer taken: a static access token stops working after its lifetime; see `clientId`."""
    callerId: str | None = Field(default=None, pattern=SYS_ID_PATTERN)
    """sys_id of the `sys_user` set as caller on incidents this bundle opens (instances often require one)."""
    assignmentGroupId: str | None = Field(default=None, pattern=SYS_ID_PATTERN)
    """sys_id of the `sys_user_group` new incidents are assigned to."""
    assignOnAcknowledge: bool = False
    """Set `assigned_to` to the acknowledging person (found in `sys_user` by email) when acknowledging."""
    closeCode: str = Field(default="Solution provided", min_length=1)
    """The `close_code` choice sent on resolve; the values are the instance's own (checked on first use)."""
    acknowledgedState: Literal["2", "3"] = "2"
    """The state acknowledging moves to: In Progress (2), or On Hold (3) where an instance uses it so."""
    resolvedState: Literal["6", "7"] = "6"
    """The state resolving moves to: Resolved (6), or Closed (7)."""
    urgencyImpact: dict[Severity, tuple[Level, Level]] = Field(default_factory=lambda: dict(DEFAULT_URGENCY_IMPACT))
    """Our severity -> (urgency, impact); missing severities keep the defaults."""

    @field_validator("urgencyImpact")
    @classmethod
    def _every_severity(cls, value: dict[Severity, tuple[int, int]]) -> dict[Severity, tuple[int, int]]:
        return {**DEFAULT_URGENCY_IMPACT, **value}

    @field_validator("instanceUrl")
    @classmethod
    def _instance_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if "://" not in value:
            value = f"https://{value}" if "." in value else f"https://{value}.service-now.com"
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"is not a URL: {exc}") from exc
        if url.scheme != "https" or not url.host or url.query or url.fragment:
            raise ValueError("must be an https URL of the instance (no query), or the instance name")
        return value

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> Credentials:
        if self.oauthToken:
            raise ValueError(
                "oauthToken is a static access token, which expires (after 30 minutes by default); give clientId "
                "and clientSecret instead, so the adapter fetches and renews its tokens"
            )
        if self.username and not self.password:
            raise ValueError("password is required with username")
        if self.password and not self.username:
            raise ValueError("username is required with password")
        if bool(self.clientId) != bool(self.clientSecret):
            raise ValueError("clientId and clientSecret go together")
        if not self.clientId and not self.username:
            raise ValueError("give clientId and clientSecret (OAuth), or username and password (Basic)")
        return self

    @property
    def grant(self) -> Literal["client_credentials", "password"] | None:
        """The OAuth grant the secret calls for; None for Basic."""
        if not self.clientId:
            return None
        return "password" if self.username else "client_credentials"

    @property
    def basic_authorization(self) -> str:
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {basic}"
