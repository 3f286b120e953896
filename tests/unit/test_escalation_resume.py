"""Where a new execution of an escalation starts, and how executions are named (attempts)."""

from __future__ import annotations

from incident_core.adapters.stepfunctions import MAX_NAME_LENGTH, execution_name, incident_of
from incident_core.models.escalation import FALLBACK_LEVEL, EscalationState, Position, page_key
from incident_core.models.incident import Incident, TimelineEntry, TimelineKind


def _incident(identifier: str, *pages: tuple[str, Position]) -> Incident:
    timeline = [TimelineEntry(at="2026-11-27T10:00:00.000Z", kind=TimelineKind.TRIGGERED, actor="x", text="opened")]
    timeline += [
        TimelineEntry(
            at="2026-11-27T10:05:00.000Z",
            kind=TimelineKind.NOTIFIED,
            actor="escalation",
            text="paged",
            runId=page_key(of, position),
        )
        for of, position in pages
    ]
    return Incident(identifier=identifier, title="t", createdAt="2026-11-27T10:00:00.000Z", timeline=tuple(timeline))


def test_an_escalation_never_paged_starts_at_the_beginning() -> None:
    state = EscalationState.resuming(_incident("inc-1"), "payments")
    assert state == EscalationState(incidentId="inc-1", policyId="payments", level=0, round=0)


def test_a_resumed_escalation_starts_at_the_last_position_paged() -> None:
    paged = _incident(
        "inc-1",
        ("inc-1", Position(level=0, round=0)),
        ("inc-1", Position(level=1, round=0)),
        ("inc-1", Position(level=0, round=1)),
        ("inc-10", Position(level=1, round=1)),  # another incident whose identifier starts the same
    )
    assert EscalationState.resuming(paged, "p").position == Position(level=0, round=1)
    fallback = _incident("inc-1", ("inc-1", Position(level=FALLBACK_LEVEL, round=1)))
    assert EscalationState.resuming(fallback, "p").position == Position(level=FALLBACK_LEVEL, round=1)


def test_execution_names_carry_the_attempt_and_give_back_the_incident() -> None:
    assert execution_name("inc-20261127-100000-abc123", 1) == "inc-20261127-100000-abc123-1"
    assert incident_of("inc-20261127-100000-abc123-12") == "inc-20261127-100000-abc123"
    assert incident_of("inc-20261127-100000-abc123") == "inc-20261127-100000-abc123"  # named before attempts
    assert len(execution_name("x" * 200, 123)) == MAX_NAME_LENGTH
