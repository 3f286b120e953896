"""Housekeeping schedules: resolve alerts that went silent, and raise an alert when a heartbeat stops.

Stale expiry. A tool that never sends "resolved" (or whose resolve was lost) would leave its alert open
for ever. An open or acknowledged alert without a notification for `ALERT_STALE_AFTER_MINUTES` is
resolved and marked `stale`, and Port's description says why. The expiry is a guess made from silence,
so the source always wins over it: the write is conditional and re-checks `lastSeenAt` (a notification
stored meanwhile stops it); `statusReceivedAt` is left as it was, so a notification received after the
last stored one still applies (also one that was waiting in the queue while the expiry ran); and
`apply_notification` lets a notification of the same episode reopen a stale record and clear the mark.

Heartbeats. Each run compares every heartbeat's watched alert with the clock. While it is missing, a
firing notification of a synthetic alert (the heartbeat's source, externalId `heartbeat:<name>`) goes
on the alert queue, every run: it is processed like any alert (stored, correlated, auto-triggered,
projected) and, being refreshed, is never expired as stale. Once the watched alert is seen again, the
resolved notification of the synthetic alert follows. Notification ids carry the run's minute, so a
retried run is a redelivery to the processor and counts once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from incident_core.models.alert import Alert, AlertStatus, Source
from incident_core.models.alert_record import STATUS_HISTORY_LIMIT, AlertRecord, StatusChange
from incident_core.models.heartbeat import Heartbeat
from incident_core.models.notification import AlertNotification
from incident_core.store.alerts import AlertStore
from incident_core.support.time import format_utc
from incident_core.usecases.services import TAG_PREFIX

if TYPE_CHECKING:
    from incident_core.usecases.projection import Projector

STALE_REPROJECTION = timedelta(hours=1)
"""Alerts resolved as stale this recently are projected again by every run: the projector writes only
what Port does not have yet, so a run that could not reach Port is made good by the next one."""
HEARTBEAT_GRACE = timedelta(minutes=1)
"""Slack on top of `everyMinutes`: the schedule runs once a minute and the queue takes a moment."""


# Stale expiry


def resolve_as_stale(current: AlertRecord | None, *, silent_since: str, now: str) -> AlertRecord | None:
    """`current` resolved as stale at `now`; None when it is resolved or was seen since `silent_since`.

    Pure: the store re-applies it to the fresh record after losing a race with the processor.
    """
    if current is None or current.status is AlertStatus.RESOLVED or current.lastSeenAt >= silent_since:
        return None
    history = (*current.statusHistory, StatusChange(status=AlertStatus.RESOLVED, at=now))[-STATUS_HISTORY_LIMIT:]
    return current.model_copy(
        update={"status": AlertStatus.RESOLVED, "endedAt": now, "statusHistory": history, "stale": True}
    )


@dataclass
class ExpiryOutcome:
    expired: list[AlertRecord] = field(default_factory=list)
    projected: int = 0


def expire_stale_alerts(
    alerts: AlertStore, projector: Callable[[], Projector], *, stale_after: timedelta, now: datetime
) -> ExpiryOutcome:
    """Resolve every open or acknowledged alert silent for longer than `stale_after`; project them to Port."""
    silent_since = format_utc(now - stale_after)
    ended_at = format_utc(now)
    reproject_since = format_utc(now - STALE_REPROJECTION)
    outcome = ExpiryOutcome()
    recently_expired: list[AlertRecord] = []
    for record in alerts.scan():
        if record.status is not AlertStatus.RESOLVED and record.lastSeenAt < silent_since:
            changed, written = alerts.change(
                record.dedup_key, partial(resolve_as_stale, silent_since=silent_since, now=ended_at)
            )
            if written and changed is not None:
                outcome.expired.append(changed)
        elif record.stale and (record.endedAt or "") >= reproject_since:
            recently_expired.append(record)
    if outcome.expired or recently_expired:
        outcome.projected = projector().project_alerts([*outcome.expired, *recently_expired])
    return outcome


# Heartbeats


class NotificationQueue(Protocol):
    """Where raised heartbeat alerts go: the alert queue (`incident_core.queue.AlertQueue`)."""

    def send(self, notifications: Sequence[AlertNotification]) -> None: ...


@dataclass
class HeartbeatOutcome:
    missing: list[str] = field(default_factory=list)
    """Heartbeats whose alert was raised (or kept raised) by this run."""
    recovered: list[str] = field(default_factory=list)
    """Heartbeats seen again, whose alert this run resolved."""


def check_heartbeats(
    alerts: AlertStore,
    queue: NotificationQueue,
    heartbeats: Sequence[Heartbeat],
    *,
    service_mapping: Mapping[Source, Sequence[str]],
    now: datetime,
    run_at: datetime | None = None,
) -> HeartbeatOutcome:
    """Raise the alert of every missing heartbeat and resolve the alert of every recovered one.

    `run_at` names the run (the schedule's time, the same on a retry; default `now`): its minute goes
    into the notification ids, so running twice in one minute counts once.
    """
    outcome = HeartbeatOutcome()
    window = (run_at or now).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    by_title = _latest_by_title(alerts, heartbeats)
    notifications: list[AlertNotification] = []
    for heartbeat in heartbeats:
        watched = alerts.get(heartbeat.alertKey) if heartbeat.alertKey else by_title.get(_title_key(heartbeat))
        raised = alerts.get(heartbeat.dedup_key)
        limit = timedelta(minutes=heartbeat.everyMinutes) + HEARTBEAT_GRACE
        alive = watched if watched is not None and now - _time(watched.lastSeenAt) <= limit else None
        payload = _raw_payload(heartbeat, watched, service_mapping.get(heartbeat.source, ()))
        if alive is None:
            notifications.append(_missing(heartbeat, watched, raised, payload, now, window))
            outcome.missing.append(heartbeat.name)
        elif raised is not None and raised.status is not AlertStatus.RESOLVED:
            notifications.append(_recovered(heartbeat, alive, raised, payload, now, window))
            outcome.recovered.append(heartbeat.name)
    queue.send(notifications)
    return outcome


def _title_key(heartbeat: Heartbeat) -> tuple[Source, str | None]:
    return heartbeat.source, heartbeat.title


def _latest_by_title(
    alerts: AlertStore, heartbeats: Sequence[Heartbeat]
) -> dict[tuple[Source, str | None], AlertRecord]:
    """For heartbeats matched by title: the latest open alert of that source and title (else the latest)."""
    wanted = {_title_key(h) for h in heartbeats if h.title is not None}
    latest: dict[tuple[Source, str | None], AlertRecord] = {}
    if not wanted:
        return latest  # matching by key only: no scan
    for record in alerts.scan():
        key: tuple[Source, str | None] = (record.source, record.title)
        if key in wanted and (key not in latest or _recency(record) > _recency(latest[key])):
            latest[key] = record
    return latest


def _recency(record: AlertRecord) -> tuple[bool, str]:
    return record.status is not AlertStatus.RESOLVED, record.lastSeenAt


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _missing(
    heartbeat: Heartbeat,
    watched: AlertRecord | None,
    raised: AlertRecord | None,
    payload: dict[str, Any],
    now: datetime,
    window: str,
) -> AlertNotification:
    """The firing notification; its `startedAt` (the episode) stays the same while the heartbeat is missing."""
    if watched is not None:
        started = format_utc(_time(watched.lastSeenAt) + timedelta(minutes=heartbeat.everyMinutes))
        seen = f"last seen at {watched.lastSeenAt}"
    else:
        started = raised.episodeStartedAt if raised is not None and raised.episodeStartedAt else format_utc(now)
        seen = "never seen"
    alert = Alert(
        title=f"Heartbeat missing: {heartbeat.name}",
        description=(
            f"No notification of {heartbeat.watched} from {heartbeat.source.display_name} within "
            f"{heartbeat.everyMinutes} minute(s): {seen}."
        ),
        severity=heartbeat.severity,
        status=AlertStatus.OPEN,
        source=heartbeat.source,
        externalId=heartbeat.external_id,
        startedAt=started,
        rawPayload=payload,
    )
    return AlertNotification(
        alert=alert, notificationId=f"{heartbeat.external_id}:missing:{window}", receivedAt=format_utc(now)
    )


def _recovered(
    heartbeat: Heartbeat,
    watched: AlertRecord,
    raised: AlertRecord,
    payload: dict[str, Any],
    now: datetime,
    window: str,
) -> AlertNotification:
    """The resolved notification, in the episode of the raised alert (so it closes that episode)."""
    alert = Alert(
        title=f"Heartbeat missing: {heartbeat.name}",
        description=(
            f"Recovered: {heartbeat.watched} from {heartbeat.source.display_name} seen again at {watched.lastSeenAt}."
        ),
        severity=heartbeat.severity,
        status=AlertStatus.RESOLVED,
        source=heartbeat.source,
        externalId=heartbeat.external_id,
        startedAt=raised.episodeStartedAt,
        endedAt=watched.lastSeenAt,
        rawPayload=payload,
    )
    return AlertNotification(
        alert=alert, notificationId=f"{heartbeat.external_id}:recovered:{window}", receivedAt=format_utc(now)
    )


def _raw_payload(heartbeat: Heartbeat, watched: AlertRecord | None, service_paths: Sequence[str]) -> dict[str, Any]:
    """The heartbeat and what was last seen of its alert; the configured service sits where the source's
    service mapping looks first, so the processor relates the raised alert to it like any other alert."""
    payload: dict[str, Any] = {
        "heartbeat": {
            **heartbeat.model_dump(mode="json", exclude_none=True),
            "watchedAlert": watched.identifier if watched is not None else None,
            "lastSeenAt": watched.lastSeenAt if watched is not None else None,
        }
    }
    if heartbeat.service and service_paths:
        payload = _placed(service_paths[0], heartbeat.service) | payload
    return payload


def _placed(path: str, value: str) -> dict[str, Any]:
    """A payload in which `incident_core.usecases.services.read_path(payload, path)` finds `value`."""
    if path.startswith(TAG_PREFIX):
        location, _, key = path[len(TAG_PREFIX) :].rpartition(":")
        path, value = location, f"{key}:{value}"
    placed: Any = value
    for step in reversed([int(s) if s.isdigit() else s for s in path.split(".") if s]):
        placed = [*([None] * step), placed] if isinstance(step, int) else {step: placed}
    return placed if isinstance(placed, dict) else {}
