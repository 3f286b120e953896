"""What is waiting to reach Port: entities Port has not written yet, and action-run answers it has not heard."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class OutboxState(StrEnum):
    PENDING = "pending"
    """Port could not take it yet (down, rate limited, a related entity not there yet): sent again later."""
    PARKED = "parked"
    """Port (or the blueprint check before sending) refused it: kept with the reason, sent again only once the
    entity changes."""


class PendingEntity(BaseModel):
    """The latest version of one entity that is not in Port yet."""

    model_config = ConfigDict(frozen=True)

    blueprint: str
    identifier: str
    entity: dict[str, Any]
    visibleHash: str
    state: OutboxState
    reason: str
    since: str
    """When the entity first failed to reach Port (unchanged while it keeps failing)."""
    attempts: int = 0
    nextAttemptAt: str = ""
    """When a pending entity is due again (empty once parked)."""


class PendingRunReport(BaseModel):
    """The answer of a finished action run, not yet accepted by Port."""

    model_config = ConfigDict(frozen=True)

    runId: str
    status: str
    summary: str
    link: str | None = None
    reason: str
    since: str
    attempts: int = 0
    nextAttemptAt: str = ""
