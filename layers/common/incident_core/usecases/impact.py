"""Which services an incident reaches beyond the ones it is associated with, up- and downstream.

Incidents are rarely tied to services when opened; once responders associate the failing ones, Port's
catalog says which services call them and which they call (the seed's "Associate the Incident with
Impacted Services"). The graph is one relation of the service blueprint, `dependencies` by default: a
service lists the services it calls (its downstream). Callers, transitively, are upstream: they feel the
failure. Callees, transitively, are downstream: the cause may sit there. The walk is depth-limited so a
densely connected catalog does not flag half the company, and cycle-safe because call graphs have cycles.

Pure: the service entities come from a `ServiceCatalog` (catalog.py); the result feeds the incident's
`impactedServices` relation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_DEPENDENCY_RELATION = "dependencies"
DEFAULT_MAX_DEPTH = 3

Edges = Mapping[str, set[str]]


@dataclass(frozen=True)
class ImpactedServices:
    """Services reached from `associated`, nearest first (then by identifier); neither side repeats them."""

    associated: tuple[str, ...]
    upstream: tuple[str, ...]
    """Services that call the associated ones, directly or through others."""
    downstream: tuple[str, ...]
    """Services the associated ones call, directly or through others."""

    @property
    def impacted(self) -> tuple[str, ...]:
        """Upstream then downstream, each service once (a cycle puts a service on both sides)."""
        return tuple(dict.fromkeys((*self.upstream, *self.downstream)))


def impacted_services(
    associated: Iterable[str],
    service_entities: Iterable[Mapping[str, Any]],
    *,
    relation: str = DEFAULT_DEPENDENCY_RELATION,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> ImpactedServices:
    """Up- and downstream of `associated` within `max_depth` hops of the `relation` between service entities.

    `service_entities` are Port entity dicts (`identifier`, `relations`). A service missing from them stays
    associated and simply has no edges; a relation pointing at a service missing from them still counts.
    """
    if max_depth < 0:
        raise ValueError("max_depth must not be negative")
    start = tuple(dict.fromkeys(associated))
    calls, callers = _dependency_edges(service_entities, relation)
    return ImpactedServices(
        associated=start,
        upstream=_reachable(start, callers, max_depth),
        downstream=_reachable(start, calls, max_depth),
    )


def _dependency_edges(entities: Iterable[Mapping[str, Any]], relation: str) -> tuple[Edges, Edges]:
    """Who each service calls, and who calls it (a self-loop is harmless: the walk visits a service once)."""
    calls: dict[str, set[str]] = {}
    callers: dict[str, set[str]] = {}
    for entity in entities:
        caller = entity.get("identifier")
        if not isinstance(caller, str):
            continue
        for callee in _related_identifiers(entity, relation):
            calls.setdefault(caller, set()).add(callee)
            callers.setdefault(callee, set()).add(caller)
    return calls, callers


def _related_identifiers(entity: Mapping[str, Any], relation: str) -> list[str]:
    """A relation's value as Port gives it: one identifier (single relation), a list (many), or None."""
    relations = entity.get("relations")
    value = relations.get(relation) if isinstance(relations, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _reachable(start: Sequence[str], edges: Edges, max_depth: int) -> tuple[str, ...]:
    """Breadth-first from all of `start` at once: each service gets its shortest distance, visited once."""
    distance = dict.fromkeys(start, 0)
    frontier = list(start)
    for depth in range(1, max_depth + 1):
        reached = [target for node in frontier for target in edges.get(node, ()) if target not in distance]
        for target in reached:
            distance.setdefault(target, depth)
        frontier = list(dict.fromkeys(reached))
    return tuple(sorted((node for node, hops in distance.items() if hops > 0), key=lambda node: (distance[node], node)))
