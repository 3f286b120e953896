"""The pure parts of the housekeeping schedules: HEARTBEATS validation, stale records and the rules that
let a real notification win over a stale expiry, and the heartbeat decisions against an in-memory store."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_core.config import DEFAULT_SERVICE_MAPPING, get_settings
from incident_core.errors import ConfigurationError
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.models.alert_record import AlertRecord, apply_notification
from incident_core.models.heartbeat import Heartbeat
from incident_core.models.notification import AlertNotification
from incident_core.store.alerts import AlertStore
from incident_core.support.time import format_utc
from incident_core.usecases.housekeeping import check_heartbeats, resolve_as_stale
from incident_core.usecases.projection import alert_entity, stale_properties
from incident_core.usecases.services import service_of

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
EPISODE = "2026-11-27T08:00:00.000Z"


def at(minutes: float) -> str:
    return format_utc(T0 + timedelta(minutes=minutes))


def notification(
    status: AlertStatus = AlertStatus.OPEN,
    *,
    minutes: float,
    source: Source = Source.PROMETHEUS,
    started_at: str | None = EPISODE,
    title: str = "HighErrorRate",
    external_id: str = "3f1c9a7e5b2d4c60",
) -> AlertNotification:
    alert = Alert(
        title=title,
        description="5xx above 5%",
        severity=Severity.CRITICAL,
        status=status,
        source=source,
        externalId=external_id,
        startedAt=started_at,
    )
    return AlertNotification(alert=alert, notificationId=f"n-{external_id}-{minutes}", receivedAt=at(minutes))


def apply(current: AlertRecord | None, incoming: AlertNotification) -> AlertRecord:
    record = apply_notification(current, incoming, service=None, flap_threshold=10, flap_window_seconds=3600)
    assert record is not None
    return record


def stale_record(source: Source = Source.PROMETHEUS) -> AlertRecord:
    """An alert last seen at T0, resolved as stale a day later."""
    record = apply(None, notification(minutes=0, source=source))
    expired = resolve_as_stale(record, silent_since=at(24 * 60 - 1), now=at(24 * 60))
    assert expired is not None
    return expired


# HEARTBEATS


def heartbeats_setting(value: Any) -> tuple[Heartbeat, ...]:
    return get_settings({"HEARTBEATS": value if isinstance(value, str) else json.dumps(value)}).heartbeats


def test_heartbeats_are_read_from_json_with_defaults() -> None:
    (by_title, by_key) = heartbeats_setting(
        [
            {"name": "watchdog", "source": "prometheus", "title": "Watchdog", "everyMinutes": 5, "service": "x"},
            {"name": "dd", "source": "datadog", "alertKey": "datadog-123", "everyMinutes": 10, "severity": "high"},
        ]
    )
    assert (by_title.title, by_title.severity, by_title.service) == ("Watchdog", Severity.CRITICAL, "x")
    assert by_title.dedup_key == "prometheus-heartbeat:watchdog"
    assert (by_key.alertKey, by_key.severity, by_key.everyMinutes) == ("datadog-123", Severity.HIGH, 10)


@pytest.mark.parametrize("empty", ["", "  ", "[]"])
def test_no_heartbeats(empty: str) -> None:
    assert heartbeats_setting(empty) == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{", "HEARTBEATS is not valid JSON"),
        ({"name": "w"}, "HEARTBEATS must be a JSON list"),
        ([{"name": "w", "source": "prometheus", "everyMinutes": 5}], "give either alertKey or title"),
        (
            [{"name": "w", "source": "prometheus", "title": "W", "alertKey": "prometheus-1", "everyMinutes": 5}],
            "give either alertKey or title",
        ),
        (
            [{"name": "w", "source": "prometheus", "alertKey": "3f1c9a7e", "everyMinutes": 5}],
            "alertKey '3f1c9a7e' is not an alert of prometheus",
        ),
        ([{"name": "w", "source": "prometheus", "title": "W", "everyMinutes": 0}], "everyMinutes"),
        ([{"name": "w", "source": "zabbix", "title": "W", "everyMinutes": 5}], "heartbeats.0.source"),
        ([{"name": "w", "source": "prometheus", "title": "W", "everyMinutes": 5, "every": 1}], "every"),
        ([{"name": "w", "source": "prometheus", "title": "W", "everyMinutes": 5, "severity": "sev1"}], "severity"),
        (
            [
                {"name": "w", "source": "prometheus", "title": "A", "everyMinutes": 5},
                {"name": "w", "source": "grafana", "title": "B", "everyMinutes": 5},
            ],
            "heartbeat names must be unique; repeated: w",
        ),
    ],
)
def test_invalid_heartbeats_are_refused_with_a_reason(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"(?s)invalid settings.*{message}"):
        heartbeats_setting(value)


def test_stale_after_minutes() -> None:
    assert get_settings({}).alert_stale_after_minutes == 1440
    assert get_settings({"ALERT_STALE_AFTER_MINUTES": "90"}).alert_stale_after_minutes == 90
    with pytest.raises(ConfigurationError, match="alert_stale_after_minutes"):
        get_settings({"ALERT_STALE_AFTER_MINUTES": "0"})


# Stale records


def test_resolving_as_stale_marks_why_and_keeps_the_arrival_order() -> None:
    record = apply(None, notification(minutes=0, source=Source.DATADOG))
    expired = resolve_as_stale(record, silent_since=at(60), now=at(61))

    assert expired is not None
    assert (expired.status, expired.stale, expired.endedAt) == (AlertStatus.RESOLVED, True, at(61))
    assert [(c.status, c.at) for c in expired.statusHistory][-1] == (AlertStatus.RESOLVED, at(61))
    assert expired.statusReceivedAt == record.statusReceivedAt
    assert expired.lastSeenAt == record.lastSeenAt
    assert resolve_as_stale(record, silent_since=at(0), now=at(61)) is None  # seen at the limit: not silent
    assert resolve_as_stale(expired, silent_since=at(60), now=at(62)) is None  # already resolved
    assert resolve_as_stale(None, silent_since=at(60), now=at(62)) is None


def test_the_stale_note_leads_the_description_in_port() -> None:
    record = stale_record()
    entity = alert_entity(record)

    assert entity["properties"]["description"] == f"Resolved as stale: no notification since {at(0)}\n\n5xx above 5%"
    assert entity["properties"]["status"] == "resolved"
    assert stale_properties(record.model_copy(update={"description": ""})) == {
        "description": f"Resolved as stale: no notification since {at(0)}"
    }
    assert alert_entity(apply(None, notification(minutes=0)))["properties"]["description"] == "5xx above 5%"


@pytest.mark.parametrize("source", [Source.PROMETHEUS, Source.DATADOG])
def test_a_later_notification_reopens_a_stale_alert_and_clears_the_mark(source: Source) -> None:
    reopened = apply(stale_record(source), notification(minutes=24 * 60 + 5, source=source))

    assert (reopened.status, reopened.stale) == (AlertStatus.OPEN, False)
    assert alert_entity(reopened)["properties"]["description"] == "5xx above 5%"


def test_a_notification_received_before_the_expiry_but_after_the_last_one_still_wins() -> None:
    reopened = apply(stale_record(Source.DATADOG), notification(minutes=24 * 60 - 0.5, source=Source.DATADOG))
    assert (reopened.status, reopened.stale) == (AlertStatus.OPEN, False)


def test_an_older_notification_leaves_the_alert_resolved_as_stale() -> None:
    older_episode = apply(stale_record(), notification(minutes=24 * 60 + 5, started_at="2026-11-27T07:00:00.000Z"))
    assert (older_episode.status, older_episode.stale) == (AlertStatus.RESOLVED, True)

    record = apply(None, notification(minutes=0, source=Source.DATADOG))
    record = apply(record, notification(minutes=10, source=Source.DATADOG))
    expired = resolve_as_stale(record, silent_since=at(24 * 60), now=at(24 * 60 + 1))
    assert expired is not None
    late = apply(expired, notification(minutes=5, source=Source.DATADOG))  # earlier than the last one stored
    assert (late.status, late.stale) == (AlertStatus.RESOLVED, True)


def test_a_resolve_from_the_source_replaces_the_guess() -> None:
    resolved = apply(stale_record(), notification(AlertStatus.RESOLVED, minutes=24 * 60 + 5))
    assert (resolved.status, resolved.stale) == (AlertStatus.RESOLVED, False)


# Heartbeats


class MemoryAlerts(AlertStore):
    """The alert store's reads, in memory."""

    def __init__(self, *records: AlertRecord) -> None:
        self.records = {record.dedup_key: record for record in records}
        self.scans = 0

    def get(self, dedup_key: str) -> AlertRecord | None:
        return self.records.get(dedup_key)

    def scan(self) -> Iterator[AlertRecord]:
        self.scans += 1
        yield from self.records.values()


