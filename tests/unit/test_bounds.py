"""Input bounds: what every route refuses before answering 2xx, so nothing accepted can fail to queue or store.

Both parsers are checked: msgspec's (what the layer ships) and the pure-Python fallback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_core.auth.port_signature import port_signature
from incident_core.bounds import (
    MAX_ALERTS_PER_REQUEST,
    MAX_DEPTH,
    MAX_IDENTIFIER_BYTES,
    SQS_MESSAGE_LIMIT_BYTES,
    check_body_size,
    check_identifier,
    parse_json,
    parse_json_compiled,
    parse_json_object,
    parse_json_pure,
    queued_size,
)
from incident_core.errors import MalformedRequest, PayloadTooLarge
from incident_core.models import Alert, Source
from incident_core.models.action import TEXT_INPUT_LIMIT, parse_action_run
from incident_core.models.alert import PORT_IDENTIFIER_MAX
from incident_core.models.alert_record import (
    RECENT_NOTIFICATION_IDS,
    STATUS_HISTORY_LIMIT,
    AlertRecord,
    StatusChange,
)
from incident_core.models.incident import LifecycleStep, ProviderName
from incident_core.models.notification import AlertNotification
from incident_core.normalizers import normalize
from incident_core.normalizers.common import DESCRIPTION_LIMIT, RAW_PAYLOAD_LIMIT_BYTES, TITLE_LIMIT
from incident_core.support.numbers import LiteralFloat
from incident_core.usecases.actions import accept_action
from incident_core.usecases.ingest import WebhookRequest, ingest_webhook
from incident_core.usecases.provider_sync import receive_provider_webhook
from incident_core.usecases.steps import STEPS

DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024
PARSERS = pytest.mark.parametrize("parse", [parse_json_compiled, parse_json_pure], ids=["msgspec", "pure"])


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- the guarded parser ---------------------------------------------------------------------------------


def test_the_layer_parses_with_msgspec() -> None:
    assert parse_json is parse_json_compiled


@PARSERS
def test_nesting_up_to_the_limit_is_read(parse: Any) -> None:
    assert parse(_nested(MAX_DEPTH)) == json.loads(_nested(MAX_DEPTH))
    assert parse(b'{"a": ' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH) is not None


@PARSERS
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 400, 1000, 100_000])
def test_deeper_nesting_is_a_400(parse: Any, depth: int) -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse(_nested(depth))
    assert refused.value.field == "body"
    assert "nested deeper" in refused.value.problem


@PARSERS
def test_many_brackets_that_do_not_nest_are_read(parse: Any) -> None:
    wide = json.dumps({"alerts": [{"labels": {"n": [i]}} for i in range(500)]}).encode()
    assert len(parse(wide)["alerts"]) == 500


@PARSERS
@pytest.mark.parametrize(
    "body",
    [
        b'{"n": ' + b"1" * 4301 + b"}",
        b'{"n": -' + b"9" * 5000 + b"}",
        b'{"n": 1E+5000}',
        b'{"n": -1e400}',
        b'{"n": 1E+100000}',
    ],
    ids=["4301-digits", "5000-digits", "1E+5000", "-1e400", "1E+100000"],
)
def test_numbers_out_of_range_are_a_400(parse: Any, body: bytes) -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse(body)
    assert refused.value.field == "body"


@PARSERS
def test_integers_up_to_4300_digits_stay_exact(parse: Any) -> None:
    digits = "7" * 4300
    assert parse(f'{{"n": {digits}}}'.encode())["n"] == int(digits)


@PARSERS
@pytest.mark.parametrize(
    "body",
    [
        b'{"note": "\\ud800"}',
        b'{"note": "\\udc00 after"}',
        b'{"\\ud83d": 1}',
        b'{"note": "\\ud83d\\u0041"}',
        b'"\\uDFFF"',
    ],
)
def test_lone_surrogates_are_a_400(parse: Any, body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse(body)


@PARSERS
def test_surrogate_pairs_are_characters(parse: Any) -> None:
    assert parse(b'{"note": "\\ud83d\\ude00"}') == {"note": "\U0001f600"}


@PARSERS
@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"a": NaN}', b'{"a": Infinity}', b"\xff\xfe{}", b'{"a": "\xc3"}', b"\xef\xbb\xbf{}", b'{"a":\x01}'],
)
def test_what_is_not_json_is_a_400(parse: Any, body: bytes) -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse(body)
    assert refused.value.field == "body"


@PARSERS
def test_fractions_keep_their_literal(parse: Any) -> None:
    parsed = parse(b'{"t": 1775645211.9999996, "s": [1.50, 2.5E+2]}')
    assert type(parsed["t"]) is LiteralFloat
    assert (parsed["t"].literal, parsed["s"][0].literal, parsed["s"][1].literal) == (
        "1775645211.9999996",
        "1.50",
        "2.5E+2",
    )
    assert json.loads(json.dumps(parsed)) == parsed  # a plain JSON document: nothing to rebuild


def test_a_body_that_is_not_an_object_is_a_400() -> None:
    with pytest.raises(MalformedRequest, match="expected a JSON object"):
        parse_json_object(b"[1]")


# --- sizes and identifiers ------------------------------------------------------------------------------


def test_body_size_is_a_413_over_the_limit() -> None:
    check_body_size(b"x" * 10, 10)
    with pytest.raises(PayloadTooLarge):
        check_body_size(b"x" * 11, 10)


def test_identifiers_are_measured_in_utf8_bytes() -> None:
    assert check_identifier("a" * MAX_IDENTIFIER_BYTES, "id")
    with pytest.raises(MalformedRequest) as refused:
        check_identifier("é" * (MAX_IDENTIFIER_BYTES // 2 + 1), "alerts[0].fingerprint")
    assert refused.value.field == "alerts[0].fingerprint"


def test_queued_size_counts_json_escapes() -> None:
    assert queued_size("abc") == 3
    assert queued_size("é") == len("\\u00e9")
    assert queued_size('"\n') == 4


# --- through normalize ----------------------------------------------------------------------------------


def _alertmanager(*alerts: dict[str, Any]) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "alerts": list(alerts)}).encode()


def _alert(fingerprint: str, **fields: Any) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "Disk"}, "fingerprint": fingerprint, **fields}


def test_a_fingerprint_too_long_for_a_key_is_a_400_naming_it() -> None:
    body = _alertmanager(_alert("a1"), _alert("f" * 3000))
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.PROMETHEUS, {}, body, None)
    assert refused.value.field == "alerts[1].fingerprint"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (json.dumps({"alert_id": "1" * 2000, "title": "t"}).encode(), "alert_id"),
        (json.dumps({"alert_id": "1", "alert_scope": "host:" + "h" * 2000}).encode(), "alert_scope"),
    ],
)
def test_a_datadog_key_too_long_is_a_400_naming_its_part(body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.DATADOG, {}, body, None)
    assert refused.value.field == field


def test_a_notification_over_the_alert_cap_is_a_413() -> None:
    body = _alertmanager(*(_alert(f"{i:016x}") for i in range(MAX_ALERTS_PER_REQUEST + 1)))
    with pytest.raises(PayloadTooLarge, match="max_alerts"):
        normalize(Source.PROMETHEUS, {}, body, None)


def test_a_long_title_is_clipped_to_a_line() -> None:
    (alert,) = normalize(Source.PROMETHEUS, {}, _alertmanager(_alert("a1", labels={"alertname": "x" * 5000})), None)
    assert len(alert.title) == TITLE_LIMIT
    assert alert.title.endswith("…")


# --- through the ingest use case ------------------------------------------------------------------------


class RecordingQueue:
    def __init__(self) -> None:
        self.batches: list[list[AlertNotification]] = []

    def send(self, notifications: list[AlertNotification]) -> None:
        self.batches.append(list(notifications))


def _ingest(body: bytes, queue: RecordingQueue) -> tuple[str, ...]:
    outcome = ingest_webhook(
        Source.PROMETHEUS,
        WebhookRequest(headers={"Authorization": "Bearer t"}, body=body, request_id="req"),
        secrets=lambda: {"prometheus": {"token": "t"}},
        queue=lambda: queue,  # type: ignore[arg-type,return-value]
        max_body_bytes=8 * 1024 * 1024,
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    return outcome.queued


def test_a_large_notification_is_queued_in_batches_within_the_sqs_limits() -> None:
    annotations = {"description": "d" * 150_000}
    queue = RecordingQueue()
    queued = _ingest(_alertmanager(*(_alert(f"{i:016x}", annotations=annotations) for i in range(40))), queue)
    assert len(queued) == 40
    assert [n.alert.externalId for batch in queue.batches for n in batch] == [f"{i:016x}" for i in range(40)]
    for batch in queue.batches:
        assert len(batch) <= 10
        assert sum(queued_size(n.model_dump_json()) for n in batch) <= SQS_MESSAGE_LIMIT_BYTES
    assert len(queue.batches) > 4  # the size split them, not only the count


def test_many_small_alerts_fill_batches_of_ten() -> None:
    queue = RecordingQueue()
    assert len(_ingest(_alertmanager(*(_alert(f"{i:016x}") for i in range(95))), queue)) == 95
    assert sorted(len(batch) for batch in queue.batches) == [5] + [10] * 9


def test_the_largest_alert_normalize_can_give_fits_one_queue_message_and_one_stored_item() -> None:
    """Every field of an alert is bounded; made of the characters that grow most when encoded (an emoji is
    twelve bytes escaped for SQS, a control character six in the stored JSON), it still fits."""
    for char, room in (("\U0001f600", 4), ("\x01", 6)):
        alert = Alert(
            title=char * TITLE_LIMIT,
            description=char * DESCRIPTION_LIMIT,
            severity="critical",
            status="open",
            source=Source.GRAFANA,
            externalId="f" * MAX_IDENTIFIER_BYTES,
            startedAt="2026-11-27T08:14:00.000Z",
            endedAt="2026-11-27T08:14:00.000Z",
            rawPayload={"alert": char * (RAW_PAYLOAD_LIMIT_BYTES // room - 16)},
        )
        assert len(json.dumps(alert.rawPayload, ensure_ascii=False, separators=(",", ":")).encode()) <= (
            RAW_PAYLOAD_LIMIT_BYTES
        )
        notification = AlertNotification(alert=alert, notificationId=f"{'r' * 64}:999", receivedAt=alert.startedAt)
        assert queued_size(notification.model_dump_json()) <= SQS_MESSAGE_LIMIT_BYTES
        history = tuple(StatusChange(status="open", at=alert.startedAt) for _ in range(STATUS_HISTORY_LIMIT))
        record = AlertRecord(
            **alert.model_dump(),
            identifier=alert.identifier,
            statusReceivedAt=alert.startedAt,
            firstSeenAt=alert.startedAt,
            lastSeenAt=alert.startedAt,
            statusHistory=history,
            recentNotificationIds=(notification.notificationId,) * RECENT_NOTIFICATION_IDS,
            service="s" * PORT_IDENTIFIER_MAX,
            incidentId="i" * MAX_IDENTIFIER_BYTES,
        )
        assert len(record.model_dump_json().encode()) + 2 * MAX_IDENTIFIER_BYTES < DYNAMODB_ITEM_LIMIT_BYTES


# --- the action parser ----------------------------------------------------------------------------------


def test_a_run_id_too_long_for_a_key_is_a_400_naming_it() -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse_action_run(LifecycleStep.ACKNOWLEDGE, {"runId": "r" * 3000, "entity": {}, "inputs": {}})
    assert refused.value.field == "runId"
    with pytest.raises(MalformedRequest) as refused:
        parse_action_run(LifecycleStep.ACKNOWLEDGE, {"context": {"runId": "r" * 3000}})
    assert refused.value.field == "context.runId"


def test_an_entity_identifier_too_long_for_a_key_is_a_400() -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse_action_run(LifecycleStep.ACKNOWLEDGE, {"runId": "r1", "entity": {"identifier": "i" * 3000}})
    assert refused.value.field == "entity.identifier"


@pytest.mark.parametrize(
    ("step", "inputs", "field"),
    [
        (LifecycleStep.ADD_NOTE, {"note": "n" * (TEXT_INPUT_LIMIT + 1)}, "inputs.note"),
        (LifecycleStep.RESOLVE, {"resolution": "r" * (TEXT_INPUT_LIMIT + 1)}, "inputs.resolution"),
        (LifecycleStep.TRIGGER, {"title": "t" * (TEXT_INPUT_LIMIT + 1)}, "inputs.title"),
        (LifecycleStep.ASSOCIATE_SERVICES, {"services": ["s"] * 101}, "inputs.services"),
    ],
)
def test_text_inputs_are_bounded(step: LifecycleStep, inputs: dict[str, Any], field: str) -> None:
    run = parse_action_run(step, {"runId": "r1", "inputs": inputs})
    with pytest.raises(MalformedRequest) as refused:
        STEPS[run.step].inputs_of(run)
    assert refused.value.field == field


# --- the action and provider routes ---------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PORT_SECRET = "port-client-secret"


class RecordingActionQueue:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, run: Any) -> None:
        self.sent.append(run)


class RecordingReporter:
    def __init__(self) -> None:
        self.finished: list[tuple[str, str, str]] = []

    def log(self, run_id: str, message: str) -> None:
        return None

    def finish(self, run_id: str, status: str, summary: str, link: str | None) -> None:
        self.finished.append((run_id, status, summary))


class EmptyLedger:
    def run(self, run_id: str) -> None:
        return None


def _accept(body: bytes, queue: RecordingActionQueue, reporter: RecordingReporter, max_body_bytes: int) -> Any:
    timestamp = str(int(NOW.timestamp()))
    headers = {"x-port-timestamp": timestamp, "x-port-signature": port_signature(PORT_SECRET, timestamp, body)}
    return accept_action(
        LifecycleStep.ADD_NOTE,
        headers,
        body,
        client_secret=PORT_SECRET,
        now=NOW,
        ledger=EmptyLedger,  # type: ignore[arg-type]
        queue=lambda: queue,  # type: ignore[arg-type,return-value]
        reporter=lambda: reporter,
        max_body_bytes=max_body_bytes,
    )


def _run_body(**inputs: Any) -> bytes:
    return json.dumps(
        {"runId": "r_1", "entity": {"identifier": "inc-1"}, "inputs": inputs}, ensure_ascii=False
    ).encode()


def test_an_action_body_over_the_limit_is_a_413_before_anything_else() -> None:
    queue, reporter = RecordingActionQueue(), RecordingReporter()
    with pytest.raises(PayloadTooLarge):
        _accept(_run_body(note="n" * 2000), queue, reporter, max_body_bytes=1000)
    assert (queue.sent, reporter.finished) == ([], [])


def test_an_action_whose_queued_json_exceeds_sqs_is_a_413_and_the_run_is_answered() -> None:
    body = _run_body(note="a note", attachment="é" * 300_000)  # 600 KB of UTF-8, 1.8 MB once escaped
    queue, reporter = RecordingActionQueue(), RecordingReporter()
    with pytest.raises(PayloadTooLarge):
        _accept(body, queue, reporter, max_body_bytes=1024 * 1024)
    assert queue.sent == []
    assert [(run_id, status) for run_id, status, _ in reporter.finished] == [("r_1", "FAILURE")]


def test_a_signed_action_nested_too_deep_is_a_400() -> None:
    queue, reporter = RecordingActionQueue(), RecordingReporter()
    with pytest.raises(MalformedRequest):
        _accept(b'{"runId": "r_1", "inputs": ' + _nested(5000) + b"}", queue, reporter, max_body_bytes=1024 * 1024)
    assert queue.sent == []


def test_an_accepted_action_is_queued() -> None:
    queue, reporter = RecordingActionQueue(), RecordingReporter()
    assert _accept(_run_body(note="a note"), queue, reporter, max_body_bytes=1024 * 1024).status_code == 202
    assert [run.runId for run in queue.sent] == ["r_1"]


def test_a_provider_webhook_over_the_limit_is_a_413_before_its_signature_is_read() -> None:
    with pytest.raises(PayloadTooLarge):
        receive_provider_webhook(
            ProviderName.PAGERDUTY,
            {},
            b"{}" + b" " * 100,
            secret=lambda: "unused",
            lifecycle=lambda: pytest.fail("nothing is applied"),
            now=NOW,
            max_body_bytes=100,
        )
