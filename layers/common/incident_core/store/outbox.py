"""The Port outbox table: what has not reached Port yet, so that a Port outage costs time, never data.

- `ENTITY#<blueprint>#<identifier>`: the latest version of an entity Port has not written (`PendingEntity`),
  pending (due again at `nextAttemptAt`) or parked (refused, with Port's reason).
- `RUN#<runId>`: a finished action run's answer Port has not accepted yet (`PendingRunReport`).

An entity's item is replaced whenever a newer version waits, and removed only if it still holds the version
that was written (`visibleHash`), so a drain never deletes a version it did not send. The drain reads the due
items with a filtered scan: the table holds only the backlog, so the scan is as long as the outage made it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from incident_core.models.outbox import OutboxState, PendingEntity, PendingRunReport
from incident_core.store.versioned import is_conditional_failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

ENTITY_PREFIX = "ENTITY#"
RUN_PREFIX = "RUN#"
BATCH_GET_LIMIT = 100


def entity_key(blueprint: str, identifier: str) -> str:
    return f"{ENTITY_PREFIX}{blueprint}#{identifier}"


class OutboxStore:
    def __init__(self, resource: DynamoDBServiceResource, table: Table) -> None:
        self._resource = resource
        self._table = table

    # Entities

    def entities(self, blueprint: str, identifiers: Iterable[str]) -> dict[str, PendingEntity]:
        """The waiting entries of these entities of `blueprint`, by identifier."""
        keys = list(dict.fromkeys(entity_key(blueprint, identifier) for identifier in identifiers))
        found: dict[str, PendingEntity] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: Any = {
                self._table.name: {
                    "Keys": [{"pk": key} for key in keys[start : start + BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self._resource.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self._table.name, []):
                    entry = PendingEntity.model_validate_json(str(item["doc"]))
                    found[entry.identifier] = entry
                request = answer.get("UnprocessedKeys") or None
        return found

    def entity(self, blueprint: str, identifier: str) -> PendingEntity | None:
        item = self._table.get_item(Key={"pk": entity_key(blueprint, identifier)}, ConsistentRead=True).get("Item")
        return None if item is None else PendingEntity.model_validate_json(str(item["doc"]))

    def replace_entity(self, entry: PendingEntity, *, expected_hash: str | None) -> None:
        """Keep `entry`; when an entry was read before (`expected_hash`), only if it is still that one or gone.

        A newer version kept meanwhile by another writer wins: it is the one Port must end up with.
        """
        if expected_hash is None:
            self._table.put_item(Item=_entity_item(entry))
            return
        self._conditional(
            lambda: self._table.put_item(
                Item=_entity_item(entry),
                ConditionExpression="attribute_not_exists(pk) OR visibleHash = :expected",
                ExpressionAttributeValues={":expected": expected_hash},
            )
        )

    def settle_entity(self, blueprint: str, identifier: str, *, expected_hash: str) -> None:
        """Port holds the entity now: forget the entry read with `expected_hash`, unless a newer one replaced it."""
        self._conditional(
            lambda: self._table.delete_item(
                Key={"pk": entity_key(blueprint, identifier)},
                ConditionExpression="visibleHash = :expected",
                ExpressionAttributeValues={":expected": expected_hash},
            )
        )

    def due_entities(self, now: str) -> list[PendingEntity]:
        """Pending entities due at `now`, oldest due first."""
        items = self._scan(
            Attr("pk").begins_with(ENTITY_PREFIX)
            & Attr("state").eq(OutboxState.PENDING.value)
            & Attr("nextAttemptAt").lte(now)
        )
        entries = [PendingEntity.model_validate_json(str(item["doc"])) for item in items]
        return sorted(entries, key=lambda entry: entry.nextAttemptAt)

    def count(self) -> dict[OutboxState, int]:
        """How many entities wait, per state (the drain's metrics)."""
        counts = dict.fromkeys(OutboxState, 0)
        for item in self._scan(Attr("pk").begins_with(ENTITY_PREFIX)):
            counts[OutboxState(str(item["state"]))] += 1
        return counts

    # Action-run answers

    def put_run(self, report: PendingRunReport) -> None:
        self._table.put_item(Item=_run_item(report))

    def settle_run(self, run_id: str) -> None:
        self._table.delete_item(Key={"pk": RUN_PREFIX + run_id})

    def due_runs(self, now: str) -> list[PendingRunReport]:
        items = self._scan(Attr("pk").begins_with(RUN_PREFIX) & Attr("nextAttemptAt").lte(now))
        return sorted(
            (PendingRunReport.model_validate_json(str(item["doc"])) for item in items), key=lambda r: r.nextAttemptAt
        )

    def _scan(self, condition: Any) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"FilterExpression": condition, "ConsistentRead": True}
        while True:
            page = self._table.scan(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _conditional(write: Any) -> None:
        try:
            write()
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise


def _entity_item(entry: PendingEntity) -> dict[str, Any]:
    return {
        "pk": entity_key(entry.blueprint, entry.identifier),
        "state": entry.state.value,
        "visibleHash": entry.visibleHash,
        "nextAttemptAt": entry.nextAttemptAt,
        "doc": entry.model_dump_json(),
    }


def _run_item(report: PendingRunReport) -> dict[str, Any]:
    return {"pk": RUN_PREFIX + report.runId, "nextAttemptAt": report.nextAttemptAt, "doc": report.model_dump_json()}
