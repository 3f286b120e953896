"""support/: the helpers every layer may use, which use nothing of incident_core themselves."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from incident_core import support
from incident_core.support.paths import dig, mapping, sequence
from incident_core.support.time import format_utc, utc_from_epoch, utc_from_rfc3339

SUPPORT = Path(support.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


@pytest.mark.parametrize("path", sorted(SUPPORT.glob("*.py")), ids=lambda p: p.name)
def test_support_imports_nothing_of_incident_core_but_itself(path: Path) -> None:
    inward = {m for m in _imported_modules(path) if m.startswith("incident_core")}
    assert all(m.startswith("incident_core.support") for m in inward), inward


def test_format_utc_truncates_to_milliseconds_in_utc() -> None:
    moment = datetime(2026, 3, 14, 14, 56, 53, 589999, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert format_utc(moment) == "2026-03-14T09:26:53.589Z"
    assert format_utc(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("number", "units", "expected"),
    [
        (1795767240123, 1000, "2026-11-27T08:14:00.123Z"),
        (0, 1, "1970-01-01T00:00:00.000Z"),
        (-1, 1000, "1969-12-31T23:59:59.999Z"),
        (Decimal("1775645211.9999996"), 1, "2026-04-08T10:46:51.999Z"),
        (Decimal("-0.0005"), 1, "1970-01-01T00:00:00.000Z"),  # truncated toward zero, as written
    ],
)
def test_epochs_are_truncated_to_milliseconds(number: int | Decimal, units: int, expected: str) -> None:
    assert utc_from_epoch(number, units) == expected


@pytest.mark.parametrize(
    "number", [10**20, -(10**20), 10**4000, Decimal("1E+100000"), Decimal("NaN"), Decimal("-Infinity")]
)
def test_epochs_out_of_range_are_refused_without_big_arithmetic(number: int | Decimal) -> None:
    with pytest.raises(ValueError, match="out of range"):
        utc_from_epoch(number, 1000)


@pytest.mark.parametrize("value", ["2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-03-14T24:00:00Z"])
def test_days_and_times_that_do_not_exist_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        utc_from_rfc3339(value)


def test_leap_days_exist_in_leap_years() -> None:
    assert utc_from_rfc3339("2028-02-29T23:59:59.9999Z") == "2028-02-29T23:59:59.999Z"


def test_paths_give_none_or_empty_for_what_is_absent() -> None:
    document = {"a": [{"b": 1}], "s": "x"}
    assert (dig(document, "a", 0, "b"), dig(document, "a", 5, "b"), dig(document, "s", "b")) == (1, None, None)
    assert (mapping(document["s"]), mapping(document), sequence(document["s"]), sequence(document["a"])) == (
        {},
        document,
        [],
        document["a"],
    )
