"""Who is on call: a simple rotation with overrides, handed off at a local wall-clock time.

Escalating an incident means "paging on-call engineers" (the seed's "Escalate Incident"), and the skill
exchange gives whoever is on call a bonus; both need to know who that is at a given instant. The model is
deliberately small: members take turns of `rotationDays` days each, starting with the first member on the
`start` date, and hand off at the wall-clock time `handoff` in the rotation's `timeZone`. Overrides (a
holiday swap, a sick day) replace the rotation for a span of time.

Time rules, chosen so that people's calendars stay right:

- The handoff follows the local clock, not a fixed UTC offset: across a daylight-saving change it still
  happens at 09:00 local, so the period that contains the change is one hour shorter or longer (23 or 25
  hours for a one-day rotation).
- A handoff time that does not exist on a day (spring forward: 02:30 in Europe/Berlin on the last Sunday of
  March) happens at the moment the clock jumps, which reads 03:00 local: the earliest instant at which the
  local time has reached the handoff time. Python's `fold=0` default would say 03:30 instead (it reads the
  skipped time with the offset before the change), which hands off half an hour late.
- A handoff time that happens twice (fall back: 02:30 on the last Sunday of October) happens at its first
  occurrence (`fold=0`, the offset before the change): the outgoing engineer is not kept an extra hour.
- Periods are half-open: the incoming member is on call from the handoff instant itself.
- Overrides are half-open too (`start` <= instant < `end`); when several cover an instant, the one that starts
  latest wins (on equal starts, the one listed last), so a short swap inside a long cover takes precedence.

The rotation itself (members, handoff, overrides) is a model in `incident_core.models.oncall`.

Pure: `zoneinfo` needs the IANA time zone database, from the system or the `tzdata` package.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from incident_core.errors import RotationNotStarted
from incident_core.models.oncall import Rotation, as_utc


def on_call(rotation: Rotation, at: datetime) -> str:
    """The email of who is on call at the aware instant `at`: a covering override, else the rotation's member."""
    at = as_utc(at)
    covering = [(as_utc(o.start), index) for index, o in enumerate(rotation.overrides) if o.covers(at)]
    if covering:
        _, winner = max(covering)
        return rotation.overrides[winner].user
    period = _period_index(rotation, at)
    if period < 0:
        first = _handoff_instant(rotation, rotation.start).astimezone(rotation.zone)
        raise RotationNotStarted(
            f"the rotation starts at {first.isoformat()} ({rotation.timeZone}); nobody is on call before"
        )
    return rotation.members[period % len(rotation.members)]


def next_handoff(rotation: Rotation, at: datetime) -> datetime:
    """The first rotation handoff strictly after the aware instant `at`, as a UTC datetime.

    UTC because aware datetimes in a zone compare badly around a fall-back change (same-zone comparison ignores
    `fold`; cross-zone equality is always false in the repeated hour); `.astimezone(rotation.zone)` gives the
    local wall-clock time. Overrides do not move handoffs: they cover people, the rotation keeps its schedule.
    """
    at = as_utc(at)
    period = max(_period_index(rotation, at) + 1, 0)
    return _handoff_instant(rotation, _period_start_date(rotation, period))


def _period_start_date(rotation: Rotation, period: int) -> date:
    return rotation.start + timedelta(days=period * rotation.rotationDays)


def _period_index(rotation: Rotation, at: datetime) -> int:
    """The turn `at` falls in: 0 is the first member's first turn, negative is before the rotation starts."""
    local_date = at.astimezone(rotation.zone).date()
    period = (local_date - rotation.start).days // rotation.rotationDays
    if at < _handoff_instant(rotation, _period_start_date(rotation, period)):
        period -= 1  # same local day as this period's handoff, but before it: still the previous turn
    return period


def _handoff_instant(rotation: Rotation, day: date) -> datetime:
    """The UTC instant the local clock reaches `handoff` on `day` (see the module's time rules)."""
    zone = rotation.zone
    first = datetime.combine(day, rotation.handoff, tzinfo=zone).replace(fold=0)  # ambiguous: first occurrence
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == first.replace(tzinfo=None):
        return instant
    return _end_of_gap(first)


def _end_of_gap(skipped: datetime) -> datetime:
    """The UTC instant the clock jumps over the nonexistent local time `skipped`.

    Read with the offset after the jump, `skipped` lands before the jump; with the offset before it, after.
    Offsets only change at whole seconds, so a binary search between the two finds the jump exactly.
    """
    zone = skipped.tzinfo
    assert zone is not None
    before_jump = skipped.replace(fold=1).astimezone(UTC)
    after_jump = skipped.replace(fold=0).astimezone(UTC)
    offset_after = after_jump.astimezone(zone).utcoffset()
    low, high = int(before_jump.timestamp()), int(after_jump.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
