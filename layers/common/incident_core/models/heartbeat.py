"""Heartbeats (dead man's switches): alerts that must keep arriving, and the alert raised when one stops.

A monitoring pipeline that dies sends nothing, so silence itself must raise an alert: Alertmanager's
`Watchdog` rule fires forever and is re-sent every repeat interval; when it stops arriving, the
pipeline is broken. HEARTBEATS is a JSON list of `Heartbeat` objects, validated once with the settings.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from incident_core.models.alert import Severity, Source, dedup_key

HEARTBEAT_ID_PREFIX = "heartbeat:"


class Heartbeat(BaseModel):
    """One watched alert: by its deduplication key (`alertKey`), or the latest alert of `source` titled `title`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    source: Source
    alertKey: str | None = Field(default=None, min_length=1)
    title: str | None = Field(default=None, min_length=1)
    everyMinutes: int = Field(ge=1, le=7 * 24 * 60)
    """The longest expected gap between two notifications of the watched alert."""
    severity: Severity = Severity.CRITICAL
    service: str | None = Field(default=None, min_length=1)
    """The service the raised alert belongs to (Port relation, correlation, auto-trigger rules)."""

    @model_validator(mode="after")
    def _one_way_to_match(self) -> Self:
        if (self.alertKey is None) == (self.title is None):
            raise ValueError(f"heartbeat {self.name!r}: give either alertKey or title, not both or neither")
        prefix = f"{self.source.value}-"
        if self.alertKey is not None and not self.alertKey.startswith(prefix):
            raise ValueError(
                f"heartbeat {self.name!r}: alertKey {self.alertKey!r} is not an alert of {self.source.value}; "
                f"it is the alert's deduplication key, {prefix}<externalId> (e.g. {prefix}<fingerprint>)"
            )
        return self

    @property
    def external_id(self) -> str:
        """The `externalId` of the alert raised while this heartbeat is missing."""
        return f"{HEARTBEAT_ID_PREFIX}{self.name}"

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.source, self.external_id)

    @property
    def watched(self) -> str:
        """The watched alert, as a sentence fragment for descriptions."""
        return f"alert {self.alertKey}" if self.alertKey else f'"{self.title}" alerts'


def _parse(value: Any) -> Any:
    """HEARTBEATS arrives as JSON text from the environment; empty means no heartbeats."""
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"HEARTBEATS is not valid JSON ({exc})") from exc
    if not isinstance(value, list | tuple):
        raise ValueError("HEARTBEATS must be a JSON list of heartbeat objects")
    return value


def _unique_names(heartbeats: tuple[Heartbeat, ...]) -> tuple[Heartbeat, ...]:
    names = [heartbeat.name for heartbeat in heartbeats]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"heartbeat names must be unique; repeated: {', '.join(repeated)}")
    return heartbeats


Heartbeats = Annotated[tuple[Heartbeat, ...], BeforeValidator(_parse), AfterValidator(_unique_names)]
"""The `heartbeats` setting: JSON text or a list, each entry a `Heartbeat`, names unique."""
