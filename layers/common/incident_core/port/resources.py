"""Port resources as code: the JSON under the repository's `port/` folder, planned against Port and applied.

    resources = load_resources(Path("port"), service_blueprint="microservice", api_url=stack_api_url)
    plan = plan_resources(client, resources)   # reads Port, writes nothing
    print(plan.summary())
    apply_plan(client, plan)                   # creates/updates in dependency order

Folders map to kinds: `blueprints/` → blueprints (`/v1/blueprints`), `actions/` and `automations/` → actions
(Port keeps both under `/v1/actions`), `pages/` → pages (`/v1/pages`, a beta API that Port's published spec
leaves out; see `PortClient.get_page`). A JSON file in any other folder is refused rather than silently skipped.

The plan compares only the keys our JSON defines, so what Port adds (createdAt/updatedBy, default
`mirrorProperties`, a relation's `required: false`) is not drift. For the same reason a blueprint update
overlays our keys on what Port has: a property or relation someone added in Port's UI survives (PUT replaces
the whole blueprint and would otherwise delete it, with its data). Actions and pages are ours alone and are
replaced.

The bundle's blueprints relate to the user's own service blueprint; they name it `service`, and
`load_resources(..., service_blueprint=...)` points those references at the user's identifier: relation and
aggregation targets, an action's blueprint, its entity inputs (also in arrays and their datasets), and every
`blueprint` of a page's widgets. (A table widget's `blueprintConfig` is keyed by blueprint identifier and is
not renamed: keep `service` out of those keys.) Every blueprint a resource refers to must be one of ours or
already exist in Port; otherwise planning fails before anything is written.

Actions call this bundle's API, whose URL is known only once the stack is deployed: their JSON writes it as
`API_URL_PLACEHOLDER`, which `load_resources(..., api_url=...)` replaces; a resource that uses it cannot be
loaded without one. The token is a shell-style `${...}` so that it cannot be mistaken for Port's own `{{ jq }}`
templates in the same bodies.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from incident_core.errors import ConfigurationError
from incident_core.port.client import PortClient

BUNDLE_SERVICE_BLUEPRINT = "service"
API_URL_PLACEHOLDER = "${INCIDENT_LIFECYCLE_API_URL}"
API_URL_VARIABLE = "INCIDENT_LIFECYCLE_API_URL"

JsonObject = dict[str, Any]


class ResourceKind(StrEnum):
    BLUEPRINT = "blueprint"
    ACTION = "action"
    PAGE = "page"


class ChangeType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


class ResourceRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ResourceKind
    identifier: str

    def __str__(self) -> str:
        return f"{self.kind} {self.identifier!r}"


class PortResource(BaseModel):
    """One JSON file: the body Port receives, after the service blueprint was renamed and the API URL put in."""

    model_config = ConfigDict(frozen=True)

    kind: ResourceKind
    identifier: str
    source: str
    """The file, as `<port folder>/<kind folder>/<name>.json`: short enough for a CloudFormation reason."""
    body: JsonObject

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(kind=self.kind, identifier=self.identifier)


class PlannedChange(BaseModel):
    kind: ResourceKind
    identifier: str
    source: str
    change: ChangeType
    drift: list[str]
    """Dotted paths of our keys whose value differs in Port (empty unless `change` is update)."""
    request_body: JsonObject | None
    """What `apply_plan` sends (None when unchanged)."""

    def describe(self) -> str:
        line = f"{self.change.value:<9} {self.kind} {self.identifier} ({self.source})"
        return f"{line}: {', '.join(self.drift)}" if self.drift else line


class Plan(BaseModel):
    changes: list[PlannedChange]
    """In dependency order: a resource comes after every resource of ours it refers to."""

    @property
    def has_changes(self) -> bool:
        return any(change.change is not ChangeType.UNCHANGED for change in self.changes)

    def of_type(self, change: ChangeType) -> list[PlannedChange]:
        return [planned for planned in self.changes if planned.change is change]

    def summary(self) -> str:
        counts = (
            f"{len(self.of_type(ChangeType.CREATE))} to create, {len(self.of_type(ChangeType.UPDATE))} to update, "
            f"{len(self.of_type(ChangeType.UNCHANGED))} unchanged"
        )
        return "\n".join([*(planned.describe() for planned in self.changes), counts])


class MissingDependencyError(ConfigurationError):
    """A resource refers to a blueprint that is neither in port/ nor in Port; nothing was written."""

    def __init__(self, missing: Sequence[tuple[PortResource, ResourceRef]]) -> None:
        reasons = "; ".join(f"{resource.source} refers to {ref}" for resource, ref in missing)
        super().__init__(
            f"Port has no blueprint these resources need: {reasons}. Create it in Port first, or, if your "
            "services live in a blueprint with another identifier, pass it as the service blueprint."
        )
        self.missing = [ref for _resource, ref in missing]


@dataclass(frozen=True)
class _KindApi:
    """How one kind of resource is read, written, and linked to blueprints."""

    get: Callable[[PortClient, str], JsonObject | None]
    create: Callable[[PortClient, JsonObject], JsonObject]
    update: Callable[[PortClient, str, JsonObject], JsonObject]
    blueprint_references: Callable[[JsonObject], Iterator[tuple[JsonObject, str]]]
    """(dict, key) pairs whose value names a blueprint: edited to rename `service`, read for dependencies."""
    update_body: Callable[[JsonObject, JsonObject], JsonObject]
    """(ours, Port's current) → the body to send."""


def _blueprint_references(body: JsonObject) -> Iterator[tuple[JsonObject, str]]:
    for section in ("relations", "aggregationProperties"):
        for definition in body.get(section, {}).values():
            if isinstance(definition, dict) and isinstance(definition.get("target"), str):
                yield definition, "target"


def _action_references(body: JsonObject) -> Iterator[tuple[JsonObject, str]]:
    trigger = body.get("trigger", {})
    for holder in (trigger, trigger.get("event", {})):
        if isinstance(holder.get("blueprintIdentifier"), str):
            yield holder, "blueprintIdentifier"
    for user_input in trigger.get("userInputs", {}).get("properties", {}).values():
        # An entity input names its blueprint itself, in its array `items`, or in its dataset's rules.
        yield from _nested_blueprint_keys(user_input)


def _page_references(body: JsonObject) -> Iterator[tuple[JsonObject, str]]:
    """The page's own `blueprint` and those of its widgets, at any depth (dashboards nest widgets)."""
    yield from _nested_blueprint_keys(body)


def _nested_blueprint_keys(node: Any) -> Iterator[tuple[JsonObject, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("blueprint"), str):
            yield node, "blueprint"
        for value in node.values():
            yield from _nested_blueprint_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nested_blueprint_keys(item)


# Keys of PUT /v1/blueprints/{identifier}; the rest of Port's answer is metadata that must not be sent back.
_BLUEPRINT_WRITABLE_KEYS = (
    "identifier",
    "title",
    "description",
    "icon",
    "ownership",
    "schema",
    "calculationProperties",
    "mirrorProperties",
    "aggregationProperties",
    "relations",
    "changelogDestination",
)


def _blueprint_update_body(ours: JsonObject, current: JsonObject) -> JsonObject:
    kept = {key: current[key] for key in _BLUEPRINT_WRITABLE_KEYS if key in current}
    return _overlay(kept, ours)


def _replacement_body(ours: JsonObject, _current: JsonObject) -> JsonObject:
    return copy.deepcopy(ours)


KINDS: dict[ResourceKind, _KindApi] = {
    ResourceKind.BLUEPRINT: _KindApi(
        get=PortClient.get_blueprint,
        create=PortClient.create_blueprint,
        update=PortClient.update_blueprint,
        blueprint_references=_blueprint_references,
        update_body=_blueprint_update_body,
    ),
    ResourceKind.ACTION: _KindApi(
        get=PortClient.get_action,
        create=PortClient.create_action,
        update=PortClient.update_action,
        blueprint_references=_action_references,
        update_body=_replacement_body,
    ),
    ResourceKind.PAGE: _KindApi(
        get=PortClient.get_page,
        create=PortClient.create_page,
        update=PortClient.update_page,
        blueprint_references=_page_references,
        update_body=_replacement_body,
    ),
}

FOLDER_KINDS: dict[str, ResourceKind] = {
    "blueprints": ResourceKind.BLUEPRINT,
    "actions": ResourceKind.ACTION,
    "automations": ResourceKind.ACTION,
    "pages": ResourceKind.PAGE,
}


def load_resources(
    port_dir: Path, *, service_blueprint: str = BUNDLE_SERVICE_BLUEPRINT, api_url: str | None = None
) -> list[PortResource]:
    """Every resource under `port_dir`, with references to the `service` blueprint renamed and
    `API_URL_PLACEHOLDER` replaced by `api_url` (the stack's API base URL, e.g. its `ApiUrl` output)."""
    if not service_blueprint:
        raise ConfigurationError("The service blueprint identifier is empty.")
    if not port_dir.is_dir():
        raise ConfigurationError(f"{port_dir} is not a folder of Port resources.")
    base_url = None if api_url is None else _checked_api_url(api_url)
    resources: list[PortResource] = []
    seen: dict[ResourceRef, str] = {}
    for folder in sorted(path for path in port_dir.iterdir() if path.is_dir()):
        files = sorted(folder.glob("*.json"))
        kind = FOLDER_KINDS.get(folder.name)
        if kind is None:
            if files:
                known = ", ".join(sorted(FOLDER_KINDS))
                raise ConfigurationError(f"{folder} holds JSON, but only these folders are applied: {known}.")
            continue
        for path in files:
            resource = _load_file(path, path.relative_to(port_dir.parent), kind, service_blueprint, base_url)
            if resource.ref in seen:
                raise ConfigurationError(f"{path} and {seen[resource.ref]} both define {resource.ref}.")
            seen[resource.ref] = resource.source
            resources.append(resource)
    return resources


def _checked_api_url(api_url: str) -> str:
    parts = urlsplit(api_url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"The API URL {api_url!r} is not the base URL of the stack's API "
            "(like https://<api-id>.execute-api.<region>.amazonaws.com, the stack's ApiUrl output)."
        )
    return api_url.strip().rstrip("/")


def _load_file(
    path: Path, source: Path, kind: ResourceKind, service_blueprint: str, api_url: str | None
) -> PortResource:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("identifier"), str) or not body["identifier"]:
        raise ConfigurationError(f"{path} must be a JSON object with a string identifier.")
    for holder, key in KINDS[kind].blueprint_references(body):
        if holder[key] == BUNDLE_SERVICE_BLUEPRINT:
            holder[key] = service_blueprint
    if _put_api_url(body, api_url) and api_url is None:
        raise ConfigurationError(
            f"{source} calls this bundle's API, whose URL is not known: pass the stack's ApiUrl output as "
            f"--api-url (or set {API_URL_VARIABLE}), e.g. https://<api-id>.execute-api.<region>.amazonaws.com."
        )
    return PortResource(kind=kind, identifier=body["identifier"], source=str(source), body=body)


def _put_api_url(node: Any, api_url: str | None) -> bool:
    """Replace the placeholder in every string under `node` (when `api_url` is given); True if it was used."""
    keys: Sequence[Any]
    if isinstance(node, dict):
        keys = list(node)
    elif isinstance(node, list):
        keys = range(len(node))
    else:
        return False
    used = False
    for key in keys:
        value = node[key]
        if isinstance(value, str) and API_URL_PLACEHOLDER in value:
            used = True
            if api_url is not None:
                node[key] = value.replace(API_URL_PLACEHOLDER, api_url)
        elif _put_api_url(value, api_url):
            used = True
    return used


def plan_resources(client: PortClient, resources: Sequence[PortResource]) -> Plan:
    """Compare `resources` with Port. Reads only; raises `MissingDependencyError` for unknown blueprints."""
    ours = {resource.ref: resource for resource in resources}
    dependencies = {resource.ref: _dependencies(resource) for resource in resources}
    external = set().union(*dependencies.values()) - ours.keys()
    absent = {ref for ref in external if KINDS[ref.kind].get(client, ref.identifier) is None}
    missing = [
        (resource, ref) for resource in resources for ref in sorted(dependencies[resource.ref] & absent, key=str)
    ]
    if missing:
        raise MissingDependencyError(missing)
    return Plan(changes=[_planned(client, ours[ref]) for ref in _dependency_order(resources, dependencies)])


def apply_plan(client: PortClient, plan: Plan) -> list[PlannedChange]:
    """Create and update what `plan` says, in its order; returns the changes made."""
    applied = []
    for planned in plan.changes:
        if planned.request_body is None:
            continue
        api = KINDS[planned.kind]
        if planned.change is ChangeType.CREATE:
            api.create(client, planned.request_body)
        else:
            api.update(client, planned.identifier, planned.request_body)
        applied.append(planned)
    return applied


def _dependencies(resource: PortResource) -> set[ResourceRef]:
    return {
        ResourceRef(kind=ResourceKind.BLUEPRINT, identifier=holder[key])
        for holder, key in KINDS[resource.kind].blueprint_references(resource.body)
    } - {resource.ref}


def _dependency_order(
    resources: Sequence[PortResource], dependencies: dict[ResourceRef, set[ResourceRef]]
) -> list[ResourceRef]:
    """Resources after the ones of ours they refer to; otherwise in the order loaded."""
    pending = [resource.ref for resource in resources]
    ours = set(pending)
    ordered: list[ResourceRef] = []
    done: set[ResourceRef] = set()
    while pending:
        ready = [ref for ref in pending if (dependencies[ref] & ours) <= done]
        if not ready:
            cycle = ", ".join(str(ref) for ref in pending)
            raise ConfigurationError(
                f"These resources refer to each other in a cycle, so none can be created first: {cycle}."
            )
        ordered.extend(ready)
        done.update(ready)
        pending = [ref for ref in pending if ref not in done]
    return ordered


def _planned(client: PortClient, resource: PortResource) -> PlannedChange:
    api = KINDS[resource.kind]
    current = api.get(client, resource.identifier)
    body: JsonObject | None
    if current is None:
        change, drift, body = ChangeType.CREATE, [], copy.deepcopy(resource.body)
    else:
        drift = _drift(resource.body, current)
        change = ChangeType.UPDATE if drift else ChangeType.UNCHANGED
        body = api.update_body(resource.body, current) if drift else None
    return PlannedChange(
        kind=resource.kind,
        identifier=resource.identifier,
        source=resource.source,
        change=change,
        drift=drift,
        request_body=body,
    )


_ABSENT = object()


def _drift(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Paths where `theirs` differs from `ours`, looking only at keys `ours` has."""
    if theirs is _ABSENT:
        # Port may leave out a key we define as empty ({} / []): same meaning.
        return [] if ours in ({}, []) else [path]
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [path]
        return [
            difference
            for key, value in ours.items()
            for difference in _drift(value, theirs.get(key, _ABSENT), f"{path}.{key}" if path else key)
        ]
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [path]
        return [
            difference
            for index, (mine, other) in enumerate(zip(ours, theirs, strict=True))
            for difference in _drift(mine, other, f"{path}[{index}]")
        ]
    return [] if ours == theirs else [path]


def _overlay(base: JsonObject, ours: JsonObject) -> JsonObject:
    merged = copy.deepcopy(base)
    for key, value in ours.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
