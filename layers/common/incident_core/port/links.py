"""Links to Port's web app, from the API URL of the organization's region."""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def app_url(api_url: str) -> str:
    """`https://api.port.io` → `https://app.port.io`; the US region and legacy getport.io hosts alike."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.startswith("api."):
        host = "app." + host[len("api.") :]
    return f"{parts.scheme or 'https'}://{host}"


def entity_url(api_url: str, blueprint: str, identifier: str) -> str:
    return f"{app_url(api_url)}/{quote(blueprint)}Entity?identifier={quote(identifier, safe='')}"
