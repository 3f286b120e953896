"""Project alerts and incidents into Port, writing only what a person would see change, and never losing one.

The visible hash covers the entity without `rawPayload`: a Datadog notification carries a new event id
every time, yet nobody looking at the alert would see a difference. Without Port credentials the
entities are kept in the projections table, so the CLI still shows what Port would hold.

With Port, every entity is first checked against its blueprint (the check Port applies, `port/schema.py`);
then the changed ones are written in bulk, and each one's fate is its own:
- written: the projections table records it as in Port;
- Port could not take it now (down, rate limited, its request failed): it waits in the outbox, pending, and
  `drain` (a schedule) sends it again with backoff for as long as that lasts; a newer version replaces it;
- refused (by the check, or by Port for the entity itself): parked in the outbox with the reason, counted,
  and sent again only when the entity changes.
No outcome fails, delays or re-sends the other entities of the batch. Relations to services Port does not
have (named by a monitoring label, not in the catalog) are left out before sending; an alert waits for its
incident to reach Port first, and goes without that relation when its incident was refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from incident_core.errors import EntityFailure, UpstreamError
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident
from incident_core.models.outbox import OutboxState, PendingEntity
from incident_core.port.resources import BUNDLE_INCIDENT_BLUEPRINT
from incident_core.port.schema import BlueprintSchema, bundle_blueprint
from incident_core.store.outbox import OutboxStore
from incident_core.store.projections import Projection, ProjectionStore, projection_key
from incident_core.support.time import format_utc
from incident_core.usecases.postmortem import render_timeline

ALERT_BLUEPRINT = "alert"
SERVICE_RELATIONS = frozenset({"service", "services", "impactedServices"})
"""Relations to the user's service blueprint: values come from monitoring labels and may not exist in Port."""
INCIDENT_RELATION = "incident"
RETRY_BASE_SECONDS = 15.0
RETRY_MAX_SECONDS = 120.0
"""Backoff of a pending entity: 15 s, 30 s, 60 s, then every 2 minutes for as long as Port does not take it."""

logger = Logger(child=True)


class EntitySink(Protocol):
    """Where entities go: the Port client satisfies it."""

    def write_entities(self, blueprint: str, entities: list[dict[str, Any]]) -> list[EntityFailure]: ...

    def existing_entities(self, blueprint: str, identifiers: set[str]) -> set[str]: ...


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
        relations[INCIDENT_RELATION] = record.incidentId
    properties = record.as_alert().seed_fields() | stale_properties(record)
    if record.startedAt is None:
        # The seed's blueprint requires startedAt, and some payloads carry none (legacy Grafana, a Datadog
        # recovery seen first, Alertmanager's zero time): the earliest moment the bundle saw the alert stands
        # in for it, and the description says so.
        note = (
            f"Started at is when this bundle first received the alert ({record.firstSeenAt}): "
            f"the {record.source.display_name} notification carried no start time."
        )
        description = properties.get("description")
        properties |= {
            "startedAt": record.firstSeenAt,
            "description": f"{note}\n\n{description}" if description else note,
        }
    return {
        "identifier": record.identifier,
        "title": record.title[:300],
        "properties": properties,
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


def retry_delay(attempts: int) -> timedelta:
    """How long a pending entity waits after its `attempts`-th failed attempt."""
    return timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)))


@dataclass
class ProjectionTally:
    """What happened to the entities handed to Port, for the caller's metrics."""

    written: int = 0
    deferred: int = 0
    """Kept pending in the outbox: Port could not take them yet."""
    refused: int = 0
    """Parked in the outbox: refused by the blueprint check or by Port."""


@dataclass(frozen=True)
class _Version:
    entity: dict[str, Any]
    hash: str


