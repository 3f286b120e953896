"""What travels on the alert queue: one normalized alert and the facts of its delivery."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from incident_core.models.alert import Alert


class AlertNotification(BaseModel):
    """One alert of one webhook request.

    `notificationId` is unique per request and alert (the API's request id and the alert's position),
    so a redelivery of the same queue message is recognised, while the same payload posted twice counts
    twice.
    """

    model_config = ConfigDict(frozen=True)

    alert: Alert
    notificationId: str
    receivedAt: str

    @property
    def message_group_id(self) -> str:
        """FIFO group: one alert's notifications are processed in order, other alerts in parallel."""
        return hashlib.sha256(self.alert.dedup_key.encode()).hexdigest()

    @property
    def message_deduplication_id(self) -> str:
        return hashlib.sha256(self.notificationId.encode()).hexdigest()
