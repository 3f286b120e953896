"""Port resources as code: the JSON under the repository's `port/` folder, planned against Port and applied.

    resources = load_resources(Path("port"), service_blueprint="microservice", api_url=stack_api_url)
    plan = plan_resources(client, resources)   # reads Port, writes nothing
    print(plan.summary())
    apply_plan(client, plan)                   # creates/updates in dependency order

Folders map to kinds: `blueprints/` → blueprints (`/v1/blueprints`), `actions/` and `automations/` → actions
(Port keeps both under `/v1/actions`), `pages/` → pages (`/v1/pages`, a beta API that Port's published spec
leaves out; see `PortClient.get_page`), `entities/<blueprint>/` → entities of that blueprint (the example
escalation policy and on-call rotation: data the bundle reads, so that a fresh install can escalate at once).
A JSON file in any other folder is refused rather than silently skipped.

The plan compares only the keys our JSON defines, so what Port adds (createdAt/updatedBy, default
`mirrorProperties`, a relation's `required: false`) is not drift. For the same reason a blueprint update
overlays our keys on what Port has: a property or relation someone added in Port's UI survives (PUT replaces
the whole blueprint and would otherwise delete it, with its data). Actions and pages are ours alone and are
replaced. Entities are written with Port's merge upsert, for creating and updating alike: our properties and
relations are set, one a person added in Port survives, and one removed from our JSON stays in Port. So an
edit made in Port to one of our keys is drift, and the next apply puts our value back. An entity comes after
its blueprint; its relations must name entities that Port already has.

The bundle's blueprints relate to the user's own service blueprint; they name it `service`, and
`load_resources(..., service_blueprint=...)` points those references at the user's identifier: relation and
aggregation targets, an action's blueprint, its entity inputs (also in arrays and their datasets), every
`blueprint` of a page's widgets (and the keys of a table widget's `blueprintConfig`), and the blueprint of the
entities in `entities/service/`. The bundle's own `incident` blueprint is renamed the same way by
`incident_blueprint=...` (its identifier too), so that it need not collide with an `incident` blueprint the
organization already has (Port's incident pattern uses that identifier). Every blueprint a resource refers to
must be one of ours or already exist in Port; otherwise planning fails before anything is written.

Nothing of the user's is overwritten: a blueprint update that would break what Port holds (a property whose
type or format changes, an enum that loses values or appears on a free property, a relation whose target or
cardinality changes, a new required property on a blueprint that has entities) is listed by the plan as
breaking, and `apply_plan` refuses the whole plan with a sentence that says what and how to avoid it.

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

from incident_core.errors import BreakingChangeError, ConfigurationError, MissingDependencyError
from incident_core.port.client import PortClient

BUNDLE_SERVICE_BLUEPRINT = "service"
BUNDLE_INCIDENT_BLUEPRINT = "incident"
API_URL_PLACEHOLDER = "${INCIDENT_LIFECYCLE_API_URL}"
API_URL_VARIABLE = "INCIDENT_LIFECYCLE_API_URL"

JsonObject = dict[str, Any]


class ResourceKind(StrEnum):
    BLUEPRINT = "blueprint"
    ACTION = "action"
    PAGE = "page"
    ENTITY = "entity"


class ChangeType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


class ResourceRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ResourceKind
    identifier: str
    blueprint: str | None = None
    """The blueprint of an entity (whose identifier is unique only within it); None for the other kinds."""

    def __str__(self) -> str:
        if self.blueprint is None:
            return f"{self.kind} {self.identifier!r}"
        return f"{self.kind} {self.identifier!r} of blueprint {self.blueprint!r}"


class PortResource(BaseModel):
    """One JSON file: the body Port receives, after the service blueprint was renamed and the API URL put in."""

    model_config = ConfigDict(frozen=True)

    kind: ResourceKind
    identifier: str
    source: str
    """The file, as `<port folder>/<kind folder>/<name>.json`: short enough for a CloudFormation reason."""
    body: JsonObject
    blueprint: str | None = None
    """An entity's blueprint: its folder under `entities/` (renamed if it is `service`)."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(kind=self.kind, identifier=self.identifier, blueprint=self.blueprint)


class PlannedChange(BaseModel):
    kind: ResourceKind
    identifier: str
    source: str
    change: ChangeType
    drift: list[str]
    """Dotted paths of our keys whose value differs in Port (empty unless `change` is update)."""
    request_body: JsonObject | None
    """What `apply_plan` sends (None when unchanged)."""
    blueprint: str | None = None
    """An entity's blueprint; None for the other kinds."""
    breaking: list[str] = []
    """Why this update would break what Port holds (a blueprint's changed type, narrowed enum...): refused."""

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(kind=self.kind, identifier=self.identifier, blueprint=self.blueprint)

    def describe(self) -> str:
        name = self.identifier if self.blueprint is None else f"{self.blueprint}/{self.identifier}"
        line = f"{self.change.value:<9} {self.kind} {name} ({self.source})"
        line = f"{line}: {', '.join(self.drift)}" if self.drift else line
        return "\n".join([line, *(f"  BREAKING: {reason}" for reason in self.breaking)])


