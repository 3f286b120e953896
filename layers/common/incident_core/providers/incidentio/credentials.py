"""The `incidentio` secret: the API key, and the organisation's own records the adapter should use."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incident_core.models.alert import Severity

VENDOR = "incident.io"
DEFAULT_BASE_URL = "https://api.incident.io"


class Credentials(BaseModel):
    """The incident.io secret. Only `apiKey` is required; every id left out is looked up (see the package)."""

    model_config = ConfigDict(frozen=True)

    apiKey: str = Field(min_length=1)
    baseUrl: str = DEFAULT_BASE_URL
    """incident.io has one API host; a proxy or a test server goes here."""
    severityIds: dict[Severity, str] = Field(default_factory=dict)
    """Our severity (critical, high, warning, info) -> incident.io severity id."""
    resolvedStatusId: str | None = None
    """The status resolving moves to (a `closed` status, or a post-incident one of the incident's flow)."""
    leadRoleId: str | None = None
    """The incident role that acknowledging and reassigning fill (the `lead` role)."""
    escalationPathId: str | None = None
    """The escalation path (its id) paged when an escalation names neither a path nor a user."""
    servicesFieldId: str | None = None
    """The catalog-backed custom field listing affected services; associating services sets it."""
    incidentTypeId: str | None = None
    visibility: Literal["public", "private"] = "public"
    webhookSecret: str | None = None
    """The signing secret (`whsec_...`) of the incident.io webhook endpoint pointed at this bundle."""

    @field_validator("baseUrl")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://api.incident.io")
        return value.rstrip("/")
