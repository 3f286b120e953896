"""Times as the bundle writes them: RFC 3339 in UTC with a `Z`, truncated to milliseconds.

Readers raise `ValueError` for what is not a time; callers say which field it was. Both readers are on
the ingest path, so the common cases (a UTC time, an integer epoch) are formatted from their parts without
datetime arithmetic.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache

ZERO_TIME_PREFIX = "0001-01-01T00:00:00"
"""Go's zero time, "no time" in Alertmanager and Grafana (`endsAt` of a firing alert)."""

_RFC3339 = re.compile(
    r"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))[Tt ]((?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d)"
    r"(?:\.(\d{1,3})\d*)?([Zz]|[+-]\d{2}:?\d{2})?"
)
_UTC_OFFSETS = frozenset({None, "Z", "z", "+00:00", "+0000", "-00:00", "-0000"})
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MILLIS_PER_DAY = 86_400_000
_MAX_MILLIS_DIGITS = 16
"""Epoch milliseconds of year 9999 have 15 digits; anything longer is out of range, decided before any big
arithmetic (an exponent such as 1E+100000 would otherwise cost a long conversion)."""


def format_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, truncated to milliseconds."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def utc_from_rfc3339(raw: str) -> str | None:
    """An RFC 3339 time with any number of fractional digits (no offset means UTC), in our format.

    The zero time is None.
    """
    if raw.startswith(ZERO_TIME_PREFIX):
        return None
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise ValueError("not an RFC 3339 time")
    day, clock, millis, offset = match.groups()
    if day[8:] > "28":  # the pattern allows a 31st in every month; the calendar refuses the days that do not exist
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ValueError("not an RFC 3339 time") from None
    millis = (millis or "").ljust(3, "0")
    if offset in _UTC_OFFSETS:
        return f"{day}T{clock}.{millis}Z"
    if len(offset) == 5:  # +hhmm
        offset = f"{offset[:3]}:{offset[3:]}"
    return format_utc(datetime.fromisoformat(f"{day}T{clock}.{millis}{offset}"))


def utc_from_epoch(number: int | Decimal, units_per_second: int) -> str:
    """Epoch seconds or milliseconds, truncated (in decimal, never rounded up) to whole milliseconds."""
    if isinstance(number, Decimal):
        if not number.is_finite() or number.adjusted() > _MAX_MILLIS_DIGITS:
            raise ValueError("out of range")
        millis = int(number * 1000 / units_per_second)
    elif units_per_second == 1000:
        millis = number
    else:
        millis = number * (1000 // units_per_second)
    days, millis = divmod(millis, _MILLIS_PER_DAY)
    seconds, millis = divmod(millis, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return "%sT%02d:%02d:%02d.%03dZ" % (_day(days), hours, minutes, seconds, millis)  # noqa: UP031 - fastest


@lru_cache(maxsize=1024)
def _day(days_since_epoch: int) -> str:
    """The date of a day number; alerts cluster on a few days, so each is formatted once."""
    try:
        return date.fromordinal(_EPOCH_ORDINAL + days_since_epoch).isoformat()
    except (OverflowError, ValueError):
        raise ValueError("out of range") from None
