"""How one notification changes the stored state of an alert (`apply_notification`).

The issue's rules: a redelivery changes nothing, a repeated notification only counts; Alertmanager-style
sources (EPISODIC_SOURCES) order by episode (`startsAt`) so an out-of-order resolved/firing pair ends right;
other sources order by arrival (`receivedAt`); status history grows only on a change; flapping is a flag.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.models.alert_record import (
    EPISODIC_SOURCES,
    RECENT_NOTIFICATION_IDS,
    STATUS_HISTORY_LIMIT,
    AlertRecord,
    apply_notification,
)
from incident_core.models.notification import AlertNotification

T0 = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
EPISODE_1 = "2026-11-27T07:55:00.000Z"
EPISODE_2 = "2026-11-27T08:30:00.000Z"
THRESHOLD = 3
WINDOW = 3600


def at(seconds: float) -> str:
    """An RFC 3339 UTC time `seconds` after T0, in the fixed-width format the normalizers produce."""
    moment = T0 + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_alert(
    status: AlertStatus = AlertStatus.OPEN,
    *,
    source: Source = Source.PROMETHEUS,
    started_at: str | None = EPISODE_1,
    ended_at: str | None = None,
    **changes: Any,
) -> Alert:
    fields: dict[str, Any] = {
        "title": "High error rate on checkout",
        "description": "5xx above 5%",
        "severity": Severity.CRITICAL,
        "status": status,
        "source": source,
        "externalId": "3f1c9a7e5b2d4c60",
        "startedAt": started_at,
        "endedAt": ended_at,
        "rawPayload": {"status": status.value},
    }
    return Alert(**(fields | changes))


def note(alert: Alert, received: float, notification_id: str | None = None) -> AlertNotification:
    return AlertNotification(
        alert=alert, notificationId=notification_id or f"req-{received}:0", receivedAt=at(received)
    )


def apply(
    current: AlertRecord | None, incoming: AlertNotification, *, service: str | None = "checkout"
) -> AlertRecord | None:
    return apply_notification(current, incoming, service=service, flap_threshold=THRESHOLD, flap_window_seconds=WINDOW)


def applied(current: AlertRecord | None, incoming: AlertNotification, **kwargs: Any) -> AlertRecord:
    record = apply(current, incoming, **kwargs)
    assert record is not None
    return record


def statuses(record: AlertRecord) -> list[AlertStatus]:
    return [change.status for change in record.statusHistory]


# --- first notification, redelivery, repetition ------------------------------------------------------------


def test_first_notification_creates_the_record() -> None:
    alert = make_alert()
    record = applied(None, note(alert, 0, "req-a:0"))

    assert record.notificationCount == 1
    assert record.firstSeenAt == record.lastSeenAt == record.statusReceivedAt == at(0)
    assert record.status is AlertStatus.OPEN
    assert statuses(record) == [AlertStatus.OPEN]
    assert record.statusHistory[0].at == at(0)
    assert record.startedAt == record.episodeStartedAt == EPISODE_1
    assert record.identifier == alert.identifier == "prometheus-3f1c9a7e5b2d4c60"
    assert record.dedup_key == alert.dedup_key
    assert record.service == "checkout"
    assert record.recentNotificationIds == ("req-a:0",)
    assert record.flapping is False
    assert record.as_alert() == alert


def test_redelivery_of_the_same_notification_changes_nothing() -> None:
    incoming = note(make_alert(), 0, "req-a:0")
    record = applied(None, incoming)

    assert apply(record, incoming) is None
    # Even a later redelivery (e.g. after a DLQ redrive) with the same id is recognised.
    assert apply(record, incoming.model_copy(update={"receivedAt": at(600)})) is None


def test_a_repeated_notification_only_counts() -> None:
    first = applied(None, note(make_alert(), 10, "req-a:0"))
    second = applied(first, note(make_alert(), 70, "req-b:0"))

    assert second.notificationCount == 2
    assert second.firstSeenAt == at(10)
    assert second.lastSeenAt == at(70)
    assert second.status is first.status
    assert second.statusHistory == first.statusHistory
    assert second.startedAt == first.startedAt
    assert second.as_alert() == first.as_alert()
    assert second.recentNotificationIds == ("req-a:0", "req-b:0")


def test_seen_times_and_earliest_started_at_whatever_the_arrival_order() -> None:
    source = Source.DATADOG
    record = applied(None, note(make_alert(source=source, started_at="2026-11-27T08:10:00.000Z"), 100, "n1"))
    # Delivered late: an earlier receivedAt and an earlier startedAt.
    record = applied(record, note(make_alert(source=source, started_at="2026-11-27T08:05:00.000Z"), 50, "n2"))
    record = applied(record, note(make_alert(source=source, started_at="2026-11-27T08:20:00.000Z"), 200, "n3"))
    record = applied(record, note(make_alert(source=source, started_at=None), 300, "n4"))

    assert record.notificationCount == 4
    assert record.firstSeenAt == at(50)
    assert record.lastSeenAt == at(300)
    assert record.startedAt == "2026-11-27T08:05:00.000Z"


def test_recent_notification_ids_are_bounded_and_keep_the_newest() -> None:
    record = applied(None, note(make_alert(), 0, "n0"))
    total = RECENT_NOTIFICATION_IDS + 15
    for i in range(1, total):
        record = applied(record, note(make_alert(), i, f"n{i}"))

    assert record.notificationCount == total
    assert len(record.recentNotificationIds) == RECENT_NOTIFICATION_IDS
    assert record.recentNotificationIds[-1] == f"n{total - 1}"
    assert record.recentNotificationIds[0] == f"n{total - RECENT_NOTIFICATION_IDS}"
    assert "n0" not in record.recentNotificationIds
    # A recent id is still recognised as a redelivery.
    assert apply(record, note(make_alert(), 999, f"n{total - 1}")) is None


# --- episodic sources (Alertmanager): ordered by startsAt --------------------------------------------------


def test_episodic_sources_are_the_alertmanager_ones() -> None:
    assert {Source.PROMETHEUS, Source.GRAFANA} == EPISODIC_SOURCES


@pytest.mark.parametrize("source", sorted(EPISODIC_SOURCES))
def test_resolved_before_firing_of_the_same_episode_stays_resolved(source: Source) -> None:
    resolved = make_alert(AlertStatus.RESOLVED, source=source, ended_at=at(120))
    firing = make_alert(AlertStatus.OPEN, source=source)

    # The resolved notification overtakes the firing one: it arrives first, the firing later.
    record = applied(None, note(resolved, 130, "resolved"))
    record = applied(record, note(firing, 140, "firing"))

    assert record.status is AlertStatus.RESOLVED
    assert record.endedAt == at(120)
    assert statuses(record) == [AlertStatus.RESOLVED]
    assert record.notificationCount == 2
    assert record.lastSeenAt == at(140)
    assert record.rawPayload == {"status": "resolved"}


def test_firing_then_resolved_of_the_same_episode_resolves() -> None:
    record = applied(None, note(make_alert(AlertStatus.OPEN), 0, "firing"))
    record = applied(record, note(make_alert(AlertStatus.RESOLVED, ended_at=at(100)), 110, "resolved"))

    assert record.status is AlertStatus.RESOLVED
    assert record.endedAt == at(100)
    assert statuses(record) == [AlertStatus.OPEN, AlertStatus.RESOLVED]


def test_firing_of_an_older_episode_after_a_newer_one_is_stale() -> None:
    newer = make_alert(AlertStatus.OPEN, started_at=EPISODE_2, title="newer title")
    older = make_alert(AlertStatus.RESOLVED, started_at=EPISODE_1, ended_at=at(60), title="older title")
    record = applied(None, note(newer, 2000, "newer"))
    # Delivered after the newer episode although it happened before: it must not win.
    record = applied(record, note(older, 2100, "older"))

    assert record.status is AlertStatus.OPEN
    assert record.endedAt is None
    assert record.title == "newer title"
    assert record.episodeStartedAt == EPISODE_2
    assert statuses(record) == [AlertStatus.OPEN]
    assert record.notificationCount == 2
    assert record.lastSeenAt == at(2100)
    assert record.startedAt == EPISODE_1  # the earliest startedAt is still kept


def test_an_older_episode_firing_after_a_newer_resolved_one_is_stale() -> None:
    record = applied(None, note(make_alert(AlertStatus.OPEN, started_at=EPISODE_2), 2000, "n1"))
    record = applied(
        record, note(make_alert(AlertStatus.RESOLVED, started_at=EPISODE_2, ended_at=at(2500)), 2600, "n2")
    )
    record = applied(record, note(make_alert(AlertStatus.OPEN, started_at=EPISODE_1), 2700, "n3"))

    assert record.status is AlertStatus.RESOLVED
    assert record.notificationCount == 3
    assert statuses(record) == [AlertStatus.OPEN, AlertStatus.RESOLVED]


def test_a_new_episode_after_resolved_opens_the_alert_again() -> None:
    record = applied(None, note(make_alert(AlertStatus.OPEN, started_at=EPISODE_1), 0, "n1"))
    record = applied(record, note(make_alert(AlertStatus.RESOLVED, started_at=EPISODE_1, ended_at=at(600)), 610, "n2"))
    record = applied(record, note(make_alert(AlertStatus.OPEN, started_at=EPISODE_2), 1900, "n3"))

    assert record.status is AlertStatus.OPEN
    assert record.endedAt is None
    assert record.episodeStartedAt == EPISODE_2
    assert record.startedAt == EPISODE_1
    assert statuses(record) == [AlertStatus.OPEN, AlertStatus.RESOLVED, AlertStatus.OPEN]
    assert record.notificationCount == 3


def test_episodic_ordering_ignores_arrival_time() -> None:
    """Within Alertmanager's ordering, a newer episode wins even when its receivedAt is older (a redrive)."""
    record = applied(None, note(make_alert(AlertStatus.RESOLVED, started_at=EPISODE_1, ended_at=at(60)), 500, "n1"))
    record = applied(record, note(make_alert(AlertStatus.OPEN, started_at=EPISODE_2), 400, "n2"))

    assert record.status is AlertStatus.OPEN
    assert record.episodeStartedAt == EPISODE_2