class Plan(BaseModel):
    changes: list[PlannedChange]
    """In dependency order: a resource comes after every resource of ours it refers to."""

    @property
    def has_changes(self) -> bool:
        return any(change.change is not ChangeType.UNCHANGED for change in self.changes)

    def of_type(self, change: ChangeType) -> list[PlannedChange]:
        return [planned for planned in self.changes if planned.change is change]

    @property
    def breaking(self) -> list[PlannedChange]:
        return [planned for planned in self.changes if planned.breaking]

    def summary(self) -> str:
        counts = (
            f"{len(self.of_type(ChangeType.CREATE))} to create, {len(self.of_type(ChangeType.UPDATE))} to update, "
            f"{len(self.of_type(ChangeType.UNCHANGED))} unchanged"
        )
        lines = [*(planned.describe() for planned in self.changes), counts]
        if self.breaking:
            lines.append(BreakingChangeError([(p.identifier, p.breaking) for p in self.breaking]).message)
        return "\n".join(lines)


@dataclass(frozen=True)
class _KindApi:
    """How one kind of resource is read, written, and linked to blueprints."""

    get: Callable[[PortClient, ResourceRef], JsonObject | None]
    create: Callable[[PortClient, ResourceRef, JsonObject], object]
    update: Callable[[PortClient, ResourceRef, JsonObject], object]
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


def _no_references(_body: JsonObject) -> Iterator[tuple[JsonObject, str]]:
    """An entity names no blueprint in its body: its blueprint is its folder (see `_dependencies`)."""
    return iter(())


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


def _entity_blueprint(ref: ResourceRef) -> str:
    if ref.blueprint is None:
        raise ValueError(f"{ref} has no blueprint: an entity is addressed by blueprint and identifier")
    return ref.blueprint


def _get_entity(client: PortClient, ref: ResourceRef) -> JsonObject | None:
    return client.get_entity(_entity_blueprint(ref), ref.identifier)


def _upsert_entity(client: PortClient, ref: ResourceRef, body: JsonObject) -> None:
    """Create or update: Port's merge upsert sets our keys and leaves the entity's other ones alone."""
    client.upsert_entities(_entity_blueprint(ref), [body])


KINDS: dict[ResourceKind, _KindApi] = {
    ResourceKind.BLUEPRINT: _KindApi(
        get=lambda client, ref: client.get_blueprint(ref.identifier),
        create=lambda client, _ref, body: client.create_blueprint(body),
        update=lambda client, ref, body: client.update_blueprint(ref.identifier, body),
        blueprint_references=_blueprint_references,
        update_body=_blueprint_update_body,
    ),
    ResourceKind.ACTION: _KindApi(
        get=lambda client, ref: client.get_action(ref.identifier),
        create=lambda client, _ref, body: client.create_action(body),
        update=lambda client, ref, body: client.update_action(ref.identifier, body),
        blueprint_references=_action_references,
        update_body=_replacement_body,
    ),
    ResourceKind.PAGE: _KindApi(
        get=lambda client, ref: client.get_page(ref.identifier),
        create=lambda client, _ref, body: client.create_page(body),
        update=lambda client, ref, body: client.update_page(ref.identifier, body),
        blueprint_references=_page_references,
        update_body=_replacement_body,
    ),
    ResourceKind.ENTITY: _KindApi(
        get=_get_entity,
        create=_upsert_entity,
        update=_upsert_entity,
        blueprint_references=_no_references,
        update_body=_replacement_body,
    ),
}

ENTITIES_FOLDER = "entities"
FOLDER_KINDS: dict[str, ResourceKind] = {
    "blueprints": ResourceKind.BLUEPRINT,
    "actions": ResourceKind.ACTION,
    "automations": ResourceKind.ACTION,
    "pages": ResourceKind.PAGE,
    ENTITIES_FOLDER: ResourceKind.ENTITY,
}


