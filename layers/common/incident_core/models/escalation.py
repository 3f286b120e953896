"""Escalation policies as data: ordered levels of targets with a delay, repeated, then a fallback.

A policy is walked as a sequence of positions: every level of round 0, then of round 1 … up to `repeat`,
then the fallback (if any). The state machine carries the position; the policy says what comes next.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incident_core.errors import ConfigurationError
from incident_core.models.incident import Incident
from incident_core.validation import first_problem

FALLBACK_LEVEL = -1


class TargetType(StrEnum):
    USER = "user"
    TEAM = "team"
    SCHEDULE = "schedule"
    """Whoever is on call now in the named on-call rotation."""
    LEADERSHIP = "leadership"


class EscalationTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: TargetType
    id: str = Field(min_length=1)
    """A user's email, a team name, a rotation identifier, or a leadership group's email."""


class EscalationLevel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: tuple[EscalationTarget, ...] = Field(min_length=1)
    delaySeconds: int = Field(ge=0, le=86_400)
    """How long to wait for an acknowledgement after notifying this level."""


class Position(BaseModel):
    """Where an escalation stands: `level` of `round` (FALLBACK_LEVEL for the fallback)."""

    model_config = ConfigDict(frozen=True)

    level: int
    round: int


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    identifier: str = Field(min_length=1)
    title: str = ""
    levels: tuple[EscalationLevel, ...] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=10)
    """How many more times the whole policy runs after the first pass, while nobody acknowledges."""
    fallback: tuple[EscalationTarget, ...] = ()
    """Notified once when every round went unanswered."""

    def targets_at(self, position: Position) -> tuple[EscalationTarget, ...]:
        if position.level == FALLBACK_LEVEL:
            return self.fallback
        return self.levels[position.level].targets

    def delay_at(self, position: Position) -> int:
        return 0 if position.level == FALLBACK_LEVEL else self.levels[position.level].delaySeconds

    def after(self, position: Position) -> Position | None:
        """The next position, or None when the policy is exhausted."""
        if position.level == FALLBACK_LEVEL:
            return None
        if position.level + 1 < len(self.levels):
            return Position(level=position.level + 1, round=position.round)
        if position.round < self.repeat:
            return Position(level=0, round=position.round + 1)
        return Position(level=FALLBACK_LEVEL, round=position.round) if self.fallback else None


class EscalationState(BaseModel):
    """The state machine's data between states."""

    model_config = ConfigDict(frozen=True)

    incidentId: str
    policyId: str
    level: int = 0
    round: int = 0
    stop: bool = False
    waitSeconds: int = 0
    reason: str = ""

    @property
    def position(self) -> Position:
        return Position(level=self.level, round=self.round)

    @classmethod
    def resuming(cls, incident: Incident, policy_id: str) -> EscalationState:
        """Where an execution of `incident`'s escalation starts: at the last position paged, if any (its Notify
        pages nobody again and waits what is left of that delay), else at the beginning of the policy."""
        prefix = _page_prefix(incident.identifier)
        for entry in reversed(incident.timeline):
            if entry.runId and entry.runId.startswith(prefix):
                round_, level = entry.runId.removeprefix(prefix).split(":")
                return cls(incidentId=incident.identifier, policyId=policy_id, level=int(level), round=int(round_))
        return cls(incidentId=incident.identifier, policyId=policy_id)


def page_key(incident_id: str, position: Position) -> str:
    """The runId of the timeline entry that records the page of `position`: one page per position, however
    often a task or an execution runs."""
    return f"{_page_prefix(incident_id)}{position.round}:{position.level}"


def _page_prefix(incident_id: str) -> str:
    return f"escalation:{incident_id}:"


def parse_policy(document: Any, *, source: str) -> EscalationPolicy:
    """A policy from JSON (a file in port/ or a Port entity's properties); errors name the field."""
    try:
        return EscalationPolicy.model_validate(document)
    except ValidationError as exc:
        field, problem = first_problem(exc, default="policy")
        raise ConfigurationError(f"escalation policy {source} is invalid: {field}: {problem}") from exc