class Sent:
    def __init__(self) -> None:
        self.notifications: list[AlertNotification] = []

    def send(self, notifications: Sequence[AlertNotification]) -> None:
        self.notifications.extend(notifications)


WATCHDOG = Heartbeat(name="watchdog", source=Source.PROMETHEUS, title="Watchdog", everyMinutes=5)


def watchdog(minutes: float, *, external_id: str = "wd1", status: AlertStatus = AlertStatus.OPEN) -> AlertRecord:
    """A Watchdog alert last seen at T0 + `minutes`."""
    return apply(None, notification(status, minutes=minutes, title="Watchdog", external_id=external_id))


def run(
    store: MemoryAlerts, now_minutes: float, *heartbeats: Heartbeat, run_at: datetime | None = None
) -> list[AlertNotification]:
    sent = Sent()
    check_heartbeats(
        store,
        sent,
        heartbeats or (WATCHDOG,),
        service_mapping=DEFAULT_SERVICE_MAPPING,
        now=T0 + timedelta(minutes=now_minutes),
        run_at=run_at,
    )
    return sent.notifications


def test_a_missing_heartbeat_keeps_one_episode_while_it_is_missing() -> None:
    store = MemoryAlerts(watchdog(0))
    first = run(store, 7)
    store.records[WATCHDOG.dedup_key] = apply(None, first[0])
    later = run(store, 30)

    assert [n.alert.startedAt for n in first + later] == [at(5), at(5)]  # when it was due
    assert first[0].notificationId == "heartbeat:watchdog:missing:2026-11-27T09:07Z"
    assert first[0].receivedAt == at(7)
    assert first[0].alert.description == (
        f'No notification of "Watchdog" alerts from Prometheus within 5 minute(s): last seen at {at(0)}.'
    )


