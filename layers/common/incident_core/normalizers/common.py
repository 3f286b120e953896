"""The general rules of the normalization contract that every source module shares.

The shared severity table, times read from named fields, the `externalId` requirement, readable
descriptions and a bounded `rawPayload` live here once, so each source module holds only its own mapping.
Generic helpers (text of a value, paths, time formats) are in `incident_core.support`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from incident_core.bounds import check_identifier
from incident_core.errors import MalformedRequest
from incident_core.models import Severity, Source
from incident_core.support.numbers import LiteralFloat
from incident_core.support.text import lookup, text
from incident_core.support.time import utc_from_epoch, utc_from_rfc3339

Headers = Mapping[str, str]
"""Request headers with lower-cased names (see `lower_headers`)."""

RAW_PAYLOAD_LIMIT_BYTES = 200_000
"""Each alert travels alone through SQS (1 MiB) and Port (1 MiB per request), and is stored in one
DynamoDB item (400 KB) beside its description; keep room for the rest."""
RAW_PAYLOAD_GROWTH = 4.5
"""How much longer than its part of the body a rawPayload can be once encoded: strings never grow (the body
had to escape what the encoder escapes), and a number at most 4.5-fold (`1e15` is `1000000000000000.0`)."""
DESCRIPTION_LIMIT = 16_000
"""Characters; a readable summary, not a copy of the payload (that is `rawPayload`)."""
TITLE_LIMIT = 1_000
"""Characters; a title is a line, and the stored and queued alert must stay within its limits."""


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


SHARED_SEVERITY: dict[str, Severity] = {
    **dict.fromkeys(("critical", "crit", "fatal", "emergency", "p1", "sev1", "sev-1"), Severity.CRITICAL),
    **dict.fromkeys(("high", "error", "major", "p2", "sev2", "sev-2"), Severity.HIGH),
    **dict.fromkeys(("warning", "warn", "medium", "minor", "p3", "sev3", "sev-3"), Severity.WARNING),
    **dict.fromkeys(("info", "informational", "low", "none", "debug", "p4", "p5", "sev4", "sev5"), Severity.INFO),
}


def shared_severity(value: Any) -> Severity:
    """The shared table of label-based sources; anything else (or nothing) is a warning."""
    return lookup(SHARED_SEVERITY, value) or Severity.WARNING


def rfc3339(value: Any, field: str) -> str | None:
    """An RFC 3339 time with any number of fractional digits (no offset means UTC); the zero time
    (`0001-01-01T00:00:00Z`, "no end" in Go) and an absent value are None."""
    raw = text(value)
    if raw is None:
        return None
    try:
        return utc_from_rfc3339(raw)
    except ValueError:
        raise MalformedRequest(field, f"not an RFC 3339 time: {raw[:64]!r}") from None


def _epoch(value: Any, field: str, units_per_second: int) -> str | None:
    if type(value) is int:  # the common case: an exact JSON integer
        number: int | Decimal = value
    else:
        raw = text(value)
        if raw is None:
            return None
        try:
            if type(value) is LiteralFloat:  # the fraction as written, never rounded through binary
                number = Decimal(value.literal)
            else:
                number = int(raw) if raw.isascii() and raw.isdigit() else Decimal(raw)
        except (InvalidOperation, ValueError):
            raise MalformedRequest(field, f"not a number: {raw[:64]!r}") from None
    try:
        return utc_from_epoch(number, units_per_second)
    except ValueError:
        raise MalformedRequest(field, f"time out of range: {str(value)[:64]!r}") from None


def epoch_millis(value: Any, field: str) -> str | None:
    return _epoch(value, field, 1000)


def epoch_seconds(value: Any, field: str) -> str | None:
    return _epoch(value, field, 1)


def require_external_id(value: str | None, field: str) -> str:
    if value is None:
        raise MalformedRequest(field, "required to identify the alert, but absent")
    return check_identifier(value, field)


def default_title(source: Source, external_id: str) -> str:
    return f"{source.display_name} alert {external_id}"


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def describe(lines: Iterable[tuple[str, Any]]) -> str:
    """Readable text from labelled values: one `label: value` line each, absent values skipped.

    A list shows its present items, an object its `key=value` pairs. Exact types first: this runs for
    every alert, and most values are strings or one-string lists.
    """
    rendered = []
    for label, value in lines:
        kind = type(value)
        if kind is str:
            shown: str | None = value.strip()
        elif value is None:
            continue
        elif kind is list:
            if len(value) == 1 and type(value[0]) is str:
                shown = value[0].strip()
            else:
                shown = ", ".join([t for v in value if (t := text(v)) is not None])
        elif kind is dict:
            shown = ", ".join(
                [f"{k}={t}" for k, v in value.items() if (t := v.strip() if type(v) is str else text(v))]
            ).strip()
        else:
            shown = text(value)
        if shown:
            rendered.append(label + ": " + shown if label else shown)
    return clip("\n".join(rendered), DESCRIPTION_LIMIT)


def raw_payload(value: dict[str, Any]) -> dict[str, Any]:
    """`value`, or a marked excerpt of it when its JSON is over RAW_PAYLOAD_LIMIT_BYTES."""
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) <= RAW_PAYLOAD_LIMIT_BYTES:
        return value
    # Cut by bytes, and leave room for JSON escapes when the excerpt is serialized again.
    excerpt = encoded[: RAW_PAYLOAD_LIMIT_BYTES // 8].decode(errors="ignore")
    return {"truncated": True, "originalBytes": len(encoded), "excerpt": excerpt}


SAFE_BODY_BYTES = int(RAW_PAYLOAD_LIMIT_BYTES / RAW_PAYLOAD_GROWTH)
"""No part of a body up to this long can encode over RAW_PAYLOAD_LIMIT_BYTES, so none is measured."""
