"""The "find-expert" step, the seed's skill exchange: who can help with this incident, or with this skill?

A run on an incident asks about its services and impacted services (and a skill, if given); a run without an
incident must name a skill ("redis", "mongo sharding"). The people are the entities of the `responder`
blueprint, their history is the incident store's past incidents, and whoever any `onCallRotation` has on call
right now gets the on-call bonus; `rank_experts` (usecases/experts.py) scores them and says why. The run's
summary names the top three with their reasons, its log lists the top five.

With `addResponder` the step also brings that person into the incident: a `responder_added` timeline entry
(who added whom) and, for native incidents, a page through the lifecycle's pager — the escalation topic the
native provider pages through, so whoever subscribed to pages hears of it. Incidents that live in a SaaS
tool get the timeline entry only: the provider interface has no "add responder" step, and the run's log
says so rather than pretending the tool was told. A resolved incident takes no new responders. A search by
skill alone, on no incident, answers the run without changing anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from incident_core.errors import RotationNotStarted, StepRefused
from incident_core.models.action import ActionRun, FindExpertInputs
from incident_core.models.incident import Incident, ProviderName, TimelineKind
from incident_core.models.oncall import Rotation
from incident_core.models.page import Page
from incident_core.models.person import Person
from incident_core.usecases.escalation import ROTATION_BLUEPRINT
from incident_core.usecases.experts import ExpertCandidate, ExpertQuery, rank_experts
from incident_core.usecases.incident_toolkit import (
    Answer,
    LifecycleContext,
    StepOutcome,
    load_incident,
    record,
    require_open,
)
from incident_core.usecases.oncall import on_call

RESPONDER_BLUEPRINT = "responder"
SUMMARY_SIZE = 3
"""Candidates named in the run's summary (a line in Port's run list: a few names, not a report)."""
LOG_SIZE = 5
"""Candidates listed in the run's log, one line each."""
NEW_RESPONDER = "given a new responder"


@dataclass(frozen=True)
class ExpertSearch:
    """What a search found and did: the incident it was about (None: a skill only), best candidates first."""

    incident: Incident | None
    candidates: list[ExpertCandidate]
    summary: str
    logs: list[str]


def find_expert(ctx: LifecycleContext, run: ActionRun, inputs: FindExpertInputs) -> StepOutcome | Answer:
    """The step Port's find-expert actions run (registered in `steps.STEPS`); a search by skill alone
    answers without an incident."""
    search = search_experts(ctx, run, inputs)
    if search.incident is None:
        return Answer(search.summary, search.logs)
    return StepOutcome(search.incident, search.summary, search.logs)


def search_experts(ctx: LifecycleContext, run: ActionRun, inputs: FindExpertInputs) -> ExpertSearch:
    """Rank the responders for the run's incident and/or skill; add `addResponder` to the incident if given."""
    skill = inputs.skill or ""
    incident: Incident | None = None
    if run.entity_identifier is None:
        if inputs.addResponder:
            raise StepRefused("Adding a responder needs an incident: run this action on the incident.")
        query = _skill_query(skill)
    else:
        incident = load_incident(ctx, run)
        if inputs.addResponder:
            require_open(incident, NEW_RESPONDER)
        query = _incident_query(incident, skill)

    directory = ctx.directory()
    people, skipped = responders(directory.entities(RESPONDER_BLUEPRINT))
    on_call_now, ignored = who_is_on_call(directory.entities(ROTATION_BLUEPRINT), ctx.clock())
    candidates = rank_experts(query, people, ctx.incidents.scan(), on_call_now)

    topic = _topic(query, incident)
    lines = [_line(rank, candidate) for rank, candidate in enumerate(candidates, start=1)]
    summary = f"Experts for {topic}: {' | '.join(lines[:SUMMARY_SIZE])}" if lines else f"No responder matches {topic}"
    logs = [f"Ranked {len(people)} responder(s) for {topic}: {len(candidates)} can help", *lines[:LOG_SIZE]]
    if skipped:
        logs.append(f"Skipped responder(s) that cannot be ranked: {', '.join(skipped)}")
    logs.extend(f"Ignored on-call rotation {identifier}: {reason}" for identifier, reason in ignored)

    if incident is not None and inputs.addResponder:
        incident, added = _add_responder(ctx, incident, run, inputs.addResponder)
        summary = f"Added {inputs.addResponder} as a responder. {summary}"
        logs.extend(added)
    return ExpertSearch(incident, candidates, summary, logs)