def test_the_run_names_the_window_not_the_clock() -> None:
    (sent,) = run(MemoryAlerts(watchdog(0)), 12, run_at=datetime(2026, 11, 27, 9, 10, 59, tzinfo=UTC))
    assert sent.notificationId == "heartbeat:watchdog:missing:2026-11-27T09:10Z"


def test_a_never_seen_heartbeat_starts_its_episode_once() -> None:
    store = MemoryAlerts()
    (first,) = run(store, 0)
    store.records[WATCHDOG.dedup_key] = apply(None, first)
    (later,) = run(store, 3)

    assert first.alert.startedAt == later.alert.startedAt == at(0)
    assert first.alert.description.endswith("never seen.")


def test_recovery_resolves_the_raised_alert_in_its_episode() -> None:
    store = MemoryAlerts(watchdog(0))
    (missing,) = run(store, 10)
    store.records[WATCHDOG.dedup_key] = apply(None, missing)
    store.records["prometheus-wd1"] = watchdog(11)
    (recovered,) = run(store, 12)

    assert recovered.alert.status is AlertStatus.RESOLVED
    assert recovered.alert.startedAt == at(5)
    assert recovered.alert.endedAt == at(11)
    assert recovered.notificationId == "heartbeat:watchdog:recovered:2026-11-27T09:12Z"
    assert apply(store.records[WATCHDOG.dedup_key], recovered).status is AlertStatus.RESOLVED


def test_by_title_the_latest_open_alert_counts() -> None:
    old_open = watchdog(0, external_id="cluster-a")
    fresh_resolved = watchdog(9, external_id="cluster-b", status=AlertStatus.RESOLVED)
    assert [n.alert.status for n in run(MemoryAlerts(old_open, fresh_resolved), 10)] == [AlertStatus.OPEN]

    fresh_open = watchdog(8, external_id="cluster-c")
    assert run(MemoryAlerts(old_open, fresh_resolved, fresh_open), 10) == []


def test_by_key_only_that_alert_counts_and_nothing_is_scanned() -> None:
    by_key = Heartbeat(name="wd", source=Source.PROMETHEUS, alertKey="prometheus-wd2", everyMinutes=5)
    store = MemoryAlerts(watchdog(9, external_id="wd1"), watchdog(0, external_id="wd2"))

    (missing,) = run(store, 10, by_key)
    assert missing.alert.description.endswith(f"last seen at {at(0)}.")
    assert store.scans == 0


@pytest.mark.parametrize("source", list(Source), ids=lambda source: source.value)
def test_the_configured_service_is_found_by_the_sources_service_mapping(source: Source) -> None:
    heartbeat = Heartbeat(name="hb", source=source, title="Watchdog", everyMinutes=5, service="checkout")
    (sent,) = run(MemoryAlerts(), 0, heartbeat)

    assert service_of(sent.alert, DEFAULT_SERVICE_MAPPING[source]) == "checkout"
    assert sent.alert.rawPayload["heartbeat"]["name"] == "hb"
    assert (sent.alert.source, sent.alert.externalId) == (source, "heartbeat:hb")
