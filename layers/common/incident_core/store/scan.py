"""Reading a whole table, page by page: the operator's listings and the scheduled jobs (not hot paths)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


def scan_items(table: Table, *, key_prefix: str = "") -> Iterator[dict[str, Any]]:
    """Every item whose `pk` starts with `key_prefix`, following DynamoDB's pagination."""
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        for item in page.get("Items", []):
            if str(item.get("pk", "")).startswith(key_prefix):
                yield item
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
