"""Identifiers in URL paths: a segment must stay one segment that means itself.

Percent-encoding (`quote(value, safe="")`) keeps a `/` in an identifier inside its segment, but leaves `.`
and `..` as they are, and an empty identifier leaves an empty segment: `/v1/actions/runs/..` is
`/v1/actions` to httpx and to any server that normalizes the path (RFC 3986 §5.2.4). Callers refuse such
paths before a request is built.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

DOT_SEGMENTS = frozenset({"", ".", ".."})


def is_path_segment(identifier: str) -> bool:
    """Whether `identifier`, percent-encoded, is a path segment that names it (not empty, `.` or `..`)."""
    return identifier not in DOT_SEGMENTS


def unsafe_segment(url: str) -> str | None:
    """The first empty, `.` or `..` segment of a path or URL as built (percent-encoded, query allowed), if any."""
    path = urlsplit(url).path
    if path in {"", "/"}:
        return None
    return next((segment for segment in path.removeprefix("/").split("/") if unquote(segment) in DOT_SEGMENTS), None)