def load_resources(
    port_dir: Path,
    *,
    service_blueprint: str = BUNDLE_SERVICE_BLUEPRINT,
    incident_blueprint: str = BUNDLE_INCIDENT_BLUEPRINT,
    api_url: str | None = None,
) -> list[PortResource]:
    """Every resource under `port_dir`, with the `service` and `incident` blueprints renamed (references and
    identifiers) and `API_URL_PLACEHOLDER` replaced by `api_url` (the stack's API base URL, its `ApiUrl`)."""
    renames = _renames(port_dir, service_blueprint, incident_blueprint)
    base_url = None if api_url is None else _checked_api_url(api_url)
    resources: list[PortResource] = []
    for folder in sorted(path for path in port_dir.iterdir() if path.is_dir()):
        kind = FOLDER_KINDS.get(folder.name)
        if kind is None:
            if any(folder.glob("*.json")):
                known = ", ".join(sorted(FOLDER_KINDS))
                raise ConfigurationError(f"{folder} holds JSON, but only these folders are applied: {known}.")
            continue
        resources.extend(_load_folder(port_dir, folder, kind, renames, base_url))
    return _unique(resources)


def load_entities(port_dir: Path, *, service_blueprint: str = BUNDLE_SERVICE_BLUEPRINT) -> list[PortResource]:
    """Only the entities under `port_dir/entities/`: for a catalog kept without Port (the local stack), which
    needs no actions and so no API URL."""
    renames = _renames(port_dir, service_blueprint, BUNDLE_INCIDENT_BLUEPRINT)
    folder = port_dir / ENTITIES_FOLDER
    if not folder.is_dir():
        return []
    return _unique(_load_folder(port_dir, folder, ResourceKind.ENTITY, renames, None))


def _renames(port_dir: Path, service_blueprint: str, incident_blueprint: str) -> dict[str, str]:
    if not service_blueprint:
        raise ConfigurationError("The service blueprint identifier is empty.")
    if not incident_blueprint:
        raise ConfigurationError("The incident blueprint identifier is empty.")
    if service_blueprint == incident_blueprint:
        raise ConfigurationError(f"The service and incident blueprints cannot both be {service_blueprint!r}.")
    if not port_dir.is_dir():
        raise ConfigurationError(f"{port_dir} is not a folder of Port resources.")
    return {BUNDLE_SERVICE_BLUEPRINT: service_blueprint, BUNDLE_INCIDENT_BLUEPRINT: incident_blueprint}


def _load_folder(
    port_dir: Path, folder: Path, kind: ResourceKind, renames: dict[str, str], api_url: str | None
) -> list[PortResource]:
    """The JSON files of one kind's folder; entities sit one level deeper, in a folder named after their blueprint."""
    if kind is not ResourceKind.ENTITY:
        return [
            _load_file(path, path.relative_to(port_dir.parent), kind, renames, api_url)
            for path in sorted(folder.glob("*.json"))
        ]
    stray = sorted(folder.glob("*.json"))
    if stray:
        raise ConfigurationError(
            f"{stray[0]} names no blueprint: put each entity in {folder}/<blueprint identifier>/, "
            f"like {folder}/escalationPolicy/default.json."
        )
    resources = []
    for blueprint_folder in sorted(path for path in folder.iterdir() if path.is_dir()):
        name = blueprint_folder.name
        blueprint = renames.get(name, name)
        for path in sorted(blueprint_folder.glob("*.json")):
            source = path.relative_to(port_dir.parent)
            resources.append(_load_file(path, source, kind, renames, api_url, blueprint=blueprint))
    return resources


def _unique(resources: list[PortResource]) -> list[PortResource]:
    seen: dict[ResourceRef, str] = {}
    for resource in resources:
        if resource.ref in seen:
            raise ConfigurationError(f"{resource.source} and {seen[resource.ref]} both define {resource.ref}.")
        seen[resource.ref] = resource.source
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
    path: Path,
    source: Path,
    kind: ResourceKind,
    renames: dict[str, str],
    api_url: str | None,
    *,
    blueprint: str | None = None,
) -> PortResource:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("identifier"), str) or not body["identifier"]:
        raise ConfigurationError(f"{path} must be a JSON object with a string identifier.")
    for holder, key in KINDS[kind].blueprint_references(body):
        holder[key] = renames.get(holder[key], holder[key])
    if kind is ResourceKind.BLUEPRINT:
        body["identifier"] = renames.get(body["identifier"], body["identifier"])
    _rename_config_keys(body, renames)
    if _put_api_url(body, api_url) and api_url is None:
        raise ConfigurationError(
            f"{source} calls this bundle's API, whose URL is not known: pass the stack's ApiUrl output as "
            f"--api-url (or set {API_URL_VARIABLE}), e.g. https://<api-id>.execute-api.<region>.amazonaws.com."
        )
    return PortResource(kind=kind, identifier=body["identifier"], source=str(source), body=body, blueprint=blueprint)


