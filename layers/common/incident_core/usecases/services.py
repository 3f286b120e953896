"""Which service an alert belongs to, read from its raw payload by the configured paths per source."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from incident_core.models import Alert
from incident_core.models.alert import port_identifier
from incident_core.support.paths import dig
from incident_core.support.text import text

TAG_PREFIX = "tag:"


def _path_steps(path: str) -> list[str | int]:
    return [int(step) if step.isdigit() else step for step in path.split(".") if step]


def _tag_value(tags: Any, key: str) -> str | None:
    """`key:value` items of a comma-separated string or list, or `[key, value]` pairs (Sentry's tags)."""
    items = tags.split(",") if isinstance(tags, str) else tags if isinstance(tags, list) else []
    for item in items:
        if isinstance(item, list) and len(item) == 2:
            name, value = str(item[0]), str(item[1])
        else:
            name, separator, value = str(item).strip().partition(":")
            if not separator:
                continue
        if name.strip().lower() == key.lower() and value.strip():
            return value.strip()
    return None


def read_path(payload: dict[str, Any], path: str) -> str | None:
    """`a.b.0.c` follows keys and indexes; `tag:<path>:<key>` reads a `key:value` tag list at `<path>`."""
    if path.startswith(TAG_PREFIX):
        location, _, key = path[len(TAG_PREFIX) :].rpartition(":")
        return _tag_value(dig(payload, *_path_steps(location)), key)
    return text(dig(payload, *_path_steps(path)))


def service_of(alert: Alert, paths: Iterable[str]) -> str | None:
    """The first service identifier the paths find, sanitized as a Port identifier."""
    for path in paths:
        found = read_path(alert.rawPayload, path)
        if found:
            return port_identifier(found)
    return None
