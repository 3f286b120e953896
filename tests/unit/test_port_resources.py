"""Port resources as code: loading port/, planning against Port, and applying in dependency order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_core.errors import ConfigurationError
from incident_core.port.client import PortClient
from incident_core.port.resources import (
    ChangeType,
    MissingDependencyError,
    ResourceKind,
    ResourceRef,
    apply_plan,
    load_resources,
    plan_resources,
)
from tests.fakes import FakeClock
from tests.fakes.port import FAKE_PORT_URL, REPO_ROOT, FakePort

SERVICE = {"identifier": "service", "title": "Service", "schema": {"properties": {}}}
WRITES = (
    "POST /v1/blueprints",
    "PUT /v1/blueprints/{identifier}",
    "POST /v1/actions",
    "PUT /v1/actions/{action_identifier}",
)


@pytest.fixture
def port_dir(tmp_path: Path) -> Path:
    """A copy of the bundle's own port/ folder, free to edit."""
    target = tmp_path / "port"
    shutil.copytree(REPO_ROOT / "port", target)
    return target


@pytest.fixture
def fake() -> FakePort:
    return FakePort(clock=FakeClock(), blueprints=[SERVICE])


def client_for(fake: FakePort) -> PortClient:
    return PortClient(FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport()))


@pytest.fixture
def client(fake: FakePort) -> PortClient:
    return client_for(fake)


def writes(fake: FakePort) -> list[tuple[str, str]]:
    return [(r.route or "", r.path) for r in fake.requests if r.route in WRITES]


def edit(path: Path, change: Any) -> None:
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


def write_json(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def test_the_bundle_defines_alert_and_incident() -> None:
    resources = load_resources(REPO_ROOT / "port")
    assert {(r.kind, r.identifier) for r in resources} >= {
        (ResourceKind.BLUEPRINT, "alert"),
        (ResourceKind.BLUEPRINT, "incident"),
    }


def test_alert_is_exactly_the_seeds_blueprint_plus_two_relations() -> None:
    seed = (REPO_ROOT.parent / "shared" / "seed" / "incident-lifecycle.md").read_text()
    start = seed.index('{\n  "identifier": "alert"')
    seed_alert = json.loads(seed[start : seed.index("\n}\n", start) + 2])
    ours = json.loads((REPO_ROOT / "port" / "blueprints" / "alert.json").read_text())
    assert {key: value for key, value in ours.items() if key != "relations"} == {
        key: value for key, value in seed_alert.items() if key != "relations"
    }
    assert ours["relations"] == {
        "service": {"title": "Service", "target": "service", "required": False, "many": False},
        "incident": {"title": "Incident", "target": "incident", "required": False, "many": False},
    }


def test_first_apply_creates_in_dependency_order(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    plan = plan_resources(client, load_resources(port_dir))
    assert [(c.identifier, c.change) for c in plan.changes] == [
        ("incident", ChangeType.CREATE),
        ("alert", ChangeType.CREATE),
    ]
    assert writes(fake) == []

    applied = apply_plan(client, plan)
    assert [c.identifier for c in applied] == ["incident", "alert"]
    assert writes(fake) == [("POST /v1/blueprints", "/v1/blueprints")] * 2
    assert fake.blueprints["alert"]["relations"]["incident"]["target"] == "incident"
    assert fake.violations == []


def test_second_plan_is_all_unchanged(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load_resources(port_dir)))
    before = len(writes(fake))

    plan = plan_resources(client, load_resources(port_dir))
    assert {c.change for c in plan.changes} == {ChangeType.UNCHANGED}
    assert not plan.has_changes
    assert apply_plan(client, plan) == []
    assert len(writes(fake)) == before
    assert "0 to create, 0 to update, 2 unchanged" in plan.summary()


def test_a_changed_property_is_an_update(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load_resources(port_dir)))

    def retitle(body: dict[str, Any]) -> None:
        body["schema"]["properties"]["severity"]["title"] = "Alert Severity"

    edit(port_dir / "blueprints" / "alert.json", retitle)
    plan = plan_resources(client, load_resources(port_dir))
    changes = {c.identifier: c for c in plan.changes}
    assert changes["incident"].change is ChangeType.UNCHANGED
    assert changes["alert"].change is ChangeType.UPDATE
    assert changes["alert"].drift == ["schema.properties.severity.title"]
    assert "update" in changes["alert"].describe()

    apply_plan(client, plan)
    assert fake.blueprints["alert"]["schema"]["properties"]["severity"]["title"] == "Alert Severity"
    assert writes(fake)[-1] == ("PUT /v1/blueprints/{identifier}", "/v1/blueprints/alert")
    assert not plan_resources(client, load_resources(port_dir)).has_changes