def _rename_config_keys(node: Any, renames: dict[str, str]) -> None:
    """A table widget's `blueprintConfig` is keyed by blueprint identifier: its keys follow the renames."""
    if isinstance(node, dict):
        config = node.get("blueprintConfig")
        if isinstance(config, dict):
            node["blueprintConfig"] = {renames.get(key, key): value for key, value in config.items()}
        for value in node.values():
            _rename_config_keys(value, renames)
    elif isinstance(node, list):
        for item in node:
            _rename_config_keys(item, renames)


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
    absent = {ref for ref in external if KINDS[ref.kind].get(client, ref) is None}
    missing = [
        (resource, ref) for resource in resources for ref in sorted(dependencies[resource.ref] & absent, key=str)
    ]
    if missing:
        raise MissingDependencyError([(resource.source, ref) for resource, ref in missing])
    return Plan(changes=[_planned(client, ours[ref]) for ref in _dependency_order(resources, dependencies)])


def apply_plan(client: PortClient, plan: Plan) -> list[PlannedChange]:
    """Create and update what `plan` says, in its order; returns the changes made.

    Raises `BreakingChangeError`, before writing anything, when the plan would break a blueprint in Port.
    """
    if plan.breaking:
        raise BreakingChangeError([(p.identifier, p.breaking) for p in plan.breaking])
    applied = []
    for planned in plan.changes:
        if planned.request_body is None:
            continue
        api = KINDS[planned.kind]
        if planned.change is ChangeType.CREATE:
            api.create(client, planned.ref, planned.request_body)
        else:
            api.update(client, planned.ref, planned.request_body)
        applied.append(planned)
    return applied


def _dependencies(resource: PortResource) -> set[ResourceRef]:
    """The blueprints `resource` refers to: in its body, and for an entity, the one it belongs to."""
    named = {holder[key] for holder, key in KINDS[resource.kind].blueprint_references(resource.body)}
    if resource.blueprint is not None:
        named.add(resource.blueprint)
    return {ResourceRef(kind=ResourceKind.BLUEPRINT, identifier=name) for name in named} - {resource.ref}


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
    current = api.get(client, resource.ref)
    body: JsonObject | None
    if current is None:
        change, drift, body = ChangeType.CREATE, [], copy.deepcopy(resource.body)
    else:
        drift = _drift(resource.body, current)
        change = ChangeType.UPDATE if drift else ChangeType.UNCHANGED
        body = api.update_body(resource.body, current) if drift else None
    breaking = []
    if resource.kind is ResourceKind.BLUEPRINT and current is not None and drift:
        breaking = _breaking(resource.body, current, lambda: client.count_entities(resource.identifier) > 0)
    return PlannedChange(
        kind=resource.kind,
        identifier=resource.identifier,
        source=resource.source,
        change=change,
        drift=drift,
        request_body=body,
        blueprint=resource.blueprint,
        breaking=breaking,
    )


def _breaking(ours: JsonObject, theirs: JsonObject, has_entities: Callable[[], bool]) -> list[str]:
    """What updating Port's blueprint `theirs` with `ours` would break (an update only adds or widens)."""
    reasons: list[str] = []
    our_schema, their_schema = ours.get("schema", {}), theirs.get("schema", {})
    their_properties = their_schema.get("properties", {})
    for name, mine in our_schema.get("properties", {}).items():
        present = their_properties.get(name)
        if present is None:
            continue
        for key in ("type", "format"):
            if mine.get(key) != present.get(key) and (key == "type" or present.get(key) is not None):
                reasons.append(f"property {name} is {key} {present.get(key)!r} in Port, {mine.get(key)!r} in port/")
        if "enum" in mine:
            lost = [value for value in present.get("enum", []) if value not in mine["enum"]]
            if "enum" not in present:
                reasons.append(f"property {name} takes any value in Port, only {mine['enum']} in port/")
            elif lost:
                reasons.append(f"property {name} would lose the enum values {lost}")
    their_relations = theirs.get("relations", {})
    for name, mine in ours.get("relations", {}).items():
        present = their_relations.get(name)
        if present is not None and (mine.get("target"), bool(mine.get("many"))) != (
            present.get("target"),
            bool(present.get("many")),
        ):
            reasons.append(
                f"relation {name} is {present.get('target')!r} (many: {bool(present.get('many'))}) in Port, "
                f"{mine.get('target')!r} (many: {bool(mine.get('many'))}) in port/"
            )
    added = sorted(set(our_schema.get("required", [])) - set(their_schema.get("required", [])))
    if added and has_entities():
        reasons.append(f"{', '.join(added)} would become required, and the blueprint already has entities")
    return reasons


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
