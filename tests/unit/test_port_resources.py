"""Port resources as code: loading port/, planning against Port, and applying in dependency order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_core.errors import BreakingChangeError, ConfigurationError, MissingDependencyError, PortApiError
from incident_core.models.incident import LifecycleStep
from incident_core.port.client import PortClient
from incident_core.port.resources import (
    API_URL_PLACEHOLDER,
    ChangeType,
    PortResource,
    ResourceKind,
    ResourceRef,
    apply_plan,
    load_entities,
    load_resources,
    plan_resources,
)
from tests.fakes import FakeClock
from tests.fakes.port import FAKE_PORT_URL, REPO_ROOT, FakePort

SERVICE = {"identifier": "service", "title": "Service", "schema": {"properties": {}}}
API_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"
WRITES = (
    "POST /v1/blueprints",
    "PUT /v1/blueprints/{identifier}",
    "POST /v1/actions",
    "PUT /v1/actions/{action_identifier}",
    "POST /v1/pages",
    "PUT /v1/pages/{identifier}",
    "POST /v1/blueprints/{blueprint_identifier}/entities/bulk",
)
# The body every action posts (ARCHITECTURE.md, "Port action requests"); whole-value templates render JSON.
ACTION_BODY = {
    "runId": "{{ .run.id }}",
    "action": "{{ .action.identifier }}",
    "entity": "{{ .entity }}",
    "inputs": "{{ .inputs }}",
    "user": "{{ .trigger.by.user.email }}",
}


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


def load(port_dir: Path, **options: Any) -> list[PortResource]:
    """The resources of `port_dir` as the deployed stack at API_URL provisions them."""
    return load_resources(port_dir, api_url=API_URL, **options)


def bundle_actions(**options: Any) -> dict[str, dict[str, Any]]:
    resources = load(REPO_ROOT / "port", **options)
    return {r.identifier: r.body for r in resources if r.kind is ResourceKind.ACTION}


def entity_inputs(action: dict[str, Any]) -> dict[str, str]:
    """Input name -> the blueprint whose entities it offers (itself or its array items)."""
    found = {}
    for name, user_input in action["trigger"]["userInputs"]["properties"].items():
        for holder in (user_input, user_input.get("items", {})):
            if holder.get("format") == "entity":
                found[name] = holder["blueprint"]
    return found


def test_the_bundle_defines_alert_and_incident() -> None:
    resources = load(REPO_ROOT / "port")
    assert {(r.kind, r.identifier) for r in resources} >= {
        (ResourceKind.BLUEPRINT, "alert"),
        (ResourceKind.BLUEPRINT, "incident"),
        (ResourceKind.PAGE, "incident_lifecycle_dashboard"),
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
    resources = load(port_dir)
    plan = plan_resources(client, resources)
    assert {c.change for c in plan.changes} == {ChangeType.CREATE}
    assert len(plan.changes) == len(resources)
    order = [c.identifier for c in plan.changes]
    actions = [r.identifier for r in resources if r.kind is ResourceKind.ACTION]
    for after in ("alert", *actions, "incident_lifecycle_dashboard"):
        assert order.index(after) > order.index("incident"), after
    for after in ("alert_trigger_incident", "incident_lifecycle_dashboard"):
        assert order.index(after) > order.index("alert")
    assert order.index("default") > order.index("escalationPolicy")
    assert order.index("primary") > order.index("onCallRotation")
    assert writes(fake) == []

    applied = apply_plan(client, plan)
    assert [c.identifier for c in applied] == order
    routes = [route for route, _path in writes(fake)]
    kinds = [r.kind for r in resources]
    assert routes.count("POST /v1/blueprints") == kinds.count(ResourceKind.BLUEPRINT) >= 4
    assert routes.count("POST /v1/actions") == kinds.count(ResourceKind.ACTION) >= 8
    assert routes.count("POST /v1/pages") == kinds.count(ResourceKind.PAGE) == 1
    assert routes.count("POST /v1/blueprints/{blueprint_identifier}/entities/bulk") == kinds.count(ResourceKind.ENTITY)
    assert kinds.count(ResourceKind.ENTITY) >= 2
    assert fake.blueprints["alert"]["relations"]["incident"]["target"] == "incident"
    assert fake.actions["incident_trigger"]["invocationMethod"]["url"] == f"{API_URL}/actions/trigger"
    assert fake.pages["incident_lifecycle_dashboard"]["type"] == "dashboard"
    assert fake.violations == []


def test_second_plan_is_all_unchanged(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load(port_dir)))
    before = len(writes(fake))

    plan = plan_resources(client, load(port_dir))
    assert {c.change for c in plan.changes} == {ChangeType.UNCHANGED}
    assert {c.kind for c in plan.changes} == set(ResourceKind)  # entities included
    assert not plan.has_changes
    assert apply_plan(client, plan) == []
    assert len(writes(fake)) == before
    assert f"0 to create, 0 to update, {len(plan.changes)} unchanged" in plan.summary()


def test_a_changed_property_is_an_update(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load(port_dir)))

    def retitle(body: dict[str, Any]) -> None:
        body["schema"]["properties"]["severity"]["title"] = "Alert Severity"

    edit(port_dir / "blueprints" / "alert.json", retitle)
    plan = plan_resources(client, load(port_dir))
    changes = {c.identifier: c for c in plan.changes}
    assert changes["incident"].change is ChangeType.UNCHANGED
    assert changes["alert"].change is ChangeType.UPDATE
    assert changes["alert"].drift == ["schema.properties.severity.title"]
    assert "update" in changes["alert"].describe()

    apply_plan(client, plan)
    assert fake.blueprints["alert"]["schema"]["properties"]["severity"]["title"] == "Alert Severity"
    assert writes(fake)[-1] == ("PUT /v1/blueprints/{identifier}", "/v1/blueprints/alert")
    assert not plan_resources(client, load(port_dir)).has_changes


def test_a_key_port_leaves_out_because_it_is_empty_is_not_drift(
    client: PortClient, fake: FakePort, port_dir: Path
) -> None:
    apply_plan(client, plan_resources(client, load(port_dir)))
    del fake.blueprints["alert"]["calculationProperties"]
    plan = plan_resources(client, load(port_dir))
    assert not plan.has_changes


def test_an_update_keeps_what_a_user_added_in_port(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load(port_dir)))
    fake.blueprints["alert"]["schema"]["properties"]["runbook"] = {"type": "string", "format": "url"}

    edit(port_dir / "blueprints" / "alert.json", lambda body: body.update(title="Alerts"))
    apply_plan(client, plan_resources(client, load(port_dir)))
    assert fake.blueprints["alert"]["title"] == "Alerts"
    assert "runbook" in fake.blueprints["alert"]["schema"]["properties"]
    assert fake.violations == []


def test_a_missing_relation_target_fails_before_any_write(port_dir: Path) -> None:
    fake = FakePort(clock=FakeClock())  # no service blueprint in this Port
    client = PortClient(
        FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport())
    )
    with pytest.raises(MissingDependencyError) as raised:
        plan_resources(client, load(port_dir))
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
    apply_plan(client, plan_resources(client, load(port_dir, service_blueprint="microservice")))
    assert fake.blueprints["alert"]["relations"]["service"]["target"] == "microservice"
    assert {r["target"] for r in fake.blueprints["incident"]["relations"].values()} == {"microservice"}
    trigger_inputs = fake.actions["incident_trigger"]["trigger"]["userInputs"]["properties"]
    assert trigger_inputs["services"]["items"]["blueprint"] == "microservice"
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
    resources = load(port_dir, service_blueprint="service")
    plan = plan_resources(client, resources)
    order = [c.identifier for c in plan.changes]
    assert order.index("incident_acknowledge") > order.index("incident")
    apply_plan(client, plan)
    assert "incident_acknowledge" in fake.actions
    assert not plan_resources(client, load(port_dir)).has_changes
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
    write_json(tmp_path / "scorecards" / "alerts.json", {"identifier": "alerts"})
    with pytest.raises(ConfigurationError, match="scorecards"):
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


# The API URL of the deployed stack


def test_every_action_posts_the_contract_body_to_its_lifecycle_route() -> None:
    actions = bundle_actions()
    routes = {f"{API_URL}/actions/{step.value}" for step in LifecycleStep}
    for identifier, action in actions.items():
        method = action["invocationMethod"]
        assert method["url"] in routes, identifier
        assert {key: method[key] for key in ("type", "agent", "synchronized", "method")} == {
            "type": "WEBHOOK",
            "agent": False,
            "synchronized": False,
            "method": "POST",
        }, identifier
        assert method["body"] == ACTION_BODY, identifier
    posted = {action["invocationMethod"]["url"].rsplit("/", 1)[1] for action in actions.values()}
    assert posted == {step.value for step in LifecycleStep}
    assert API_URL_PLACEHOLDER not in json.dumps(list(actions.values()))


def test_a_trailing_slash_of_the_api_url_is_not_doubled() -> None:
    resources = load_resources(REPO_ROOT / "port", api_url=f"{API_URL}/")
    urls = [r.body["invocationMethod"]["url"] for r in resources if r.kind is ResourceKind.ACTION]
    assert urls
    assert all(url.startswith(f"{API_URL}/actions/") for url in urls)


def test_actions_are_refused_without_an_api_url() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_resources(REPO_ROOT / "port")
    assert "--api-url" in raised.value.message
    assert "INCIDENT_LIFECYCLE_API_URL" in raised.value.message
    assert "actions" in raised.value.message


def test_resources_without_the_placeholder_need_no_api_url(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "port" / "blueprints", tmp_path / "blueprints")
    assert {r.identifier for r in load_resources(tmp_path)} >= {
        "alert",
        "incident",
        "escalationPolicy",
        "onCallRotation",
    }


@pytest.mark.parametrize(
    "api_url",
    ["", "abc123.execute-api.eu-west-1.amazonaws.com", "ftp://example.com", "https://example.com/?stage=prod"],
)
def test_an_api_url_that_is_not_a_base_url_is_refused(api_url: str) -> None:
    with pytest.raises(ConfigurationError, match="not the base URL"):
        load_resources(REPO_ROOT / "port", api_url=api_url)


# The actions' inputs and where they are offered


def test_the_inputs_are_the_contracts() -> None:
    actions = bundle_actions()

    def inputs(identifier: str) -> set[str]:
        return set(actions[identifier]["trigger"]["userInputs"]["properties"])

    assert inputs("incident_trigger") == {"title", "severity", "services", "provider"}
    assert inputs("alert_trigger_incident") == {"title", "severity", "provider"}
    assert inputs("incident_acknowledge") == set()
    assert inputs("incident_reassign") == {"assignee"}
    assert inputs("incident_associate_services") == {"services"}
    assert inputs("incident_escalate") == {"level", "policy", "user"}
    assert inputs("incident_add_note") == {"note"}
    assert inputs("incident_resolve") == {"resolution", "resolveAlerts"}

    trigger = actions["incident_trigger"]["trigger"]
    assert (trigger["operation"], trigger["blueprintIdentifier"]) == ("CREATE", "incident")
    properties = trigger["userInputs"]["properties"]
    assert properties["severity"]["enum"] == ["critical", "high", "warning", "info"]
    assert properties["provider"]["default"] == "native"
    assert set(properties["provider"]["enum"]) == {
        "native",
        "pagerduty",
        "opsgenie",
        "servicenow",
        "jira",
        "incidentio",
        "firehydrant",
    }
    assert actions["alert_trigger_incident"]["trigger"]["userInputs"]["required"] == []
    assert actions["alert_trigger_incident"]["trigger"]["blueprintIdentifier"] == "alert"
    escalate = actions["incident_escalate"]["trigger"]["userInputs"]
    assert escalate["required"] == []
    assert escalate["properties"]["user"]["format"] == "user"
    resolve = actions["incident_resolve"]["trigger"]["userInputs"]
    assert resolve["required"] == ["resolution"]
    resolve_alerts = resolve["properties"]["resolveAlerts"]
    assert (resolve_alerts["type"], resolve_alerts["default"]) == ("boolean", True)
    assert resolve["properties"]["resolution"]["format"] == "multi-line"
    assert actions["incident_add_note"]["trigger"]["userInputs"]["properties"]["note"]["format"] == "multi-line"
    assert actions["incident_reassign"]["trigger"]["userInputs"]["properties"]["assignee"].get("format") is None


def test_entity_inputs_offer_the_users_service_blueprint() -> None:
    ours = bundle_actions()
    theirs = bundle_actions(service_blueprint="microservice")
    assert {name: entity_inputs(action) for name, action in ours.items() if entity_inputs(action)} == {
        "incident_trigger": {"services": "service"},
        "incident_associate_services": {"services": "service"},
    }
    for identifier in ("incident_trigger", "incident_associate_services"):
        assert entity_inputs(theirs[identifier]) == {"services": "microservice"}


def test_entity_inputs_in_datasets_are_renamed_too(tmp_path: Path) -> None:
    write_json(
        tmp_path / "actions" / "pick.json",
        {
            "identifier": "pick",
            "trigger": {
                "type": "self-service",
                "operation": "DAY-2",
                "blueprintIdentifier": "incident",
                "userInputs": {
                    "properties": {
                        "owner": {
                            "type": "string",
                            "format": "entity",
                            "blueprint": "team",
                            "dataset": {
                                "combinator": "and",
                                "rules": [{"operator": "relatedTo", "blueprint": "service", "value": "checkout"}],
                            },
                        }
                    }
                },
            },
            "invocationMethod": {"type": "WEBHOOK", "url": "https://example.com"},
        },
    )
    (resource,) = load_resources(tmp_path, service_blueprint="microservice")
    owner = resource.body["trigger"]["userInputs"]["properties"]["owner"]
    assert owner["blueprint"] == "team"
    assert owner["dataset"]["rules"][0]["blueprint"] == "microservice"


def test_day2_actions_are_offered_only_where_they_make_sense() -> None:
    actions = bundle_actions()
    open_only = {"property": "status", "operator": "in", "value": ["triggered", "acknowledged"]}

    def rules(identifier: str) -> list[dict[str, Any]] | None:
        condition = actions[identifier]["trigger"].get("condition")
        return None if condition is None else condition["rules"]

    assert rules("incident_acknowledge") == [{"property": "status", "operator": "=", "value": "triggered"}]
    for identifier in ("incident_reassign", "incident_associate_services", "incident_escalate", "incident_resolve"):
        assert rules(identifier) == [open_only], identifier
    assert rules("incident_add_note") is None  # notes go on resolved incidents too
    assert rules("alert_trigger_incident") == [{"property": "status", "operator": "!=", "value": "resolved"}]
    assert "condition" not in actions["incident_trigger"]["trigger"]  # Port allows none on CREATE actions


# Pages


def test_the_dashboard_shows_open_alerts_by_severity_and_open_incidents(port_dir: Path) -> None:
    (page,) = [r for r in load(port_dir) if r.kind is ResourceKind.PAGE]
    (dashboard,) = page.body["widgets"]
    widgets = {widget["id"]: widget for widget in dashboard["widgets"]}
    tables = [w for w in widgets.values() if w["type"] == "table-entities-explorer"]
    assert {w["blueprint"] for w in tables} == {"alert", "incident"}
    alerts_table = next(w for w in tables if w["blueprint"] == "alert")
    assert alerts_table["blueprintConfig"]["alert"]["groupSettings"]["groupBy"] == ["severity"]
    assert {"property": "status", "operator": "!=", "value": "resolved"} in alerts_table["dataset"]["rules"]
    counts = [w for w in widgets.values() if w["type"] == "entities-number-chart"]
    assert {w["blueprint"] for w in counts} == {"alert", "incident"}
    assert sorted(column["id"] for row in dashboard["layout"] for column in row["columns"]) == sorted(widgets)


def test_a_page_is_created_then_unchanged_then_replaced_when_edited(
    client: PortClient, fake: FakePort, port_dir: Path
) -> None:
    apply_plan(client, plan_resources(client, load(port_dir)))
    assert "incident_lifecycle_dashboard" in fake.pages
    assert not plan_resources(client, load(port_dir)).has_changes

    def retitle(body: dict[str, Any]) -> None:
        body["widgets"][0]["widgets"][0]["title"] = "Alerts firing"

    edit(port_dir / "pages" / "incidents-dashboard.json", retitle)
    plan = plan_resources(client, load(port_dir))
    (changed,) = plan.of_type(ChangeType.UPDATE)
    assert (changed.kind, changed.identifier) == (ResourceKind.PAGE, "incident_lifecycle_dashboard")
    assert changed.drift == ["widgets[0].widgets[0].title"]
    apply_plan(client, plan)
    assert writes(fake)[-1] == ("PUT /v1/pages/{identifier}", "/v1/pages/incident_lifecycle_dashboard")
    assert fake.pages["incident_lifecycle_dashboard"]["widgets"][0]["widgets"][0]["title"] == "Alerts firing"
    assert not plan_resources(client, load(port_dir)).has_changes
    assert fake.violations == []


def test_a_page_on_a_blueprint_port_lacks_fails_before_any_write(
    client: PortClient, fake: FakePort, port_dir: Path
) -> None:
    def point_at_deployments(body: dict[str, Any]) -> None:
        body["widgets"][0]["widgets"][0]["blueprint"] = "deployment"

    edit(port_dir / "pages" / "incidents-dashboard.json", point_at_deployments)
    with pytest.raises(MissingDependencyError) as raised:
        plan_resources(client, load(port_dir))
    assert raised.value.missing == [ResourceRef(kind=ResourceKind.BLUEPRINT, identifier="deployment")]
    assert "incidents-dashboard.json" in raised.value.message
    assert writes(fake) == []


def test_the_fake_refuses_a_dashboard_whose_layout_does_not_add_up(
    client: PortClient, fake: FakePort, port_dir: Path
) -> None:
    def widen(body: dict[str, Any]) -> None:
        body["widgets"][0]["layout"][0]["columns"][0]["size"] = 6

    edit(port_dir / "pages" / "incidents-dashboard.json", widen)
    with pytest.raises(PortApiError, match="422"):
        apply_plan(client, plan_resources(client, load(port_dir)))
    assert [(v.route, v.problem) for v in fake.violations] == [
        ("POST /v1/pages", "incidentLifecycleDashboard: layout row 0 is 15 columns wide, not 12")
    ]
    assert fake.pages == {}


# Entities (port/entities/<blueprint>/*.json)

ROTATION_FILE = Path("entities") / "onCallRotation" / "primary.json"


def test_entities_load_from_the_folder_of_their_blueprint() -> None:
    entities = {(r.blueprint, r.identifier): r for r in load(REPO_ROOT / "port") if r.kind is ResourceKind.ENTITY}
    assert set(entities) == {("escalationPolicy", "default"), ("onCallRotation", "primary")}
    rotation = entities[("onCallRotation", "primary")]
    assert rotation.source == "port/entities/onCallRotation/primary.json"
    assert rotation.ref == ResourceRef(kind=ResourceKind.ENTITY, identifier="primary", blueprint="onCallRotation")
    assert str(rotation.ref) == "entity 'primary' of blueprint 'onCallRotation'"
    assert rotation.body["properties"]["timeZone"] == "Europe/Berlin"


def test_load_entities_needs_no_api_url(port_dir: Path) -> None:
    assert {(r.kind, r.blueprint, r.identifier) for r in load_entities(port_dir)} == {
        (ResourceKind.ENTITY, "escalationPolicy", "default"),
        (ResourceKind.ENTITY, "onCallRotation", "primary"),
    }
    shutil.rmtree(port_dir / "entities")
    assert load_entities(port_dir) == []


def test_an_entity_is_upserted_after_its_blueprint(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    plan = plan_resources(client, load(port_dir))
    (rotation,) = [c for c in plan.changes if c.kind is ResourceKind.ENTITY and c.identifier == "primary"]
    assert rotation.change is ChangeType.CREATE
    assert rotation.describe() == (
        "create    entity onCallRotation/primary (port/entities/onCallRotation/primary.json)"
    )

    apply_plan(client, plan)
    requests = fake.requests
    blueprint_created = next(
        i
        for i, r in enumerate(requests)
        if r.route == "POST /v1/blueprints" and r.body["identifier"] == "onCallRotation"
    )
    entity_written = next(i for i, r in enumerate(requests) if r.path == "/v1/blueprints/onCallRotation/entities/bulk")
    assert blueprint_created < entity_written
    assert requests[entity_written].query == {"upsert": "true", "merge": "true"}
    stored = fake.entities["onCallRotation"]["primary"]
    ours = json.loads((port_dir / ROTATION_FILE).read_text())
    assert {key: stored[key] for key in ours} == ours
    assert fake.entities["escalationPolicy"]["default"]["properties"]["repeat"] == 1
    assert fake.violations == []


def test_an_entity_waits_for_a_blueprint_that_itself_waits(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    """The alert blueprint comes after the incident blueprint it relates to; an alert entity after both."""
    alert = {
        "identifier": "example-alert",
        "title": "Disk almost full",
        "properties": {
            "title": "Disk almost full",
            "severity": "warning",
            "status": "open",
            "source": "prometheus",
            "externalId": "disk-1",
            "startedAt": "2026-01-05T08:00:00Z",
        },
        "relations": {},
    }
    write_json(port_dir / "entities" / "alert" / "example.json", alert)
    order = [c.identifier for c in plan_resources(client, load(port_dir)).changes]
    assert order.index("incident") < order.index("alert") < order.index("example-alert")
    apply_plan(client, plan_resources(client, load(port_dir)))
    assert fake.entities["alert"]["example-alert"]["properties"]["source"] == "prometheus"
    assert fake.violations == []


def test_a_changed_entity_property_is_an_update(client: PortClient, fake: FakePort, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load(port_dir)))
    edit(port_dir / ROTATION_FILE, lambda body: body["properties"].update(handoff="10:00"))

    plan = plan_resources(client, load(port_dir))
    (changed,) = plan.of_type(ChangeType.UPDATE)
    assert (changed.kind, changed.blueprint, changed.identifier) == (ResourceKind.ENTITY, "onCallRotation", "primary")
    assert changed.drift == ["properties.handoff"]
    apply_plan(client, plan)
    assert writes(fake)[-1] == (
        "POST /v1/blueprints/{blueprint_identifier}/entities/bulk",
        "/v1/blueprints/onCallRotation/entities/bulk",
    )
    assert fake.entities["onCallRotation"]["primary"]["properties"]["handoff"] == "10:00"
    assert not plan_resources(client, load(port_dir)).has_changes
    assert fake.violations == []


def test_an_entity_update_keeps_what_port_adds_and_restores_our_keys(
    client: PortClient, fake: FakePort, port_dir: Path
) -> None:
    apply_plan(client, plan_resources(client, load(port_dir)))
    stored = fake.entities["onCallRotation"]["primary"]
    stored["team"] = "sre"  # set in Port: not one of our keys, so not drift
    assert not plan_resources(client, load(port_dir)).has_changes

    stored["properties"]["members"] = ["dana@example.com"]  # one of our keys edited in Port: drift
    plan = plan_resources(client, load(port_dir))
    assert [(c.identifier, c.drift) for c in plan.of_type(ChangeType.UPDATE)] == [("primary", ["properties.members"])]
    apply_plan(client, plan)
    stored = fake.entities["onCallRotation"]["primary"]
    assert stored["properties"]["members"] == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert stored["team"] == "sre"
    assert fake.violations == []


def test_an_entity_of_a_blueprint_port_lacks_fails_before_any_write(
    client: PortClient, fake: FakePort, port_dir: Path
) -> None:
    write_json(port_dir / "entities" / "deployment" / "v1.json", {"identifier": "v1", "properties": {}})
    with pytest.raises(MissingDependencyError) as raised:
        plan_resources(client, load(port_dir))
    assert raised.value.missing == [ResourceRef(kind=ResourceKind.BLUEPRINT, identifier="deployment")]
    assert "port/entities/deployment/v1.json refers to blueprint 'deployment'" in raised.value.message
    assert writes(fake) == []


def test_entities_of_the_service_folder_go_to_the_users_service_blueprint(port_dir: Path) -> None:
    fake = FakePort(clock=FakeClock(), blueprints=[{**SERVICE, "identifier": "microservice"}])
    client = client_for(fake)
    write_json(port_dir / "entities" / "service" / "checkout.json", {"identifier": "checkout", "title": "Checkout"})
    resources = load(port_dir, service_blueprint="microservice")
    (checkout,) = [r for r in resources if r.identifier == "checkout"]
    assert checkout.blueprint == "microservice"
    apply_plan(client, plan_resources(client, resources))
    assert fake.entities["microservice"]["checkout"]["title"] == "Checkout"
    assert "service" not in fake.entities
    assert fake.violations == []


def test_an_entity_outside_a_blueprint_folder_is_refused(tmp_path: Path) -> None:
    write_json(tmp_path / "entities" / "default.json", {"identifier": "default"})
    with pytest.raises(ConfigurationError, match=r"default\.json names no blueprint"):
        load_resources(tmp_path)


def test_entity_identifiers_are_unique_per_blueprint(tmp_path: Path) -> None:
    write_json(tmp_path / "entities" / "escalationPolicy" / "default.json", {"identifier": "default"})
    write_json(tmp_path / "entities" / "onCallRotation" / "default.json", {"identifier": "default"})
    assert {(r.blueprint, r.identifier) for r in load_resources(tmp_path)} == {
        ("escalationPolicy", "default"),
        ("onCallRotation", "default"),
    }
    write_json(tmp_path / "entities" / "onCallRotation" / "copy.json", {"identifier": "default"})
    with pytest.raises(ConfigurationError, match="both define entity 'default' of blueprint 'onCallRotation'"):
        load_resources(tmp_path)


# Blueprints that do not collide

# Port's incident pattern (docs.port.io/guides/all/incident-blueprint): same identifier, other enums.
PATTERN_INCIDENT = {
    "identifier": "incident",
    "title": "Incident",
    "icon": "Alert",
    "schema": {
        "properties": {
            "severity": {"type": "string", "enum": ["sev1", "sev2", "sev3", "sev4"]},
            "status": {"type": "string", "enum": ["active", "investigating", "mitigating", "resolved", "closed"]},
            "description": {"type": "string", "format": "markdown"},
            "alerted_at": {"type": "string", "format": "date-time"},
            "resolved_at": {"type": "string", "format": "date-time"},
            "mttr_minutes": {"type": "number"},
        },
        "required": [],
    },
    "relations": {"affected_services": {"title": "Affected", "target": "service", "many": True, "required": False}},
}


@pytest.fixture
def users_port() -> FakePort:
    """A Port that has Port's incident pattern, with an incident in it."""
    fake = FakePort(clock=FakeClock(), blueprints=[SERVICE, PATTERN_INCIDENT])
    fake.add_entity("incident", {"identifier": "inc-1", "title": "Checkout down", "properties": {"status": "active"}})
    return fake


