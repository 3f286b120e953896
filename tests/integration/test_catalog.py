"""The service catalogs that feed the impact walk: `PortDirectory` against FakePort (every request
checked against Port's OpenAPI spec) and `LocalDirectory` against a projection store in moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from incident_core import aws
from incident_core.port.client import PortClient
from incident_core.store.projections import Projection, ProjectionStore
from incident_core.usecases.catalog import EntityDirectory, LocalDirectory, PortDirectory
from incident_core.usecases.impact import impacted_services
from tests.fakes.port import FAKE_PORT_URL, FakePort
from tests.integration.conftest import create_table

SEARCH_ROUTE = "POST /v1/blueprints/{blueprint_identifier}/entities/search"


def _service_blueprint(identifier: str = "service") -> dict[str, Any]:
    return {
        "identifier": identifier,
        "title": "Service",
        "schema": {"properties": {"tier": {"type": "string", "title": "Tier"}}, "required": []},
        "relations": {
            "dependencies": {"title": "Dependencies", "target": identifier, "many": True, "required": False},
        },
    }


def _service(identifier: str, *calls: str) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "title": identifier.title(),
        "properties": {"tier": "1"},
        "relations": {"dependencies": list(calls)},
    }


SHOP = [
    _service("storefront", "checkout"),
    _service("checkout", "payments", "inventory"),
    _service("payments", "ledger"),
    _service("inventory"),
    _service("ledger"),
]


@pytest.fixture
def fake_port() -> FakePort:
    port = FakePort(blueprints=[_service_blueprint()])
    for service in SHOP:
        port.add_entity("service", service)
    port.add_blueprint({"identifier": "team", "title": "Team", "schema": {"properties": {}, "required": []}})
    port.add_entity("team", {"identifier": "payments-team", "title": "Payments"})
    return port


@pytest.fixture
def port_client(fake_port: FakePort) -> Iterator[PortClient]:
    http = httpx.Client(transport=fake_port.transport())
    with PortClient(FAKE_PORT_URL, fake_port.client_id, fake_port.client_secret, http=http) as client:
        yield client
    http.close()


def _by_identifier(entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entity["identifier"]: entity for entity in entities}


# --- Port ---------------------------------------------------------------------------------------------------


def test_port_catalog_returns_every_service_with_its_relations(fake_port: FakePort, port_client: PortClient) -> None:
    catalog: EntityDirectory = PortDirectory(port_client)

    entities = _by_identifier(catalog.entities("service"))

    assert sorted(entities) == ["checkout", "inventory", "ledger", "payments", "storefront"]
    assert entities["checkout"]["relations"] == {"dependencies": ["payments", "inventory"]}
    assert entities["checkout"]["properties"] == {"tier": "1"}
    assert fake_port.violations == []


def test_port_catalog_searches_the_blueprint_with_a_rule_every_entity_of_it_matches(
    fake_port: FakePort, port_client: PortClient
) -> None:
    PortDirectory(port_client).entities("service")

    searches = [request for request in fake_port.requests if request.route == SEARCH_ROUTE]
    assert len(searches) == 1
    assert searches[0].path == "/v1/blueprints/service/entities/search"
    assert searches[0].body["query"] == {
        "combinator": "and",
        "rules": [{"property": "$blueprint", "operator": "=", "value": "service"}],
    }
    assert fake_port.violations == []


def test_port_catalog_reads_the_configured_blueprint(fake_port: FakePort, port_client: PortClient) -> None:
    fake_port.add_blueprint(_service_blueprint("microservice"))
    fake_port.add_entity("microservice", _service("gateway", "auth"))
    fake_port.add_entity("microservice", _service("auth"))

    entities = PortDirectory(port_client).entities("microservice")

    assert sorted(entity["identifier"] for entity in entities) == ["auth", "gateway"]
    assert fake_port.violations == []


def test_port_catalog_of_an_empty_blueprint_is_empty(fake_port: FakePort, port_client: PortClient) -> None:
    fake_port.add_blueprint(_service_blueprint("empty"))

    assert PortDirectory(port_client).entities("empty") == []
    assert fake_port.violations == []


def test_port_catalog_feeds_the_impact_walk(fake_port: FakePort, port_client: PortClient) -> None:
    result = impacted_services(["payments"], PortDirectory(port_client).entities("service"))

    assert result.upstream == ("checkout", "storefront")
    assert result.downstream == ("ledger",)
    assert fake_port.violations == []


# --- Local --------------------------------------------------------------------------------------------------


def _projection(blueprint: str, entity: dict[str, Any]) -> Projection:
    return Projection(
        blueprint=blueprint,
        identifier=entity["identifier"],
        visibleHash=f"hash-{entity['identifier']}",
        entity=entity,
        projectedAt="2026-11-27T09:00:00.000Z",
        syncedToPort=False,
    )


@pytest.fixture
def projection_store(aws_env: None) -> ProjectionStore:
    return ProjectionStore(aws.dynamodb(), create_table("PortEntitiesTable"))


def test_local_catalog_returns_the_kept_entities_of_its_blueprint_only(projection_store: ProjectionStore) -> None:
    alert = {"identifier": "datadog-4711", "title": "High error rate", "relations": {"service": "checkout"}}
    projection_store.save([*(_projection("service", service) for service in SHOP), _projection("alert", alert)])
    catalog: EntityDirectory = LocalDirectory(projection_store)

    entities = catalog.entities("service")

    assert _by_identifier(entities) == {service["identifier"]: service for service in SHOP}
    assert impacted_services(["payments"], entities).upstream == ("checkout", "storefront")


def test_local_catalog_without_kept_services_is_empty(projection_store: ProjectionStore) -> None:
    projection_store.save([_projection("microservice", _service("gateway"))])

    assert LocalDirectory(projection_store).entities("service") == []
    assert [e["identifier"] for e in LocalDirectory(projection_store).entities("microservice")] == ["gateway"]
