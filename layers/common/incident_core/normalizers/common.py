"""Helpers every source normalizer shares: the general rules of the normalization contract.

Absent values, case-insensitive lookups, the shared severity table, times without binary floats,
the `externalId` requirement and a bounded `rawPayload` live here once, so each source module holds
only its own mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from incident_core.errors import MalformedRequest
from incident_core.models import Severity, Source

T = TypeVar("T")

Headers = Mapping[str, str]
"""Request headers with lower-cased names (see `lower_headers`)."""

ZERO_TIME_PREFIX = "0001-01-01T00:00:00"
RAW_PAYLOAD_LIMIT_BYTES = 200_000
"""Each alert travels alone through SQS (256 KiB) and Port (1 MiB per request); keep room for the rest."""
DESCRIPTION_LIMIT = 16_000
"""Characters; a readable summary, not a copy of the payload (that is `rawPayload`)."""


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def load_json_object(body: bytes) -> dict[str, Any]:
    """Parse the body; decimals stay `Decimal` so epoch fractions are never rounded through a float."""
    try:
        payload = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRequest("body", f"not valid JSON ({exc.__class__.__name__})") from exc
    if not isinstance(payload, dict):
        raise MalformedRequest("body", "expected a JSON object")
    return payload


def dig(obj: Any, *path: str | int) -> Any:
    """Follow keys and list indexes; None as soon as a step is missing or of the wrong type."""
    current = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return None
            current = current[step]
        elif isinstance(current, Mapping):
            current = current.get(step)
        else:
            return None
    return current


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (an absent object has no fields)."""
    return value if isinstance(value, Mapping) else {}


def text(value: Any) -> str | None:
    """The trimmed text of a value, or None when absent (missing, null, or blank after trimming)."""
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    if isinstance(value, Decimal):
        value = format(value, "f")
    stripped = str(value).strip()
    return stripped or None


def first_text(*values: Any) -> str | None:
    for value in values:
        found = text(value)
        if found is not None:
            return found
    return None


def lookup(table: Mapping[str, T], value: Any) -> T | None:
    """Case-insensitive lookup on the trimmed value; a value outside the table counts as absent."""
    key = text(value)
    return None if key is None else table.get(key.lower())


SHARED_SEVERITY: dict[str, Severity] = {
    **dict.fromkeys(("critical", "crit", "fatal", "emergency", "p1", "sev1", "sev-1"), Severity.CRITICAL),
    **dict.fromkeys(("high", "error", "major", "p2", "sev2", "sev-2"), Severity.HIGH),
    **dict.fromkeys(("warning", "warn", "medium", "minor", "p3", "sev3", "sev-3"), Severity.WARNING),
    **dict.fromkeys(("info", "informational", "low", "none", "debug", "p4", "p5", "sev4", "sev5"), Severity.INFO),
}


def shared_severity(value: Any) -> Severity:
    """The shared table of label-based sources; anything else (or nothing) is a warning."""
    return lookup(SHARED_SEVERITY, value) or Severity.WARNING


def format_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, truncated to milliseconds."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?$"
)


def rfc3339(value: Any, field: str) -> str | None:
    """Parse an RFC 3339 time with any number of fractional digits; no offset means UTC.

    The zero time (`0001-01-01T00:00:00Z`, "no end" in Go) is None.
    """
    raw = text(value)
    if raw is None or raw.startswith(ZERO_TIME_PREFIX):
        return None
    match = _RFC3339.match(raw)
    if match is None:
        raise MalformedRequest(field, f"not an RFC 3339 time: {raw[:64]!r}")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    offset = match["offset"] or "Z"
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{offset}")
    except ValueError as exc:
        raise MalformedRequest(field, f"not a valid time: {raw[:64]!r}") from exc
    return format_utc(moment)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch(value: Any, field: str, units_per_second: int) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    try:
        number = Decimal(raw)
        # Whole milliseconds, truncated in decimal: 1775645211.9999996 s is ...:51.999Z, never rounded up.
        millis = int(number * 1000 / units_per_second)
    except (InvalidOperation, ArithmeticError, ValueError) as exc:
        raise MalformedRequest(field, f"not a number: {raw[:64]!r}") from exc
    try:
        return format_utc(_EPOCH + timedelta(milliseconds=millis))
    except (OverflowError, ValueError) as exc:
        raise MalformedRequest(field, f"time out of range: {raw[:64]!r}") from exc


def epoch_millis(value: Any, field: str) -> str | None:
    return _epoch(value, field, 1000)


def epoch_seconds(value: Any, field: str) -> str | None:
    return _epoch(value, field, 1)


def require_external_id(value: str | None, field: str) -> str:
    if value is None:
        raise MalformedRequest(field, "required to identify the alert, but absent")
    return value


def default_title(source: Source, external_id: str) -> str:
    return f"{source.display_name} alert {external_id}"


def describe(lines: Iterable[tuple[str, Any]]) -> str:
    """Readable text from labelled values: one `label: value` line each, absent values skipped."""
    rendered = []
    for label, value in lines:
        if isinstance(value, Mapping):
            value = ", ".join(f"{k}={text(v)}" for k, v in value.items() if text(v) is not None)
        elif isinstance(value, list):
            value = ", ".join(t for t in (text(v) for v in value) if t is not None)
        shown = text(value)
        if shown is not None:
            rendered.append(shown if not label else f"{label}: {shown}")
    joined = "\n".join(rendered)
    return joined if len(joined) <= DESCRIPTION_LIMIT else joined[: DESCRIPTION_LIMIT - 1] + "…"


def plain_json(value: Any) -> Any:
    """Turn the Decimals of `load_json_object` back into JSON numbers for `rawPayload`."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    return value


def raw_payload(value: Mapping[str, Any]) -> dict[str, Any]:
    """The element's own part of the payload, replaced by a marked excerpt when it is too large."""
    plain = plain_json(value)
    encoded = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) <= RAW_PAYLOAD_LIMIT_BYTES:
        return plain  # type: ignore[no-any-return]
    # Cut by bytes, and leave room for JSON escapes when the excerpt is serialized again.
    excerpt = encoded[: RAW_PAYLOAD_LIMIT_BYTES // 8].decode(errors="ignore")
    return {"truncated": True, "originalBytes": len(encoded), "excerpt": excerpt}