def test_a_key_port_leaves_out_because_it_is_empty_is_not_drift(
    client: PortClient, fake: FakePort, port_dir: Path
) -> None:
    apply_plan(client, plan_resources(client, load_resources(port_dir)))
    del fake.blueprints["alert"]["calculationProperties"]
    plan = plan_resources(client, load_resources(port_dir))
    assert not plan.has_changes


def test_an_update_keeps_what_a_user_added_in_port(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load_resources(port_dir)))
    fake.blueprints["alert"]["schema"]["properties"]["runbook"] = {"type": "string", "format": "url"}

    edit(port_dir / "blueprints" / "alert.json", lambda body: body.update(title="Alerts"))
    apply_plan(client, plan_resources(client, load_resources(port_dir)))
    assert fake.blueprints["alert"]["title"] == "Alerts"
    assert "runbook" in fake.blueprints["alert"]["schema"]["properties"]
    assert fake.violations == []


def test_a_missing_relation_target_fails_before_any_write(port_dir: Path) -> None:
    fake = FakePort(clock=FakeClock())  # no service blueprint in this Port
    client = PortClient(
        FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport())
    )
    with pytest.raises(MissingDependencyError) as raised:
        plan_resources(client, load_resources(port_dir))
    assert ResourceRef(kind=ResourceKind.BLUEPRINT, identifier="service") in raised.value.missing
    assert "blueprint 'service'" in raised.value.message
    assert "alert.json" in raised.value.message
    assert "incident.json" in raised.value.message
    assert writes(fake) == []
    assert fake.blueprints == {}


def test_the_service_blueprint_can_be_the_users_own(port_dir: Path) -> None:
    fake = FakePort(clock=FakeClock(), blueprints=[{**SERVICE, "identifier": "microservice"}])
    client = PortClient(
        FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport())
    )
    apply_plan(client, plan_resources(client, load_resources(port_dir, service_blueprint="microservice")))
    assert fake.blueprints["alert"]["relations"]["service"]["target"] == "microservice"
    assert {r["target"] for r in fake.blueprints["incident"]["relations"].values()} == {"microservice"}
    assert fake.violations == []


def test_an_action_comes_after_the_blueprint_it_runs_on(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    write_json(
        port_dir / "actions" / "acknowledge.json",
        {
            "identifier": "incident_acknowledge",
            "title": "Acknowledge",
            "trigger": {
                "type": "self-service",
                "operation": "DAY-2",
                "blueprintIdentifier": "incident",
                "userInputs": {
                    "properties": {"service": {"type": "string", "format": "entity", "blueprint": "service"}}
                },
            },
            "invocationMethod": {"type": "WEBHOOK", "url": "https://example.com/actions/acknowledge"},
        },
    )
    resources = load_resources(port_dir, service_blueprint="service")
    plan = plan_resources(client, resources)
    order = [c.identifier for c in plan.changes]
    assert order.index("incident_acknowledge") > order.index("incident")
    apply_plan(client, plan)
    assert "incident_acknowledge" in fake.actions
    assert not plan_resources(client, load_resources(port_dir)).has_changes
    assert fake.violations == []


def test_a_cycle_between_our_blueprints_is_refused(client: PortClient, tmp_path: Path) -> None:
    for name, other in (("a", "b"), ("b", "a")):
        write_json(
            tmp_path / "blueprints" / f"{name}.json",
            {
                "identifier": name,
                "title": name,
                "schema": {"properties": {}},
                "relations": {other: {"target": other, "required": False, "many": False}},
            },
        )
    with pytest.raises(ConfigurationError, match="cycle"):
        plan_resources(client, load_resources(tmp_path))


def test_json_in_an_unknown_folder_is_refused(tmp_path: Path) -> None:
    write_json(tmp_path / "pages" / "alerts.json", {"identifier": "alerts"})
    with pytest.raises(ConfigurationError, match="pages"):
        load_resources(tmp_path)


def test_a_resource_without_identifier_is_refused(tmp_path: Path) -> None:
    write_json(tmp_path / "blueprints" / "x.json", {"title": "X"})
    with pytest.raises(ConfigurationError, match=r"x\.json"):
        load_resources(tmp_path)


def test_a_duplicate_identifier_is_refused(tmp_path: Path) -> None:
    write_json(tmp_path / "actions" / "one.json", {"identifier": "same"})
    write_json(tmp_path / "automations" / "two.json", {"identifier": "same"})
    with pytest.raises(ConfigurationError, match="both define"):
        load_resources(tmp_path)
