"""Identifiers in URL paths: a segment must stay one segment that means itself.

Percent-encoding (`quote(value, safe="")`) keeps a `/` in an identifier inside its segment, but leaves `.`
and `..` as they are, and an empty identifier leaves an empty segment: `/v1/actions/runs/..` is
`/v1/actions` to any server that normalizes the path (RFC 3986 §5.2.4). Such paths are refused, never sent.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from incident_core.errors import MalformedRequest

DOT_SEGMENTS = frozenset({"", ".", ".."})


def is_path_segment(identifier: str) -> bool:
    """Whether `identifier`, percent-encoded, is a path segment that names it (not empty, `.` or `..`)."""
    return identifier not in DOT_SEGMENTS


def path_segment(identifier: str, field: str) -> str:
    """`identifier` percent-encoded as one path segment; `MalformedRequest` naming `field` if it cannot be one."""
    if not is_path_segment(identifier):
        raise MalformedRequest(field, f"{identifier!r} cannot be an identifier in a URL path")
    return quote(identifier, safe="")


def check_path(url: str) -> None:
    """Refuse a request path or URL, as built (percent-encoded, query allowed), with an empty, `.` or `..`
    segment. Check before the request is built: httpx resolves dot segments, silently changing the target."""
    path = urlsplit(url).path
    if path in {"", "/"}:
        return
    for segment in path.removeprefix("/").split("/"):
        if unquote(segment) in DOT_SEGMENTS:
            raise MalformedRequest(
                "identifier", f"the path {path} has an empty, '.' or '..' segment: an identifier in it is not usable"
            )
