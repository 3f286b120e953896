"""Lambda's SQS event source mapping, locally: poll a queue, invoke the function, delete what succeeded."""

from __future__ import annotations

import threading
from typing import Any

from devstack.runtime import LocalFunction

BATCH_SIZE = 10


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class QueuePoller:
    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, function: LocalFunction) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._function = function
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller-{function.spec.logical_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch and hand it to the function; returns how many messages it got."""
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        try:
            result = self._function.invoke(sqs_event(self._queue_arn, messages))
        except Exception as exc:  # like Lambda: the whole batch returns to the queue
            print(f"  {self._function.spec.logical_id} failed: {exc.__class__.__name__}: {exc}", flush=True)
            return len(messages)
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), BATCH_SIZE):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + BATCH_SIZE])
                ],
            )
        note = f", {len(failed)} left for retry" if failed else ""
        print(f"  {self._function.spec.logical_id}: {len(done)} processed{note}", flush=True)
        return len(messages)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # keep polling: a local hiccup must not stop the stack
                print(f"  poller error: {exc}", flush=True)
                self._stopping.wait(1)
