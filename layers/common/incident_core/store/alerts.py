"""Alerts table: one item per deduplication key, changed only by conditional writes on `version`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from incident_core.models.alert_record import AlertRecord
from incident_core.store.scan import scan_items
from incident_core.store.versioned import change_versioned, put_versioned

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

ALERT_KEY_PREFIX = "ALERT#"


def alert_key(dedup_key: str) -> str:
    return f"{ALERT_KEY_PREFIX}{dedup_key}"


class AlertStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, dedup_key: str) -> AlertRecord | None:
        item = self._table.get_item(Key={"pk": alert_key(dedup_key)}, ConsistentRead=True).get("Item")
        return None if item is None else AlertRecord.model_validate_json(str(item["doc"]))

    def change(
        self, dedup_key: str, update: Callable[[AlertRecord | None], AlertRecord | None]
    ) -> tuple[AlertRecord | None, bool]:
        """Apply `update` to the current record with optimistic concurrency (see `change_versioned`)."""
        return change_versioned(lambda: self.get(dedup_key), self._put, update, what=f"alert {dedup_key}")

    def _put(self, record: AlertRecord, expected_version: int | None) -> None:
        item: dict[str, Any] = {
            "pk": alert_key(record.dedup_key),
            "kind": "alert",
            "source": record.source.value,
            "status": record.status.value,
            "lastSeenAt": record.lastSeenAt,
            "version": record.version,
            "doc": record.model_dump_json(),
        }
        if record.service:
            item["service"] = record.service
        put_versioned(self._table, item, expected_version=expected_version)

    def scan(self) -> Iterator[AlertRecord]:
        """Every alert; the CLI's listing and the scheduled jobs."""
        for item in scan_items(self._table, key_prefix=ALERT_KEY_PREFIX):
            yield AlertRecord.model_validate_json(str(item["doc"]))
