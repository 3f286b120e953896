"""The one sentence a person needs from a pydantic validation error: which field, and what is wrong."""

from __future__ import annotations

from pydantic import ValidationError


def first_problem(error: ValidationError, *, default: str) -> tuple[str, str]:
    """(dotted field path, message) of the first error; `default` names the whole document."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return location or default, first["msg"]
