"""The text of a JSON value under the normalization contract's "absent" rule, and lookups by it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from incident_core.support.numbers import LiteralFloat

T = TypeVar("T")


def text(value: Any) -> str | None:
    """The trimmed text of a value, or None when absent (missing, null, or blank after trimming)."""
    kind = type(value)
    if kind is str:  # exact-type dispatch, most frequent first: nearly every value read is a string
        return value.strip() or None
    if value is None or kind is bool or kind is dict or kind is list:
        return None
    if kind is int:
        return str(value)
    if kind is LiteralFloat:
        value = format(Decimal(value.literal), "f")
    elif isinstance(value, Decimal):
        value = format(value, "f")
    elif isinstance(value, Mapping | list):
        return None
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
