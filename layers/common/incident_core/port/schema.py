"""The bundle's blueprints (port/blueprints/, shipped in the layer as `blueprints/` beside this file) and the
check Port applies to an entity before it accepts it, so an entity is checked here before it is sent.

Port's property definitions are JSON-schema keywords (`type`, `enum`, `format`, `items`, `minimum`, `maximum`),
and Port answers 422 when an entity does not match: a property the blueprint does not define, a wrong type, a
value outside the enum, a malformed `date-time`/`url`/`email`, a required property that is absent or null.
A null optional property is accepted (Port's own integrations send nulls). A relation must be defined on the
blueprint, hold one identifier unless it is `many`, and be given when it is `required`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from incident_core.errors import ConfigurationError

BLUEPRINTS_DIR = Path(__file__).resolve().parent / "blueprints"

# Port's entity identifier: ^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$, at most 1000 characters.
_IDENTIFIER_MAX = 1000
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _is_date_time(value: str) -> bool:
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00").replace("t", "T"))
    except ValueError:
        return False
    return True


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _is_date_time,
    "url": _is_url,
    "email": lambda value: bool(_EMAIL.match(value)),
}
"""Formats Port checks that the bundle's blueprints use; the others (markdown, user, team...) are any string."""


def _value_problem(name: str, definition: dict[str, Any], value: Any) -> str | None:
    kind = definition.get("type")
    expected = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
    # bool is an int in Python, and not a number in JSON.
    if expected is not None and (not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool))):
        return f"{name}: {type(value).__name__} is not of type {kind}"
    enum = definition.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{name}: {value!r} is not one of {enum}"
    check = _FORMATS.get(str(definition.get("format")))
    if check is not None and isinstance(value, str) and not check(value):
        return f"{name}: {value!r} is not a valid {definition['format']}"
    if kind == "number" and not definition.get("minimum", value) <= value <= definition.get("maximum", value):
        return f"{name}: {value} is outside [{definition.get('minimum', '')}, {definition.get('maximum', '')}]"
    if kind == "array" and isinstance(definition.get("items"), dict):
        for index, item in enumerate(value):
            problem = _value_problem(f"{name}[{index}]", definition["items"], item)
            if problem is not None:
                return problem
    return None


def _identifier_problem(identifier: Any) -> str | None:
    if not isinstance(identifier, str) or not identifier:
        return "identifier: missing"
    if len(identifier) > _IDENTIFIER_MAX or identifier in (".", ".."):
        return f"identifier: {identifier[:60]!r} is not a Port identifier"
    if not all(ch.isalpha() or ch in "0123456789@_.+:\\/=-" for ch in identifier):
        return f"identifier: {identifier[:60]!r} has characters Port does not allow"
    return None


@dataclass(frozen=True)
class BlueprintSchema:
    """What one blueprint accepts, read from its JSON (as in port/blueprints/ or as Port returns it)."""

    identifier: str
    properties: dict[str, dict[str, Any]]
    required: frozenset[str]
    relations: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, blueprint: dict[str, Any]) -> BlueprintSchema:
        schema = blueprint.get("schema", {})
        return cls(
            identifier=str(blueprint["identifier"]),
            properties=dict(schema.get("properties", {})),
            required=frozenset(schema.get("required", [])),
            relations=dict(blueprint.get("relations", {})),
        )

    def problems(self, entity: dict[str, Any]) -> list[str]:
        """Why Port would refuse `entity` for this blueprint (empty when it would accept it)."""
        problems = [p for p in [_identifier_problem(entity.get("identifier"))] if p is not None]
        properties = entity.get("properties", {})
        for name in sorted(self.required):
            if properties.get(name) is None:
                problems.append(f"{name}: required, but {'null' if name in properties else 'absent'}")
        for name, value in properties.items():
            definition = self.properties.get(name)
            if definition is None:
                problems.append(f"{name}: not a property of blueprint {self.identifier!r}")
            elif value is not None:
                problem = _value_problem(name, definition, value)
                if problem is not None:
                    problems.append(problem)
        relations = entity.get("relations", {})
        for name, value in relations.items():
            relation = self.relations.get(name)
            if relation is None:
                problems.append(f"relation {name}: not a relation of blueprint {self.identifier!r}")
            elif isinstance(value, list) and not relation.get("many", False):
                problems.append(f"relation {name}: takes one identifier, not a list")
        for name, relation in self.relations.items():
            if relation.get("required", False) and relations.get(name) in (None, []):
                problems.append(f"relation {name}: required, but absent")
        return problems


@cache
def bundle_blueprint(name: str) -> BlueprintSchema:
    """The schema of the bundle's blueprint `name` (its file name in port/blueprints/, e.g. `alert`)."""
    path = BLUEPRINTS_DIR / f"{name}.json"
    try:
        return BlueprintSchema.of(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"The bundle's blueprint {name!r} is not readable at {path}: {exc}") from exc
