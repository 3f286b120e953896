"""What was last projected into Port, per entity: a hash of what a person sees, and the entity itself.

The hash decides whether Port needs a write; without Port credentials the stored entity is the local
copy that the CLI shows instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from incident_core.store.scan import scan_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

BATCH_GET_LIMIT = 100


class Projection(BaseModel):
    model_config = ConfigDict(frozen=True)

    blueprint: str
    identifier: str
    visibleHash: str
    entity: dict[str, Any]
    projectedAt: str
    syncedToPort: bool

    @property
    def key(self) -> str:
        return projection_key(self.blueprint, self.identifier)


def projection_key(blueprint: str, identifier: str) -> str:
    return f"{blueprint}#{identifier}"


class ProjectionStore:
    def __init__(self, resource: DynamoDBServiceResource, table: Table) -> None:
        self._resource = resource
        self._table = table

    def hashes(self, keys: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            request: Any = {
                self._table.name: {
                    "Keys": [{"pk": key} for key in wanted[start : start + BATCH_GET_LIMIT]],
                    "ProjectionExpression": "pk, visibleHash",
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self._resource.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self._table.name, []):
                    found[str(item["pk"])] = str(item["visibleHash"])
                request = answer.get("UnprocessedKeys") or None
        return found

    def save(self, projections: Iterable[Projection]) -> None:
        with self._table.batch_writer(overwrite_by_pkeys=["pk"]) as batch:
            for projection in projections:
                batch.put_item(
                    Item={
                        "pk": projection.key,
                        "blueprint": projection.blueprint,
                        "visibleHash": projection.visibleHash,
                        "projectedAt": projection.projectedAt,
                        "syncedToPort": projection.syncedToPort,
                        "entity": json.dumps(projection.entity, separators=(",", ":")),
                    }
                )

    def entities(self, blueprint: str | None = None) -> Iterator[Projection]:
        for item in scan_items(self._table):
            if blueprint is None or item.get("blueprint") == blueprint:
                yield Projection(
                    blueprint=str(item["blueprint"]),
                    identifier=str(item["pk"]).partition("#")[2],
                    visibleHash=str(item["visibleHash"]),
                    entity=json.loads(str(item["entity"])),
                    projectedAt=str(item["projectedAt"]),
                    syncedToPort=bool(item["syncedToPort"]),
                )
