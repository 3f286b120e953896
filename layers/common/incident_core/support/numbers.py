"""JSON numbers read exactly: a fraction keeps the digits it was written with.

`LiteralFloat` is a float everywhere (comparisons, pydantic, `json.dumps`), so a parsed document needs no
rebuild before it is stored or sent; code that must not round through binary (epoch times, identifiers
written as numbers) reads `literal` instead.
"""

from __future__ import annotations

import math
from decimal import Decimal

OUT_OF_RANGE = "a number beyond the range of a double"


class LiteralFloat(float):
    """A JSON fraction: its float value, plus the literal as written in the document."""

    __slots__ = ("literal",)
    literal: str

    def __new__(cls, literal: str) -> LiteralFloat:
        number = float.__new__(cls, literal)
        if not math.isfinite(number):
            raise ValueError(OUT_OF_RANGE)
        number.literal = literal
        return number


def exact_decimal(value: float | int | Decimal) -> Decimal:
    """The number as written: a `LiteralFloat`'s literal; any other float by its shortest repr."""
    if isinstance(value, LiteralFloat):
        return Decimal(value.literal)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)
