"""An on-call rotation as data: members taking turns, a local handoff time, overrides.

Who is on call at an instant is `incident_core.usecases.oncall.on_call`; its module states the time rules.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from incident_core.providers.context import is_email

_HANDOFF_PATTERN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _email(value: str) -> str:
    """A light check, enough to catch a name or an empty cell pasted where an email belongs."""
    value = value.strip()
    if not is_email(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


Email = Annotated[str, AfterValidator(_email)]


class Override(BaseModel):
    """`user` is on call instead of the rotation from `start` (included) to `end` (excluded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: Email
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> Override:
        if self.end <= self.start:
            raise ValueError(f"override for {self.user} must end after it starts")
        return self

    def covers(self, at: datetime) -> bool:
        """Whether the instant `at` falls in [start, end); compared in UTC (see `_utc`)."""
        return as_utc(self.start) <= as_utc(at) < as_utc(self.end)


class Rotation(BaseModel):
    """Members take turns of `rotationDays` days, handing off at `handoff` local time in `timeZone`.

    `start` is the local date of the first member's first day: their turn begins at `handoff` on that date.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    members: list[Email] = Field(min_length=1)
    handoff: time
    rotationDays: int = Field(ge=1)
    start: date
    timeZone: str
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("handoff", mode="before")
    @classmethod
    def _wall_clock_time(cls, value: Any) -> time:
        """Accept HH:MM on a 24-hour clock only: a zone or offset here would contradict `timeZone`."""
        if isinstance(value, time) and value.tzinfo is None:
            return value
        match = _HANDOFF_PATTERN.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"handoff must be a local wall-clock time HH:MM like 09:00, not {value!r}")
        return time(int(match[1]), int(match[2]))

    @field_validator("timeZone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name like Europe/Berlin") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timeZone)


def as_utc(at: datetime) -> datetime:
    """`at` in UTC, where comparisons are plain; a naive datetime is refused rather than guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone: pass an aware datetime")
    return at.astimezone(UTC)
