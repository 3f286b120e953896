"""Project alerts into Port, writing only what a person would see change.

The visible hash covers the entity without `rawPayload`: a Datadog notification carries a new event id
every time, yet nobody looking at the alert would see a difference. Without Port credentials the
entities are kept in the projections table, so the CLI still shows what Port would hold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from incident_core.errors import BulkUpsertError
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident
from incident_core.retry import is_retryable_status
from incident_core.store.projections import Projection, ProjectionStore, projection_key
from incident_core.usecases.postmortem import render_timeline

ALERT_BLUEPRINT = "alert"
INCIDENT_BLUEPRINT = "incident"
SERVICE_RELATIONS = frozenset({"service", "services", "impactedServices"})
"""Relations to the user's service blueprint: values come from monitoring labels and may not exist in Port."""

logger = Logger(child=True)


class EntitySink(Protocol):
    """Where entities go: the Port client satisfies it."""

    def upsert_entities(self, blueprint: str, entities: list[dict[str, Any]]) -> None: ...


def stale_properties(record: AlertRecord) -> dict[str, Any]:
    """The Port properties a stale alert shows instead of its own: the seed blueprint has no property
    for it, so the description starts by saying why the alert was resolved (usecases/housekeeping.py)."""
    if not record.stale:
        return {}
    note = f"Resolved as stale: no notification since {record.lastSeenAt}"
    return {"description": f"{note}\n\n{record.description}" if record.description else note}


def alert_entity(record: AlertRecord) -> dict[str, Any]:
    relations: dict[str, Any] = {}
    if record.service:
        relations["service"] = record.service
    if record.incidentId:
        relations["incident"] = record.incidentId
    return {
        "identifier": record.identifier,
        "title": record.title[:300],
        "properties": record.as_alert().seed_fields() | stale_properties(record),
        "relations": relations,
    }


def incident_entity(incident: Incident) -> dict[str, Any]:
    """The incident as Port's `incident` blueprint holds it (names follow Port's incident pattern)."""
    properties: dict[str, Any] = {
        "title": incident.title,
        "description": incident.description,
        "status": incident.status.value,
        "severity": incident.severity.value,
        "urgency": incident.urgency,
        "provider": incident.provider.value,
        "externalId": incident.externalId,
        "url": incident.url,
        "assignee": incident.assignee,
        "escalationLevel": incident.escalationLevel,
        "escalationPolicy": incident.escalationPolicy,
        "alerted_at": incident.createdAt,
        "acknowledgedAt": incident.acknowledgedAt,
        "resolved_at": incident.resolvedAt,
        "timeline": render_timeline(incident),
        "postmortem_content": incident.postmortem,
        "mttaSeconds": incident.mtta_seconds,
        "mttrSeconds": incident.mttr_seconds,
    }
    return {
        "identifier": incident.identifier,
        "title": incident.title[:300],
        "properties": {k: v for k, v in properties.items() if v is not None},
        "relations": {"services": list(incident.services), "impactedServices": list(incident.impactedServices)},
    }


def visible_hash(entity: dict[str, Any]) -> str:
    visible = {**entity, "properties": {k: v for k, v in entity["properties"].items() if k != "rawPayload"}}
    return hashlib.sha256(json.dumps(visible, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Projector:
    def __init__(self, store: ProjectionStore, sink: EntitySink | None, clock: Callable[[], str]) -> None:
        self._store = store
        self._sink = sink
        self._clock = clock

    def project_alerts(self, records: Sequence[AlertRecord]) -> int:
        """Write the alerts whose visible state changed since the last projection; return how many."""
        entities = {record.identifier: alert_entity(record) for record in records}
        return self.project(ALERT_BLUEPRINT, list(entities.values()))

    def project_incidents(self, incidents: Sequence[Incident]) -> int:
        entities = {incident.identifier: incident_entity(incident) for incident in incidents}
        return self.project(INCIDENT_BLUEPRINT, list(entities.values()))

    def project(self, blueprint: str, entities: list[dict[str, Any]]) -> int:
        known = self._store.hashes(projection_key(blueprint, e["identifier"]) for e in entities)
        # A locally kept entity is marked, so it is written once Port credentials are configured.
        mark = "" if self._sink is not None else "local:"
        changed = [
            (entity, digest)
            for entity in entities
            if known.get(projection_key(blueprint, entity["identifier"])) != (digest := mark + visible_hash(entity))
        ]
        if not changed:
            return 0
        if self._sink is not None:
            self._write(blueprint, [entity for entity, _ in changed])
        now = self._clock()
        self._store.save(
            Projection(
                blueprint=blueprint,
                identifier=entity["identifier"],
                visibleHash=digest,
                entity=entity,
                projectedAt=now,
                syncedToPort=self._sink is not None,
            )
            for entity, digest in changed
        )
        return len(changed)

    def _write(self, blueprint: str, entities: list[dict[str, Any]]) -> None:
        """Upsert; entities Port refuses for a related service it does not know go again without those.

        The service comes from a label the monitoring tool sent; a typo or a service not yet in the
        catalog must not keep the alert out of Port (nor create an empty service entity there).
        """
        assert self._sink is not None
        try:
            self._sink.upsert_entities(blueprint, entities)
        except BulkUpsertError as error:
            refused = {f.identifier for f in error.failures if not is_retryable_status(f.status_code)}
            if error.retryable or not refused:
                raise
            retry = [
                {**e, "relations": {k: v for k, v in e["relations"].items() if k not in SERVICE_RELATIONS}}
                for e in entities
                if e["identifier"] in refused and SERVICE_RELATIONS & e.get("relations", {}).keys()
            ]
            if len(retry) != len(refused):
                raise
            logger.warning(
                "Port refused alerts related to unknown services; written without the relation",
                extra={"identifiers": sorted(refused)},
            )
            self._sink.upsert_entities(blueprint, retry)
