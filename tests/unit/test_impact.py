"""Up- and downstream services of an incident's associated services: `impacted_services` over chains,
diamonds, cycles and self-loops, its depth limit, services the catalog does not know, the shapes a
relation value takes, and the order of the result.
"""

from __future__ import annotations

from typing import Any

import pytest

from incident_core.usecases.impact import ImpactedServices, impacted_services


def _service(identifier: str, *calls: str, relation: str = "dependencies") -> dict[str, Any]:
    """A Port service entity whose `relation` lists the services it calls."""
    return {"identifier": identifier, "title": identifier.title(), "relations": {relation: list(calls)}}


CHAIN = [_service("a", "b"), _service("b", "c"), _service("c", "d"), _service("d", "e"), _service("e")]


def test_a_chain_has_callers_upstream_and_callees_downstream() -> None:
    result = impacted_services(["c"], CHAIN)

    assert result == ImpactedServices(associated=("c",), upstream=("b", "a"), downstream=("d", "e"))
    assert result.impacted == ("b", "a", "d", "e")


def test_the_ends_of_a_chain_have_one_side_only() -> None:
    assert impacted_services(["a"], CHAIN).upstream == ()
    assert impacted_services(["a"], CHAIN).downstream == ("b", "c", "d")
    assert impacted_services(["e"], CHAIN).upstream == ("d", "c", "b")
    assert impacted_services(["e"], CHAIN).downstream == ()


def test_several_associated_services_exclude_each_other_and_share_services_between_sides() -> None:
    result = impacted_services(["b", "d"], CHAIN)

    assert result.upstream == ("a", "c")
    assert result.downstream == ("c", "e")
    assert result.impacted == ("a", "c", "e")


def test_a_diamond_reaches_the_shared_service_once_at_its_shortest_distance() -> None:
    diamond = [_service("api", "auth", "cart"), _service("auth", "db"), _service("cart", "db"), _service("db")]

    assert impacted_services(["api"], diamond).downstream == ("auth", "cart", "db")
    assert impacted_services(["db"], diamond).upstream == ("auth", "cart", "api")
    assert impacted_services(["api", "cart"], diamond).downstream == ("auth", "db")


def test_a_cycle_terminates_and_lists_each_service_once_per_side() -> None:
    cycle = [_service("a", "b"), _service("b", "c"), _service("c", "a")]

    result = impacted_services(["a"], cycle, max_depth=10)

    assert result.downstream == ("b", "c")
    assert result.upstream == ("c", "b")
    assert result.impacted == ("c", "b")


def test_a_self_loop_is_no_dependency() -> None:
    services = [_service("a", "a", "b"), _service("b", "b")]

    result = impacted_services(["a"], services)

    assert result.upstream == ()
    assert result.downstream == ("b",)
    assert impacted_services(["b"], services).upstream == ("a",)


@pytest.mark.parametrize(
    ("max_depth", "downstream"),
    [
        (0, ()),
        (1, ("b",)),
        (2, ("b", "c")),
        (3, ("b", "c", "d")),
        (4, ("b", "c", "d", "e")),
        (99, ("b", "c", "d", "e")),
    ],
)
def test_the_walk_stops_at_max_depth(max_depth: int, downstream: tuple[str, ...]) -> None:
    assert impacted_services(["a"], CHAIN, max_depth=max_depth).downstream == downstream


def test_the_default_depth_is_three_hops() -> None:
    assert impacted_services(["a"], CHAIN).downstream == ("b", "c", "d")
    assert impacted_services(["e"], CHAIN).upstream == ("d", "c", "b")


def test_a_negative_depth_is_refused() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        impacted_services(["a"], CHAIN, max_depth=-1)


def test_a_service_missing_from_the_catalog_stays_associated_without_edges() -> None:
    result = impacted_services(["ghost", "c"], CHAIN)

    assert result.associated == ("ghost", "c")
    assert result.upstream == ("b", "a")
    assert result.downstream == ("d", "e")
    assert impacted_services(["ghost"], CHAIN) == ImpactedServices(associated=("ghost",), upstream=(), downstream=())


def test_a_relation_to_a_service_missing_from_the_catalog_still_counts() -> None:
    services = [_service("web", "legacy-billing"), _service("mobile", "web")]

    result = impacted_services(["web"], services)

    assert result.downstream == ("legacy-billing",)
    assert result.upstream == ("mobile",)


@pytest.mark.parametrize(
    ("relations", "downstream"),
    [
        ({"dependencies": "b"}, ("b",)),
        ({"dependencies": ["b", "c"]}, ("b", "c")),
        ({"dependencies": []}, ()),
        ({"dependencies": None}, ()),
        ({}, ()),
        (None, ()),
    ],
    ids=["single-relation-string", "many-relation-list", "empty-list", "null", "relation-absent", "relations-null"],
)
def test_a_relation_value_may_be_a_string_a_list_or_nothing(
    relations: dict[str, Any] | None, downstream: tuple[str, ...]
) -> None:
    services = [{"identifier": "a", "relations": relations}, _service("b"), _service("c")]

    assert impacted_services(["a"], services).downstream == downstream


def test_an_entity_without_relations_key_or_identifier_adds_no_edges() -> None:
    services: list[dict[str, Any]] = [{"identifier": "a"}, {"relations": {"dependencies": ["a"]}}, _service("b", "a")]

    assert impacted_services(["a"], services).upstream == ("b",)


def test_only_the_configured_relation_makes_edges() -> None:
    services = [
        {"identifier": "a", "relations": {"calls": ["b"], "dependencies": ["c"], "owningTeam": "payments"}},
        _service("b"),
        _service("c"),
    ]

    assert impacted_services(["a"], services, relation="calls").downstream == ("b",)
    assert impacted_services(["a"], services).downstream == ("c",)


def test_order_is_by_distance_then_identifier_whatever_the_catalog_order() -> None:
    services = [
        _service("root", "zeta", "alpha", "mid"),
        _service("zeta", "aardvark"),
        _service("alpha"),
        _service("mid", "zulu"),
        _service("caller-z", "root"),
        _service("caller-a", "root"),
    ]
    expected = ImpactedServices(
        associated=("root",), upstream=("caller-a", "caller-z"), downstream=("alpha", "mid", "zeta", "aardvark", "zulu")
    )

    assert impacted_services(["root"], services) == expected
    assert impacted_services(["root"], list(reversed(services))) == expected


def test_associated_services_keep_their_order_once_each() -> None:
    assert impacted_services(["c", "a", "c"], CHAIN).associated == ("c", "a")


def test_the_catalog_is_read_once_so_a_generator_will_do() -> None:
    result = impacted_services(iter(["c"]), (service for service in CHAIN))

    assert result.upstream == ("b", "a")
    assert result.downstream == ("d", "e")