# --- other sources: ordered by arrival ----------------------------------------------------------------------


@pytest.mark.parametrize("source", [Source.DATADOG, Source.SENTRY, Source.NEWRELIC, Source.DYNATRACE])
def test_non_episodic_older_arrival_is_stale(source: Source) -> None:
    record = applied(None, note(make_alert(AlertStatus.RESOLVED, source=source, ended_at=at(90)), 100, "n1"))
    # A notification received before the one that set the status (e.g. redriven from the DLQ) is stale.
    record = applied(record, note(make_alert(AlertStatus.OPEN, source=source), 50, "n2"))

    assert record.status is AlertStatus.RESOLVED
    assert record.endedAt == at(90)
    assert record.statusReceivedAt == at(100)
    assert statuses(record) == [AlertStatus.RESOLVED]
    assert record.notificationCount == 2
    assert record.firstSeenAt == at(50)
    assert record.lastSeenAt == at(100)


def test_sentry_unresolved_after_resolved_reopens() -> None:
    """Sentry's startedAt is the issue's firstSeen, the same for every notification: arrival order decides."""
    started = "2026-11-27T08:14:03.123Z"
    record = applied(None, note(make_alert(AlertStatus.OPEN, source=Source.SENTRY, started_at=started), 0, "n1"))
    record = applied(
        record,
        note(make_alert(AlertStatus.RESOLVED, source=Source.SENTRY, started_at=started, ended_at=at(100)), 100, "n2"),
    )
    assert record.status is AlertStatus.RESOLVED

    record = applied(record, note(make_alert(AlertStatus.OPEN, source=Source.SENTRY, started_at=started), 200, "n3"))

    assert record.status is AlertStatus.OPEN
    assert record.endedAt is None
    assert statuses(record) == [AlertStatus.OPEN, AlertStatus.RESOLVED, AlertStatus.OPEN]
    assert record.statusReceivedAt == at(200)


