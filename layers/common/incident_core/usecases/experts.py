"""The skill exchange: who can help with this? ("a Redis expert, or a Mongo sharding wizard", in the seed).

A query names a skill in free text ("redis", "mongo sharding"), an incident's services and impacted
services, or both. Every person gets a transparent score, a weighted sum of the signals below, and the
reasons behind it as short sentences, so the responder sees why someone is suggested and can judge.

| Signal                                                        | Points                          |
|---------------------------------------------------------------|---------------------------------|
| declares a skill that matches the query's skill               | 5 (once, however many match)    |
| belongs to a team whose name matches the query's skill        | 2 (once)                        |
| owns one of the incident's services                           | 4 per service                   |
| owns one of the incident's impacted services                  | 2 per service                   |
| resolved a related past incident                              | 3 per incident, at most 5 count |
| acknowledged, but did not resolve, a related past incident    | 1 per incident, at most 5 count |
| is on call now                                                | 2                               |

Why these weights: owning the failing service and having fixed its incidents before are the strongest
evidence; a declared skill is a claim, worth a little less than two resolved incidents; acknowledging
shows familiarity, not a fix. History is capped so a long tenure does not bury everyone else. Being on
call adds a little (they are awake and expected to help) but is not expertise: it never lists anyone alone.

Rules:

- **Skill match**: text is lowercased and split into alphanumeric tokens ("MongoDB-sharding" gives `mongodb`,
  `sharding`). A query matches a text when every query token is a prefix of some token of that text:
  "mongo sharding" matches "MongoDB sharding", "redis" matches "Redis Cluster", "postgres" matches
  "PostgreSQL"; "db" does not match "MongoDB" (prefixes only, so short queries stay precise).
- **Related past incident**: it shares a service (associated or impacted, on either side) with the query, or
  its title matches the query's skill. The incident the query is about is never its own history. A person
  resolved an incident when they are the actor of its `resolved` timeline entry, and acknowledged it when
  they are the actor of an `acknowledged` entry; emails compare case-insensitively.
- **Services** are Port identifiers and compare exactly; a service both associated and impacted counts as
  associated.
- **Who is listed**: people with at least one signal besides being on call. Unavailable people are ranked
  last rather than dropped (the one person who knows the system is still worth seeing, with the reason
  "unavailable"); within each group, higher score first, ties broken by email.

Pure: people, incidents and the on-call set are inputs; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, model_validator

from incident_core.models.incident import Incident, TimelineKind
from incident_core.models.person import Person

SKILL_POINTS = 5
TEAM_POINTS = 2
OWNS_SERVICE_POINTS = 4
OWNS_IMPACTED_SERVICE_POINTS = 2
RESOLVED_POINTS = 3
ACKNOWLEDGED_POINTS = 1
HISTORY_CAP = 5
ON_CALL_POINTS = 2

_TOKEN = re.compile(r"[a-z0-9]+")


class ExpertQuery(BaseModel):
    """What help is needed: a free-text skill, services, or both; `incident` is the one being worked on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill: str = ""
    services: tuple[str, ...] = ()
    impactedServices: tuple[str, ...] = ()
    incident: str | None = None
    """The identifier of the incident the query is about; its own timeline is not past experience."""

    @model_validator(mode="after")
    def _asks_for_something(self) -> ExpertQuery:
        if not _tokens(self.skill) and not self.services and not self.impactedServices:
            raise ValueError("an expert query needs a skill (like 'redis') or at least one service")
        return self

    @classmethod
    def for_incident(cls, incident: Incident, skill: str = "") -> ExpertQuery:
        """Ask about an incident's services and impacted services, optionally with a skill too."""
        return cls(
            skill=skill,
            services=incident.services,
            impactedServices=incident.impactedServices,
            incident=incident.identifier,
        )


class ExpertCandidate(BaseModel):
    """One suggested person: the score of the module's table and the sentences that make it up."""

    model_config = ConfigDict(frozen=True)

    email: str
    name: str
    score: int
    reasons: list[str]


