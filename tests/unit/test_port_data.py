"""The example entities of port/entities/: they are read exactly as the escalation state machine reads Port
(`load_policy`, `load_rotation`), they satisfy the blueprints Port checks them against, the blueprints accept
what the models accept, and the local stack seeds them where its catalog is read."""

from __future__ import annotations

import copy
import json
import re
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator
from moto import mock_aws

from devstack.stack import REGION, LocalResources, seed_local_catalog, seed_local_entities
from incident_core.errors import ConfigurationError
from incident_core.models.escalation import FALLBACK_LEVEL, EscalationPolicy, Position, TargetType
from incident_core.models.oncall import Rotation
from incident_core.port.resources import PortResource, load_entities
from incident_core.store.projections import ProjectionStore
from incident_core.usecases.catalog import LocalDirectory
from incident_core.usecases.escalation import (
    POLICY_BLUEPRINT,
    ROTATION_BLUEPRINT,
    load_policy,
    load_rotation,
    recipients_of,
)
from incident_core.usecases.oncall import on_call
from tests.fakes.port import REPO_ROOT

PORT_DIR = REPO_ROOT / "port"
EXAMPLES = load_entities(PORT_DIR)
READERS: dict[str, Callable[[Any, str], object]] = {POLICY_BLUEPRINT: load_policy, ROTATION_BLUEPRINT: load_rotation}
"""How the bundle reads each blueprint whose entities it ships as examples."""
MODEL_FIELDS = {
    POLICY_BLUEPRINT: set(EscalationPolicy.model_fields) - {"identifier", "title"},  # the entity's own keys
    ROTATION_BLUEPRINT: set(Rotation.model_fields),
}


class ExampleDirectory:
    """An `EntityDirectory` holding entities as Port hands them back, by blueprint."""

    def __init__(self, entities: list[tuple[str, dict[str, Any]]]) -> None:
        self._entities = entities

    def entities(self, blueprint: str) -> list[dict[str, Any]]:
        return [entity for owner, entity in self._entities if owner == blueprint]

    def entity(self, blueprint: str, identifier: str) -> dict[str, Any] | None:
        return next((e for e in self.entities(blueprint) if e["identifier"] == identifier), None)


def examples_directory(
    *, replacing: PortResource | None = None, body: dict[str, Any] | None = None
) -> ExampleDirectory:
    """Every example entity; with `replacing`, that one's body is `body` instead."""
    kept = [(str(r.blueprint), r.body) for r in EXAMPLES if r is not replacing]
    if replacing is None or body is None:
        return ExampleDirectory(kept)
    return ExampleDirectory([*kept, (str(replacing.blueprint), body)])


def example(blueprint: str, identifier: str) -> PortResource:
    return next(r for r in EXAMPLES if (r.blueprint, r.identifier) == (blueprint, identifier))


def blueprint_schema(blueprint: str) -> dict[str, Any]:
    return dict(json.loads((PORT_DIR / "blueprints" / f"{blueprint}.json").read_text())["schema"])


