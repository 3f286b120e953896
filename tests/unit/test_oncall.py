"""On-call rotations: turn order, the handoff instant itself, overrides (overlapping ones too), handoffs across
daylight-saving changes in Europe/Berlin and America/New_York (skipped and repeated local times included),
and the validation errors a misconfigured rotation gets.

2024 changes: Berlin springs forward on 31 March (02:00 -> 03:00) and falls back on 27 October (03:00 -> 02:00);
New York springs forward on 10 March (02:00 -> 03:00) and falls back on 3 November (02:00 -> 01:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from incident_core.errors import RotationNotStarted
from incident_core.models.oncall import Override, Rotation
from incident_core.usecases.oncall import next_handoff, on_call

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TICK = timedelta(microseconds=1)

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"


def _rotation(**changes: Any) -> Rotation:
    fields: dict[str, Any] = {
        "members": [ALICE, BOB, CAROL],
        "handoff": "09:00",
        "rotationDays": 1,
        "start": "2024-01-08",
        "timeZone": "Europe/Berlin",
    }
    return Rotation.model_validate({**fields, **changes})


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _handoffs(rotation: Rotation, after: datetime, count: int) -> list[datetime]:
    """`count` consecutive handoffs after `after`, as UTC instants."""
    result = []
    for _ in range(count):
        after = next_handoff(rotation, after)
        result.append(after.astimezone(UTC))
    return result


# Turn order and the handoff instant


@pytest.mark.parametrize(
    ("day", "expected"),
    [(8, ALICE), (9, BOB), (10, CAROL), (11, ALICE), (12, BOB), (31, CAROL)],
)
def test_members_take_daily_turns_in_order(day: int, expected: str) -> None:
    assert on_call(_rotation(), datetime(2024, 1, day, 12, tzinfo=BERLIN)) == expected


def test_a_weekly_rotation_keeps_a_member_for_seven_days() -> None:
    rotation = _rotation(rotationDays=7)

    assert on_call(rotation, datetime(2024, 1, 8, 9, tzinfo=BERLIN)) == ALICE
    assert on_call(rotation, datetime(2024, 1, 15, 8, 59, tzinfo=BERLIN)) == ALICE
    assert on_call(rotation, datetime(2024, 1, 15, 9, tzinfo=BERLIN)) == BOB
    assert on_call(rotation, datetime(2024, 1, 29, 9, tzinfo=BERLIN)) == ALICE


def test_the_incoming_member_is_on_call_from_the_handoff_instant_itself() -> None:
    handoff = datetime(2024, 1, 9, 9, tzinfo=BERLIN)

    assert on_call(_rotation(), handoff - TICK) == ALICE
    assert on_call(_rotation(), handoff) == BOB
    assert on_call(_rotation(), handoff.astimezone(UTC)) == BOB


def test_next_handoff_is_strictly_after_the_instant_asked_about() -> None:
    handoff = datetime(2024, 1, 9, 9, tzinfo=BERLIN)

    assert next_handoff(_rotation(), handoff - TICK) == handoff
    assert next_handoff(_rotation(), handoff) == datetime(2024, 1, 10, 9, tzinfo=BERLIN)


def test_next_handoff_is_given_in_utc() -> None:
    result = next_handoff(_rotation(), datetime(2024, 1, 9, 12, tzinfo=BERLIN))

    assert result.tzinfo is UTC
    assert result == _utc(2024, 1, 10, 8)


def test_nobody_is_on_call_before_the_rotation_starts() -> None:
    first = datetime(2024, 1, 8, 9, tzinfo=BERLIN)

    with pytest.raises(RotationNotStarted, match=r"starts at 2024-01-08T09:00:00\+01:00"):
        on_call(_rotation(), first - TICK)
    assert next_handoff(_rotation(), datetime(2023, 12, 1, tzinfo=BERLIN)) == first
    assert next_handoff(_rotation(), first - TICK) == first


# Overrides


def test_an_override_replaces_the_rotation_for_its_span_only() -> None:
    rotation = _rotation(
        overrides=[
            {"user": "dave@example.com", "start": "2024-01-09T12:00:00+01:00", "end": "2024-01-09T18:00:00+01:00"}
        ]
    )

    assert on_call(rotation, datetime(2024, 1, 9, 11, 59, tzinfo=BERLIN)) == BOB
    assert on_call(rotation, datetime(2024, 1, 9, 12, tzinfo=BERLIN)) == "dave@example.com"
    assert on_call(rotation, _utc(2024, 1, 9, 16, 59)) == "dave@example.com"
    assert on_call(rotation, datetime(2024, 1, 9, 18, tzinfo=BERLIN)) == BOB


def test_the_latest_starting_of_overlapping_overrides_wins() -> None:
    rotation = _rotation(
        overrides=[
            {"user": "short@example.com", "start": "2024-01-10T10:00:00+01:00", "end": "2024-01-10T12:00:00+01:00"},
            {"user": "week@example.com", "start": "2024-01-08T09:00:00+01:00", "end": "2024-01-15T09:00:00+01:00"},
        ]
    )

    assert on_call(rotation, datetime(2024, 1, 10, 9, 59, tzinfo=BERLIN)) == "week@example.com"
    assert on_call(rotation, datetime(2024, 1, 10, 10, tzinfo=BERLIN)) == "short@example.com"
    assert on_call(rotation, datetime(2024, 1, 10, 12, tzinfo=BERLIN)) == "week@example.com"
    assert on_call(rotation, datetime(2024, 1, 15, 9, tzinfo=BERLIN)) == BOB


def test_overrides_starting_at_the_same_instant_go_to_the_one_listed_last() -> None:
    span = {"start": "2024-01-10T10:00:00Z", "end": "2024-01-10T12:00:00Z"}
    rotation = _rotation(overrides=[{"user": "first@example.com", **span}, {"user": "second@example.com", **span}])

    assert on_call(rotation, _utc(2024, 1, 10, 11)) == "second@example.com"


def test_an_override_covers_even_before_the_rotation_starts() -> None:
    rotation = _rotation(
        overrides=[{"user": "dave@example.com", "start": "2024-01-01T00:00Z", "end": "2024-01-08T08:00Z"}]
    )

    assert on_call(rotation, _utc(2024, 1, 5)) == "dave@example.com"


def test_overrides_do_not_move_the_rotations_handoffs() -> None:
    rotation = _rotation(
        overrides=[{"user": "dave@example.com", "start": "2024-01-09T00:00Z", "end": "2024-01-12T00:00Z"}]
    )

    assert next_handoff(rotation, _utc(2024, 1, 9, 12)) == datetime(2024, 1, 10, 9, tzinfo=BERLIN)


# Daylight-saving changes


@pytest.mark.parametrize(
    ("zone", "day_before", "expected_utc"),
    [
        # Berlin spring forward: +01:00 before, +02:00 from 31 March.
        ("Europe/Berlin", date(2024, 3, 29), [_utc(2024, 3, 30, 8), _utc(2024, 3, 31, 7), _utc(2024, 4, 1, 7)]),
        # Berlin fall back: +02:00 before, +01:00 from 27 October.
        ("Europe/Berlin", date(2024, 10, 25), [_utc(2024, 10, 26, 7), _utc(2024, 10, 27, 8), _utc(2024, 10, 28, 8)]),
        # New York spring forward: -05:00 before, -04:00 from 10 March.
        ("America/New_York", date(2024, 3, 8), [_utc(2024, 3, 9, 14), _utc(2024, 3, 10, 13), _utc(2024, 3, 11, 13)]),
        # New York fall back: -04:00 before, -05:00 from 3 November.
        ("America/New_York", date(2024, 11, 1), [_utc(2024, 11, 2, 13), _utc(2024, 11, 3, 14), _utc(2024, 11, 4, 14)]),
    ],
)
def test_daily_handoffs_stay_at_nine_local_before_on_and_after_a_change(
    zone: str, day_before: date, expected_utc: list[datetime]
) -> None:
    rotation = _rotation(start=day_before.isoformat(), timeZone=zone)
    after = datetime.combine(day_before, time(12), tzinfo=ZoneInfo(zone))

    handoffs = _handoffs(rotation, after, 3)

    assert handoffs == expected_utc
    assert [h.astimezone(ZoneInfo(zone)).time() for h in handoffs] == [time(9)] * 3
    assert [on_call(rotation, h - TICK) for h in handoffs] == [ALICE, BOB, CAROL]
    assert [on_call(rotation, h) for h in handoffs] == [BOB, CAROL, ALICE]


def test_the_period_containing_a_change_is_23_or_25_hours_long() -> None:
    spring = _handoffs(_rotation(start="2024-03-29"), datetime(2024, 3, 29, 12, tzinfo=BERLIN), 3)
    autumn = _handoffs(_rotation(start="2024-10-25"), datetime(2024, 10, 25, 12, tzinfo=BERLIN), 3)

    assert [b - a for a, b in pairwise(spring)] == [timedelta(hours=23), timedelta(hours=24)]
    assert [b - a for a, b in pairwise(autumn)] == [timedelta(hours=25), timedelta(hours=24)]


@pytest.mark.parametrize(
    ("zone", "handoff", "change_day", "expected_utc"),
    [
        # 02:30 does not exist in Berlin on 31 March: the handoff is when the clock jumps, 03:00 local.
        (
            "Europe/Berlin",
            "02:30",
            date(2024, 3, 31),
            [_utc(2024, 3, 30, 1, 30), _utc(2024, 3, 31, 1), _utc(2024, 4, 1, 0, 30)],
        ),
        (
            "Europe/Berlin",
            "02:00",
            date(2024, 3, 31),
            [_utc(2024, 3, 30, 1), _utc(2024, 3, 31, 1), _utc(2024, 4, 1, 0)],
        ),
        (
            "America/New_York",
            "02:30",
            date(2024, 3, 10),
            [_utc(2024, 3, 9, 7, 30), _utc(2024, 3, 10, 7), _utc(2024, 3, 11, 6, 30)],
        ),
    ],
)
def test_a_handoff_inside_the_skipped_hour_happens_when_the_clock_jumps(
    zone: str, handoff: str, change_day: date, expected_utc: list[datetime]
) -> None:
    day_before = change_day - timedelta(days=1)
    rotation = _rotation(start=day_before.isoformat(), handoff=handoff, timeZone=zone)

    handoffs = _handoffs(rotation, datetime.combine(day_before, time(0), tzinfo=ZoneInfo(zone)), 3)

    assert handoffs == expected_utc
    assert handoffs[1].astimezone(ZoneInfo(zone)).time() == time(3)
    assert on_call(rotation, handoffs[1] - TICK) == ALICE
    assert on_call(rotation, handoffs[1]) == BOB


@pytest.mark.parametrize(
    ("zone", "handoff", "change_day", "first_occurrence_utc"),
    [
        # 02:30 happens twice in Berlin on 27 October (+02:00, then +01:00): the first one counts.
        ("Europe/Berlin", "02:30", date(2024, 10, 27), _utc(2024, 10, 27, 0, 30)),
        # 01:30 happens twice in New York on 3 November (-04:00, then -05:00).
        ("America/New_York", "01:30", date(2024, 11, 3), _utc(2024, 11, 3, 5, 30)),
    ],
)
def test_a_repeated_handoff_time_hands_off_at_its_first_occurrence(
    zone: str, handoff: str, change_day: date, first_occurrence_utc: datetime
) -> None:
    rotation = _rotation(start=(change_day - timedelta(days=1)).isoformat(), handoff=handoff, timeZone=zone)
    second_occurrence = first_occurrence_utc + timedelta(hours=1)
    # 45 minutes after the handoff the clock has gone back: it reads 15 minutes before the handoff time.
    after_but_earlier_on_the_clock = (first_occurrence_utc + timedelta(minutes=45)).astimezone(ZoneInfo(zone))
    assert after_but_earlier_on_the_clock.time() < time.fromisoformat(handoff)

    assert next_handoff(rotation, datetime.combine(change_day, time(0), tzinfo=ZoneInfo(zone))) == first_occurrence_utc
    assert on_call(rotation, first_occurrence_utc - TICK) == ALICE
    assert on_call(rotation, first_occurrence_utc) == BOB
    assert on_call(rotation, after_but_earlier_on_the_clock) == BOB
    assert on_call(rotation, second_occurrence) == BOB
    assert next_handoff(rotation, second_occurrence) == first_occurrence_utc + timedelta(hours=24 + 1)


@pytest.mark.parametrize(
    ("start", "handoff_utc", "length"),
    [
        ("2024-03-25", _utc(2024, 4, 1, 7), timedelta(days=7, hours=-1)),
        ("2024-10-21", _utc(2024, 10, 28, 8), timedelta(days=7, hours=1)),
    ],
)
def test_a_weekly_rotation_spanning_a_change_hands_off_at_nine_local(
    start: str, handoff_utc: datetime, length: timedelta
) -> None:
    rotation = _rotation(members=[ALICE, BOB], rotationDays=7, start=start)
    first = datetime.combine(date.fromisoformat(start), time(9), tzinfo=BERLIN)

    assert next_handoff(rotation, first) == handoff_utc
    assert handoff_utc - first == length
    assert on_call(rotation, handoff_utc - TICK) == ALICE
    assert on_call(rotation, handoff_utc) == BOB


# Validation


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "berlin"])
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        _rotation(timeZone=zone)


def test_a_rotation_needs_members() -> None:
    with pytest.raises(ValidationError, match="members"):
        _rotation(members=[])


@pytest.mark.parametrize("members", [["Alice"], [""], ["a@b@c"], ["alice @example.com"]])
def test_members_must_be_emails(members: list[str]) -> None:
    with pytest.raises(ValidationError, match="is not an email address"):
        _rotation(members=members)


@pytest.mark.parametrize(
    "handoff", ["9am", "9:00", "24:00", "09:60", "09:00:00", "09:00+02:00", 900, time(9, tzinfo=UTC)]
)
def test_a_bad_handoff_is_refused(handoff: object) -> None:
    with pytest.raises(ValidationError, match="handoff must be a local wall-clock time HH:MM"):
        _rotation(handoff=handoff)


def test_a_handoff_may_be_given_as_a_time() -> None:
    assert _rotation(handoff=time(7, 30)).handoff == time(7, 30)


def test_a_rotation_lasts_at_least_a_day() -> None:
    with pytest.raises(ValidationError, match="rotationDays"):
        _rotation(rotationDays=0)


def test_an_override_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="must end after it starts"):
        Override(user=ALICE, start=_utc(2024, 1, 2), end=_utc(2024, 1, 2))


def test_override_times_must_be_aware() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Override.model_validate({"user": ALICE, "start": "2024-01-02T10:00", "end": "2024-01-02T12:00Z"})


def test_the_instant_asked_about_must_be_aware() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        on_call(_rotation(), datetime(2024, 1, 9, 12))
    with pytest.raises(ValueError, match="no time zone"):
        next_handoff(_rotation(), datetime(2024, 1, 9, 12))
