"""Every request PortClient makes matches Port's published OpenAPI spec (validated by FakePort)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_core.port.client import PortClient
from incident_core.port.resources import apply_plan, load_resources, plan_resources
from tests.fakes import FakeClock
from tests.fakes.port import FAKE_PORT_URL, REPO_ROOT, FakePort, port_spec

SERVICE_BLUEPRINT = {"identifier": "service", "title": "Service", "schema": {"properties": {}}}
INCIDENT_BLUEPRINT = {
    "identifier": "incident",
    "title": "Incident",
    "schema": {"properties": {"status": {"type": "string"}}},
    "relations": {"services": {"title": "Services", "target": "service", "required": False, "many": True}},
}


@pytest.fixture
def fake() -> FakePort:
    fake = FakePort(clock=FakeClock(), blueprints=[SERVICE_BLUEPRINT])
    fake.add_entity("service", {"identifier": "checkout", "title": "Checkout"})
    return fake


@pytest.fixture
def client(fake: FakePort) -> PortClient:
    return PortClient(FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=fake.transport()))


def raw_http(fake: FakePort) -> httpx.Client:
    """A plain HTTP client holding a valid token, for requests PortClient would never make."""
    http = httpx.Client(transport=fake.transport(), base_url=FAKE_PORT_URL)
    credentials = {"clientId": fake.client_id, "clientSecret": fake.client_secret}
    token = http.post("/v1/auth/access_token", json=credentials).json()["accessToken"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def test_every_client_method_matches_the_spec(client: PortClient, fake: FakePort) -> None:
    assert client.create_blueprint(INCIDENT_BLUEPRINT)["identifier"] == "incident"
    assert client.get_blueprint("incident") is not None
    assert client.get_blueprint("absent") is None
    client.update_blueprint("incident", {**INCIDENT_BLUEPRINT, "title": "Incidents"})

    entities: list[dict[str, Any]] = [
        {
            "identifier": f"pagerduty-Q{i:03}",
            "title": f"Checkout is down #{i}",
            "properties": {"status": "triggered"},
            "relations": {"services": ["checkout"]},
        }
        for i in range(23)
    ]
    fake.add_run("r_01HZX")
    client.upsert_entities("incident", entities, run_id="r_01HZX")
    assert client.get_entity("incident", "pagerduty-Q007") is not None
    assert client.get_entity("incident", "absent") is None
    found = client.search_entities(
        "incident",
        [
            {"property": "status", "operator": "in", "value": ["triggered", "acknowledged"]},
            {"combinator": "or", "rules": [{"operator": "relatedTo", "blueprint": "service", "value": "checkout"}]},
        ],
        limit=1500,
    )
    assert len(found) == 23

    client.add_run_log("r_01HZX", "Acknowledged in PagerDuty")
    client.patch_run("r_01HZX", status_label="Done", link=["https://a.example", "https://b.example"])
    client.patch_run("r_01HZX", status="SUCCESS", summary="Acknowledged", link="https://x.pagerduty.com/incidents/Q1")
    fake.add_run("r_02ABC")
    client.add_run_log("r_02ABC", "Finished", termination_status="SUCCESS")

    action = {
        "identifier": "incident_acknowledge",
        "title": "Acknowledge",
        "trigger": {
            "type": "self-service",
            "operation": "DAY-2",
            "blueprintIdentifier": "incident",
            "userInputs": {"properties": {}, "required": []},
        },
        "invocationMethod": {"type": "WEBHOOK", "url": "https://example.com/actions/acknowledge"},
    }
    assert client.get_action("incident_acknowledge") is None
    client.create_action(action)
    client.update_action("incident_acknowledge", {**action, "title": "Acknowledge incident"})
    assert client.get_action("incident_acknowledge") is not None

    assert fake.violations == []
    assert fake.runs["r_01HZX"]["status"] == "SUCCESS"
    assert [log["message"] for log in fake.run_logs["r_01HZX"]] == ["Acknowledged in PagerDuty"]
    assert fake.runs["r_02ABC"]["status"] == "SUCCESS"
    assert [log["message"] for log in fake.run_logs["r_02ABC"]] == ["Finished"]
    assert set(fake.calls) == {
        "POST /v1/auth/access_token",
        "POST /v1/blueprints",
        "GET /v1/blueprints/{identifier}",
        "PUT /v1/blueprints/{identifier}",
        "POST /v1/blueprints/{blueprint_identifier}/entities/bulk",
        "GET /v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}",
        "POST /v1/blueprints/{blueprint_identifier}/entities/search",
        "PATCH /v1/actions/runs/{run_id}",
        "POST /v1/actions/runs/{run_id}/logs",
        "POST /v1/actions",
        "GET /v1/actions/{action_identifier}",
        "PUT /v1/actions/{action_identifier}",
    }


def test_the_bundles_port_folder_applies_within_the_spec(client: PortClient, fake: FakePort) -> None:
    resources = load_resources(REPO_ROOT / "port", api_url="https://abc123.execute-api.eu-west-1.amazonaws.com")
    apply_plan(client, plan_resources(client, resources))
    assert {"alert", "incident"} <= set(fake.blueprints)
    assert fake.violations == []


def test_a_bulk_of_21_entities_is_flagged(fake: FakePort) -> None:
    http = raw_http(fake)
    entities = [{"identifier": f"svc-{i}", "properties": {}} for i in range(21)]
    response = http.post("/v1/blueprints/service/entities/bulk", params={"upsert": "true"}, json={"entities": entities})
    assert response.status_code == 422
    assert len(fake.violations) == 1
    assert "maxItems=20" in fake.violations[0].problem
    assert fake.entities["service"].keys() == {"checkout"}


def test_a_bulk_without_the_required_upsert_parameter_is_flagged(fake: FakePort) -> None:
    http = raw_http(fake)
    response = http.post("/v1/blueprints/service/entities/bulk", json={"entities": [{"identifier": "x"}]})
    assert response.status_code == 422
    assert "'upsert' is missing" in fake.violations[0].problem


def test_a_wrong_run_status_and_a_missing_token_are_flagged(fake: FakePort) -> None:
    http = raw_http(fake)
    fake.add_run("r_1")
    assert http.patch("/v1/actions/runs/r_1", json={"status": "DONE"}).status_code == 422
    anonymous = httpx.Client(transport=fake.transport(), base_url=FAKE_PORT_URL)
    assert anonymous.post("/v1/actions/runs/r_1/logs", json={"message": "hi"}).status_code == 422
    assert [violation.route for violation in fake.violations] == [
        "PATCH /v1/actions/runs/{run_id}",
        "POST /v1/actions/runs/{run_id}/logs",
    ]
    assert "SecurityValidationError" in fake.violations[1].problem
    assert fake.runs["r_1"]["status"] == "IN_PROGRESS"


def test_an_unknown_route_is_flagged(fake: FakePort) -> None:
    http = raw_http(fake)
    assert http.post("/v1/blueprints/service/entities/upsert", json={}).status_code == 422
    assert fake.violations[0].route is None


def test_an_invalid_identifier_is_flagged(fake: FakePort) -> None:
    http = raw_http(fake)
    body = {"entities": [{"identifier": "has spaces", "properties": {}}]}
    response = http.post("/v1/blueprints/service/entities/bulk", params={"upsert": "true"}, json=body)
    assert response.status_code == 422
    assert "entities/0/identifier" in fake.violations[0].problem


def test_a_unicode_identifier_is_accepted(client: PortClient, fake: FakePort) -> None:
    # The spec's pattern allows any Unicode letter (\p{L}); the fake rewrites it for Python's re.
    client.upsert_entities("service", [{"identifier": "zürich-kassé", "properties": {}}])
    assert fake.violations == []


def test_the_spec_is_found_beside_the_repository() -> None:
    spec = port_spec()
    assert Path(REPO_ROOT.parent / "shared" / "vendor-specs" / "port-openapi.json").is_file()
    assert any(route.key == "POST /v1/blueprints/{blueprint_identifier}/entities/bulk" for route in spec.routes)
