"""Where the service entities that impact.py walks come from: Port's catalog, or the local stack's copy.

The service blueprint is the user's own (its identifier is configurable), so a catalog is named by
blueprint and hands back plain Port entity dicts (`identifier`, `properties`, `relations`). With Port
credentials the bundle reads Port itself; without them (the local stack) it reads the entities it keeps in
the projection store instead of the ones it would have sent.
"""

from __future__ import annotations

from typing import Any, Protocol

from incident_core.port.client import PortClient
from incident_core.store.projections import ProjectionStore


class ServiceCatalog(Protocol):
    def service_entities(self) -> list[dict[str, Any]]:
        """Every entity of the service blueprint."""
        ...


class PortServiceCatalog:
    """The service entities in Port, read with one search (paged by the client)."""

    def __init__(self, client: PortClient, blueprint: str) -> None:
        self._client = client
        self._blueprint = blueprint

    def service_entities(self) -> list[dict[str, Any]]:
        # The client always sends a query, and Port does not document an empty `rules` list; the rule on the
        # `$blueprint` meta-property (the one in Port's own examples) holds for every entity searched here.
        every_entity = {"property": "$blueprint", "operator": "=", "value": self._blueprint}
        return self._client.search_entities(self._blueprint, [every_entity])


class LocalServiceCatalog:
    """The service entities the local stack keeps in its projection store."""

    def __init__(self, store: ProjectionStore, blueprint: str) -> None:
        self._store = store
        self._blueprint = blueprint

    def service_entities(self) -> list[dict[str, Any]]:
        return [projection.entity for projection in self._store.entities(self._blueprint)]
