"""The alert queue (SQS FIFO): one message per alert, grouped by deduplication key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from incident_core.errors import UpstreamError
from incident_core.models.notification import AlertNotification

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SEND_BATCH_LIMIT = 10


class AlertQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, notifications: Sequence[AlertNotification]) -> None:
        """Queue every notification or raise `UpstreamError` (the sender then retries the request)."""
        for start in range(0, len(notifications), SEND_BATCH_LIMIT):
            chunk = notifications[start : start + SEND_BATCH_LIMIT]
            entries: list[Any] = [
                {
                    "Id": str(index),
                    "MessageBody": notification.model_dump_json(),
                    "MessageGroupId": notification.message_group_id,
                    "MessageDeduplicationId": notification.message_deduplication_id,
                }
                for index, notification in enumerate(chunk)
            ]
            answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            failed = answer.get("Failed", [])
            if failed:
                # A retry with the same deduplication ids cannot double-queue the ones that succeeded.
                retry = [entries[int(f["Id"])] for f in failed]
                again = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=retry)
                if again.get("Failed"):
                    reasons = "; ".join(f.get("Message", f["Code"]) for f in again["Failed"])
                    raise UpstreamError(f"the alert queue refused {len(again['Failed'])} alerts: {reasons}")


def redrive(sqs: SQSClient, dead_letter_url: str, queue_url: str, *, limit: int | None = None) -> int:
    """Move parked messages back to the alert queue, keeping their FIFO group; returns how many.

    Each gets a fresh deduplication id (a second redrive within SQS's 5-minute window must not be
    dropped); the processor recognises a notification it already stored by its `notificationId`.
    """
    moved = 0
    while limit is None or moved < limit:
        batch = min(SEND_BATCH_LIMIT, limit - moved) if limit is not None else SEND_BATCH_LIMIT
        answer = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=batch,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["MessageGroupId"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message["Body"],
                MessageGroupId=message.get("Attributes", {}).get("MessageGroupId", message["MessageId"]),
                MessageDeduplicationId=uuid.uuid4().hex,
            )
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


REASON_ATTRIBUTE = "reason"


class DeadLetterQueue:
    """The alert queue's DLQ, for messages that can never be processed: each parked with the reason why."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def park(self, body: str, group_id: str, message_id: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageGroupId=group_id,
            MessageDeduplicationId=message_id,
            MessageAttributes={REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]}},
        )
