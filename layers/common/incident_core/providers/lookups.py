"""Name -> id answers from vendors, kept across steps.

Why: a step that names a person, a team or a status needs the vendor's id for it, and a webhook that names
a person by id needs their email; asking every time costs a request per step (and rate limit), and asking
once per step let the same person be found by name in one place and by email in another. One `Lookups`
lives as long as the container's `ProviderContext`, so a warm worker asks once per `ttl_seconds`.

Only answers are kept: a miss is asked again next time (the person may have been invited since).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

LOOKUP_TTL_SECONDS = 900.0
"""People, teams and vocabularies change rarely; a quarter of an hour bounds how stale an answer gets."""


@dataclass
class Lookups:
    ttl_seconds: float = LOOKUP_TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _found: dict[tuple[str, ...], tuple[float, str]] = field(default_factory=dict, repr=False)

    def get(self, key: tuple[str, ...], load: Callable[[], str | None], *, ttl: float | None = None) -> str | None:
        """The kept answer for `key`, else `load()`'s (kept for `ttl`, default `ttl_seconds`, when not None)."""
        now = self.clock()
        kept = self._found.get(key)
        if kept is not None and now < kept[0]:
            return kept[1]
        value = load()
        if value is not None:
            self.put(key, value, ttl=ttl)
        return value

    def put(self, key: tuple[str, ...], value: str, *, ttl: float | None = None) -> None:
        self._found[key] = (self.clock() + (self.ttl_seconds if ttl is None else ttl), value)

    def forget(self, key: tuple[str, ...]) -> None:
        self._found.pop(key, None)