def test_the_incident_blueprint_takes_another_identifier_everywhere(users_port: FakePort) -> None:
    fake, client = users_port, client_for(users_port)
    resources = load_resources(REPO_ROOT / "port", incident_blueprint="lifecycleIncident", api_url=API_URL)
    apply_plan(client, plan_resources(client, resources))

    assert fake.blueprints["incident"]["schema"] == PATTERN_INCIDENT["schema"]  # the user's, untouched
    assert fake.entities["incident"]["inc-1"]["properties"] == {"status": "active"}
    ours = fake.blueprints["lifecycleIncident"]
    assert ours["schema"]["properties"]["status"]["enum"] == ["triggered", "acknowledged", "resolved"]
    assert fake.blueprints["alert"]["relations"]["incident"]["target"] == "lifecycleIncident"
    on_incidents = [a for a in fake.actions.values() if a["trigger"].get("blueprintIdentifier") == "lifecycleIncident"]
    assert {a["identifier"] for a in on_incidents} >= {"incident_acknowledge", "incident_resolve"}
    assert all(a["trigger"].get("blueprintIdentifier") != "incident" for a in fake.actions.values())
    page = json.dumps(fake.pages)
    assert '"blueprint": "incident"' not in page
    assert '"blueprintConfig": {"incident"' not in page
    assert fake.violations == []


