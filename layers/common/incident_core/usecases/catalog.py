"""Where the entities the bundle reads come from: Port's catalog, or the local stack's copy.

Services (their dependencies, for impact), escalation policies, on-call rotations and responders (their
skills) are the user's data in Port. With Port credentials the bundle reads Port itself; without them
(the local stack) it reads the entities it keeps in the projection store. A directory is asked by
blueprint and hands back plain Port entity dicts (`identifier`, `properties`, `relations`).
"""

from __future__ import annotations

from typing import Any, Protocol

from incident_core.port.client import PortClient
from incident_core.store.projections import ProjectionStore, projection_key


class EntityDirectory(Protocol):
    def entities(self, blueprint: str) -> list[dict[str, Any]]:
        """Every entity of the blueprint."""
        ...

    def entity(self, blueprint: str, identifier: str) -> dict[str, Any] | None: ...


class PortDirectory:
    """Entities in Port, read with one search (paged by the client) or one get."""

    def __init__(self, client: PortClient) -> None:
        self._client = client

    def entities(self, blueprint: str) -> list[dict[str, Any]]:
        # The client always sends a query, and Port does not document an empty `rules` list; the rule on the
        # `$blueprint` meta-property (the one in Port's own examples) holds for every entity searched here.
        every_entity = {"property": "$blueprint", "operator": "=", "value": blueprint}
        return self._client.search_entities(blueprint, [every_entity])

    def entity(self, blueprint: str, identifier: str) -> dict[str, Any] | None:
        return self._client.get_entity(blueprint, identifier)


class LocalDirectory:
    """The entities the local stack keeps in its projection store."""

    def __init__(self, store: ProjectionStore) -> None:
        self._store = store

    def entities(self, blueprint: str) -> list[dict[str, Any]]:
        return [projection.entity for projection in self._store.entities(blueprint)]

    def entity(self, blueprint: str, identifier: str) -> dict[str, Any] | None:
        wanted = projection_key(blueprint, identifier)
        return next((p.entity for p in self._store.entities(blueprint) if p.key == wanted), None)