def rank_experts(
    query: ExpertQuery,
    people: Iterable[Person],
    incidents: Iterable[Incident] = (),
    on_call: Collection[str] = frozenset(),
) -> list[ExpertCandidate]:
    """Everyone with a signal for `query`, best first (see the module's table and rules)."""
    history = _involvements(query, incidents)
    on_call_now = {email.lower() for email in on_call}
    ranked: list[tuple[bool, int, str, ExpertCandidate]] = []
    for person in people:
        score, reasons = _expertise(query, person, history)
        if not reasons:
            continue
        if person.email.lower() in on_call_now:
            score += ON_CALL_POINTS
            reasons.append("on call now")
        if not person.available:
            reasons.append("unavailable")
        candidate = ExpertCandidate(email=person.email, name=person.name, score=score, reasons=reasons)
        ranked.append((not person.available, -score, person.email.lower(), candidate))
    ranked.sort(key=lambda row: row[:3])
    return [row[3] for row in ranked]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _matches(query_tokens: Sequence[str], text: str) -> bool:
    """Every query token is a prefix of some token of `text` (no query tokens: no match)."""
    tokens = _tokens(text)
    return bool(query_tokens) and all(any(token.startswith(q) for token in tokens) for q in query_tokens)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass
class _Involvement:
    """The related past incidents one person resolved, and those they acknowledged but did not resolve."""

    resolved: list[Incident] = field(default_factory=list)
    acknowledged: list[Incident] = field(default_factory=list)


def _involvements(query: ExpertQuery, incidents: Iterable[Incident]) -> dict[str, _Involvement]:
    """Who resolved or acknowledged which related past incidents, keyed by lowercased email."""
    by_email: dict[str, _Involvement] = {}
    for incident in incidents:
        if incident.identifier == query.incident or not _related(query, incident):
            continue
        resolvers = {e.actor.lower() for e in incident.timeline if e.kind is TimelineKind.RESOLVED}
        acknowledgers = {e.actor.lower() for e in incident.timeline if e.kind is TimelineKind.ACKNOWLEDGED}
        for email in resolvers:
            by_email.setdefault(email, _Involvement()).resolved.append(incident)
        for email in acknowledgers - resolvers:
            by_email.setdefault(email, _Involvement()).acknowledged.append(incident)
    return by_email


def _query_services(query: ExpertQuery) -> set[str]:
    return {*query.services, *query.impactedServices}


def _related(query: ExpertQuery, incident: Incident) -> bool:
    touched = {*incident.services, *incident.impactedServices}
    return bool(touched & _query_services(query)) or _matches(_tokens(query.skill), incident.title)


def _expertise(query: ExpertQuery, person: Person, history: dict[str, _Involvement]) -> tuple[int, list[str]]:
    """The score and reasons of every signal except being on call."""
    skill_tokens = _tokens(query.skill)
    score = 0
    reasons: list[str] = []

    declared = [skill for skill in person.skills if _matches(skill_tokens, skill)]
    if declared:
        score += SKILL_POINTS
        reasons.append(f"declares {', '.join(declared)}")
    teams = [team for team in person.teams if _matches(skill_tokens, team)]
    if teams:
        score += TEAM_POINTS
        reasons.append(f"in team {', '.join(teams)}")

    owned = set(person.ownedServices)
    for service in dict.fromkeys(query.services):
        if service in owned:
            score += OWNS_SERVICE_POINTS
            reasons.append(f"owns {service}")
    for service in dict.fromkeys(query.impactedServices):
        if service in owned and service not in query.services:
            score += OWNS_IMPACTED_SERVICE_POINTS
            reasons.append(f"owns impacted service {service}")

    involvement = history.get(person.email.lower(), _Involvement())
    score += RESOLVED_POINTS * min(len(involvement.resolved), HISTORY_CAP)
    reasons.extend(_history_reasons("resolved", involvement.resolved, query))
    score += ACKNOWLEDGED_POINTS * min(len(involvement.acknowledged), HISTORY_CAP)
    reasons.extend(_history_reasons("acknowledged", involvement.acknowledged, query))
    return score, reasons


def _history_reasons(verb: str, incidents: Sequence[Incident], query: ExpertQuery) -> list[str]:
    """One sentence per queried service and one for the skill, e.g. "resolved 3 incidents on payments"."""
    reasons = []
    for service in sorted(_query_services(query)):
        n = sum(service in {*incident.services, *incident.impactedServices} for incident in incidents)
        if n:
            reasons.append(f"{verb} {_count(n, 'incident')} on {service}")
    skill_tokens = _tokens(query.skill)
    n = sum(_matches(skill_tokens, incident.title) for incident in incidents)
    if n:
        reasons.append(f"{verb} {_count(n, 'incident')} about {query.skill.strip()}")
    return reasons
