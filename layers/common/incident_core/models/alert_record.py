"""The stored state of one alert (one deduplication key) and how a notification changes it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from incident_core.models.alert import Alert, AlertStatus, Severity, Source, dedup_key
from incident_core.models.notification import AlertNotification

RECENT_NOTIFICATION_IDS = 50
STATUS_HISTORY_LIMIT = 50

EPISODIC_SOURCES = frozenset({Source.PROMETHEUS, Source.GRAFANA})
"""Sources whose `startedAt` marks one firing episode of the alert (Alertmanager's `startsAt`): a
notification of an older episode is stale, and within one episode `resolved` is final. Other sources
are ordered by arrival (the FIFO queue keeps it per key; `receivedAt` keeps it across redrives)."""


class StatusChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: AlertStatus
    at: str


class AlertRecord(BaseModel):
    """An alert as the store keeps it: the seed's fields plus its delivery history."""

    model_config = ConfigDict(frozen=True)

    source: Source
    externalId: str
    identifier: str
    title: str
    description: str
    severity: Severity
    status: AlertStatus
    startedAt: str | None = None
    endedAt: str | None = None
    rawPayload: dict[str, Any] = Field(default_factory=dict)
    episodeStartedAt: str | None = None
    statusReceivedAt: str
    firstSeenAt: str
    lastSeenAt: str
    notificationCount: int = 1
    statusHistory: tuple[StatusChange, ...] = ()
    flapping: bool = False
    stale: bool = False
    """Resolved by the expiry schedule after a long silence, not by its source; the next notification clears it."""
    service: str | None = None
    incidentId: str | None = None
    recentNotificationIds: tuple[str, ...] = ()
    version: int = 0

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.source, self.externalId)

    def as_alert(self) -> Alert:
        return Alert(
            title=self.title,
            description=self.description,
            severity=self.severity,
            status=self.status,
            source=self.source,
            externalId=self.externalId,
            startedAt=self.startedAt,
            endedAt=self.endedAt,
            rawPayload=self.rawPayload,
        )


def _earliest(*times: str | None) -> str | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None  # RFC 3339 UTC with fixed width sorts as time


def _is_stale(current: AlertRecord, incoming: AlertNotification) -> bool:
    alert = incoming.alert
    if alert.source in EPISODIC_SOURCES and current.episodeStartedAt and alert.startedAt:
        if alert.startedAt != current.episodeStartedAt:
            return alert.startedAt < current.episodeStartedAt
        # A resolve guessed from silence (`stale`) is not final: a notification of its episode reopens it.
        return current.status is AlertStatus.RESOLVED and not current.stale and alert.status is not AlertStatus.RESOLVED
    return incoming.receivedAt < current.statusReceivedAt


def _flapping(record: AlertRecord, now: str, threshold: int, window_seconds: int) -> bool:
    """More status changes than `threshold` inside the window; the first sighting is no change."""
    since = datetime.fromisoformat(now) - timedelta(seconds=window_seconds)
    changes = [c for c in record.statusHistory if c.at != record.firstSeenAt]
    return sum(1 for change in changes if datetime.fromisoformat(change.at) >= since) > threshold


def apply_notification(
    current: AlertRecord | None,
    incoming: AlertNotification,
    *,
    service: str | None,
    flap_threshold: int,
    flap_window_seconds: int,
) -> AlertRecord | None:
    """The record after `incoming`; None when it is a redelivery that must change nothing.

    Pure: the store calls it inside a conditional write and retries with fresh state on a conflict.
    """
    alert = incoming.alert
    if current is None:
        return AlertRecord(
            **alert.model_dump(),
            identifier=alert.identifier,
            episodeStartedAt=alert.startedAt,
            statusReceivedAt=incoming.receivedAt,
            firstSeenAt=incoming.receivedAt,
            lastSeenAt=incoming.receivedAt,
            statusHistory=(StatusChange(status=alert.status, at=incoming.receivedAt),),
            service=service,
            recentNotificationIds=(incoming.notificationId,),
        )
    if incoming.notificationId in current.recentNotificationIds:
        return None

    update: dict[str, Any] = {
        "notificationCount": current.notificationCount + 1,
        "lastSeenAt": max(current.lastSeenAt, incoming.receivedAt),
        "firstSeenAt": min(current.firstSeenAt, incoming.receivedAt),
        "startedAt": _earliest(current.startedAt, alert.startedAt),
        "recentNotificationIds": (*current.recentNotificationIds, incoming.notificationId)[-RECENT_NOTIFICATION_IDS:],
        "version": current.version,
    }
    if not _is_stale(current, incoming):
        history = current.statusHistory
        if alert.status is not current.status:
            history = (*history, StatusChange(status=alert.status, at=incoming.receivedAt))[-STATUS_HISTORY_LIMIT:]
        update |= {
            "title": alert.title,
            "description": alert.description,
            "severity": alert.severity,
            "status": alert.status,
            "endedAt": alert.endedAt,
            "rawPayload": alert.rawPayload,
            "episodeStartedAt": alert.startedAt or current.episodeStartedAt,
            "statusReceivedAt": incoming.receivedAt,
            "statusHistory": history,
            "service": service or current.service,
            "stale": False,
        }
    changed = current.model_copy(update=update)
    return changed.model_copy(
        update={"flapping": _flapping(changed, incoming.receivedAt, flap_threshold, flap_window_seconds)}
    )
