"""The projector against the strict fake Port (through the real client) and moto's tables: each entity's fate is
its own (written, waiting in the outbox, or parked with Port's reason), and the outbox drains in order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from incident_core import aws, cli
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.models.alert_record import AlertRecord, apply_notification
from incident_core.models.incident import Incident
from incident_core.models.notification import AlertNotification
from incident_core.models.outbox import OutboxState
from incident_core.port.client import PortClient
from incident_core.port.resources import BUNDLE_INCIDENT_BLUEPRINT as INCIDENT_BLUEPRINT
from incident_core.port.resources import ResourceKind, load_resources
from incident_core.retry import RetryPolicy
from incident_core.store.outbox import OutboxStore
from incident_core.store.projections import ProjectionStore
from incident_core.support.time import format_utc
from incident_core.usecases.projection import ALERT_BLUEPRINT, Projector
from tests.events import webhook_event
from tests.fakes import FakeClock
from tests.fakes.port import FAKE_PORT_URL, REPO_ROOT, FakePort
from tests.integration.conftest import Stack, create_table, port_blueprints

BULK = "POST /v1/blueprints/{blueprint_identifier}/entities/bulk"
CHECKOUT = "prometheus-3f1c9a7e5b2d4c60"
PAYMENTS = "prometheus-a81e22c07d9e1b34"


def _record(external_id: str, **changes: Any) -> AlertRecord:
    alert = Alert(
        title=f"Alert {external_id}",
        severity=Severity.WARNING,
        status=AlertStatus.OPEN,
        source=Source.DATADOG,
        externalId=external_id,
        startedAt="2026-11-27T08:14:03.123Z",
    )
    notification = AlertNotification(alert=alert, notificationId=external_id, receivedAt="2026-11-27T08:15:00.000Z")
    record = apply_notification(None, notification, service="checkout", flap_threshold=4, flap_window_seconds=60)
    assert record is not None
    return record.model_copy(update=changes)


def _incident(**changes: Any) -> Incident:
    fields: dict[str, Any] = {
        "identifier": "inc-20261127-081500-a1b2c3",
        "title": "Checkout is failing",
        "createdAt": "2026-11-27T08:15:00.000Z",
        "services": ("checkout",),
    }
    return Incident(**(fields | changes))


def _blueprints(incident_blueprint: str) -> list[dict[str, Any]]:
    """The user's service blueprint and the bundle's, as `port apply --incident-blueprint` puts them in Port."""
    ours = load_resources(REPO_ROOT / "port", incident_blueprint=incident_blueprint, api_url="https://api.example")
    return [port_blueprints()[0], *(r.body for r in ours if r.kind is ResourceKind.BLUEPRINT)]


class World:
    def __init__(self, incident_blueprint: str = INCIDENT_BLUEPRINT) -> None:
        self.incident_blueprint = incident_blueprint
        self.clock = FakeClock()
        self.port = FakePort(clock=self.clock, blueprints=_blueprints(incident_blueprint))
        self.port.add_entity("service", {"identifier": "checkout", "title": "Checkout"})
        self.client = PortClient(
            FAKE_PORT_URL,
            self.port.client_id,
            self.port.client_secret,
            http=httpx.Client(transport=self.port.transport()),
            clock=self.clock,
            sleep=self.clock.sleep,
            retry=RetryPolicy(max_attempts=1),
        )
        self.projections = ProjectionStore(aws.dynamodb(), create_table("PortEntitiesTable"))
        self.outbox = OutboxStore(aws.dynamodb(), create_table("PortOutboxTable"))

    def projector(self) -> Projector:
        return Projector(
            self.projections, self.client, self._now, outbox=self.outbox, incident_blueprint=self.incident_blueprint
        )

    def _now(self) -> str:
        return format_utc(datetime.fromtimestamp(self.clock(), UTC))

    def bulk_requests(self, blueprint: str) -> int:
        path = f"/v1/blueprints/{blueprint}/entities/bulk"
        return sum(1 for request in self.port.requests if request.path == path)


@pytest.fixture
def world(aws_env: None) -> World:
    return World()


def test_an_entity_port_refuses_is_parked_alone_and_not_sent_again_until_it_changes(world: World) -> None:
    records = [_record(f"a{i}") for i in range(3)]
    refused = records[1].identifier
    world.port.fail_entity(refused, status_code=422, message="blueprint schema changed by hand")

    projector = world.projector()
    assert projector.project_alerts(records) == 2
    assert set(world.port.entities["alert"]) == {records[0].identifier, records[2].identifier}
    assert world.bulk_requests("alert") == 1  # the others were written once, in the same request
    assert (projector.tally.written, projector.tally.refused, projector.tally.deferred) == (2, 1, 0)
    parked = world.outbox.entity(ALERT_BLUEPRINT, refused)
    assert parked is not None
    assert parked.state is OutboxState.PARKED
    assert parked.reason == "Port refused it (422): blueprint schema changed by hand"

    assert world.projector().project_alerts(records) == 0  # nothing changed: nothing sent, nothing re-written
    assert world.bulk_requests("alert") == 1
    assert world.projector().drain().written == 0  # a parked entity is not retried by the schedule

    changed = records[1].model_copy(update={"status": AlertStatus.RESOLVED, "endedAt": "2026-11-27T08:30:00.000Z"})
    assert world.projector().project_alerts([changed]) == 1
    assert world.port.entities["alert"][refused]["properties"]["status"] == "resolved"
    assert world.outbox.entity(ALERT_BLUEPRINT, refused) is None


def test_an_entity_that_does_not_fit_its_blueprint_is_parked_without_being_sent(world: World) -> None:
    bad = _incident(url="ftp://files.example.com/incident")
    projector = world.projector()

    assert projector.project_incidents([bad]) == 0
    assert world.bulk_requests(INCIDENT_BLUEPRINT) == 0
    parked = world.outbox.entity(INCIDENT_BLUEPRINT, bad.identifier)
    assert parked is not None
    assert parked.state is OutboxState.PARKED
    assert "url: 'ftp://files.example.com/incident' is not a valid url" in parked.reason


def test_alerts_wait_for_their_pending_incident_and_the_drain_sends_the_incident_first(world: World) -> None:
    incident = _incident()
    alert = _record("a1", incidentId=incident.identifier)
    world.port.outage(world.clock.now, world.clock.now + 100)

    projector = world.projector()
    projector.project_incidents([incident])
    projector.project_alerts([alert])
    assert projector.tally.deferred == 2
    waiting = world.outbox.entity(ALERT_BLUEPRINT, alert.identifier)
    assert waiting is not None
    assert waiting.reason.startswith(f"Waiting for its incident {incident.identifier!r} to reach Port")

    world.clock.advance(60)
    assert world.projector().drain().written == 0  # still down: both back off again
    world.clock.advance(120)
    assert world.projector().drain().written == 2
    assert world.port.entities[INCIDENT_BLUEPRINT][incident.identifier]["relations"]["services"] == ["checkout"]
    assert world.port.entities["alert"][alert.identifier]["relations"]["incident"] == incident.identifier
    assert world.port.refused == []


def test_a_newer_version_replaces_the_waiting_one_and_only_it_is_sent(world: World) -> None:
    world.port.outage(world.clock.now, world.clock.now + 30)
    first = _record("a1")
    world.projector().project_alerts([first])
    resolved = first.model_copy(update={"status": AlertStatus.RESOLVED, "endedAt": "2026-11-27T08:30:00.000Z"})
    world.projector().project_alerts([resolved])

    world.clock.advance(60)
    assert world.projector().drain().written == 1
    assert world.port.entities["alert"][first.identifier]["properties"]["status"] == "resolved"
    assert world.bulk_requests("alert") == 1  # the first version never went out once Port was down
    assert world.outbox.due_entities("9999-12-31T00:00:00.000Z") == []


def test_a_service_port_does_not_know_is_left_out_before_sending(world: World) -> None:
    record = _record("a1", service="not-in-the-catalog")
    world.projector().project_alerts([record, _record("a2")])

    assert world.port.entities["alert"][record.identifier]["relations"] == {}
    assert world.port.entities["alert"][_record("a2").identifier]["relations"] == {"service": "checkout"}
    assert world.port.refused == []


def test_incidents_go_to_the_incident_blueprint_under_its_own_identifier(aws_env: None) -> None:
    world = World(incident_blueprint="lifecycleIncident")
    incident = _incident()
    projector = world.projector()
    projector.project_incidents([incident])
    projector.project_alerts([_record("a1", incidentId=incident.identifier)])

    assert set(world.port.entities["lifecycleIncident"]) == {incident.identifier}
    assert world.port.entities["alert"][_record("a1").identifier]["relations"]["incident"] == incident.identifier
    assert world.port.refused == []
    assert world.port.violations == []


def test_a_parked_alert_shows_port_s_reason(stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    stack.port.fail_entity(CHECKOUT, status_code=422, message="startedAt must be a date-time")
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))
    stack.drain()

    assert set(stack.port_alerts()) == {PAYMENTS}
    assert stack.queued() == 0
    monkeypatch.setenv("ALERTS_TABLE", stack.resources.references["AlertsTable"])
    monkeypatch.setenv("PORT_OUTBOX_TABLE", stack.resources.references["PortOutboxTable"])
    assert cli.main(["alerts", "show", CHECKOUT]) == 0
    shown = capsys.readouterr().out
    assert "port: refused, parked since " in shown
    assert shown.rstrip().endswith("Port refused it (422): startedAt must be a date-time")
    assert cli.main(["alerts", "show", CHECKOUT, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["port"]["state"] == "parked"
    assert cli.main(["alerts", "show", PAYMENTS, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["port"] is None
