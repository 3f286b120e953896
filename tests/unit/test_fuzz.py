"""Property-based fuzzing of everything that reads a request body: the parsers, every normalizer, the action
parser and the provider webhook readers. Whatever arrives, the answer is a result or one of the project's
typed errors (a 4xx), never another exception (a 500 that the sender retries for ever).

Inputs are random JSON built from the keys and values these readers look for, and the events/ samples with
parts replaced, removed or cut. The runs stay short (modest `max_examples`, no deadline: a busy machine
must not fail them).
"""

from __future__ import annotations

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
from incident_core.models.action import parse_action_run
from incident_core.models.incident import LifecycleStep
from incident_core.models.notification import AlertNotification
from incident_core.normalizers import normalize
from incident_core.providers.registry import WEBHOOKS
from incident_core.usecases.steps import STEPS
from tests.hostile import (
    HOSTILE_FRAGMENTS,
    VALUES,
    hostile_objects,
    hostile_values,
    json_values,
    mutated_documents,
    mutated_samples,
)

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
        _only_typed_errors(lambda: STEPS[run.step].inputs_of(run))
        assert len(run.runId.encode()) <= MAX_IDENTIFIER_BYTES
        assert queued_size(run.model_dump_json()) < len(body) * 6 + 1024  # what a route then measures is bounded


# --- the provider webhook readers -----------------------------------------------------------------------


@FUZZ
@given(st.sampled_from(sorted(WEBHOOKS)), mutated_documents(hostile_objects))
def test_provider_webhook_readers_answer_or_refuse(provider: Any, body: bytes) -> None:
    _only_typed_errors(lambda: WEBHOOKS[provider].events(parse_json(body)))
