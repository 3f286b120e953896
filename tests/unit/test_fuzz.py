"""Property-based fuzzing of everything that reads a request body: the parsers, every normalizer, the action
parser and the provider webhook readers. Whatever arrives, the answer is a result or one of the project's
typed errors (a 4xx), never another exception (a 500 that the sender retries for ever).

Inputs are random JSON built from the keys and values these readers look for, and the events/ samples with
parts replaced, removed or cut. The runs stay short (modest `max_examples`, no deadline: a busy machine
must not fail them).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_core.bounds import (
    MAX_DEPTH,
    MAX_IDENTIFIER_BYTES,
    SQS_MESSAGE_LIMIT_BYTES,
    parse_json,
    parse_json_compiled,
    parse_json_pure,
    queued_size,
)
from incident_core.errors import IncidentCoreError, MalformedRequest
from incident_core.models import Source
from incident_core.models.action import parse_action_run, parse_inputs
from incident_core.models.incident import LifecycleStep
from incident_core.models.notification import AlertNotification
from incident_core.normalizers import normalize
from incident_core.providers.registry import WEBHOOKS
from tests.events import webhook_event, webhook_event_names

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _only_typed_errors(call: Any) -> Any:
    try:
        return call()
    except IncidentCoreError:
        return None


# --- the parsers ----------------------------------------------------------------------------------------


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.sampled_from(HOSTILE_FRAGMENTS), hostile_values.map(_dumps)))
def test_the_parsers_refuse_or_agree(body: bytes) -> None:
    answers = []
    for parse in (parse_json_compiled, parse_json_pure):
        try:
            answers.append(("read", parse(body)))
        except MalformedRequest:
            answers.append(("refused", None))
    assert answers[0] == answers[1]


@FUZZ
@given(json_values, st.booleans())
def test_any_json_document_reads_back_as_written(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert parse_json_compiled(body) == parse_json_pure(body) == json.loads(body)


def _reads(parse: Any, body: bytes) -> bool:
    try:
        parse(body)
    except MalformedRequest:
        return False
    return True


@FUZZ
@given(st.sampled_from([("[", "]"), ('{"a":', "}")]), st.integers(min_value=0, max_value=300))
def test_nesting_is_read_up_to_the_limit_by_both_parsers(brackets: tuple[str, str], depth: int) -> None:
    opening, closing = brackets
    body = (opening * depth + "1" + closing * depth).encode()
    assert _reads(parse_json_compiled, body) is _reads(parse_json_pure, body) is (depth <= MAX_DEPTH)


# --- every normalizer -----------------------------------------------------------------------------------

SAMPLES = [(source, name) for source in Source for name in webhook_event_names(source.value)]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any, remove: bool) -> Any:
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


def _mutate(draw: st.DrawFn, document: Any) -> bytes:
    """`document` with parts replaced or removed, maybe a raw hostile fragment spliced in, maybe bytes cut."""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(_paths(document)))
        document = _replace(document, path, draw(hostile_values), remove=draw(st.booleans()))
    fragment = draw(st.none() | st.sampled_from(HOSTILE_FRAGMENTS))
    if fragment is not None:
        document = _replace(document, draw(st.sampled_from(_paths(document))), PLACEHOLDER, remove=False)
    mutated = json.dumps(document).encode().replace(json.dumps(PLACEHOLDER).encode(), fragment or b"")
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(mutated)))
        mutated = mutated[:cut] + draw(st.binary(max_size=8)) + mutated[cut:]
    return mutated


@st.composite
def mutated_samples(draw: st.DrawFn) -> tuple[Source, dict[str, str], bytes]:
    source, name = draw(st.sampled_from(SAMPLES))
    headers, body = webhook_event(source.value, name)
    return source, headers, _mutate(draw, json.loads(body))


@st.composite
def mutated_documents(draw: st.DrawFn, seeds: st.SearchStrategy[Any]) -> bytes:
    return _mutate(draw, copy.deepcopy(draw(seeds)))  # the seeds are shared: mutate a copy


def _check_accepted(source: Source, body: bytes, headers: dict[str, str]) -> None:
    alerts = _only_typed_errors(lambda: normalize(source, headers, body, None))
    for index, alert in enumerate(alerts or []):
        # Accepted means it can be queued and stored: a key DynamoDB takes, a message SQS takes.
        assert len(alert.externalId.encode()) <= MAX_IDENTIFIER_BYTES
        notification = AlertNotification(alert=alert, notificationId=f"r:{index}", receivedAt="2026-01-01T00:00:00Z")
        encoded = notification.model_dump_json()
        assert queued_size(encoded) <= SQS_MESSAGE_LIMIT_BYTES
        assert AlertNotification.model_validate_json(encoded.encode()) == notification


@FUZZ
@given(mutated_samples())
def test_normalize_of_mutated_samples_answers_or_refuses(sample: tuple[Source, dict[str, str], bytes]) -> None:
    source, headers, body = sample
    _check_accepted(source, body, headers)


sentry_headers = st.dictionaries(
    st.sampled_from(["Sentry-Hook-Resource", "Sentry-Hook-Timestamp"]), st.sampled_from(VALUES)
)


@FUZZ
@given(st.sampled_from(list(Source)), hostile_objects, sentry_headers)
def test_normalize_of_random_objects_answers_or_refuses(
    source: Source, document: dict[str, Any], headers: dict[str, str]
) -> None:
    _check_accepted(source, json.dumps(document).encode(), headers)


# --- the action parser ----------------------------------------------------------------------------------

ACTION_BODIES = [
    {"runId": "r_1", "action": "add_note", "entity": {"identifier": "inc-1"}, "inputs": {"note": "n"}, "user": "a"},
    {"context": {"runId": "r_1"}, "payload": {"entity": {"identifier": "inc-1"}, "properties": {"level": 2}}},
    {"runId": "r_1", "inputs": {"services": [{"identifier": "checkout"}], "assignee": {"email": "a@example.com"}}},
]


@FUZZ
@given(st.sampled_from(list(LifecycleStep)), mutated_documents(st.sampled_from(ACTION_BODIES) | hostile_objects))
def test_the_action_parser_answers_or_refuses(step: LifecycleStep, body: bytes) -> None:
    run = _only_typed_errors(lambda: parse_action_run(step, parse_json(body)))
    if run is not None:
        _only_typed_errors(lambda: parse_inputs(run))
        assert len(run.runId.encode()) <= MAX_IDENTIFIER_BYTES
        assert queued_size(run.model_dump_json()) < len(body) * 6 + 1024  # what a route then measures is bounded


# --- the provider webhook readers -----------------------------------------------------------------------


@FUZZ
@given(st.sampled_from(sorted(WEBHOOKS)), mutated_documents(hostile_objects))
def test_provider_webhook_readers_answer_or_refuse(provider: Any, body: bytes) -> None:
    _only_typed_errors(lambda: WEBHOOKS[provider].events(parse_json(body)))
