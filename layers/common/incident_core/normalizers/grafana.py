"""Placeholder until the grafana normalizer lands."""

from typing import Any


def parse(headers: Any, payload: Any) -> Any:
    raise NotImplementedError
