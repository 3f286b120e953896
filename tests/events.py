"""The sample requests in events/, as tests and the README use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"
WEBHOOK_EVENTS = EVENTS / "webhooks"


def example_secrets() -> dict[str, Any]:
    return json.loads((EVENTS / "webhook-secrets.example.json").read_text())  # type: ignore[no-any-return]


def webhook_event(source: str, name: str) -> tuple[dict[str, str], bytes]:
    """Headers and exact body bytes of `events/webhooks/<source>/<name>`."""
    folder = WEBHOOK_EVENTS / source
    headers = json.loads((folder / f"{name}.headers.json").read_text())
    return headers, (folder / f"{name}.body.json").read_bytes()


def webhook_event_names(source: str) -> list[str]:
    return sorted(p.name.removesuffix(".body.json") for p in (WEBHOOK_EVENTS / source).glob("*.body.json"))


def body_with(body: bytes, **changes: Any) -> bytes:
    """The body with top-level keys replaced (None removes the key)."""
    payload = json.loads(body)
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return json.dumps(payload).encode()
