"""Every sample in events/ and every held-out payload goes through the whole pipeline into the strict fake Port
(which checks each entity against its blueprint as Port does) and lands: each stored alert is in Port, in its
stored status, and Port refused nothing."""

from __future__ import annotations

from typing import Any

import pytest

from incident_core import aws
from incident_core.models import Source
from incident_core.store.alerts import AlertStore
from incident_core.store.scan import scan_items
from tests.events import webhook_event, webhook_event_names
from tests.heldout import Payload, heldout_payloads
from tests.integration.conftest import Stack

SAMPLES = [
    Payload(source.value, name, *webhook_event(source.value, name))
    for source in Source
    for name in webhook_event_names(source.value)
]


def _deliver(stack: Stack, payloads: list[Payload]) -> list[int]:
    statuses = [stack.post(payload.source, payload.headers, payload.body).status for payload in payloads]
    stack.drain()
    return statuses


def _landed(stack: Stack) -> tuple[dict[str, str], dict[str, Any], list[dict[str, Any]]]:
    """Stored alerts (identifier -> status), Port's alert entities, and what waits in the outbox."""
    alerts_table = aws.dynamodb().Table(stack.resources.references["AlertsTable"])
    stored = {record.identifier: record.status.value for record in AlertStore(alerts_table).scan()}
    outbox = list(scan_items(aws.dynamodb().Table(stack.resources.references["PortOutboxTable"])))
    return stored, stack.port_alerts(), outbox


@pytest.mark.parametrize(
    "payloads", [pytest.param(SAMPLES, id="events"), pytest.param(heldout_payloads(), id="held-out")]
)
def test_every_payload_lands_in_port_as_stored(stack: Stack, payloads: list[Payload]) -> None:
    statuses = _deliver(stack, payloads)
    stored, in_port, outbox = _landed(stack)

    assert set(statuses) <= {200, 202}
    assert stored
    assert {identifier: e["properties"]["status"] for identifier, e in in_port.items()} == stored
    assert stack.port.refused == []
    assert outbox == []
    assert stack.port.violations == []
    assert stack.queued() == 0
    assert stack.queued(stack.dead_letter_url) == 0


def test_an_alert_without_a_start_time_lands_with_the_first_sighting_said_so(stack: Stack) -> None:
    (legacy,) = [p for p in SAMPLES if (p.source, p.name) == ("grafana", "legacy")]
    _deliver(stack, [legacy])

    alerts_table = aws.dynamodb().Table(stack.resources.references["AlertsTable"])
    (record,) = AlertStore(alerts_table).scan()
    properties = stack.port_alerts()[record.identifier]["properties"]
    assert record.startedAt is None  # the store keeps what the payload said
    assert properties["startedAt"] == record.firstSeenAt
    assert properties["description"].startswith(
        f"Started at is when this bundle first received the alert ({record.firstSeenAt}): "
        "the Grafana notification carried no start time."
    )
