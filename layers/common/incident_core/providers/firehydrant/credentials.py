"""The `firehydrant` secret: the bot token, and how the organisation's records map to Port's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from incident_core.models.alert import Severity

VENDOR = "FireHydrant"
DEFAULT_SEVERITIES = {
    Severity.CRITICAL: "SEV1",
    Severity.HIGH: "SEV2",
    Severity.WARNING: "SEV3",
    Severity.INFO: "SEV4",
}
"""Our severity -> FireHydrant's default severity slugs."""
DEFAULT_PRIORITIES = {
    Severity.CRITICAL: "P1",
    Severity.HIGH: "P2",
    Severity.WARNING: "P3",
    Severity.INFO: "P4",
}
"""Our severity -> FireHydrant's default priority slugs."""
API_HOSTS = {"us": "https://api.firehydrant.io", "eu": "https://api.eu.firehydrant.io"}
"""The spec's paths start with /v1, so the base URL is the host alone."""


class Credentials(BaseModel):
    """The `firehydrant` secret. Only `botToken` is required; the rest adapts the adapter to the organization."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    botToken: SecretStr = Field(min_length=1)
    """A bot token (`fhb-...`) from Settings -> Bot users; sent as `Authorization: Bearer <botToken>`."""
    region: Literal["us", "eu"] = "us"
    baseUrl: str | None = None
    """Overrides `region`: another host or a proxy, with or without the trailing /v1."""
    commanderRoleId: str | None = None
    """The incident role (GET /v1/incident_roles) whose holder is the incident's assignee."""
    serviceIds: dict[str, str] = Field(default_factory=dict)
    """Port service identifier -> FireHydrant service id."""
    teamIds: dict[str, str] = Field(default_factory=dict)
    """Name used in Port (reassign target, escalation policy) -> FireHydrant team id."""
    userIds: dict[str, str] = Field(default_factory=dict)
    """Port user email -> FireHydrant user id, for people whose emails differ; others are found by email."""
    impactConditionId: str | None = None
    """Severity-matrix condition (GET /v1/severity_matrix/conditions) for impacted services."""
    acknowledgedMilestone: str = "acknowledged"
    resolvedMilestone: str = "resolved"
    severities: dict[Severity, str] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    """Our severity -> the organisation's severity slug (GET /v1/severities); missing ones keep the defaults."""
    priorities: dict[Severity, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    """Our severity -> the organisation's priority slug (GET /v1/priorities); missing ones keep the defaults."""
    webhookSecret: SecretStr | None = None
    """The secret of the FireHydrant webhook that reports incident changes to this bundle."""

    @field_validator("severities")
    @classmethod
    def _all_severities(cls, value: dict[Severity, str]) -> dict[Severity, str]:
        return {**DEFAULT_SEVERITIES, **value}

    @field_validator("priorities")
    @classmethod
    def _all_priorities(cls, value: dict[Severity, str]) -> dict[Severity, str]:
        return {**DEFAULT_PRIORITIES, **value}

    @property
    def api_base_url(self) -> str:
        base = (self.baseUrl or API_HOSTS[self.region]).rstrip("/")
        return base.removesuffix("/v1")