def test_datadog_newer_arrival_applies_all_visible_fields() -> None:
    source = Source.DATADOG
    record = applied(None, note(make_alert(source=source), 0, "n1"), service=None)
    recovered = make_alert(
        AlertStatus.RESOLVED,
        source=source,
        ended_at=at(300),
        title="[Recovered] High error rate on checkout",
        severity=Severity.INFO,
        rawPayload={"event": "recovered"},
    )
    record = applied(record, note(recovered, 310, "n2"), service="checkout")

    assert record.status is AlertStatus.RESOLVED
    assert record.title == "[Recovered] High error rate on checkout"
    assert record.severity is Severity.INFO
    assert record.endedAt == at(300)
    assert record.rawPayload == {"event": "recovered"}
    assert record.service == "checkout"


def test_a_known_service_is_kept_when_a_notification_finds_none() -> None:
    record = applied(None, note(make_alert(source=Source.DATADOG), 0, "n1"), service="checkout")
    record = applied(record, note(make_alert(source=Source.DATADOG), 10, "n2"), service=None)

    assert record.service == "checkout"


# --- status history and flapping ----------------------------------------------------------------------------


def _toggle(record: AlertRecord | None, count: int, start: float, step: float, source: Source) -> AlertRecord:
    """`count` notifications alternating open/resolved (starting with resolved), `step` seconds apart."""
    assert record is not None
    for i in range(count):
        status = AlertStatus.RESOLVED if i % 2 == 0 else AlertStatus.OPEN
        when = start + i * step
        record = applied(record, note(make_alert(status, source=source, started_at=None), when, f"t{when}"))
    return record


