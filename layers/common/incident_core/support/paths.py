"""Paths into parsed JSON documents: keys and list indexes, with absent steps giving None."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dig(obj: Any, *path: str | int) -> Any:
    """Follow keys and list indexes; None as soon as a step is missing or of the wrong type."""
    current = obj
    for step in path:
        if type(step) is int:
            if type(current) is not list or not -len(current) <= step < len(current):
                return None
            current = current[step]
        elif type(current) is dict or isinstance(current, Mapping):
            current = current.get(step)
        else:
            return None
    return current


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (an absent object has no fields)."""
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def sequence(value: Any) -> list[Any]:
    """`value` when it is a JSON array, else an empty one."""
    return value if type(value) is list else []
