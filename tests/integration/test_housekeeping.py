"""The housekeeping schedules against the whole stack in process: stale alerts are resolved (and say so in
Port), heartbeats raise an alert that goes through the processor like any other, and resolve it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from devstack.scheduler import Scheduler
from incident_core import aws, handlers
from incident_core.config import Settings, get_settings
from incident_core.errors import ConfigurationError, UpstreamError
from incident_core.models import AlertStatus, Source
from incident_core.models.alert_record import AlertRecord
from incident_core.queue import AlertQueue
from incident_core.store.alerts import AlertStore
from incident_core.support.time import format_utc
from incident_core.usecases.housekeeping import (
    ExpiryOutcome,
    HeartbeatOutcome,
    check_heartbeats,
    expire_stale_alerts,
    resolve_as_stale,
)
from tests.events import body_with, webhook_event
from tests.integration.conftest import Stack

CHECKOUT = "prometheus-3f1c9a7e5b2d4c60"
PAYMENTS = "prometheus-a81e22c07d9e1b34"
WATCHDOG = "prometheus-9d2f4c1b0a7e6d5c"
HEARTBEAT = "prometheus-heartbeat:alertmanager-watchdog"
WATCHDOG_BY_TITLE = {
    "name": "alertmanager-watchdog",
    "source": "prometheus",
    "title": "Watchdog",
    "everyMinutes": 5,
    "severity": "critical",
    "service": "checkout",
}


def alerts(stack: Stack) -> AlertStore:
    return AlertStore(aws.dynamodb().Table(stack.resources.references["AlertsTable"]))


def settings_of(stack: Stack, logical_id: str) -> Settings:
    return get_settings(stack.functions[logical_id].environment)


def backdate(stack: Stack, dedup_key: str, minutes: float) -> AlertRecord:
    """The alert as if its last notification came `minutes` ago."""
    last_seen = format_utc(datetime.now(UTC) - timedelta(minutes=minutes))
    record, written = alerts(stack).change(
        dedup_key, lambda current: None if current is None else current.model_copy(update={"lastSeenAt": last_seen})
    )
    assert written
    assert record is not None
    return record


def expire(stack: Stack, now: datetime | None = None, store: AlertStore | None = None) -> ExpiryOutcome:
    settings = settings_of(stack, "ExpireAlertsFunction")
    return expire_stale_alerts(
        store or alerts(stack),
        lambda: handlers.build_projector(settings),
        stale_after=timedelta(minutes=settings.alert_stale_after_minutes),
        now=now or datetime.now(UTC),
    )


def post_prometheus(stack: Stack, name: str = "firing") -> None:
    assert stack.post(Source.PROMETHEUS, *webhook_event("prometheus", name)).status == 202


def post_watchdog(stack: Stack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    watchdog = {
        "status": "firing",
        "labels": {"alertname": "Watchdog", "severity": "none", "namespace": "monitoring"},
        "annotations": {"description": "Always firing: the whole alerting pipeline is functional."},
        "startsAt": "2026-11-27T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": WATCHDOG.removeprefix("prometheus-"),
    }
    assert stack.post(Source.PROMETHEUS, headers, body_with(body, alerts=[watchdog])).status == 202
    stack.drain()


def configure_heartbeats(stack: Stack, *heartbeats: dict[str, Any]) -> Settings:
    stack.functions["HeartbeatsFunction"].environment["HEARTBEATS"] = json.dumps(list(heartbeats))
    return settings_of(stack, "HeartbeatsFunction")


def heartbeats(stack: Stack, now: datetime | None = None) -> HeartbeatOutcome:
    settings = settings_of(stack, "HeartbeatsFunction")
    return check_heartbeats(
        alerts(stack),
        AlertQueue(stack.sqs, stack.queue_url),
        settings.heartbeats,
        service_mapping=settings.service_mapping,
        now=now or datetime.now(UTC),
    )


def port_alert(stack: Stack, identifier: str) -> dict[str, Any]:
    return stack.port_alerts()[identifier]


# Stale alerts


def test_the_schedule_resolves_a_silent_alert_as_stale_and_port_says_why(stack: Stack) -> None:
    post_prometheus(stack)
    stack.drain()
    silent = backdate(stack, CHECKOUT, minutes=25 * 60)

    answer = Scheduler(stack.functions.values()).fire("ExpireAlertsFunction")

    assert answer["expired"] == [CHECKOUT]
    stored = alerts(stack).get(CHECKOUT)
    assert stored is not None
    assert stored.status is AlertStatus.RESOLVED
    assert stored.stale
    assert stored.endedAt is not None
    assert stored.endedAt > silent.lastSeenAt
    assert stored.statusHistory[-1].status is AlertStatus.RESOLVED
    assert stored.statusHistory[-1].at == stored.endedAt
    shown = port_alert(stack, CHECKOUT)["properties"]
    assert shown["status"] == "resolved"
    assert shown["endedAt"] == stored.endedAt
    assert shown["description"].startswith(f"Resolved as stale: no notification since {silent.lastSeenAt}\n\n")
    assert shown["description"].endswith(silent.description)
    assert stack.port.violations == []


def test_a_fresh_alert_and_a_resolved_one_are_left_alone(stack: Stack) -> None:
    post_prometheus(stack)
    stack.drain()
    post_prometheus(stack, "resolved")  # only the checkout alert resolves
    stack.drain()
    backdate(stack, CHECKOUT, minutes=25 * 60)
    backdate(stack, PAYMENTS, minutes=23 * 60)
    writes = stack.bulk_writes()

    assert expire(stack).expired == []

    for key in (CHECKOUT, PAYMENTS):
        stored = alerts(stack).get(key)
        assert stored is not None
        assert not stored.stale
    assert port_alert(stack, PAYMENTS)["properties"]["status"] == "open"
    assert stack.bulk_writes() == writes


def test_the_stale_limit_is_the_setting(stack: Stack) -> None:
    post_prometheus(stack)
    stack.drain()
    backdate(stack, PAYMENTS, minutes=90)
    stack.functions["ExpireAlertsFunction"].environment["ALERT_STALE_AFTER_MINUTES"] = "60"

    assert [r.dedup_key for r in expire(stack).expired] == [PAYMENTS]


def test_a_notification_stored_while_the_expiry_runs_wins(stack: Stack) -> None:
    post_prometheus(stack)
    stack.drain()
    backdate(stack, CHECKOUT, minutes=25 * 60)

    class RacingStore(AlertStore):
        """The processor stores a new notification after the expiry read the silent alert."""

        def scan(self) -> Iterator[AlertRecord]:
            seen = list(super().scan())
            post_prometheus(stack)
            stack.drain()
            yield from seen

    racing = RacingStore(aws.dynamodb().Table(stack.resources.references["AlertsTable"]))
    assert expire(stack, store=racing).expired == []
    stored = alerts(stack).get(CHECKOUT)
    assert stored is not None
    assert stored.status is AlertStatus.OPEN
    assert not stored.stale


def test_a_notification_waiting_in_the_queue_during_the_expiry_reopens_the_alert(stack: Stack) -> None:
    post_prometheus(stack)
    stack.drain()
    backdate(stack, CHECKOUT, minutes=25 * 60)
    post_prometheus(stack)  # received before the expiry runs, processed after it

    assert [r.dedup_key for r in expire(stack, now=datetime.now(UTC) + timedelta(seconds=1)).expired] == [CHECKOUT]
    stack.drain()

    stored = alerts(stack).get(CHECKOUT)
    assert stored is not None
    assert stored.status is AlertStatus.OPEN
    assert not stored.stale
    assert [c.status for c in stored.statusHistory][-2:] == [AlertStatus.RESOLVED, AlertStatus.OPEN]
    shown = port_alert(stack, CHECKOUT)["properties"]
    assert shown["status"] == "open"
    assert not shown["description"].startswith("Resolved as stale")


def test_a_later_notification_reopens_a_stale_alert_and_a_resolve_from_its_source_clears_the_mark(
    stack: Stack,
) -> None:
    post_prometheus(stack)
    stack.drain()
    backdate(stack, CHECKOUT, minutes=25 * 60)
    expire(stack)

    post_prometheus(stack)
    stack.drain()
    reopened = alerts(stack).get(CHECKOUT)
    assert reopened is not None
    assert (reopened.status, reopened.stale) == (AlertStatus.OPEN, False)

    backdate(stack, CHECKOUT, minutes=25 * 60)
    expire(stack)
    post_prometheus(stack, "resolved")
    stack.drain()
    resolved = alerts(stack).get(CHECKOUT)
    assert resolved is not None
    assert (resolved.status, resolved.stale) == (AlertStatus.RESOLVED, False)
    assert resolved.endedAt == "2026-11-27T08:39:03.500Z"  # the source's own end, not the expiry's
    assert not port_alert(stack, CHECKOUT)["properties"]["description"].startswith("Resolved as stale")


def test_a_notification_of_an_older_episode_does_not_reopen_a_stale_alert(stack: Stack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    payload = json.loads(body)
    stack.post(Source.PROMETHEUS, headers, json.dumps(payload).encode())
    stack.drain()
    backdate(stack, CHECKOUT, minutes=25 * 60)
    expire(stack)

    payload["alerts"][0]["startsAt"] = "2026-11-26T08:00:00Z"  # an earlier firing, delivered late
    stack.post(Source.PROMETHEUS, headers, json.dumps(payload).encode())
    stack.drain()

    stored = alerts(stack).get(CHECKOUT)
    assert stored is not None
    assert (stored.status, stored.stale) == (AlertStatus.RESOLVED, True)


def test_a_stale_alert_port_missed_is_projected_by_the_next_run(stack: Stack) -> None:
    post_prometheus(stack)
    stack.drain()
    backdate(stack, CHECKOUT, minutes=25 * 60)
    stack.port.fail_next(10, status=503)

    with pytest.raises(UpstreamError):
        expire(stack)
    assert port_alert(stack, CHECKOUT)["properties"]["status"] == "open"

    stack.port.recover()
    assert expire(stack).expired == []  # nothing left to resolve ...
    assert port_alert(stack, CHECKOUT)["properties"]["status"] == "resolved"  # ... and Port caught up


def test_resolving_as_stale_is_refused_for_an_alert_seen_since(stack: Stack) -> None:
    post_prometheus(stack)
    stack.drain()
    now = datetime.now(UTC)
    update = partial(resolve_as_stale, silent_since=format_utc(now - timedelta(days=1)), now=format_utc(now))

    record, written = alerts(stack).change(CHECKOUT, update)

    assert not written
    assert record is not None
    assert record.status is AlertStatus.OPEN


# Heartbeats


def test_a_silent_heartbeat_raises_an_alert_that_reaches_port_and_opens_an_incident(stack: Stack) -> None:
    configure_heartbeats(stack, WATCHDOG_BY_TITLE)
    post_watchdog(stack)
    watchdog = backdate(stack, WATCHDOG, minutes=10)

    assert heartbeats(stack).missing == ["alertmanager-watchdog"]
    stack.drain()

    raised = alerts(stack).get(HEARTBEAT)
    assert raised is not None
    assert raised.status is AlertStatus.OPEN
    assert raised.service == "checkout"
    assert raised.incidentId is not None  # critical: the default auto-trigger rule opened an incident
    shown = port_alert(stack, HEARTBEAT)
    assert shown["title"] == "Heartbeat missing: alertmanager-watchdog"
    assert shown["properties"]["severity"] == "critical"
    assert shown["properties"]["status"] == "open"
    assert f"last seen at {watchdog.lastSeenAt}" in shown["properties"]["description"]
    assert shown["properties"]["rawPayload"]["heartbeat"]["name"] == "alertmanager-watchdog"
    assert shown["relations"] == {"service": "checkout", "incident": raised.incidentId}
    incident = stack.port.entities["incident"][raised.incidentId]
    assert incident["properties"]["status"] == "triggered"
    assert stack.port.violations == []


def test_a_heartbeat_seen_again_resolves_its_alert(stack: Stack) -> None:
    configure_heartbeats(stack, WATCHDOG_BY_TITLE)
    post_watchdog(stack)
    backdate(stack, WATCHDOG, minutes=10)
    heartbeats(stack)
    stack.drain()

    post_watchdog(stack)
    assert heartbeats(stack) == HeartbeatOutcome(missing=[], recovered=["alertmanager-watchdog"])
    stack.drain()

    watchdog = alerts(stack).get(WATCHDOG)
    raised = alerts(stack).get(HEARTBEAT)
    assert watchdog is not None
    assert raised is not None
    assert raised.status is AlertStatus.RESOLVED
    assert raised.endedAt == watchdog.lastSeenAt
    assert port_alert(stack, HEARTBEAT)["properties"]["status"] == "resolved"
    assert heartbeats(stack) == HeartbeatOutcome()  # healthy, and nothing left to resolve
    assert stack.queued() == 0


def test_a_heartbeat_seen_in_time_raises_nothing(stack: Stack) -> None:
    configure_heartbeats(stack, WATCHDOG_BY_TITLE)
    post_watchdog(stack)
    backdate(stack, WATCHDOG, minutes=5.5)  # within everyMinutes plus the grace

    assert heartbeats(stack) == HeartbeatOutcome()
    assert stack.queued() == 0
    assert alerts(stack).get(HEARTBEAT) is None


def test_running_the_heartbeat_job_twice_in_one_minute_counts_once(stack: Stack) -> None:
    configure_heartbeats(stack, {**WATCHDOG_BY_TITLE, "severity": "warning"})
    now = datetime.now(UTC).replace(second=10, microsecond=0)

    heartbeats(stack, now=now)
    heartbeats(stack, now=now + timedelta(seconds=30))
    stack.drain()
    raised = alerts(stack).get(HEARTBEAT)
    assert raised is not None
    assert raised.notificationCount == 1

    heartbeats(stack, now=now + timedelta(minutes=1))
    stack.drain()
    counted = alerts(stack).get(HEARTBEAT)
    assert counted is not None
    assert counted.notificationCount == 2
    assert counted.incidentId is None  # a warning: no auto-trigger rule matches


def test_the_heartbeat_function_raises_a_never_seen_heartbeat_by_key(stack: Stack) -> None:
    configure_heartbeats(
        stack, {"name": "payments-watchdog", "source": "prometheus", "alertKey": WATCHDOG, "everyMinutes": 2}
    )
    scheduler = Scheduler(stack.functions.values())

    assert scheduler.fire("HeartbeatsFunction") == {"missing": ["payments-watchdog"], "recovered": []}
    stack.drain()

    shown = port_alert(stack, "prometheus-heartbeat:payments-watchdog")["properties"]
    assert shown["status"] == "open"
    assert shown["severity"] == "critical"  # the default
    assert shown["description"].endswith("never seen.")

    post_watchdog(stack)
    assert scheduler.fire("HeartbeatsFunction") == {"missing": [], "recovered": ["payments-watchdog"]}
    stack.drain()
    assert port_alert(stack, "prometheus-heartbeat:payments-watchdog")["properties"]["status"] == "resolved"


def test_a_retried_run_of_the_schedule_counts_once(stack: Stack) -> None:
    configure_heartbeats(stack, {**WATCHDOG_BY_TITLE, "severity": "info"})
    function = stack.functions["HeartbeatsFunction"]
    run = {"scheduledTime": "2026-11-27T09:00:00Z"}

    function.invoke(run)
    function.invoke(run)  # Lambda retries an asynchronous invocation a minute or two later
    function.invoke({"scheduledTime": "2026-11-27T09:01:00Z"})
    stack.drain()

    raised = alerts(stack).get(HEARTBEAT)
    assert raised is not None
    assert raised.notificationCount == 2


def test_invalid_heartbeats_fail_the_run_with_a_clear_error(stack: Stack) -> None:
    function = stack.functions["HeartbeatsFunction"]
    function.environment["HEARTBEATS"] = json.dumps([{"name": "w", "source": "prometheus", "everyMinutes": 5}])

    with pytest.raises(ConfigurationError, match=r"(?s)heartbeats\.0.*give either alertKey or title"):
        function.invoke({})
