"""The samples of events/ and the held-out payloads, sent over HTTP to `make run`'s local stack with Port
credentials, reach the strict fake Port whole: every stored alert is in Port in its stored status, and Port
refused no entity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from incident_core.models import Source
from incident_core.normalizers import normalize
from tests.e2e.conftest import LocalStack, local_stack
from tests.events import webhook_event, webhook_event_names
from tests.fakes.port import FakePort
from tests.fakes.port_server import FakePortServer
from tests.heldout import Payload, heldout_payloads
from tests.integration.conftest import port_blueprints

pytestmark = pytest.mark.e2e

PAYLOADS = [
    *(
        Payload(source.value, name, *webhook_event(source.value, name))
        for source in Source
        for name in webhook_event_names(source.value)
    ),
    *heldout_payloads(),
]


@pytest.fixture(scope="module")
def port() -> FakePort:
    fake = FakePort(blueprints=port_blueprints())
    for service in ("checkout", "payments", "checkout-api"):
        fake.add_entity("service", {"identifier": service, "title": service.title()})
    return fake


@pytest.fixture(scope="module")
def stack(port: FakePort, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log = tmp_path_factory.mktemp("devstack") / "output.log"
    with (
        FakePortServer(port) as server,
        local_stack(
            log, PORT_API_URL=server.url, PORT_CLIENT_ID=port.client_id, PORT_CLIENT_SECRET=port.client_secret
        ) as started,
    ):
        yield started


def _stored(stack: LocalStack) -> dict[str, str]:
    return {alert["identifier"]: alert["status"] for alert in stack.cli("alerts", "list")}


def _in_port(port: FakePort) -> dict[str, Any]:
    return {identifier: e["properties"]["status"] for identifier, e in port.entities.get("alert", {}).items()}


def test_every_payload_reaches_port_as_stored(port: FakePort, stack: LocalStack) -> None:
    for payload in PAYLOADS:
        answer = httpx.post(f"{stack.api}/webhooks/{payload.source}", headers=payload.headers, content=payload.body)
        assert answer.status_code in (200, 202), (payload.source, payload.name, answer.text)

    expected = {alert.identifier for p in PAYLOADS for alert in normalize(p.source, p.headers, p.body, None)}
    stored = stack.wait_until(
        lambda: _stored(stack), lambda found: found.keys() == expected and found == _in_port(port), timeout=60
    )
    assert stored.keys() == expected
    assert _in_port(port) == stored
    assert port.refused == []
    assert port.violations == []
