"""Placeholder until the dynatrace normalizer lands."""

from typing import Any


def parse(headers: Any, payload: Any) -> Any:
    raise NotImplementedError
