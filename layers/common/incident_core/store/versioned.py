"""Optimistic concurrency for one DynamoDB item holding a versioned pydantic document.

Every change reads the item, applies a pure function, and writes on the condition that the version is
still the one read; a lost race re-reads and re-applies, so concurrent changes are serialized, not lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from botocore.exceptions import ClientError

from incident_core.errors import Conflict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

MAX_WRITE_ATTEMPTS = 5


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self: ...


V = TypeVar("V", bound=Versioned)


def is_conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def put_versioned(table: Table, item: dict[str, Any], *, expected_version: int | None) -> None:
    """Write `item`; only if absent (`expected_version` None) or still at `expected_version`."""
    if expected_version is None:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
    else:
        table.put_item(
            Item=item,
            ConditionExpression="version = :expected",
            ExpressionAttributeValues={":expected": expected_version},
        )


def change_versioned(
    read: Callable[[], V | None],
    write: Callable[[V, int | None], None],
    update: Callable[[V | None], V | None],
    *,
    what: str,
) -> tuple[V | None, bool]:
    """Apply `update` to the current document; returns the result and whether it was written.

    `update` returning None writes nothing. `write(new, expected_version)` must raise ClientError with
    ConditionalCheckFailedException when the version moved.
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        current = read()
        changed = update(current)
        if changed is None:
            return current, False
        expected = current.version if current is not None else None
        new: V = changed.model_copy(update={"version": (expected or 0) + 1})
        try:
            write(new, expected)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            continue
        return new, True
    raise Conflict(f"{what} kept changing under {MAX_WRITE_ATTEMPTS} concurrent writers; try again")