@dataclass
class Projector:
    store: ProjectionStore
    sink: EntitySink | None
    clock: Callable[[], str]
    outbox: OutboxStore
    incident_blueprint: str = BUNDLE_INCIDENT_BLUEPRINT
    """The incident blueprint's identifier in Port (the IncidentBlueprint parameter)."""
    service_blueprint: str = "service"
    tally: ProjectionTally = field(default_factory=ProjectionTally)
    _port_down: EntityFailure | None = field(default=None, init=False)
    """Why Port took nothing of this invocation's last write: later writes wait in the outbox instead."""

    def project_alerts(self, records: Sequence[AlertRecord]) -> int:
        """Write the alerts whose visible state changed since the last projection; return how many."""
        entities = {record.identifier: alert_entity(record) for record in records}
        return self._project(ALERT_BLUEPRINT, list(entities.values()))

    def project_incidents(self, incidents: Sequence[Incident]) -> int:
        entities = {incident.identifier: incident_entity(incident) for incident in incidents}
        return self._project(self.incident_blueprint, list(entities.values()))

    def drain(self, *, limit: int = 2000) -> ProjectionTally:
        """Send the pending entities that are due again, incidents before the alerts that relate to them."""
        if self.sink is None:
            return ProjectionTally()
        before = ProjectionTally(**vars(self.tally))
        due = self.outbox.due_entities(self.clock())[:limit]
        order = {self.incident_blueprint: 0, ALERT_BLUEPRINT: 1}
        for blueprint in sorted({entry.blueprint for entry in due}, key=lambda name: (order.get(name, 2), name)):
            entries = {entry.identifier: entry for entry in due if entry.blueprint == blueprint}
            versions = [_Version(entry.entity, entry.visibleHash) for entry in entries.values()]
            written = self._deliver(blueprint, versions, entries)
            self._remember(blueprint, [v for v in versions if v.entity["identifier"] in written], written)
        return ProjectionTally(
            written=self.tally.written - before.written,
            deferred=self.tally.deferred - before.deferred,
            refused=self.tally.refused - before.refused,
        )

    def _project(self, blueprint: str, entities: list[dict[str, Any]]) -> int:
        known = self.store.hashes(projection_key(blueprint, e["identifier"]) for e in entities)
        # A locally kept entity is marked, so it is written once Port credentials are configured.
        mark = "" if self.sink is not None else "local:"
        changed = [
            _Version(entity, digest)
            for entity in entities
            if known.get(projection_key(blueprint, entity["identifier"])) != (digest := mark + visible_hash(entity))
        ]
        if not changed:
            return 0
        written: set[str] = {version.entity["identifier"] for version in changed}
        if self.sink is not None:
            waiting = self.outbox.entities(blueprint, written)
            written = self._deliver(blueprint, changed, waiting)
        self._remember(blueprint, changed, written if self.sink is not None else set())
        return len(written)

    def _remember(self, blueprint: str, versions: list[_Version], in_port: set[str]) -> None:
        """The projections table records each version as what Port holds (if in `in_port`) or should hold."""
        now = self.clock()
        self.store.save(
            Projection(
                blueprint=blueprint,
                identifier=version.entity["identifier"],
                visibleHash=version.hash,
                entity=version.entity,
                projectedAt=now,
                syncedToPort=version.entity["identifier"] in in_port,
            )
            for version in versions
        )

    def _deliver(self, blueprint: str, versions: list[_Version], waiting: dict[str, PendingEntity]) -> set[str]:
        """Send what can go now; keep the rest in the outbox, pending or parked. Returns the identifiers written.

        `waiting` holds the outbox entries of these entities as read: an entity with a pending entry only
        replaces it (the drain sends versions in order), and every entry is changed only if it is unchanged.
        """
        schema = self._schema(blueprint)
        to_send: list[_Version] = []
        for version in versions:
            identifier = version.entity["identifier"]
            entry = waiting.get(identifier)
            problems = schema.problems(version.entity) if schema is not None else []
            if problems:
                self._park(
                    blueprint,
                    version,
                    entry,
                    f"Not sent: it does not fit blueprint {blueprint!r}: {'; '.join(problems)}",
                )
            elif entry is not None and entry.state is OutboxState.PENDING and entry.visibleHash != version.hash:
                self._defer(blueprint, version, entry, entry.reason, attempted=False)
            else:
                to_send.append(version)
        to_send = self._after_their_incidents(blueprint, to_send, waiting)
        failures = self._write(blueprint, [version.entity for version in to_send])
        written: set[str] = set()
        for version in to_send:
            identifier = version.entity["identifier"]
            failure = failures.get(identifier)
            entry = waiting.get(identifier)
            if failure is None:
                written.add(identifier)
                self.tally.written += 1
                if entry is not None:
                    self.outbox.settle_entity(blueprint, identifier, expected_hash=entry.visibleHash)
            elif failure.retryable:
                self._defer(
                    blueprint,
                    version,
                    entry,
                    f"Port did not take it ({failure.status_code}): {failure.message}",
                    attempted=True,
                )
            else:
                self._park(blueprint, version, entry, f"Port refused it ({failure.status_code}): {failure.message}")
        return written

    def _schema(self, blueprint: str) -> BlueprintSchema | None:
        if blueprint == ALERT_BLUEPRINT:
            return bundle_blueprint("alert")
        if blueprint == self.incident_blueprint:
            return bundle_blueprint("incident")
        return None

    def _after_their_incidents(
        self, blueprint: str, versions: list[_Version], waiting: dict[str, PendingEntity]
    ) -> list[_Version]:
        """Alerts whose incident is not in Port: wait for a pending one, go without the relation to a parked one."""
        if blueprint != ALERT_BLUEPRINT:
            return versions
        incidents = {
            str(v.entity["relations"][INCIDENT_RELATION])
            for v in versions
            if v.entity["relations"].get(INCIDENT_RELATION)
        }
        if not incidents:
            return versions
        held = self.outbox.entities(self.incident_blueprint, incidents)
        ready: list[_Version] = []
        for version in versions:
            incident = held.get(str(version.entity["relations"].get(INCIDENT_RELATION)))
            if incident is None:
                ready.append(version)
            elif incident.state is OutboxState.PENDING:
                reason = f"Waiting for its incident {incident.identifier!r} to reach Port ({incident.reason})"
                self._defer(blueprint, version, waiting.get(version.entity["identifier"]), reason, attempted=True)
            else:
                relations = {k: v for k, v in version.entity["relations"].items() if k != INCIDENT_RELATION}
                ready.append(_Version({**version.entity, "relations": relations}, version.hash))
        return ready

    def _write(self, blueprint: str, entities: list[dict[str, Any]]) -> dict[str, EntityFailure]:
        """Upsert, relating entities only to services Port has.

        The service comes from a label the monitoring tool sent; a typo or a service not yet in the
        catalog must not keep the alert out of Port (nor create an empty service entity there). So the
        services are looked up first, and an entity Port still refuses with 404, a related entity missing (a
        service deleted meanwhile), goes again without its service relations.
        """
        assert self.sink is not None
        if not entities:
            return {}
        if self._port_down is not None:
            down = self._port_down
            return {e["identifier"]: replace(down, identifier=e["identifier"]) for e in entities}
        try:
            entities = self._with_known_services(entities)
        except UpstreamError as error:
            if error.retryable:
                self._port_down = EntityFailure("", error.status_code or 0, error.message, retryable=True)
                return self._write(blueprint, entities)
            # The service blueprint itself is missing or unreadable: relations to it could not be written.
            logger.warning("services could not be looked up in Port", extra={"reason": error.message})
            entities = [_without_services(entity) for entity in entities]
        failures = {failure.identifier: failure for failure in self.sink.write_entities(blueprint, entities)}
        if len(failures) == len(entities) and all(failure.retryable for failure in failures.values()):
            self._port_down = next(iter(failures.values()))
        retry = [
            _without_services(e)
            for e in entities
            if e["identifier"] in failures
            and failures[e["identifier"]].status_code == HTTPStatus.NOT_FOUND
            and SERVICE_RELATIONS & e.get("relations", {}).keys()
        ]
        if retry:
            logger.warning(
                "Port refused entities related to services; sending them again without those relations",
                extra={"identifiers": sorted(e["identifier"] for e in retry)},
            )
            for entity in retry:
                del failures[entity["identifier"]]
            failures.update((f.identifier, f) for f in self.sink.write_entities(blueprint, retry))
        return failures

    def _with_known_services(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self.sink is not None
        named = {
            service
            for entity in entities
            for key, value in entity["relations"].items()
            if key in SERVICE_RELATIONS
            for service in ([value] if isinstance(value, str) else value or [])
        }
        if not named:
            return entities
        known = self.sink.existing_entities(self.service_blueprint, named)
        if known >= named:
            return entities
        logger.info("services not in Port are left out of relations", extra={"services": sorted(named - known)})
        return [_with_services(entity, known) for entity in entities]

    def _defer(
        self, blueprint: str, version: _Version, entry: PendingEntity | None, reason: str, *, attempted: bool
    ) -> None:
        """Keep `version` pending: due after the backoff of one more attempt, or when the entry was due."""
        pending = entry if entry is not None and entry.state is OutboxState.PENDING else None
        attempts = (pending.attempts if pending is not None else 0) + (1 if attempted else 0)
        due = (
            entry.nextAttemptAt
            if entry is not None and not attempted
            else format_utc(datetime.fromisoformat(self.clock()) + retry_delay(attempts))
        )
        self._keep(blueprint, version, entry, pending, OutboxState.PENDING, reason, attempts, due)
        self.tally.deferred += 1

    def _park(self, blueprint: str, version: _Version, entry: PendingEntity | None, reason: str) -> None:
        attempts = (entry.attempts if entry is not None else 0) + 1
        self._keep(blueprint, version, entry, entry, OutboxState.PARKED, reason, attempts, "")
        self.tally.refused += 1

    def _keep(
        self,
        blueprint: str,
        version: _Version,
        entry: PendingEntity | None,
        failing_since: PendingEntity | None,
        state: OutboxState,
        reason: str,
        attempts: int,
        due: str,
    ) -> None:
        """Put `version` in the outbox in `state`, in place of `entry` (as read); `failing_since` keeps its `since`."""
        identifier = version.entity["identifier"]
        self.outbox.replace_entity(
            PendingEntity(
                blueprint=blueprint,
                identifier=identifier,
                entity=version.entity,
                visibleHash=version.hash,
                state=state,
                reason=reason,
                since=failing_since.since if failing_since is not None else self.clock(),
                attempts=attempts,
                nextAttemptAt=due,
            ),
            expected_hash=None if entry is None else entry.visibleHash,
        )
        log = logger.warning if state is OutboxState.PARKED else logger.info
        log(f"Port entity {state.value}", extra={"blueprint": blueprint, "identifier": identifier, "reason": reason})


def _with_services(entity: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """`entity` related only to the `known` services."""
    relations: dict[str, Any] = {}
    for key, value in entity["relations"].items():
        if key not in SERVICE_RELATIONS:
            relations[key] = value
        elif isinstance(value, list):
            relations[key] = [service for service in value if service in known]
        elif value in known:
            relations[key] = value
    return {**entity, "relations": relations}


def _without_services(entity: dict[str, Any]) -> dict[str, Any]:
    return {**entity, "relations": {k: v for k, v in entity["relations"].items() if k not in SERVICE_RELATIONS}}
