"""Signing secrets fail closed: one that is empty once its whitespace and its prefix are gone is no secret.

An HMAC key of `""` (or of a known space) is a key everybody has, so a request signed with it must never
pass: such a secret is refused as if none were configured.
"""

from __future__ import annotations

from incident_core.errors import AuthenticationError


def usable_secret(secret: str | None, what: str, *, prefix: str = "") -> str:
    """`secret` without surrounding whitespace and `prefix`; `AuthenticationError` when nothing is left."""
    key = (secret or "").strip().removeprefix(prefix).strip()
    if not key:
        raise AuthenticationError(f"no {what} secret is configured")
    return key