def property_validator(blueprint: str) -> Draft202012Validator:
    """The blueprint's property definitions as the JSON schema they are (Port's validation keywords)."""
    schema = blueprint_schema(blueprint)
    return Draft202012Validator(
        {"type": "object", "properties": schema["properties"], "required": schema["required"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_the_examples_are_the_default_policy_and_the_rotation_it_pages() -> None:
    assert {(r.blueprint, r.identifier) for r in EXAMPLES} == {
        (POLICY_BLUEPRINT, "default"),
        (ROTATION_BLUEPRINT, "primary"),
    }


@pytest.mark.parametrize("entity", EXAMPLES, ids=lambda r: r.source)
def test_every_example_entity_is_read_by_the_bundle(entity: PortResource) -> None:
    assert entity.blueprint in READERS, f"{entity.source}: no model reads {entity.blueprint} entities"
    READERS[entity.blueprint](examples_directory(), entity.identifier)


@pytest.mark.parametrize("entity", EXAMPLES, ids=lambda r: r.source)
def test_every_example_entity_satisfies_its_blueprint(entity: PortResource) -> None:
    assert entity.blueprint is not None
    errors = [error.message for error in property_validator(entity.blueprint).iter_errors(entity.body["properties"])]
    assert errors == []


def test_the_default_policy_pages_the_rotation_then_sre_and_leadership_then_repeats() -> None:
    policy = load_policy(examples_directory(), "default")
    assert [[(t.type, t.id) for t in level.targets] for level in policy.levels] == [
        [(TargetType.SCHEDULE, "primary")],
        [(TargetType.TEAM, "sre"), (TargetType.LEADERSHIP, "leadership@example.com")],
    ]
    assert [level.delaySeconds for level in policy.levels] == [300, 600]
    assert [(t.type, t.id) for t in policy.fallback] == [(TargetType.LEADERSHIP, "leadership@example.com")]

    def walk() -> Iterator[tuple[int, int]]:
        position: Position | None = Position(level=0, round=0)
        while position is not None:
            yield position.level, position.round
            position = policy.after(position)

    assert list(walk()) == [(0, 0), (1, 0), (0, 1), (1, 1), (FALLBACK_LEVEL, 1)]


def test_the_rotation_hands_off_weekly_at_nine_in_berlin() -> None:
    directory = examples_directory()
    rotation = load_rotation(directory, "primary")
    first_handoff = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin (CET)
    week = first_handoff + timedelta(days=7)
    assert on_call(rotation, first_handoff) == "alice@example.com"
    assert on_call(rotation, week - timedelta(microseconds=1)) == "alice@example.com"
    assert on_call(rotation, week) == "bob@example.com"
    assert on_call(rotation, week + timedelta(days=7)) == "carol@example.com"
    assert on_call(rotation, week + timedelta(days=14)) == "alice@example.com"
    level_one = load_policy(directory, "default").levels[0].targets
    assert recipients_of(level_one, directory, week) == ["bob@example.com"]


def test_every_schedule_the_policies_page_is_an_example_rotation() -> None:
    directory = examples_directory()
    for entity in directory.entities(POLICY_BLUEPRINT):
        policy = load_policy(directory, entity["identifier"])
        for target in [t for level in policy.levels for t in level.targets] + list(policy.fallback):
            if target.type is TargetType.SCHEDULE:
                assert directory.entity(ROTATION_BLUEPRINT, target.id) is not None, target.id


# A broken copy is refused, naming the field


@pytest.mark.parametrize(
    ("blueprint", "identifier", "path", "value", "field"),
    [
        (POLICY_BLUEPRINT, "default", ("levels", 1, "delaySeconds"), -5, "levels.1.delaySeconds"),
        (POLICY_BLUEPRINT, "default", ("levels", 0, "targets", 0, "type"), "pager", "levels.0.targets.0.type"),
        (POLICY_BLUEPRINT, "default", ("repeat",), 11, "repeat"),
        (POLICY_BLUEPRINT, "default", ("fallback", 0, "id"), "", "fallback.0.id"),
        (ROTATION_BLUEPRINT, "primary", ("handoff",), "9am", "handoff"),
        (ROTATION_BLUEPRINT, "primary", ("timeZone",), "Berlin", "timeZone"),
        (ROTATION_BLUEPRINT, "primary", ("members", 1), "Bob", "members.1"),
        (ROTATION_BLUEPRINT, "primary", ("start",), "05.01.2026", "start"),
    ],
)
def test_a_broken_copy_names_the_field(
    blueprint: str, identifier: str, path: tuple[str | int, ...], value: Any, field: str
) -> None:
    original = example(blueprint, identifier)
    body = copy.deepcopy(original.body)
    holder = body["properties"]
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    with pytest.raises(ConfigurationError) as raised:
        READERS[blueprint](examples_directory(replacing=original, body=body), identifier)
    message = raised.value.message
    assert identifier in message
    assert re.search(rf"(^|\W){re.escape(field)}(\W|$)", message), message


def test_a_rotation_missing_a_required_property_names_it() -> None:
    original = example(ROTATION_BLUEPRINT, "primary")
    body = copy.deepcopy(original.body)
    del body["properties"]["timeZone"]
    with pytest.raises(ConfigurationError, match="timeZone"):
        load_rotation(examples_directory(replacing=original, body=body), "primary")


# The blueprints and the models agree


@pytest.mark.parametrize("blueprint", sorted(MODEL_FIELDS))
def test_the_blueprint_has_a_property_for_every_field_of_the_model(blueprint: str) -> None:
    schema = blueprint_schema(blueprint)
    assert set(schema["properties"]) == MODEL_FIELDS[blueprint]
    for name, definition in schema["properties"].items():
        assert definition.get("title"), name
        assert len(definition.get("description", "")) >= 30, f"{name}: say what to enter"


def test_the_blueprints_require_what_the_models_require() -> None:
    assert blueprint_schema(POLICY_BLUEPRINT)["required"] == ["levels"]
    required_fields = {name for name, field in Rotation.model_fields.items() if field.is_required()}
    assert set(blueprint_schema(ROTATION_BLUEPRINT)["required"]) == required_fields


def _rotation_with(**properties: Any) -> dict[str, Any]:
    return {**example(ROTATION_BLUEPRINT, "primary").body["properties"], **properties}


@pytest.mark.parametrize(
    ("properties", "valid"),
    [
        ({"handoff": "00:00"}, True),
        ({"handoff": "23:59"}, True),
        ({"handoff": "9:00"}, False),
        ({"handoff": "24:00"}, False),
        ({"handoff": "09:60"}, False),
        ({"handoff": "09:00+01:00"}, False),
        ({"start": "2026-12-31"}, True),
        ({"start": "2026-1-5"}, False),
        ({"start": "2026-13-01"}, False),
        ({"start": "2026-01-05T09:00:00Z"}, False),
        ({"rotationDays": 1}, True),
        ({"rotationDays": 0}, False),
        ({"members": []}, False),
    ],
)
def test_the_rotation_blueprint_accepts_what_the_model_accepts(properties: dict[str, Any], valid: bool) -> None:
    document = _rotation_with(**properties)
    assert property_validator(ROTATION_BLUEPRINT).is_valid(document) is valid
    model_accepts = True
    try:
        Rotation.model_validate(document)
    except ValueError:
        model_accepts = False
    assert model_accepts is valid


@pytest.mark.parametrize(("repeat", "valid"), [(0, True), (10, True), (-1, False), (11, False)])
def test_the_policy_blueprint_bounds_repeat_like_the_model(repeat: int, valid: bool) -> None:
    properties = {**example(POLICY_BLUEPRINT, "default").body["properties"], "repeat": repeat}
    assert property_validator(POLICY_BLUEPRINT).is_valid(properties) is valid
    model_accepts = True
    try:
        EscalationPolicy.model_validate({"identifier": "default", **properties})
    except ValueError:
        model_accepts = False
    assert model_accepts is valid


def test_the_time_zone_pattern_lets_every_iana_zone_through() -> None:
    pattern = re.compile(blueprint_schema(ROTATION_BLUEPRINT)["properties"]["timeZone"]["pattern"])
    zones = zoneinfo.available_timezones()
    assert {"Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "America/Port-au-Prince"} <= zones
    assert [zone for zone in sorted(zones) if not pattern.match(zone)] == []
    assert not pattern.match("Europe Berlin")


# The local stack


class _MockedAws:
    """The part of devstack's EmbeddedAws the seeding uses, backed by moto's in-process mock."""

    def resource(self, service: str) -> Any:
        return boto3.resource(service, region_name=REGION)


@pytest.fixture
def local_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProjectionStore]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName="PortEntitiesTable",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield ProjectionStore(dynamodb, table)


def test_the_local_stack_seeds_the_examples_beside_the_service_catalog(local_store: ProjectionStore) -> None:
    resources = LocalResources(references={"PortEntitiesTable": "PortEntitiesTable"})
    aws: Any = _MockedAws()
    assert seed_local_entities(aws, resources) == len(EXAMPLES)
    assert seed_local_catalog(aws, resources) == 7

    directory = LocalDirectory(local_store)
    policy = load_policy(directory, "default")
    assert policy.title == "Default"
    at = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert recipients_of(policy.levels[0].targets, directory, at) == ["bob@example.com"]
    web = directory.entity("service", "web")
    assert web is not None
    assert web["relations"] == {"dependencies": ["checkout", "search"]}
    assert {p.blueprint for p in local_store.entities()} == {"service", POLICY_BLUEPRINT, ROTATION_BLUEPRINT}


def test_seeding_a_port_folder_without_entities_seeds_nothing(local_store: ProjectionStore, tmp_path: Path) -> None:
    aws: Any = _MockedAws()
    resources = LocalResources(references={"PortEntitiesTable": "PortEntitiesTable"})
    assert seed_local_entities(aws, resources, tmp_path) == 0
    assert list(local_store.entities()) == []
