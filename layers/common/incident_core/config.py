"""Settings read from the environment once per distinct environment, validated, and typed.

The local stack runs several functions in one process, each with its own environment, so the cache is
keyed by the values read rather than held in one global.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from incident_core.errors import ConfigurationError
from incident_core.models import Severity, Source
from incident_core.models.alert_record import AlertRecord
from incident_core.models.heartbeat import Heartbeats
from incident_core.models.incident import ProviderName

DEFAULT_SERVICE_MAPPING: dict[Source, tuple[str, ...]] = {
    Source.PROMETHEUS: ("alert.labels.service", "alert.labels.app", "alert.labels.job"),
    Source.GRAFANA: ("alert.labels.service", "alert.labels.app", "alert.labels.job"),
    Source.DYNATRACE: ("tag:Tags:service", "ImpactedEntities.0.name", "impactedEntities.0.name"),
    Source.DATADOG: ("tag:alert_scope:service", "tag:tags:service"),
    Source.NEWRELIC: ("impactedEntities.0",),
    Source.SENTRY: ("data.issue.project.slug", "tag:data.event.tags:service"),
}
"""Where each source carries the service an alert belongs to, tried in order.

A path is dotted keys and list indexes into `rawPayload`; `tag:<path>:<key>` reads `key:value` pairs
from a comma-separated string (or list) at `<path>`.
"""

_ENVIRONMENT = {
    "alerts_table": "ALERTS_TABLE",
    "port_entities_table": "PORT_ENTITIES_TABLE",
    "port_outbox_table": "PORT_OUTBOX_TABLE",
    "alert_queue_url": "ALERT_QUEUE_URL",
    "alert_dlq_url": "ALERT_DLQ_URL",
    "webhook_secrets_name": "WEBHOOK_SECRETS_NAME",
    "webhook_secrets_file": "WEBHOOK_SECRETS_FILE",
    "port_api_url": "PORT_API_URL",
    "port_credentials_secret_name": "PORT_CREDENTIALS_SECRET_NAME",
    "port_client_id": "PORT_CLIENT_ID",
    "port_client_secret": "PORT_CLIENT_SECRET",
    "max_body_bytes": "MAX_BODY_BYTES",
    "flap_threshold": "FLAP_THRESHOLD",
    "flap_window_seconds": "FLAP_WINDOW_SECONDS",
    "service_mapping": "SERVICE_MAPPING",
    "service_blueprint": "SERVICE_BLUEPRINT",
    "incident_blueprint": "INCIDENT_BLUEPRINT",
    "secrets_max_age_seconds": "SECRETS_MAX_AGE_SECONDS",
    "incidents_table": "INCIDENTS_TABLE",
    "action_queue_url": "ACTION_QUEUE_URL",
    "action_max_attempts": "ACTION_MAX_ATTEMPTS",
    "escalation_topic_arn": "ESCALATION_TOPIC_ARN",
    "correlation_window_minutes": "CORRELATION_WINDOW_MINUTES",
    "auto_trigger_rules": "AUTO_TRIGGER_RULES",
    "service_dependency_relation": "SERVICE_DEPENDENCY_RELATION",
    "impact_depth": "IMPACT_DEPTH",
    "escalation_state_machine_arn": "ESCALATION_STATE_MACHINE_ARN",
    "default_escalation_policy": "DEFAULT_ESCALATION_POLICY",
    "notification_channels_secret": "NOTIFICATION_CHANNELS_SECRET",
    "pagerduty_secret": "PAGERDUTY_SECRET",
    "opsgenie_secret": "OPSGENIE_SECRET",
    "servicenow_secret": "SERVICENOW_SECRET",
    "jira_secret": "JIRA_SECRET",
    "incidentio_secret": "INCIDENTIO_SECRET",
    "firehydrant_secret": "FIREHYDRANT_SECRET",
    "alert_stale_after_minutes": "ALERT_STALE_AFTER_MINUTES",
    "heartbeats": "HEARTBEATS",
}


class AutoTriggerRule(BaseModel):
    """Open an incident by itself for an alert that matches every listed condition (absent: any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: tuple[Severity, ...] | None = None
    source: tuple[Source, ...] | None = None
    service: tuple[str, ...] | None = None
    provider: ProviderName = ProviderName.NATIVE
    escalationPolicy: str | None = None
    """For native incidents: the escalation policy to walk (default: DEFAULT_ESCALATION_POLICY)."""

    def matches(self, alert: AlertRecord) -> bool:
        return (
            (self.severity is None or alert.severity in self.severity)
            and (self.source is None or alert.source in self.source)
            and (self.service is None or alert.service in self.service)
        )


DEFAULT_AUTO_TRIGGER_RULES = (AutoTriggerRule(severity=(Severity.CRITICAL,)),)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alerts_table: str = ""
    port_entities_table: str = ""
    port_outbox_table: str = ""
    alert_queue_url: str = ""
    alert_dlq_url: str = ""
    webhook_secrets_name: str = ""
    webhook_secrets_file: str = ""
    port_api_url: str = "https://api.port.io"
    port_credentials_secret_name: str = ""
    port_client_id: str = Field(default="", repr=False)
    port_client_secret: str = Field(default="", repr=False)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    flap_threshold: int = Field(default=4, ge=1)
    flap_window_seconds: int = Field(default=3600, ge=1)
    service_mapping: dict[Source, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_SERVICE_MAPPING))
    service_blueprint: str = "service"
    incident_blueprint: str = "incident"
    secrets_max_age_seconds: int = Field(default=300, ge=0)
    incidents_table: str = ""
    action_queue_url: str = ""
    action_max_attempts: int = Field(default=5, ge=1)
    escalation_topic_arn: str = ""
    correlation_window_minutes: int = Field(default=30, ge=0)
    auto_trigger_rules: tuple[AutoTriggerRule, ...] = DEFAULT_AUTO_TRIGGER_RULES
    service_dependency_relation: str = "dependencies"
    impact_depth: int = Field(default=3, ge=0)
    escalation_state_machine_arn: str = ""
    default_escalation_policy: str = ""
    """The policy a native incident escalates by when its trigger names none (empty: no timed escalation)."""
    notification_channels_secret: str = ""
    pagerduty_secret: str = ""
    opsgenie_secret: str = ""
    servicenow_secret: str = ""
    jira_secret: str = ""
    incidentio_secret: str = ""
    firehydrant_secret: str = ""
    alert_stale_after_minutes: int = Field(default=1440, ge=1)
    """An open or acknowledged alert without a notification for this long is resolved as stale."""
    heartbeats: Heartbeats = ()
    """Alerts that must keep arriving (dead man's switches); HEARTBEATS is their JSON list."""

    def provider_secret(self, provider: ProviderName) -> str:
        """The name of the Secrets Manager secret holding `provider`'s credentials (one per provider)."""
        name = f"{provider.value}_secret"
        if name not in _ENVIRONMENT:
            raise ConfigurationError(f"{provider.value} takes no credentials")
        return self.required(name)

    @field_validator("auto_trigger_rules", mode="before")
    @classmethod
    def _parse_rules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else DEFAULT_AUTO_TRIGGER_RULES
        return value

    @field_validator("service_mapping", mode="before")
    @classmethod
    def _parse_mapping(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return dict(DEFAULT_SERVICE_MAPPING)
            value = json.loads(value)
        if isinstance(value, Mapping):
            return {**DEFAULT_SERVICE_MAPPING, **value}
        return value

    @field_validator("port_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def required(self, name: str) -> str:
        """A setting this function cannot work without; missing is an operator's error, said clearly."""
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"the setting {_ENVIRONMENT[name]} is not set")
        return str(value)


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    source = os.environ if environ is None else environ
    return _settings(tuple((key, source.get(env)) for key, env in _ENVIRONMENT.items()))


@lru_cache(maxsize=32)
def _settings(values: tuple[tuple[str, str | None], ...]) -> Settings:
    try:
        return Settings.model_validate({key: value for key, value in values if value is not None})
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from exc
