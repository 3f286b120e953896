"""Stateful stand-ins for the incident tools: what exists, its status, its notes, and what the vendor would
report back by webhook. Each answers like its vendor's API for the requests our adapters make (prism checks
the shape of those requests against the vendor's OpenAPI description; these keep the state).

`LostAnswers` wraps one: every write reaches the vendor, and the first answer to each distinct write is lost
(a read timeout), as on a real network where the vendor acted but its answer never came back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class LostAnswers(httpx.BaseTransport):
    vendor: Handler
    lost: list[str] = field(default_factory=list)
    _seen: set[tuple[str, str, bytes]] = field(default_factory=set)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self.vendor(request)
        key = (request.method, str(request.url), request.content)
        if request.method in WRITES and key not in self._seen:
            self._seen.add(key)
            self.lost.append(f"{request.method} {request.url.path}")
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else {}


def answer(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)
