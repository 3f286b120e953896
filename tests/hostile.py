"""Hostile request bodies for property-based tests: random JSON built from the keys and values the body
readers look for, numbers out of range, deep nesting, lone surrogates, and the events/ samples with parts
replaced, removed, spliced or cut."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from incident_core.models import Source
from tests.events import webhook_event, webhook_event_names

KEYS = [
    # normalizers
    "alerts", "status", "labels", "annotations", "fingerprint", "startsAt", "endsAt", "alertname", "severity",
    "ruleId", "evalMatches", "ruleName", "state", "tags", "PID", "problemId", "ProblemURL", "ProblemID",
    "ProblemDetailsJSONv2", "startTime", "endTime", "displayId", "title", "alert_id", "alert_scope",
    "alert_transition", "alert_priority", "alert_type", "date", "id", "priority", "createdAt", "closedAt",
    "updatedAt", "acknowledgedBy", "acknowledgedAt", "alertConditionNames", "impactedEntities", "data", "issue",
    "event", "action", "firstSeen", "level", "issue_id", "issue_url", "web_url", "datetime", "timestamp",
    "project", "slug", "name", "value", "metric",
    # the action parser
    "runId", "entity", "identifier", "inputs", "user", "context", "payload", "properties", "trigger", "by",
    "email", "note", "resolution", "services", "assignee", "level", "policy", "skill", "addResponder",
    # provider webhook readers
    "event_type", "agent", "assignees", "occurred_at", "incident", "summary", "type", "webhookEvent",
    "changelog", "items", "field", "fields", "toString", "comment", "body", "author", "emailAddress",
    "displayName", "accountId", "key", "statusCategory", "incident_status", "new_status", "category",
    "message", "resource_type", "current_milestone", "milestones", "role_assignments", "updated_by_id",
]  # fmt: skip
VALUES = [
    "", " ", "firing", "resolved", "RESOLVED", "critical", "p1", "open", "CLOSED", "acknowledged", "Recovered",
    "[P1] [Triggered on {host:a}] CPU", "issue", "event_alert", "ignored", "assigned", "done", "triggered",
    "incident.acknowledged", "incident.resolved", "incident.annotated", "jira:issue_updated", "comment_created",
    "2026-03-14T09:26:53.589793238Z", "2026-02-30T00:00:00Z", "0001-01-01T00:00:00Z", "2026-03-14T14:56:53+0530",
    "1795767240123", "1775645211.9999996", "1E+100000", "-1", "NaN", "pid=123_456V2&x", "/issues/42/",
    "a@example.com", "x" * 3000, "é" * 600, "\U0001f600", "\x00\x1f", "\u2028",
]  # fmt: skip

HOSTILE_FRAGMENTS = [
    b"1E+5000",
    b"-1e400",
    b"1E+100000",
    b"1" + b"0" * 4400,
    b"[" * 2000 + b"]" * 2000,
    b'{"a":' * 100 + b"1" + b"}" * 100,
    b'"\\ud800"',
    b'"x \\udfff"',
    b'"' + b"\\u00e9" * 20_000 + b'"',
]
"""Raw JSON that no Python value dumps to: numbers out of range, nesting, lone surrogates, escapes that grow."""
HOSTILE_VALUES = [10**4000, -(10**300), 2**64, 1e308, -0.0, "\ud800", "f" * 5000, "\x01" * 3000]
PLACEHOLDER = "\u2063hostile\u2063"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(VALUES),
    st.text(max_size=40),
)
hostile_scalars = st.one_of(scalars, st.sampled_from(HOSTILE_VALUES))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=6),
    ),
    max_leaves=30,
)
json_objects = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=6),
    ),
    max_leaves=30,
)
hostile_objects = st.dictionaries(st.sampled_from(KEYS), hostile_values, max_size=10)


SAMPLES = [(source, name) for source in Source for name in webhook_event_names(source.value)]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replace(document: Any, path: tuple[Any, ...], value: Any, remove: bool) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if remove and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


def mutate(draw: st.DrawFn, document: Any) -> bytes:
    """`document` with parts replaced or removed, maybe a raw hostile fragment spliced in, maybe bytes cut."""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths(document)))
        document = replace(document, path, draw(hostile_values), remove=draw(st.booleans()))
    fragment = draw(st.none() | st.sampled_from(HOSTILE_FRAGMENTS))
    if fragment is not None:
        document = replace(document, draw(st.sampled_from(paths(document))), PLACEHOLDER, remove=False)
    mutated = json.dumps(document).encode().replace(json.dumps(PLACEHOLDER).encode(), fragment or b"")
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(mutated)))
        mutated = mutated[:cut] + draw(st.binary(max_size=8)) + mutated[cut:]
    return mutated


@st.composite
def mutated_samples(draw: st.DrawFn) -> tuple[Source, dict[str, str], bytes]:
    source, name = draw(st.sampled_from(SAMPLES))
    headers, body = webhook_event(source.value, name)
    return source, headers, mutate(draw, json.loads(body))


@st.composite
def mutated_documents(draw: st.DrawFn, seeds: st.SearchStrategy[Any]) -> bytes:
    return mutate(draw, copy.deepcopy(draw(seeds)))  # the seeds are shared: mutate a copy
