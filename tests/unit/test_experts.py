"""The skill exchange: skill queries ("redis", "mongo sharding"), incident queries (owners of the services,
people who fixed them before), the resolved-over-acknowledged weighting, the on-call bonus, unavailable people
last, deterministic ties, and the reasons shown with each candidate, over a small seeded catalog.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from incident_core.models.incident import Incident, IncidentStatus, TimelineEntry, TimelineKind
from incident_core.models.person import Person
from incident_core.usecases.experts import ExpertCandidate, ExpertQuery, rank_experts

RITA = Person(
    identifier="rita",
    email="rita@example.com",
    name="Rita Redis",
    skills=["Redis", "Redis Cluster", "Kafka"],
    teams=["Platform"],
    ownedServices=["cache"],
)
MO = Person(
    identifier="mo",
    email="mo@example.com",
    name="Mo Mongo",
    skills=["MongoDB sharding", "Python"],
    teams=["Data"],
    ownedServices=["orders-db"],
)
PAULA = Person(
    identifier="paula",
    email="paula@example.com",
    name="Paula",
    skills=["Go"],
    teams=["Payments"],
    ownedServices=["payments"],
)
CARL = Person(
    identifier="carl",
    email="carl@example.com",
    name="Carl",
    skills=["TypeScript"],
    teams=["Storefront"],
    ownedServices=["checkout"],
)
SAM = Person(identifier="sam", email="sam@example.com", name="Sam", skills=["Kubernetes", "PostgreSQL"], teams=["SRE"])
UNA = Person(
    identifier="una",
    email="una@example.com",
    name="Una",
    skills=["Redis"],
    teams=["Platform"],
    ownedServices=["payments"],
    available=False,
)
PEOPLE = [RITA, MO, PAULA, CARL, SAM, UNA]


def _incident(
    identifier: str,
    title: str,
    services: tuple[str, ...],
    *,
    impacted: tuple[str, ...] = (),
    acknowledged_by: str | None = None,
    resolved_by: str | None = None,
) -> Incident:
    timeline = [
        TimelineEntry(at="2024-05-01T10:00:00+00:00", kind=TimelineKind.TRIGGERED, actor="prometheus", text="opened")
    ]
    if acknowledged_by:
        timeline.append(
            TimelineEntry(
                at="2024-05-01T10:05:00+00:00", kind=TimelineKind.ACKNOWLEDGED, actor=acknowledged_by, text="ack"
            )
        )
    if resolved_by:
        timeline.append(
            TimelineEntry(at="2024-05-01T11:00:00+00:00", kind=TimelineKind.RESOLVED, actor=resolved_by, text="fixed")
        )
    return Incident(
        identifier=identifier,
        title=title,
        status=IncidentStatus.RESOLVED if resolved_by else IncidentStatus.ACKNOWLEDGED,
        createdAt="2024-05-01T10:00:00+00:00",
        services=services,
        impactedServices=impacted,
        timeline=tuple(timeline),
    )


INCIDENTS = [
    _incident(
        "inc-1",
        "Redis latency on checkout",
        ("checkout",),
        impacted=("payments",),
        acknowledged_by="carl@example.com",
        resolved_by="rita@example.com",
    ),
    _incident(
        "inc-2", "Payments timeouts", ("payments",), acknowledged_by="sam@example.com", resolved_by="SAM@example.com"
    ),
    _incident(
        "inc-3", "Card declines", ("payments",), acknowledged_by="paula@example.com", resolved_by="sam@example.com"
    ),
    _incident("inc-4", "Slow product pages", ("catalog",), resolved_by="mo@example.com"),
]
CURRENT = _incident("inc-now", "Payments failing", ("payments",), impacted=("checkout",))


def _ranking(candidates: list[ExpertCandidate]) -> list[tuple[str, int]]:
    return [(candidate.email, candidate.score) for candidate in candidates]


def _by_email(candidates: list[ExpertCandidate]) -> dict[str, ExpertCandidate]:
    return {candidate.email: candidate for candidate in candidates}


# Skill queries


def test_the_redis_expert_ranks_first_for_redis() -> None:
    result = rank_experts(ExpertQuery(skill="redis"), PEOPLE, INCIDENTS)

    assert _ranking(result) == [("rita@example.com", 8), ("carl@example.com", 1), ("una@example.com", 5)]
    assert result[0].reasons == ["declares Redis, Redis Cluster", "resolved 1 incident about redis"]
    assert result[1].reasons == ["acknowledged 1 incident about redis"]


def test_the_mongo_sharding_wizard_is_found_by_a_loose_query() -> None:
    result = rank_experts(ExpertQuery(skill="  Mongo sharding "), PEOPLE, INCIDENTS)

    assert result == [
        ExpertCandidate(email="mo@example.com", name="Mo Mongo", score=5, reasons=["declares MongoDB sharding"])
    ]


@pytest.mark.parametrize(
    ("query", "declared", "matches"),
    [
        ("mongo sharding", "MongoDB sharding", True),
        ("sharding mongo", "MongoDB sharding", True),
        ("MONGO", "mongodb-sharding", True),
        ("postgres", "PostgreSQL", True),
        ("k8s", "K8s operators", True),
        ("postgresql", "Postgres", False),
        ("db", "MongoDB", False),
        ("redis", "Redshift", False),
        ("mongo replication", "MongoDB sharding", False),
    ],
)
def test_every_query_token_must_prefix_a_token_of_the_skill(query: str, declared: str, matches: bool) -> None:
    person = Person(identifier="p", email="p@example.com", name="P", skills=[declared])

    result = rank_experts(ExpertQuery(skill=query), [person])

    assert bool(result) is matches


def test_a_team_name_matching_the_skill_counts_less_than_a_declared_skill() -> None:
    result = rank_experts(ExpertQuery(skill="sre"), PEOPLE)

    assert result == [ExpertCandidate(email="sam@example.com", name="Sam", score=2, reasons=["in team SRE"])]


# Incident queries


def test_an_incident_query_ranks_resolvers_and_owners_of_its_services() -> None:
    result = rank_experts(ExpertQuery.for_incident(CURRENT), PEOPLE, INCIDENTS)

    assert _ranking(result) == [
        ("sam@example.com", 6),
        ("paula@example.com", 5),
        ("carl@example.com", 3),
        ("rita@example.com", 3),
        ("una@example.com", 4),
    ]
    reasons = {email: candidate.reasons for email, candidate in _by_email(result).items()}
    assert reasons == {
        "sam@example.com": ["resolved 2 incidents on payments"],
        "paula@example.com": ["owns payments", "acknowledged 1 incident on payments"],
        "carl@example.com": [
            "owns impacted service checkout",
            "acknowledged 1 incident on checkout",
            "acknowledged 1 incident on payments",
        ],
        "rita@example.com": ["resolved 1 incident on checkout", "resolved 1 incident on payments"],
        "una@example.com": ["owns payments", "unavailable"],
    }


def test_the_owner_of_the_failing_service_ranks_first_without_history() -> None:
    query = ExpertQuery(services=("orders-db",), impactedServices=("payments",))

    result = rank_experts(query, PEOPLE)

    assert _ranking(result) == [("mo@example.com", 4), ("paula@example.com", 2), ("una@example.com", 2)]
    assert result[1].reasons == ["owns impacted service payments"]


def test_a_service_both_associated_and_impacted_counts_once_as_associated() -> None:
    result = rank_experts(ExpertQuery(services=("checkout",), impactedServices=("checkout",)), [CARL])

    assert result[0].score == 4
    assert result[0].reasons == ["owns checkout"]


def test_resolving_an_incident_counts_more_than_acknowledging_it() -> None:
    resolver = Person(identifier="r", email="zed@example.com", name="Resolver")
    acknowledger = Person(identifier="a", email="abe@example.com", name="Acknowledger")
    incidents = [
        _incident(
            "x-1", "Queue backlog", ("billing",), acknowledged_by="abe@example.com", resolved_by="zed@example.com"
        ),
        _incident("x-2", "Queue backlog again", ("billing",), acknowledged_by="abe@example.com"),
    ]

    result = rank_experts(ExpertQuery(services=("billing",)), [acknowledger, resolver], incidents)

    assert _ranking(result) == [("zed@example.com", 3), ("abe@example.com", 2)]
    assert result[1].reasons == ["acknowledged 2 incidents on billing"]


def test_the_incident_being_worked_on_is_not_its_own_history() -> None:
    result = _by_email(rank_experts(ExpertQuery.for_incident(INCIDENTS[1]), PEOPLE, INCIDENTS))

    assert result["sam@example.com"].score == 3
    assert result["sam@example.com"].reasons == ["resolved 1 incident on payments"]


def test_history_counts_at_most_five_incidents_but_the_reason_tells_all() -> None:
    incidents = [_incident(f"h-{n}", "Cache evictions", ("cache",), resolved_by="rita@example.com") for n in range(7)]

    result = rank_experts(ExpertQuery(services=("search",), skill="cache"), [RITA], incidents)

    assert result[0].score == 15
    assert result[0].reasons == ["resolved 7 incidents about cache"]


# On call, availability, order


def test_being_on_call_adds_a_bonus_and_a_reason() -> None:
    without = _by_email(rank_experts(ExpertQuery(skill="redis"), PEOPLE, INCIDENTS))
    with_bonus = _by_email(rank_experts(ExpertQuery(skill="redis"), PEOPLE, INCIDENTS, on_call={"Carl@Example.com"}))

    assert with_bonus["carl@example.com"].score == without["carl@example.com"].score + 2
    assert with_bonus["carl@example.com"].reasons[-1] == "on call now"
    assert "on call now" not in with_bonus["rita@example.com"].reasons


def test_being_on_call_alone_does_not_make_an_expert() -> None:
    result = rank_experts(ExpertQuery(skill="redis"), PEOPLE, INCIDENTS, on_call={"mo@example.com"})

    assert "mo@example.com" not in _by_email(result)


def test_the_on_call_bonus_can_lift_someone_past_an_equal_peer() -> None:
    first = Person(identifier="a", email="a@example.com", name="A", skills=["Redis"])
    second = Person(identifier="b", email="b@example.com", name="B", skills=["Redis"])

    result = rank_experts(ExpertQuery(skill="redis"), [first, second], on_call={"b@example.com"})

    assert _ranking(result) == [("b@example.com", 7), ("a@example.com", 5)]


def test_unavailable_people_come_last_whatever_their_score() -> None:
    result = rank_experts(ExpertQuery(skill="redis"), PEOPLE, INCIDENTS, on_call={"una@example.com"})

    assert result[-1].email == "una@example.com"
    assert result[-1].score > result[-2].score
    assert result[-1].reasons == ["declares Redis", "on call now", "unavailable"]


def test_ties_are_broken_by_email_whatever_the_input_order() -> None:
    people = [
        Person(identifier=name, email=f"{name}@example.com", name=name.title(), skills=["Kafka"])
        for name in ("mia", "Ada", "zoe", "ben")
    ]

    forward = rank_experts(ExpertQuery(skill="kafka"), people)
    backward = rank_experts(ExpertQuery(skill="kafka"), list(reversed(people)))

    assert [c.email for c in forward] == ["Ada@example.com", "ben@example.com", "mia@example.com", "zoe@example.com"]
    assert forward == backward


def test_nobody_matching_gives_an_empty_list() -> None:
    assert rank_experts(ExpertQuery(skill="cobol"), PEOPLE, INCIDENTS) == []


# Validation


@pytest.mark.parametrize("skill", ["", "   ", "!?"])
def test_a_query_needs_a_skill_or_a_service(skill: str) -> None:
    with pytest.raises(ValidationError, match="needs a skill"):
        ExpertQuery(skill=skill)


def test_a_person_needs_an_email() -> None:
    with pytest.raises(ValidationError, match="email"):
        Person(identifier="x", email="Rita Redis", name="Rita")