def test_status_history_grows_only_on_a_change() -> None:
    source = Source.NEWRELIC
    record = applied(None, note(make_alert(source=source), 0, "n1"))
    record = applied(record, note(make_alert(source=source), 10, "n2"))
    record = applied(record, note(make_alert(AlertStatus.ACKNOWLEDGED, source=source), 20, "n3"))
    record = applied(record, note(make_alert(AlertStatus.ACKNOWLEDGED, source=source), 30, "n4"))
    record = applied(record, note(make_alert(AlertStatus.RESOLVED, source=source), 40, "n5"))

    assert [(c.status, c.at) for c in record.statusHistory] == [
        (AlertStatus.OPEN, at(0)),
        (AlertStatus.ACKNOWLEDGED, at(20)),
        (AlertStatus.RESOLVED, at(40)),
    ]
    assert record.notificationCount == 5


def test_flapping_when_status_changes_more_than_the_threshold_inside_the_window() -> None:
    source = Source.DATADOG
    record = applied(None, note(make_alert(source=source, started_at=None), 0, "n0"))

    at_threshold = _toggle(record, THRESHOLD, 60, 60, source)
    assert len(at_threshold.statusHistory) == THRESHOLD + 1  # the first status plus THRESHOLD changes
    assert at_threshold.flapping is False

    over = _toggle(record, THRESHOLD + 1, 60, 60, source)
    assert over.flapping is True


def test_changes_outside_the_window_do_not_count() -> None:
    source = Source.DATADOG
    record = applied(None, note(make_alert(source=source, started_at=None), 0, "n0"))
    # THRESHOLD + 1 changes, but spread so that no window of WINDOW seconds holds more than THRESHOLD.
    step = WINDOW / (THRESHOLD - 1) + 1
    record = _toggle(record, THRESHOLD + 1, 60, step, source)

    assert len(record.statusHistory) == THRESHOLD + 2
    assert record.flapping is False


def test_flapping_clears_once_the_changes_leave_the_window() -> None:
    source = Source.DATADOG
    record = applied(None, note(make_alert(source=source, started_at=None), 0, "n0"))
    record = _toggle(record, THRESHOLD + 2, 60, 30, source)
    assert record.flapping is True
    last = record.statusReceivedAt

    # The same status again, long after: no new change, and the old ones have aged out of the window.
    later = datetime.fromisoformat(last) + timedelta(seconds=WINDOW + 60)
    seconds = (later - T0).total_seconds()
    calm = applied(record, note(make_alert(record.status, source=source, started_at=None), seconds, "calm"))

    assert calm.flapping is False
    assert calm.statusHistory == record.statusHistory


def test_a_stale_notification_does_not_change_status_history_or_flapping() -> None:
    source = Source.DATADOG
    record = applied(None, note(make_alert(source=source, started_at=None), 0, "n0"))
    record = _toggle(record, THRESHOLD + 1, 60, 30, source)
    assert record.flapping is True

    stale = applied(record, note(make_alert(AlertStatus.ACKNOWLEDGED, source=source), 1, "stale"))

    assert stale.statusHistory == record.statusHistory
    assert stale.flapping is True
    assert stale.status is record.status
    assert stale.notificationCount == record.notificationCount + 1


def test_flapping_still_counts_every_change_once_the_history_is_capped() -> None:
    source = Source.DATADOG
    record = applied(None, note(make_alert(source=source, started_at=None), 0, "n0"))
    # Slow changes fill the history past its cap (ending resolved), then exactly THRESHOLD + 1 quick
    # changes (the first quick notification repeats "resolved", so it is no change).
    record = _toggle(record, STATUS_HISTORY_LIMIT + 5, 60, WINDOW, source)
    assert record.flapping is False
    assert record.status is AlertStatus.RESOLVED
    last = (datetime.fromisoformat(record.statusReceivedAt) - T0).total_seconds()
    quick = _toggle(record, THRESHOLD + 2, last + WINDOW * 2, 1, source)

    assert len(quick.statusHistory) == STATUS_HISTORY_LIMIT
    assert quick.flapping is True
