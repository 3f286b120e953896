"""From webhook to stored alert to Port requests, through the real handlers and template wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incident_core import cli
from incident_core.models import Source
from tests.events import body_with, webhook_event
from tests.integration.conftest import Stack, build_stack

CHECKOUT = "prometheus-3f1c9a7e5b2d4c60"
PAYMENTS = "prometheus-a81e22c07d9e1b34"


def _alerts(stack: Stack) -> dict[str, dict[str, object]]:
    from incident_core import aws
    from incident_core.store.alerts import AlertStore

    table = aws.dynamodb().Table(stack.resources.references["AlertsTable"])
    return {r.identifier: r.model_dump(mode="json") for r in AlertStore(table).scan()}


def test_a_batch_is_queued_stored_and_projected_with_its_services(stack: Stack) -> None:
    answer = stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))
    assert answer.status == 202
    assert answer.body["alerts"] == [CHECKOUT, PAYMENTS]

    stack.drain()

    stored = _alerts(stack)
    assert stored[CHECKOUT]["status"] == "open"
    assert stored[CHECKOUT]["service"] == "checkout"
    assert stack.port_alerts()[CHECKOUT]["relations"]["service"] == "checkout"
    assert stack.port_alerts()[PAYMENTS]["properties"]["severity"] == "warning"
    assert stack.port.violations == []


def test_the_same_notification_twice_is_one_alert_counted_twice_and_one_port_write(stack: Stack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    stack.post(Source.PROMETHEUS, headers, body)
    stack.drain()
    writes_after_first = stack.bulk_writes()
    stack.post(Source.PROMETHEUS, headers, body)
    stack.drain()

    assert _alerts(stack)[CHECKOUT]["notificationCount"] == 2
    assert len(stack.port_alerts()) == 2
    assert writes_after_first == 1
    assert stack.bulk_writes() == 1  # nothing a person sees changed


def test_resolve_after_firing_updates_port_once_more(stack: Stack) -> None:
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))
    stack.drain()
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "resolved"))
    stack.drain()

    port_alert = stack.port_alerts()[CHECKOUT]["properties"]
    assert port_alert["status"] == "resolved"
    assert port_alert["endedAt"] == "2026-11-27T08:39:03.500Z"
    assert stack.bulk_writes() == 2


def test_resolved_arriving_before_its_firing_stays_resolved(stack: Stack) -> None:
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "resolved"))
    stack.drain()
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))
    stack.drain()

    assert _alerts(stack)[CHECKOUT]["status"] == "resolved"
    assert stack.port_alerts()[CHECKOUT]["properties"]["status"] == "resolved"


def test_a_redelivered_queue_message_changes_nothing(stack: Stack) -> None:
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))
    messages = stack.sqs.receive_message(
        QueueUrl=stack.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    from devstack.poller import sqs_event

    event = sqs_event(stack.resources.attributes[("AlertQueue", "Arn")], messages)
    stack.functions["AlertProcessorFunction"].invoke(event)
    stack.functions["AlertProcessorFunction"].invoke(event)  # Lambda may deliver a batch twice

    assert _alerts(stack)[CHECKOUT]["notificationCount"] == 1


def test_port_unavailable_for_a_while_loses_nothing(clocked_stack: Stack) -> None:
    stack, clock = clocked_stack, clocked_stack.clock
    assert clock is not None
    stack.port.outage(clock.now, clock.now + 30)
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))

    first = stack.process_once()
    assert first == {"received": 2, "failed": 0}  # stored: storing does not wait for Port
    assert set(_alerts(stack)) == {CHECKOUT, PAYMENTS}
    assert stack.port_alerts() == {}
    assert stack.queued() == 0

    clock.advance(60)
    assert stack.drain_outbox()["written"] == 3  # the incident the critical alert opened, and both alerts
    assert set(stack.port_alerts()) == {CHECKOUT, PAYMENTS}
    assert _alerts(stack)[CHECKOUT]["notificationCount"] == 1
    assert stack.drain_outbox() == {
        "written": 0,
        "deferred": 0,
        "refused": 0,
        "runsReported": 0,
        "pending": 0,
        "parked": 0,
    }


def test_a_message_that_can_never_be_processed_is_parked_at_once_with_its_reason(stack: Stack) -> None:
    stack.sqs.send_message(
        QueueUrl=stack.queue_url, MessageBody='{"alert": {}}', MessageGroupId="poison", MessageDeduplicationId="p-1"
    )
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))

    assert stack.process_once() == {"received": 3, "failed": 0}
    assert set(stack.port_alerts()) == {CHECKOUT, PAYMENTS}
    assert stack.queued() == 0
    (parked,) = stack.sqs.receive_message(QueueUrl=stack.dead_letter_url, MessageAttributeNames=["All"])["Messages"]
    assert parked["Body"] == '{"alert": {}}'
    reason = parked["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith("not an alert notification (")
    assert "alert.title: Field required" in reason


def test_a_message_parked_in_the_dlq_is_redriven_by_the_cli(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))
    (message,) = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1)["Messages"]
    stack.sqs.send_message(
        QueueUrl=stack.dead_letter_url,
        MessageBody=message["Body"],
        MessageGroupId="parked",
        MessageDeduplicationId="parked-1",
    )
    stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])

    monkeypatch.setenv("ALERT_DLQ_URL", stack.dead_letter_url)
    monkeypatch.setenv("ALERT_QUEUE_URL", stack.queue_url)
    assert cli.main(["dlq", "redrive"]) == 0
    assert "moved 1 message(s)" in capsys.readouterr().out
    stack.drain()

    assert set(stack.port_alerts()) == {CHECKOUT, PAYMENTS}
    assert stack.queued(stack.dead_letter_url) == 0


def test_an_alert_for_a_service_port_does_not_know_is_written_without_the_relation(stack: Stack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    payload = json.loads(body)
    payload["alerts"][0]["labels"]["service"] = "not-in-catalog"
    stack.post(Source.PROMETHEUS, headers, json.dumps(payload).encode())
    stack.drain()

    assert stack.port_alerts()[CHECKOUT]["relations"].get("service") is None
    assert stack.port_alerts()[PAYMENTS]["relations"]["service"] == "payments"
    assert stack.queued() == 0


@pytest.mark.parametrize(
    ("source", "sample", "tamper", "status"),
    [
        (Source.SENTRY, "issue-created", "body", 401),
        (Source.GRAFANA, "firing", "body", 401),
        (Source.PROMETHEUS, "firing", "token", 401),
        (Source.DATADOG, "triggered", "token", 401),
        (Source.PROMETHEUS, "firing", "shape", 400),
        (Source.NEWRELIC, "activated", "json", 400),
    ],
)
def test_refused_requests_store_nothing(stack: Stack, source: Source, sample: str, tamper: str, status: int) -> None:
    headers, body = webhook_event(source.value, sample)
    if tamper == "body":
        body = body.replace(b'"', b' "', 1)
    elif tamper == "token":
        headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-ingest-token")}
        headers["Authorization"] = "Bearer wrong"
    elif tamper == "shape":
        body = body_with(body, alerts={"not": "a list"})
    else:
        body = b"{not json"
    answer = stack.post(source, headers, body)

    assert answer.status == status
    assert "\n" not in answer.body["message"]
    assert stack.queued() == 0


def test_a_malformed_body_names_the_field(stack: Stack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    answer = stack.post(Source.PROMETHEUS, headers, body_with(body, alerts=[{"status": "firing"}]))
    assert answer.status == 400
    assert answer.body["message"].startswith("alerts[0].fingerprint")


def test_a_body_over_the_limit_is_413(stack: Stack) -> None:
    headers, _ = webhook_event("prometheus", "firing")
    answer = stack.post(Source.PROMETHEUS, headers, b"{" + b" " * 1_048_577 + b"}")
    assert answer.status == 413
    assert stack.queued() == 0


def test_a_sentry_resource_that_is_no_alert_is_dropped_with_200(stack: Stack) -> None:
    answer = stack.post(Source.SENTRY, *webhook_event("sentry", "installation-created"))
    assert answer.status == 200
    assert stack.queued() == 0


def test_a_source_missing_from_the_secret_is_refused(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = {"prometheus": {"token": "example-prometheus-token"}}
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps(secrets))
    stack = build_stack(monkeypatch, secrets_file=secrets_file)

    assert stack.post(Source.DATADOG, *webhook_event("datadog", "triggered")).status == 401
    assert stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing")).status == 202
    assert stack.queued() == 2


def test_an_unreadable_secret_store_answers_503_so_the_sender_retries(stack: Stack) -> None:
    function = stack.functions["IngestPrometheusFunction"]
    function.environment["WEBHOOK_SECRETS_NAME"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone"
    answer = stack.post(Source.PROMETHEUS, *webhook_event("prometheus", "firing"))
    assert answer.status == 503
    assert stack.queued() == 0
