"""The `servicenow` secret: the instance, and how the adapter signs in."""

from __future__ import annotations

import base64

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

VENDOR = "ServiceNow"
SYS_ID_PATTERN = r"^[0-9a-f]{32}$"


class Credentials(BaseModel):
    """The ServiceNow secret: the instance, and Basic credentials or an OAuth access token."""

    model_config = ConfigDict(frozen=True)

    instanceUrl: str = Field(min_length=1)
    """`https://acme.service-now.com`, a custom or self-hosted base URL, or just the instance name `acme`."""
    username: str | None = Field(default=None, min_length=1)
    password: str | None = Field(default=None, min_length=1)
    oauthToken: str | None = Field(default=None, min_length=1)
    """An OAuth 2.0 access token (from the instance's `oauth_token.do`), sent as `Authorization: Bearer`."""
    callerId: str | None = Field(default=None, pattern=SYS_ID_PATTERN)
    """sys_id of the `sys_user` set as caller on incidents this bundle opens (instances often require one)."""
    assignmentGroupId: str | None = Field(default=None, pattern=SYS_ID_PATTERN)
    """sys_id of the `sys_user_group` new incidents are assigned to."""
    assignOnAcknowledge: bool = False
    """Set `assigned_to` to the acknowledging person (found in `sys_user` by email) when acknowledging."""
    closeCode: str = Field(default="Solution provided", min_length=1)
    """The `close_code` choice sent on resolve; the values are the instance's own."""

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
        if self.oauthToken and (self.username or self.password):
            raise ValueError("give username and password, or oauthToken, not both")
        if self.username and not self.password:
            raise ValueError("password is required with username")
        if self.password and not self.username:
            raise ValueError("username is required with password")
        if not self.oauthToken and not self.username:
            raise ValueError("give username and password (Basic), or oauthToken")
        return self

    @property
    def authorization(self) -> str:
        if self.oauthToken:
            return f"Bearer {self.oauthToken}"
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {basic}"