def test_a_plan_that_would_break_the_users_incident_blueprint_is_shown_and_refused(users_port: FakePort) -> None:
    fake, client = users_port, client_for(users_port)
    plan = plan_resources(client, load_resources(REPO_ROOT / "port", api_url=API_URL))
    (breaking,) = plan.breaking

    assert breaking.identifier == "incident"
    assert "property status would lose the enum values ['active', 'investigating', 'mitigating', 'closed']" in (
        breaking.breaking
    )
    assert "property severity would lose the enum values ['sev1', 'sev2', 'sev3', 'sev4']" in breaking.breaking
    assert "provider, status, title would become required, and the blueprint already has entities" in breaking.breaking
    assert "BREAKING: property status would lose" in plan.summary()
    assert plan.summary().splitlines()[-1].startswith("Refused: Port already has blueprint(s) 'incident'")

    with pytest.raises(BreakingChangeError, match="IncidentBlueprint parameter") as refused:
        apply_plan(client, plan)
    assert "Nothing was changed" in refused.value.message
    assert writes(fake) == []
    assert fake.blueprints["incident"]["schema"] == PATTERN_INCIDENT["schema"]


def _applied(client: PortClient, port_dir: Path) -> None:
    apply_plan(client, plan_resources(client, load_resources(port_dir, api_url=API_URL)))


