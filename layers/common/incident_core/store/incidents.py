"""Incidents table: incidents, the correlation index that keeps them unique, and the action-run ledger.

- `INCIDENT#<id>`: the incident document, changed only by conditional writes on `version`.
- `CORR#<key>`: which incident owns a correlation key (an alert's key, or a service within the window).
  Claimed with a conditional put, so when many deliveries race exactly one opens the incident.
- `RUN#<runId>`: what a Port action run did, so a redelivered run repeats the answer, not the work.
- `EXT#<provider>#<id>`: the incident behind a provider's own id (its webhooks name incidents that way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from incident_core.models.incident import Incident
from incident_core.store.scan import scan_items
from incident_core.store.versioned import change_versioned, is_conditional_failure, put_versioned

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

INCIDENT_PREFIX = "INCIDENT#"
CORRELATION_PREFIX = "CORR#"
RUN_PREFIX = "RUN#"
EXTERNAL_PREFIX = "EXT#"


class CorrelationClaim(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    incidentId: str
    claimedAt: str
    open: bool


class RunRecord(BaseModel):
    """One action run: started, then finished with the answer Port was given."""

    model_config = ConfigDict(frozen=True)

    runId: str
    step: str
    startedAt: str
    status: str | None = None
    """SUCCESS or FAILURE once finished."""
    summary: str | None = None
    link: str | None = None
    incidentId: str | None = None
    logs: tuple[str, ...] = ()
    reported: bool = False
    """Port has the answer (or refused a new one because the run is finished): it is never sent again."""


class IncidentStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    # Incidents

    def get(self, identifier: str) -> Incident | None:
        item = self._table.get_item(Key={"pk": INCIDENT_PREFIX + identifier}, ConsistentRead=True).get("Item")
        return None if item is None else Incident.model_validate_json(str(item["doc"]))

    def change(
        self, identifier: str, update: Callable[[Incident | None], Incident | None]
    ) -> tuple[Incident | None, bool]:
        return change_versioned(lambda: self.get(identifier), self._put, update, what=f"incident {identifier}")

    def _put(self, incident: Incident, expected_version: int | None) -> None:
        item: dict[str, Any] = {
            "pk": INCIDENT_PREFIX + incident.identifier,
            "kind": "incident",
            "status": incident.status.value,
            "createdAt": incident.createdAt,
            "version": incident.version,
            "doc": incident.model_dump_json(),
        }
        put_versioned(self._table, item, expected_version=expected_version)

    def scan(self) -> Iterator[Incident]:
        for item in scan_items(self._table, key_prefix=INCIDENT_PREFIX):
            yield Incident.model_validate_json(str(item["doc"]))

    # Correlation

    def correlation(self, key: str) -> CorrelationClaim | None:
        item = self._table.get_item(Key={"pk": CORRELATION_PREFIX + key}, ConsistentRead=True).get("Item")
        return None if item is None else _claim(item)

    def claim(self, key: str, incident_id: str, *, now: str, stale_before: str | None) -> CorrelationClaim:
        """Make `incident_id` the owner of `key` unless an open, fresh claim exists; return the owner.

        A claim is free when absent, released (its incident resolved) or older than `stale_before`.
        """
        condition = "attribute_not_exists(pk) OR #open = :false"
        values: dict[str, Any] = {":false": False}
        if stale_before is not None:
            condition += " OR claimedAt < :stale"
            values[":stale"] = stale_before
        try:
            self._table.put_item(
                Item={"pk": CORRELATION_PREFIX + key, "incidentId": incident_id, "claimedAt": now, "open": True},
                ConditionExpression=condition,
                ExpressionAttributeNames={"#open": "open"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            owner = self.correlation(key)
            assert owner is not None  # the condition failed because a live claim exists
            return owner
        return CorrelationClaim(key=key, incidentId=incident_id, claimedAt=now, open=True)

    def release(self, key: str, incident_id: str) -> None:
        """Free `key` if `incident_id` still owns it (its incident was resolved)."""
        try:
            self._table.update_item(
                Key={"pk": CORRELATION_PREFIX + key},
                UpdateExpression="SET #open = :false",
                ConditionExpression="incidentId = :incident",
                ExpressionAttributeNames={"#open": "open"},
                ExpressionAttributeValues={":false": False, ":incident": incident_id},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    # The provider's own id of an incident, for its webhooks and for reconciling

    def link_external(self, provider: str, external_id: str, incident_id: str) -> None:
        self._table.put_item(Item={"pk": f"{EXTERNAL_PREFIX}{provider}#{external_id}", "incidentId": incident_id})

    def by_external(self, provider: str, external_id: str) -> str | None:
        key = {"pk": f"{EXTERNAL_PREFIX}{provider}#{external_id}"}
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        return None if item is None else str(item["incidentId"])

    # Action runs

    def start_run(self, run_id: str, step: str, *, now: str) -> RunRecord | None:
        """Record that the run started; None if it was already recorded (a redelivery)."""
        try:
            self._table.put_item(
                Item={"pk": RUN_PREFIX + run_id, "runId": run_id, "step": step, "startedAt": now},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return None
        return RunRecord(runId=run_id, step=step, startedAt=now)

    def run(self, run_id: str) -> RunRecord | None:
        item = self._table.get_item(Key={"pk": RUN_PREFIX + run_id}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return RunRecord.model_validate({k: v for k, v in item.items() if k != "pk"})

    def log_run(self, run_id: str, message: str) -> None:
        self._table.update_item(
            Key={"pk": RUN_PREFIX + run_id},
            UpdateExpression="SET logs = list_append(if_not_exists(logs, :empty), :line)",
            ExpressionAttributeValues={":empty": [], ":line": [message]},
        )

    def mark_run_reported(self, run_id: str) -> None:
        """Record that Port has the run's answer (a run refused before it was recorded has nothing to mark)."""
        try:
            self._table.update_item(
                Key={"pk": RUN_PREFIX + run_id},
                UpdateExpression="SET reported = :true",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":true": True},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def finish_run(
        self, run_id: str, *, status: str, summary: str, link: str | None, incident_id: str | None = None
    ) -> None:
        values: dict[str, Any] = {":status": status, ":summary": summary}
        expression = "SET #status = :status, summary = :summary"
        for name, value in (("link", link), ("incidentId", incident_id)):
            if value:
                expression += f", {name} = :{name}"
                values[f":{name}"] = value
        self._table.update_item(
            Key={"pk": RUN_PREFIX + run_id},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )


def _claim(item: dict[str, Any]) -> CorrelationClaim:
    return CorrelationClaim(
        key=str(item["pk"])[len(CORRELATION_PREFIX) :],
        incidentId=str(item["incidentId"]),
        claimedAt=str(item["claimedAt"]),
        open=bool(item["open"]),
    )