def responders(entities: Iterable[dict[str, Any]]) -> tuple[list[Person], list[str]]:
    """The people of `responder` entities, and "identifier (property)" for each one that cannot be read.

    Owned services are the `ownedServices` property and the `services` relation together: the property takes
    any name, the relation only services of the catalog.
    """
    people, skipped = [], []
    for entity in entities:
        identifier = str(entity.get("identifier"))
        properties = entity.get("properties") or {}
        related = (entity.get("relations") or {}).get("services")
        owned = [*_as_list(properties.get("ownedServices")), *_as_list(related)]
        try:
            people.append(
                Person(
                    identifier=identifier,
                    email=properties.get("email") or "",
                    name=entity.get("title") or identifier,
                    skills=properties.get("skills") or [],
                    teams=properties.get("teams") or [],
                    ownedServices=list(dict.fromkeys(owned)),
                    available=properties.get("available") is not False,  # unset in Port: available
                )
            )
        except ValidationError as invalid:
            skipped.append(f"{identifier} ({invalid.errors()[0]['loc'][0]})")
    return people, skipped


def _as_list(value: Any) -> list[Any]:
    """A many relation or array property as a list (a single value, as a one-to-one relation gives, too)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def who_is_on_call(rotations: Iterable[dict[str, Any]], at: datetime) -> tuple[set[str], list[tuple[str, str]]]:
    """The emails on call at `at` across every rotation entity, and the invalid rotations with the reason.

    The rotations are read from the entities already fetched (one search), not one lookup each as
    `escalation.load_rotation` does. A rotation that has not started has nobody on call, which is no error.
    """
    emails: set[str] = set()
    ignored: list[tuple[str, str]] = []
    for entity in rotations:
        try:
            emails.add(on_call(Rotation.model_validate(entity.get("properties") or {}), at))
        except ValidationError as invalid:
            ignored.append((str(entity.get("identifier")), invalid.errors()[0]["msg"]))
        except RotationNotStarted:
            continue
    return emails, ignored


def _skill_query(skill: str) -> ExpertQuery:
    try:
        return ExpertQuery(skill=skill)
    except ValidationError:
        raise StepRefused(
            "Give a skill to search for (like 'redis' or 'mongo sharding'), or run this action on an incident."
        ) from None


def _incident_query(incident: Incident, skill: str) -> ExpertQuery:
    try:
        return ExpertQuery.for_incident(incident, skill)
    except ValidationError:
        raise StepRefused(
            f"Incident {incident.identifier} has no services yet: give a skill to search for (like 'redis'), "
            "or associate its services first."
        ) from None


def _topic(query: ExpertQuery, incident: Incident | None) -> str:
    about = [f"'{query.skill.strip()}'"] if query.skill.strip() else []
    if incident is not None:
        about.append(f"{incident.identifier} ({', '.join(incident.services) or 'no services'})")
    return " on ".join(about)


def _line(rank: int, candidate: ExpertCandidate) -> str:
    return f"{rank}. {candidate.email} ({candidate.score}): {'; '.join(candidate.reasons)}"


def _add_responder(ctx: LifecycleContext, incident: Incident, run: ActionRun, email: str) -> tuple[Incident, list[str]]:
    """Page (native incidents), then record who added whom; a run already recorded is not done twice."""
    if any(entry.runId == run.runId for entry in incident.timeline):
        return incident, [f"{email} was already added by this run"]
    notified = _page_responder(ctx, incident, email, run.user)
    text = f"{run.user} added {email} as a responder"
    check = partial(require_open, doing=NEW_RESPONDER)
    updated = record(ctx, incident, run, TimelineKind.RESPONDER_ADDED, text, check=check)
    return updated, [notified, f"Timeline: {text}"]


def _page_responder(ctx: LifecycleContext, incident: Incident, email: str, by: str) -> str:
    """Tell the new responder through the pager of native incidents; say plainly when nothing was sent."""
    if incident.provider is not ProviderName.NATIVE:
        return (
            f"Recorded here and in Port only: {incident.provider.value} was not asked to add {email} "
            "(this bundle has no add-responder step for it); invite them there too"
        )
    page = Page.about(
        incident,
        headline="You were added as a responder",
        opening=f"{by} added {email} as a responder to incident {incident.identifier}.",
        link=ctx.link(incident.identifier),
    )
    ctx.pager().page(page)
    return f"Notified {email} through the native provider's notifier (the escalation topic)"
