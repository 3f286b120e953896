"""Webhook-to-queue latency of the ingest functions, in process.

Each call is `Stack.post`: the API Gateway event is built, the real handler runs under its template
environment (Powertools logging included, written to a captured stdout), authenticates, normalizes and
sends to the alert queue, which is moto's in-process SQS, so moto's request handling is part of the time.
The time spent inside `AlertQueue.send` is recorded separately to show that share.

moto computes every queue attribute, scanning all queued messages, on each message it accepts, so a send
gets slower the deeper the queue (the real SQS does not). The queue is therefore purged after every call,
outside the timed region: each call meets an empty queue, as with a processor that keeps up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from incident_core.models.notification import AlertNotification
from incident_core.queue import AlertQueue
from tests.bench.figures import Figure
from tests.bench.harness import handler_logs_captured, local_stack, percentile
from tests.events import webhook_event
from tests.integration.conftest import Stack

WARM_UP_CALLS = 20
SAMPLES = (("prometheus", "firing"), ("datadog", "triggered"), ("sentry", "issue-created"))


@dataclass(frozen=True)
class LatencyResult:
    source: str
    sample: str
    calls: int
    alerts_per_call: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    sqs_send_p50_ms: float

    def as_json(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "calls": self.calls,
            "warm_up_calls": WARM_UP_CALLS,
            "alerts_per_call": self.alerts_per_call,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "sqs_send_p50_ms": self.sqs_send_p50_ms,
            "includes": "moto in-process SQS send_message_batch",
        }


@contextmanager
def _send_times(into: list[float]) -> Iterator[None]:
    """Record how long each `AlertQueue.send` takes (the moto SQS share of a call)."""
    original = AlertQueue.send

    def timed(self: AlertQueue, notifications: Sequence[AlertNotification]) -> None:
        started = time.perf_counter()
        try:
            original(self, notifications)
        finally:
            into.append(time.perf_counter() - started)

    AlertQueue.send = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        AlertQueue.send = original  # type: ignore[method-assign]


def _measure(stack: Stack, source: str, sample: str, calls: int) -> LatencyResult:
    headers, body = webhook_event(source, sample)
    expected = stack.post(source, headers, body)  # also proves the sample is accepted and queued
    assert expected.status == 202, f"{source}/{sample} answered {expected.status}: {expected.body}"
    assert stack.queued() == len(expected.body["alerts"]), "the alerts did not reach the queue"
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)

    durations: list[float] = []
    sends: list[float] = []
    with _send_times(sends):
        for index in range(WARM_UP_CALLS + calls):
            started = time.perf_counter()
            answer = stack.post(source, headers, body)
            elapsed = time.perf_counter() - started
            if answer.status != 202 or answer.body["alerts"] != expected.body["alerts"]:
                raise AssertionError(f"{source}/{sample} call {index} answered {answer.status}: {answer.body}")
            if index >= WARM_UP_CALLS:
                durations.append(elapsed)
            stack.sqs.purge_queue(QueueUrl=stack.queue_url)
    measured_sends = sends[WARM_UP_CALLS:]
    assert len(measured_sends) == calls, "every call sends to the queue exactly once"
    return LatencyResult(
        source=source,
        sample=sample,
        calls=calls,
        alerts_per_call=len(expected.body["alerts"]),
        p50_ms=percentile(durations, 0.50) * 1000,
        p99_ms=percentile(durations, 0.99) * 1000,
        max_ms=max(durations) * 1000,
        sqs_send_p50_ms=percentile(measured_sends, 0.50) * 1000,
    )


def group() -> tuple[list[Figure], dict[str, Any]]:
    """Webhook-to-queue p50 per sample, against the share of it that is moto's SQS."""
    results = run()
    figures = [
        Figure(
            name=f"webhook -> queue p50, {r.source} {r.sample} ({r.calls} calls)",
            measured=r.p50_ms,
            baseline=r.sqs_send_p50_ms,
            baseline_name="of it moto's SQS send",
            unit="ms",
        )
        for r in results
    ]
    return figures, {r.source: r.as_json() for r in results}


def run(calls: int = 1000) -> list[LatencyResult]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        # moto refuses a second PurgeQueue within 60 s, as SQS does; here purging is the harness's bookkeeping.
        monkeypatch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
        with local_stack() as stack, handler_logs_captured():
            return [_measure(stack, source, sample, calls) for source, sample in SAMPLES]
