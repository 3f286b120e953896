"""The normalized alert: exactly the seed's `alert` blueprint, the contract of every normalizer."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator


class Source(StrEnum):
    PROMETHEUS = "prometheus"
    GRAFANA = "grafana"
    DYNATRACE = "dynatrace"
    DATADOG = "datadog"
    NEWRELIC = "newrelic"
    SENTRY = "sentry"

    @property
    def display_name(self) -> str:
        return _DISPLAY_NAMES[self]


_DISPLAY_NAMES = {
    Source.PROMETHEUS: "Prometheus",
    Source.GRAFANA: "Grafana",
    Source.DYNATRACE: "Dynatrace",
    Source.DATADOG: "Datadog",
    Source.NEWRELIC: "New Relic",
    Source.SENTRY: "Sentry",
}


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    WARNING = "warning"
    INFO = "info"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# Port entity identifiers: ^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$, at most 1000 characters.
PORT_IDENTIFIER_MAX = 1000


def dedup_key(source: Source | str, external_id: str) -> str:
    """(source, externalId) as one string: the store's key and the queue's message group."""
    return f"{Source(source).value}-{external_id}"


def port_identifier(raw: str) -> str:
    """Sanitize `raw` to Port's identifier pattern; a short hash keeps sanitized values distinct."""
    cleaned = "".join(ch if _allowed_in_identifier(ch) else "-" for ch in raw)
    if cleaned != raw or len(cleaned) > PORT_IDENTIFIER_MAX:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[: PORT_IDENTIFIER_MAX - 11]}-{digest}"
    return cleaned


def _allowed_in_identifier(ch: str) -> bool:
    return ch.isalpha() or ch in "0123456789@_.+:\\/=-"


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON object kept as given: a normalizer hands over its parsed part of the body, which needs no copy."""
    if type(value) is not dict:
        raise ValueError("expected a JSON object")
    return value


RawPayload = Annotated[dict[str, Any], PlainValidator(_json_object, json_schema_input_type=dict[str, Any])]


class Alert(BaseModel):
    """One alert as the seed's blueprint describes it; field names are the blueprint's property ids."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    title: str
    description: str = ""
    severity: Severity
    status: AlertStatus
    source: Source
    externalId: str = Field(min_length=1)
    startedAt: str | None = None
    endedAt: str | None = None
    rawPayload: RawPayload = Field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.source, self.externalId)

    @property
    def identifier(self) -> str:
        """The Port entity identifier, `<source>-<externalId>` sanitized."""
        return port_identifier(self.dedup_key)

    def seed_fields(self) -> dict[str, Any]:
        """The JSON the CLI prints and Port receives as properties."""
        return self.model_dump(mode="json")
