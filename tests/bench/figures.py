"""One figure of `make bench`: a measurement, its baseline measured in the same run, and the goal for their ratio.

Every benchmark module offers a group: a function returning its figures and the details it wants saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    measured: float
    baseline: float
    baseline_name: str
    unit: str
    goal: float | None = None
    """The ratio must stay at or below this; None for a figure shown for information."""

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        return "ok" if self.ratio <= self.goal else "OVER"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "verdict": self.verdict}


Group = Callable[[], tuple[list[Figure], dict[str, Any]]]
"""Runs one benchmark: its figures for the table, and details for .bench/results.json."""


def table(figures: Sequence[Figure]) -> str:
    headers = ["figure", "measured", "baseline (same run)", "ratio", "goal", ""]
    rows = [
        [
            figure.name,
            f"{_number(figure.measured)} {figure.unit}",
            f"{_number(figure.baseline)} {figure.unit} {figure.baseline_name}",
            f"{figure.ratio:.2f}",
            "" if figure.goal is None else f"<= {figure.goal:g}",
            figure.verdict,
        ]
        for figure in figures
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join("  " + "  ".join(_aligned(line, widths)).rstrip() for line in lines)


def _aligned(cells: list[str], widths: list[int]) -> list[str]:
    """Names and words to the left, numbers to the right."""
    return [
        cell.ljust(width) if column in (0, 2, 5) else cell.rjust(width)
        for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