def _edit_incident(port_dir: Path, change: Any) -> None:
    path = port_dir / "blueprints" / "incident.json"
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda b: b["schema"]["properties"]["escalationLevel"].update(type="string"),
            "property escalationLevel is type 'number' in Port, 'string' in port/",
        ),
        (
            lambda b: b["schema"]["properties"]["url"].update(format="email"),
            "property url is format 'url' in Port, 'email' in port/",
        ),
        (
            lambda b: b["schema"]["properties"]["urgency"].update(enum=["high"]),
            "property urgency would lose the enum values ['low']",
        ),
        (
            lambda b: b["schema"]["properties"]["assignee"].update(enum=["ana@example.com"]),
            "property assignee takes any value in Port, only ['ana@example.com'] in port/",
        ),
        (
            lambda b: b["relations"]["services"].update(many=False),
            "relation services is 'service' (many: True) in Port, 'service' (many: False) in port/",
        ),
    ],
)
def test_our_own_blueprint_is_not_broken_by_a_later_version_of_port_dir(
    port_dir: Path, change: Any, reason: str
) -> None:
    fake = FakePort(clock=FakeClock(), blueprints=[SERVICE])
    client = PortClient(
        FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport())
    )
    _applied(client, port_dir)
    before = json.loads(json.dumps(fake.blueprints["incident"]))
    _edit_incident(port_dir, change)

    plan = plan_resources(client, load_resources(port_dir, api_url=API_URL))
    assert [c.breaking for c in plan.breaking] == [[reason]]
    with pytest.raises(BreakingChangeError):
        apply_plan(client, plan)
    assert fake.blueprints["incident"] == before


