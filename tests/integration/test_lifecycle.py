"""The lifecycle steps and correlation against the real stores (moto in process), native provider."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest

from incident_core import aws
from incident_core.config import Settings
from incident_core.errors import StepRefused
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.models.action import ActionRun
from incident_core.models.alert_record import AlertRecord, apply_notification
from incident_core.models.incident import Incident, IncidentStatus, LifecycleStep, ProviderName, TimelineKind
from incident_core.models.notification import AlertNotification
from incident_core.notifications import SnsPager
from incident_core.providers.base import ProviderEvent, ProviderResult, ProviderState
from incident_core.providers.http import VendorHttp
from incident_core.providers.registry import ProviderContext, provider_for
from incident_core.retry import RetryPolicy
from incident_core.store.alerts import AlertStore
from incident_core.store.incidents import IncidentStore
from incident_core.store.projections import ProjectionStore
from incident_core.usecases.actions import STEP_WAIT_SECONDS, ActionRunner
from incident_core.usecases.catalog import LocalDirectory
from incident_core.usecases.correlation import correlate_alert
from incident_core.usecases.incident_toolkit import LifecycleContext, StepOutcome
from incident_core.usecases.projection import Projector
from incident_core.usecases.provider_sync import EchoProvider, apply_provider_event, reconcile
from incident_core.usecases.steps import STEPS
from tests.integration.conftest import PagesTopic, create_table, seed_entities, serialize_dynamodb_requests

REGION = "us-east-1"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CATALOG = {
    # checkout calls payments and inventory; payments calls the ledger; the web frontend calls checkout.
    "web": ["checkout"],
    "checkout": ["payments", "inventory"],
    "payments": ["ledger"],
    "inventory": [],
    "ledger": ["payments"],  # a cycle: the impact walk must stop
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    ctx: LifecycleContext
    clock: Clock
    topic: PagesTopic

    def run(self, step: LifecycleStep, entity: str | dict[str, Any] | None = None, **inputs: Any) -> StepOutcome:
        run_id = f"r_{step.value}_{len(self.ctx.incidents.get(entity).timeline) if isinstance(entity, str) else 0}"
        body = entity if isinstance(entity, dict) else ({"identifier": entity} if entity else None)
        run = ActionRun(runId=run_id, step=step, entity=body, inputs=inputs, user="ana@example.com")
        return STEPS[step].take(self.ctx, run)

    def store_alert(self, external_id: str = "3f1c9a7e5b2d4c60", **changes: Any) -> AlertRecord:
        fields: dict[str, Any] = {
            "title": "HighErrorRate",
            "severity": Severity.CRITICAL,
            "status": AlertStatus.OPEN,
            "source": Source.PROMETHEUS,
            "externalId": external_id,
            "startedAt": "2026-11-27T08:59:00.000Z",
            "rawPayload": {"alert": {"labels": {"service": "checkout"}}},
        }
        alert = Alert(**(fields | changes))
        note = AlertNotification(alert=alert, notificationId=f"n-{external_id}", receivedAt="2026-11-27T09:00:00.000Z")
        record, _ = self.ctx.alerts.change(
            alert.dedup_key,
            lambda current: apply_notification(
                current, note, service="checkout", flap_threshold=4, flap_window_seconds=3600
            ),
        )
        assert record is not None
        return record

    def pages(self) -> list[dict[str, Any]]:
        return self.topic.received()


@pytest.fixture
def world(aws_env: None) -> World:
    serialize_dynamodb_requests(aws.dynamodb().meta.client)
    tables = {name: create_table(name) for name in ("AlertsTable", "IncidentsTable", "PortEntitiesTable")}
    projections = ProjectionStore(aws.dynamodb(), tables["PortEntitiesTable"])
    seed_entities(
        projections,
        [("service", {"identifier": name, "relations": {"dependencies": calls}}) for name, calls in CATALOG.items()],
    )
    pages = PagesTopic.create()
    clock = Clock()

    def pager() -> SnsPager:
        return SnsPager(pages.sns, pages.arn)

    def link(identifier: str) -> str:
        return f"https://app.port.io/x/{identifier}"

    providers = ProviderContext(pager=pager, link=link)
    ctx = LifecycleContext(
        incidents=IncidentStore(tables["IncidentsTable"]),
        alerts=AlertStore(tables["AlertsTable"]),
        provider=lambda name: provider_for(name, providers),
        directory=lambda: LocalDirectory(projections),
        pager=pager,
        link=link,
        settings=Settings(),
        clock=clock,
    )
    return World(ctx, clock, pages)


def _open_manually(world: World) -> Incident:
    outcome = world.run(LifecycleStep.TRIGGER, None, title="Checkout is down", severity="critical")
    assert outcome.opened
    return outcome.incident


def test_the_whole_lifecycle_ends_resolved_with_a_timeline_and_a_postmortem(world: World) -> None:
    alert = world.store_alert()
    opened = world.run(
        LifecycleStep.TRIGGER,
        {"identifier": alert.identifier, "blueprint": "alert", "properties": alert.as_alert().seed_fields()},
    )
    incident = opened.incident.identifier
    assert opened.opened
    assert world.ctx.alerts.get(alert.dedup_key).incidentId == incident  # type: ignore[union-attr]

    world.clock.advance(120)
    world.run(LifecycleStep.ACKNOWLEDGE, incident)
    world.clock.advance(60)
    reassigned = world.run(LifecycleStep.REASSIGN, incident, assignee="sre-team")
    assert reassigned.incident.status is IncidentStatus.TRIGGERED
    assert reassigned.incident.assignee == "sre-team"
    associated = world.run(LifecycleStep.ASSOCIATE_SERVICES, incident, services=["payments"])
    assert set(associated.incident.services) == {"checkout", "payments"}
    assert associated.incident.impactedServices == ("ledger", "web", "inventory")  # upstream, then downstream
    escalated = world.run(LifecycleStep.ESCALATE, incident)
    assert escalated.incident.escalationLevel == 2
    page = world.pages()
    assert len(page) == 1
    assert "level 2" in page[0]["Subject"]
    assert incident in page[0]["Message"]
    world.run(LifecycleStep.ADD_NOTE, incident, note="Rolled back checkout to v41")
    world.clock.advance(600)
    resolved = world.run(LifecycleStep.RESOLVE, incident, resolution="Bad deploy rolled back")

    final = resolved.incident
    assert final.status is IncidentStatus.RESOLVED
    assert final.mtta_seconds == 120
    assert final.mttr_seconds == 780
    kinds = [entry.kind for entry in final.timeline]
    assert kinds == [
        TimelineKind.TRIGGERED,
        TimelineKind.ACKNOWLEDGED,
        TimelineKind.REASSIGNED,
        TimelineKind.SERVICES_ASSOCIATED,
        TimelineKind.ESCALATED,
        TimelineKind.NOTE,
        TimelineKind.RESOLVED,
    ]
    assert all(entry.actor == "ana@example.com" for entry in final.timeline)
    assert final.postmortem is not None
    assert "Bad deploy rolled back" in final.postmortem
    assert "Rolled back checkout to v41" in final.postmortem
    assert world.ctx.alerts.get(alert.dedup_key).status is AlertStatus.RESOLVED  # type: ignore[union-attr]


def test_a_second_trigger_for_the_same_alert_attaches(world: World) -> None:
    alert = world.store_alert()
    entity = {"identifier": alert.identifier, "blueprint": "alert", "properties": alert.as_alert().seed_fields()}
    first = world.run(LifecycleStep.TRIGGER, entity)
    second = world.run(LifecycleStep.TRIGGER, entity, title="Same thing again")

    assert not second.opened
    assert second.incident.identifier == first.incident.identifier
    assert "already open" in second.summary
    assert len(list(world.ctx.incidents.scan())) == 1


def test_an_alert_of_the_same_service_within_the_window_attaches(world: World) -> None:
    first = world.store_alert("a1")
    opened = correlate_alert(world.ctx, first)
    assert opened is not None
    assert opened.opened
    world.clock.advance(10 * 60)
    other = world.store_alert("b2", severity=Severity.WARNING, title="Latency")

    attached = correlate_alert(world.ctx, other)

    assert attached is not None
    assert not attached.opened
    assert attached.incident.identifier == opened.incident.identifier
    assert attached.incident.alerts == (first.dedup_key, other.dedup_key)


def test_outside_the_window_a_critical_alert_of_the_service_opens_a_new_incident(world: World) -> None:
    opened = correlate_alert(world.ctx, world.store_alert("a1"))
    world.clock.advance(31 * 60)
    later = correlate_alert(world.ctx, world.store_alert("b2"))

    assert opened is not None
    assert later is not None
    assert later.opened
    assert later.incident.identifier != opened.incident.identifier


def test_a_warning_alert_with_no_open_incident_opens_nothing(world: World) -> None:
    assert correlate_alert(world.ctx, world.store_alert("w1", severity=Severity.WARNING)) is None
    assert list(world.ctx.incidents.scan()) == []


def test_fifty_parallel_deliveries_of_a_critical_alert_open_exactly_one_incident(world: World) -> None:
    alert = world.store_alert()
    start = threading.Barrier(50)
    outcomes: list[StepOutcome | None] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        start.wait()
        try:
            outcomes.append(correlate_alert(world.ctx, alert))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    incidents = list(world.ctx.incidents.scan())
    assert len(incidents) == 1
    assert sum(1 for o in outcomes if o is not None and o.opened) == 1
    assert {o.incident.identifier for o in outcomes if o is not None} == {incidents[0].identifier}


def test_an_acknowledge_racing_a_resolve_ends_in_one_consistent_state(world: World) -> None:
    incident = _open_manually(world).identifier
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def step(name: LifecycleStep, **inputs: Any) -> None:
        run = ActionRun(
            runId=f"race-{name.value}", step=name, entity={"identifier": incident}, inputs=inputs, user=name.value
        )
        start.wait()
        try:
            results[name.value] = STEPS[name].take(world.ctx, run)
        except StepRefused as refused:
            results[name.value] = refused

    threads = [
        threading.Thread(target=step, args=(LifecycleStep.ACKNOWLEDGE,)),
        threading.Thread(target=step, args=(LifecycleStep.RESOLVE,), kwargs={"resolution": "fixed"}),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = world.ctx.incidents.get(incident)
    assert final is not None
    assert final.status is IncidentStatus.RESOLVED  # resolve always lands; ack either before it or refused
    kinds = [entry.kind for entry in final.timeline]
    assert kinds.count(TimelineKind.RESOLVED) == 1
    if isinstance(results["acknowledge"], StepRefused):
        assert kinds.count(TimelineKind.ACKNOWLEDGED) == 0
        assert "resolved" in results["acknowledge"].message
    else:
        assert kinds.index(TimelineKind.ACKNOWLEDGED) < kinds.index(TimelineKind.RESOLVED)
    assert final.version == len(final.timeline) + 2  # created, provider recorded, postmortem, one per step


@pytest.mark.parametrize(
    ("step", "inputs", "reason"),
    [
        (LifecycleStep.ACKNOWLEDGE, {}, "cannot be acknowledged"),
        (LifecycleStep.REASSIGN, {"assignee": "bob@example.com"}, "cannot be reassigned"),
        (LifecycleStep.ESCALATE, {}, "cannot be escalated"),
        (LifecycleStep.RESOLVE, {"resolution": "again"}, "cannot be resolved again"),
    ],
)
def test_steps_on_a_resolved_incident_are_refused_with_the_reason(
    world: World, step: LifecycleStep, inputs: dict[str, Any], reason: str
) -> None:
    incident = _open_manually(world).identifier
    world.run(LifecycleStep.RESOLVE, incident, resolution="done")
    with pytest.raises(StepRefused) as refused:
        world.run(step, incident, **inputs)
    assert reason in refused.value.message


def test_a_note_is_still_welcome_on_a_resolved_incident(world: World) -> None:
    incident = _open_manually(world).identifier
    world.run(LifecycleStep.RESOLVE, incident, resolution="done")
    noted = world.run(LifecycleStep.ADD_NOTE, incident, note="Follow-up: add an alert on queue depth")
    assert noted.incident.timeline[-1].kind is TimelineKind.NOTE


def test_acknowledging_twice_is_refused_with_who_has_it(world: World) -> None:
    incident = _open_manually(world).identifier
    world.run(LifecycleStep.ACKNOWLEDGE, incident)
    with pytest.raises(StepRefused) as refused:
        world.run(LifecycleStep.ACKNOWLEDGE, incident)
    assert "already acknowledged by ana@example.com" in refused.value.message


def test_the_same_run_is_not_done_twice(world: World) -> None:
    incident = _open_manually(world).identifier
    run = ActionRun(runId="r_same", step=LifecycleStep.ADD_NOTE, entity={"identifier": incident}, inputs={"note": "x"})
    STEPS[run.step].take(world.ctx, run)
    again = STEPS[run.step].take(world.ctx, run)
    assert [e.kind for e in again.incident.timeline].count(TimelineKind.NOTE) == 1


def test_resolving_releases_the_alert_so_its_next_firing_opens_a_new_incident(world: World) -> None:
    alert = world.store_alert()
    first = correlate_alert(world.ctx, alert)
    assert first is not None
    world.run(LifecycleStep.RESOLVE, first.incident.identifier, resolution="fixed", resolveAlerts=False)
    refired = world.store_alert("3f1c9a7e5b2d4c60")
    cleared = world.ctx.alerts.change(
        refired.dedup_key, lambda current: current.model_copy(update={"incidentId": None}) if current else None
    )[0]
    assert cleared is not None

    second = correlate_alert(world.ctx, cleared)

    assert second is not None
    assert second.opened
    assert second.incident.identifier != first.incident.identifier


# Changes made in the provider's own app


def _with_external_id(world: World, incident: Incident, external_id: str, provider: ProviderName) -> Incident:
    updated, _ = world.ctx.incidents.change(
        incident.identifier,
        lambda current: (
            current.model_copy(update={"externalId": external_id, "provider": provider}) if current else None
        ),
    )
    world.ctx.incidents.link_external(provider.value, external_id, incident.identifier)
    assert updated is not None
    return updated


def test_an_acknowledge_and_a_resolve_in_the_vendors_app_are_followed(world: World) -> None:
    incident = _with_external_id(world, _open_manually(world), "PD123", ProviderName.PAGERDUTY)
    world.clock.advance(90)
    acked = apply_provider_event(
        world.ctx,
        ProviderName.PAGERDUTY,
        ProviderEvent(externalId="PD123", status=IncidentStatus.ACKNOWLEDGED, actor="bo@example.com"),
    )
    world.clock.advance(300)
    resolved = apply_provider_event(
        world.ctx,
        ProviderName.PAGERDUTY,
        ProviderEvent(
            externalId="PD123", status=IncidentStatus.RESOLVED, note="Fixed upstream", actor="bo@example.com"
        ),
    )

    assert acked is not None
    assert acked.status is IncidentStatus.ACKNOWLEDGED
    assert acked.mtta_seconds == 90
    assert resolved is not None
    assert resolved.status is IncidentStatus.RESOLVED
    assert resolved.resolution == "Fixed upstream"
    assert resolved.postmortem is not None
    assert [e.actor for e in resolved.timeline[1:]] == ["bo@example.com (pagerduty)"] * 3
    assert incident.identifier == resolved.identifier


def test_the_same_vendor_event_twice_changes_nothing_the_second_time(world: World) -> None:
    _with_external_id(world, _open_manually(world), "PD9", ProviderName.PAGERDUTY)
    event = ProviderEvent(externalId="PD9", note="Looking at the database", actor="bo@example.com")
    first = apply_provider_event(world.ctx, ProviderName.PAGERDUTY, event)
    second = apply_provider_event(world.ctx, ProviderName.PAGERDUTY, event)
    assert first is not None
    assert second is not None
    assert second.timeline == first.timeline


def test_an_event_about_an_unknown_incident_is_ignored(world: World) -> None:
    event = ProviderEvent(externalId="nope", status=IncidentStatus.RESOLVED, actor="x")
    assert apply_provider_event(world.ctx, ProviderName.PAGERDUTY, event) is None


def test_reconcile_applies_what_the_provider_reports(world: World) -> None:
    incident = _with_external_id(world, _open_manually(world), "PD77", ProviderName.PAGERDUTY)

    class Reporting(EchoProvider):
        def get(self, incident: Incident) -> ProviderState:
            return ProviderState(status=IncidentStatus.RESOLVED, assignee=None)

    ctx = dataclasses.replace(world.ctx, provider=lambda name: Reporting(name))
    changed = reconcile(ctx, [incident])
    again = reconcile(ctx, [world.ctx.incidents.get(incident.identifier)])  # type: ignore[list-item]

    assert [i.status for i in changed] == [IncidentStatus.RESOLVED]
    assert again == []


def test_a_steps_waits_for_rate_limits_are_bounded_and_told_in_the_runs_log(world: World) -> None:
    incident = _open_manually(world)
    answers = [
        httpx.Response(429, headers={"x-ratelimit-reset": "3"}),  # seconds to wait, not an epoch
        httpx.Response(200),
        httpx.Response(429, headers={"Retry-After": "30"}),  # 33 s so far: within the step's budget
        httpx.Response(200),
        httpx.Response(429, headers={"Retry-After": "30"}),  # 33 + 30 s would: not waited, the step fails
    ]
    slept: list[float] = []
    vendor = VendorHttp(
        "Vendor",
        httpx.Client(base_url="https://vendor.example", transport=httpx.MockTransport(lambda _: answers.pop(0))),
        retry=RetryPolicy(max_attempts=4, max_total_seconds=60.0),
        sleep=slept.append,
    )

    class RateLimited(EchoProvider):
        def acknowledge(self, incident: Incident, by: str) -> ProviderResult:
            vendor.request("POST", "/acknowledge")
            vendor.request("POST", "/note")
            vendor.request("POST", "/notify")
            return super().acknowledge(incident, by)

    reporter = RecordingReporter()
    runner = ActionRunner(
        ledger=world.ctx.incidents,
        lifecycle=lambda: dataclasses.replace(world.ctx, provider=lambda name: RateLimited(name)),
        projector=lambda: cast(Projector, NoProjection()),
        reporter=lambda: reporter,
        link=lambda _: None,
        max_attempts=1,
    )
    run = ActionRun(runId="r_ack", step=LifecycleStep.ACKNOWLEDGE, entity={"identifier": incident.identifier})

    runner.execute(run, attempt=1)

    assert slept == [3.0, 30.0]  # the third wait would have taken the step past STEP_WAIT_SECONDS
    assert STEP_WAIT_SECONDS < 3.0 + 30.0 + 30.0
    assert reporter.logs["r_ack"] == ["Waited 33.0 s for vendor.example (2 waits: rate limit)"]
    assert reporter.finished["r_ack"][0] == "FAILURE"
    assert "Vendor answered 429" in reporter.finished["r_ack"][1]


class RecordingReporter:
    def __init__(self) -> None:
        self.logs: dict[str, list[str]] = {}
        self.finished: dict[str, tuple[str, str]] = {}

    def log(self, run_id: str, message: str) -> None:
        self.logs.setdefault(run_id, []).append(message)

    def finish(self, run_id: str, status: str, summary: str, link: str | None) -> None:
        self.finished[run_id] = (status, summary)


class NoProjection:
    def project_incidents(self, incidents: Any) -> None:
        return None

    def project_alerts(self, alerts: Any) -> None:
        return None
