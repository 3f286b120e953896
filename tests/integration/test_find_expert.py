"""The find-expert step against the real stores (moto in process): responders and rotations from the local
directory, history from the incident store, and the native provider's notifier for an added responder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_core import aws
from incident_core.config import Settings
from incident_core.errors import StepRefused
from incident_core.models import Severity
from incident_core.models.action import ActionRun, FindExpertInputs
from incident_core.models.incident import (
    Incident,
    IncidentStatus,
    LifecycleStep,
    ProviderName,
    TimelineEntry,
    TimelineKind,
)
from incident_core.notifications import SnsPager
from incident_core.providers.registry import ProviderContext, provider_for
from incident_core.store.alerts import AlertStore
from incident_core.store.incidents import IncidentStore
from incident_core.store.projections import ProjectionStore
from incident_core.usecases.catalog import LocalDirectory
from incident_core.usecases.escalation import ROTATION_BLUEPRINT
from incident_core.usecases.incident_toolkit import Answer, LifecycleContext, StepOutcome
from incident_core.usecases.skills import RESPONDER_BLUEPRINT, ExpertSearch, search_experts
from incident_core.usecases.steps import STEPS
from tests.integration.conftest import PagesTopic, create_table, seed_entities

REGION = "us-east-1"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
USER = "ana@example.com"


def _responder(
    identifier: str, title: str, relations: dict[str, Any] | None = None, **properties: Any
) -> tuple[str, dict[str, Any]]:
    entity = {"identifier": identifier, "title": title, "properties": properties, "relations": relations or {}}
    return RESPONDER_BLUEPRINT, entity


RESPONDERS = [
    _responder("rita", "Rita Redis", email="rita@example.com", skills=["Redis", "Redis Cluster"], teams=["Platform"]),
    _responder("mo", "Mo Mongo", email="mo@example.com", skills=["MongoDB sharding"], ownedServices=["orders-db"]),
    _responder("carl", "Carl", email="carl@example.com", skills=["Kafka"], ownedServices=["checkout"]),
    _responder("dana", "Dana", email="dana@example.com", skills=["Go"]),
    _responder("erin", "Erin", email="erin@example.com", skills=["Redis"], available=False),
    _responder("paula", "Paula", {"services": ["payments"]}, email="paula@example.com", skills=["Go"]),
    _responder("ghost", "No Email", skills=["Redis"]),
]
ROTATIONS = [
    # Rita is on call this week; "broken" cannot be read; "next-year" has nobody on call yet.
    (ROTATION_BLUEPRINT, {"identifier": "primary", "properties": {
        "members": ["rita@example.com", "mo@example.com"], "handoff": "09:00", "rotationDays": 7,
        "start": "2026-11-23", "timeZone": "Europe/Berlin"}}),
    (ROTATION_BLUEPRINT, {"identifier": "broken", "properties": {
        "members": ["carl@example.com"], "handoff": "9am", "rotationDays": 7,
        "start": "2026-11-23", "timeZone": "Europe/Berlin"}}),
    (ROTATION_BLUEPRINT, {"identifier": "next-year", "properties": {
        "members": ["carl@example.com"], "handoff": "09:00", "rotationDays": 7,
        "start": "2027-01-04", "timeZone": "Europe/Berlin"}}),
]  # fmt: skip


@dataclass
class World:
    ctx: LifecycleContext
    topic: PagesTopic

    def incident(self, identifier: str = "inc-now", **fields: Any) -> Incident:
        incident = Incident(
            **{
                "identifier": identifier,
                "title": "Checkout is failing",
                "severity": Severity.CRITICAL,
                "createdAt": "2026-11-27T08:55:00.000Z",
                "services": ("checkout",),
                **fields,
            }
        )
        self.ctx.incidents.change(identifier, lambda current: incident if current is None else None)
        return incident

    def past_incident(
        self, identifier: str, services: tuple[str, ...], title: str = "Checkout is failing", **actors: str
    ) -> Incident:
        """A resolved incident whose timeline names who acknowledged it and who resolved it."""
        entries = tuple(
            TimelineEntry(at="2026-10-01T10:00:00.000Z", kind=TimelineKind(kind), actor=actor, text=kind)
            for kind, actor in actors.items()
        )
        return self.incident(
            identifier,
            title=title,
            services=services,
            status=IncidentStatus.RESOLVED,
            createdAt="2026-10-01T09:00:00.000Z",
            timeline=entries,
        )

    def action(self, entity: str | None, run_id: str = "r_find_1", **inputs: Any) -> ActionRun:
        body = {"identifier": entity, "blueprint": "incident"} if entity else None
        return ActionRun(runId=run_id, step=LifecycleStep.FIND_EXPERT, entity=body, inputs=inputs, user=USER)

    def run(self, entity: str | None, run_id: str = "r_find_1", **inputs: Any) -> StepOutcome:
        outcome = self.answer(entity, run_id, **inputs)
        assert isinstance(outcome, StepOutcome)
        return outcome

    def answer(self, entity: str | None, run_id: str = "r_find_1", **inputs: Any) -> StepOutcome | Answer:
        run = self.action(entity, run_id, **inputs)
        return STEPS[LifecycleStep.FIND_EXPERT].take(self.ctx, run)

    def search(self, entity: str | None, **inputs: Any) -> ExpertSearch:
        run = self.action(entity, **inputs)
        return search_experts(self.ctx, run, STEPS[LifecycleStep.FIND_EXPERT].inputs_of(run))

    def pages(self) -> list[dict[str, Any]]:
        return self.topic.received()


@pytest.fixture
def world(aws_env: None) -> World:
    tables = {name: create_table(name) for name in ("AlertsTable", "IncidentsTable", "PortEntitiesTable")}
    projections = ProjectionStore(aws.dynamodb(), tables["PortEntitiesTable"])
    seed_entities(projections, [*RESPONDERS, *ROTATIONS])
    topic = PagesTopic.create()

    def pager() -> SnsPager:
        return SnsPager(topic.sns, topic.arn)

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
        clock=lambda: T0,
    )
    return World(ctx, topic)


# Ranking


def test_the_redis_expert_ranks_first_for_redis_with_the_reasons(world: World) -> None:
    found = world.search(None, skill="redis")

    assert found.incident is None
    assert [c.email for c in found.candidates] == ["rita@example.com", "erin@example.com"]  # unavailable last
    assert found.summary == (
        "Experts for 'redis': 1. rita@example.com (7): declares Redis, Redis Cluster; on call now"
        " | 2. erin@example.com (5): declares Redis; unavailable"
    )
    assert found.logs == [
        "Ranked 6 responder(s) for 'redis': 2 can help",
        "1. rita@example.com (7): declares Redis, Redis Cluster; on call now",
        "2. erin@example.com (5): declares Redis; unavailable",
        "Skipped responder(s) that cannot be ranked: ghost (email)",
        "Ignored on-call rotation broken: Value error, handoff must be a local wall-clock time HH:MM like 09:00, "
        "not '9am'",
    ]


def test_a_mongo_sharding_wizard_is_found_by_the_words_she_used(world: World) -> None:
    found = world.search(None, skill="Mongo sharding")
    assert [(c.email, c.reasons) for c in found.candidates] == [("mo@example.com", ["declares MongoDB sharding"])]


def test_on_an_incident_of_checkout_its_owner_ranks_first(world: World) -> None:
    world.incident()

    outcome = world.run("inc-now")

    assert outcome.summary == "Experts for inc-now (checkout): 1. carl@example.com (4): owns checkout"
    assert outcome.incident.timeline == ()  # a search changes nothing
    assert world.pages() == []


def test_a_skill_and_the_incident_together_add_up(world: World) -> None:
    world.incident(services=("checkout", "payments"))

    outcome = world.run("inc-now", skill="kafka")

    assert outcome.logs[:3] == [
        "Ranked 6 responder(s) for 'kafka' on inc-now (checkout, payments): 2 can help",
        "1. carl@example.com (9): declares Kafka; owns checkout",
        "2. paula@example.com (4): owns payments",  # owned through the `services` relation
    ]
    assert outcome.summary.startswith("Experts for 'kafka' on inc-now (checkout, payments): 1. carl@example.com (9)")


def test_a_past_resolver_ranks_ahead_of_the_owner_and_of_who_only_acknowledged(world: World) -> None:
    world.past_incident("inc-old-1", ("checkout",), acknowledged="mo@example.com", resolved="dana@example.com")
    world.past_incident("inc-old-2", ("checkout",), resolved="dana@example.com")
    world.past_incident("inc-elsewhere", ("search",), resolved="rita@example.com")  # unrelated: no credit
    world.incident()

    outcome = world.run("inc-now")

    assert outcome.logs[1:] == [
        "1. dana@example.com (6): resolved 2 incidents on checkout",
        "2. carl@example.com (4): owns checkout",
        "3. mo@example.com (1): acknowledged 1 incident on checkout",
        "Skipped responder(s) that cannot be ranked: ghost (email)",
        "Ignored on-call rotation broken: Value error, handoff must be a local wall-clock time HH:MM like 09:00, "
        "not '9am'",
    ]


def test_the_summary_names_three_and_the_log_lists_five(world: World) -> None:
    for n, email in enumerate(["rita", "mo", "carl", "dana", "erin", "paula"]):
        world.past_incident(f"inc-redis-{n}", ("cache",), "Redis evictions", resolved=f"{email}@example.com")

    found = world.search(None, skill="redis")

    assert len(found.candidates) == 6
    assert found.summary.count(" | ") == 2
    assert [line.split(".")[0] for line in found.logs[1:6]] == ["1", "2", "3", "4", "5"]
    assert not any(line.startswith("6.") for line in found.logs)


# Adding a responder


def test_add_responder_records_who_added_whom_and_notifies_through_the_native_provider(world: World) -> None:
    world.incident()

    outcome = world.run("inc-now", skill="kafka", addResponder="carl@example.com")

    entry = outcome.incident.timeline[-1]
    assert (entry.kind, entry.actor, entry.text, entry.runId) == (
        TimelineKind.RESPONDER_ADDED,
        USER,
        "ana@example.com added carl@example.com as a responder",
        "r_find_1",
    )
    assert world.ctx.incidents.get("inc-now").timeline == outcome.incident.timeline  # type: ignore[union-attr]
    assert outcome.summary.startswith("Added carl@example.com as a responder. Experts for 'kafka' on inc-now")
    assert "Notified carl@example.com through the native provider's notifier (the escalation topic)" in outcome.logs
    (page,) = world.pages()
    assert page["Subject"] == "[CRITICAL] You were added as a responder: Checkout is failing"
    assert "ana@example.com added carl@example.com as a responder to incident inc-now." in page["Message"]
    assert "https://app.port.io/x/inc-now" in page["Message"]

    again = world.run("inc-now", skill="kafka", addResponder="carl@example.com")  # the same run, redelivered
    assert len(again.incident.timeline) == 1
    assert "carl@example.com was already added by this run" in again.logs
    assert world.pages() == []


def test_a_responder_added_to_a_saas_incident_is_recorded_and_the_log_says_the_tool_was_not_told(
    world: World,
) -> None:
    world.incident(provider=ProviderName.PAGERDUTY, externalId="PD123")

    outcome = world.run("inc-now", addResponder="mo@example.com")

    assert outcome.incident.timeline[-1].kind is TimelineKind.RESPONDER_ADDED
    assert any(line.startswith("Recorded here and in Port only: pagerduty was not asked") for line in outcome.logs)
    assert world.pages() == []


def test_the_responder_input_takes_ports_user_object_and_blank_inputs_are_none() -> None:
    run = ActionRun(
        runId="r1", step=LifecycleStep.FIND_EXPERT, inputs={"skill": "  ", "addResponder": {"email": "mo@example.com"}}
    )
    assert STEPS[run.step].inputs_of(run) == FindExpertInputs(skill=None, addResponder="mo@example.com")


# Refusals


def test_without_an_incident_a_skill_is_required(world: World) -> None:
    for inputs in ({}, {"skill": "   "}, {"skill": "--"}):
        with pytest.raises(StepRefused) as refused:
            world.answer(None, **inputs)
        assert refused.value.message == (
            "Give a skill to search for (like 'redis' or 'mongo sharding'), or run this action on an incident."
        )


def test_without_an_incident_nobody_can_be_added(world: World) -> None:
    with pytest.raises(StepRefused, match="Adding a responder needs an incident"):
        world.answer(None, skill="redis", addResponder="rita@example.com")


def test_a_search_by_skill_alone_answers_without_an_incident(world: World) -> None:
    answer = world.answer(None, skill="redis")
    assert isinstance(answer, Answer)
    assert answer.summary.startswith("Experts for 'redis'")
    assert answer.logs


def test_an_incident_without_services_needs_a_skill(world: World) -> None:
    world.incident(services=())
    with pytest.raises(StepRefused, match="inc-now has no services yet: give a skill"):
        world.run("inc-now")
    assert world.run("inc-now", skill="redis").summary.startswith("Experts for 'redis' on inc-now (no services)")


def test_a_resolved_incident_can_be_searched_but_takes_no_new_responder(world: World) -> None:
    world.incident(status=IncidentStatus.RESOLVED)

    with pytest.raises(StepRefused) as refused:
        world.run("inc-now", addResponder="carl@example.com")

    assert refused.value.message == "Incident inc-now is resolved; a resolved incident cannot be given a new responder."
    assert world.ctx.incidents.get("inc-now").timeline == ()  # type: ignore[union-attr]
    assert world.pages() == []
    assert world.run("inc-now", run_id="r_find_2").summary.startswith("Experts for inc-now (checkout): 1. carl")


def test_a_skill_nobody_has_is_answered_plainly(world: World) -> None:
    found = world.search(None, skill="cobol")
    assert (found.candidates, found.summary) == ([], "No responder matches 'cobol'")
    assert found.logs[0] == "Ranked 6 responder(s) for 'cobol': 0 can help"