def test_a_new_required_property_breaks_only_a_blueprint_with_entities(port_dir: Path) -> None:
    fake = FakePort(clock=FakeClock(), blueprints=[SERVICE])
    client = PortClient(
        FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport())
    )
    _applied(client, port_dir)
    _edit_incident(port_dir, lambda b: b["schema"]["required"].append("severity"))

    assert plan_resources(client, load_resources(port_dir, api_url=API_URL)).breaking == []  # no entities yet
    fake.add_entity("incident", {"identifier": "inc-1", "title": "x", "properties": {"status": "triggered"}})
    (breaking,) = plan_resources(client, load_resources(port_dir, api_url=API_URL)).breaking
    assert breaking.breaking == ["severity would become required, and the blueprint already has entities"]


def test_widening_an_enum_and_adding_an_optional_property_apply(port_dir: Path) -> None:
    fake = FakePort(clock=FakeClock(), blueprints=[SERVICE])
    client = PortClient(
        FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport())
    )
    _applied(client, port_dir)
    fake.add_entity("incident", {"identifier": "inc-1", "title": "x", "properties": {"status": "triggered"}})

    def widen(body: dict[str, Any]) -> None:
        body["schema"]["properties"]["urgency"]["enum"].append("medium")
        body["schema"]["properties"]["runbook"] = {"type": "string", "format": "url", "title": "Runbook"}

    _edit_incident(port_dir, widen)
    _applied(client, port_dir)
    assert fake.blueprints["incident"]["schema"]["properties"]["urgency"]["enum"] == ["high", "low", "medium"]
    assert fake.violations == []
